"""A live stream's memory is bounded however long it runs: it keeps only its last tokens and says how many it let
go."""

import tracemalloc

import numpy as np
import pytest

from model.realtime.session import KEEP_TOKENS

BLOCK = 32000  # 2 s


def run(model, audio: np.ndarray, **kwargs):
    session = model.stream(**kwargs)
    events = []
    for i in range(0, len(audio), BLOCK):
        events += session.feed(audio[i : i + BLOCK])
    events += session.finish()
    return session, events


def test_kept_tokens_are_the_tail_of_an_unbounded_run(tiny, speech) -> None:
    audio = np.tile(speech, 8)
    full, events = run(tiny.model, audio)
    assert full.dropped_tokens == 0 and full.dropped_chars == 0 and full.keep_tokens == KEEP_TOKENS
    assert full.token_ids == [e.token_id for e in events]
    kept, _ = run(tiny.model, audio, keep_tokens=50)
    assert len(full.token_ids) > 200
    assert kept.token_ids == full.token_ids[-50:]
    assert kept.dropped_tokens == len(full.token_ids) - 50
    assert kept.text == full.text[kept.dropped_chars :] and kept.dropped_chars > 0
    assert len(kept.text) < len(full.text)


def test_keep_tokens_must_be_positive(tiny) -> None:
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(ValueError, match="keep_tokens"):
            tiny.model.stream(keep_tokens=bad)


def test_memory_stays_flat_over_a_long_stream(tiny, speech) -> None:
    keep = 40
    session = tiny.model.stream(keep_tokens=keep)
    audio = np.tile(speech, 80)  # about five minutes: some 3,700 tokens
    warm_up = 20 * 16000
    session.feed(audio[:warm_up])  # fills the rings, the kept tokens and every lazily made object
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        start = session.dropped_tokens + len(session.token_ids)
        for i in range(warm_up, len(audio), BLOCK):
            session.feed(audio[i : i + BLOCK])
            assert len(session.token_ids) == keep
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    decoded = session.dropped_tokens + len(session.token_ids) - start
    assert decoded > 3000
    # Keeping every token would cost about 30 bytes each (the id, its text and the lists' slots): ~90 kB here.
    assert grown < 32_000, (grown, decoded)
    session.finish()
    assert len(session.token_ids) == keep and len(session.text) < 40 * keep
