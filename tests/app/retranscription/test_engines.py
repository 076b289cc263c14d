"""Offline re-transcription of recorded audio into caption events, on tiny random models."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.engine.local import LocalEngine
from app.events import MODEL_RATE
from app.retranscription import engines
from app.retranscription.engines import Cancelled, sentence_events, with_realtime, with_voxtral
from tests.fixtures.speech import espeak_speech


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    audio, _ = espeak_speech("The budget for next quarter was approved. Everyone agreed to meet again on Monday.")
    return audio


def test_realtime_events_equal_offline_tokens_with_their_times(tiny_realtime, speech) -> None:
    model = tiny_realtime.model
    seen: list[float] = []
    events = with_realtime(LocalEngine(model), np.concatenate([speech, speech]), "mic", 960, seen.append,
                           threading.Event())
    offline = model.transcribe(np.concatenate([speech, speech]), MODEL_RATE, delay_ms=960)
    ids = [t for e in events for t in e.token_ids]
    assert ids[: len(offline.token_ids)] == offline.token_ids
    if len(ids) > len(offline.token_ids):  # a stream carries on past an EOS
        assert ids[len(offline.token_ids)] == model.tokenizer.eos
    else:
        assert "".join(e.text for e in events) == offline.text
    assert all(e.source_id == "mic" for e in events) and events[-1].final
    for e in events:  # token spans lie on the 80 ms grid
        assert round(e.end_s / 0.08, 6) == round(e.end_s / 0.08) and e.end_s - e.start_s == pytest.approx(0.08)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 3


def test_realtime_can_be_cancelled_between_pieces(tiny_realtime, speech) -> None:
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        with_realtime(LocalEngine(tiny_realtime.model), np.tile(speech, 4), "mic", 480, lambda f: cancel.set(),
                      cancel)


def test_sentences_share_their_piece_by_length() -> None:
    events = sentence_events("One two. Three four five six!  Seven?", "sys", 10.0, 20.0, continues=True)
    assert [e.text for e in events] == [" One two.", " Three four five six!", " Seven?"]
    assert events[0].start_s == 10.0 and events[-1].end_s == pytest.approx(20.0)
    lengths = [len(e.text.strip()) for e in events]
    spans = [e.end_s - e.start_s for e in events]
    assert spans == pytest.approx([10.0 * n / sum(lengths) for n in lengths])
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in zip(events, events[1:], strict=False))


def test_voxtral_long_audio_goes_in_pieces(tiny_voxtral, speech, monkeypatch) -> None:
    model = tiny_voxtral.model
    monkeypatch.setattr(engines, "PIECE_SECONDS", 2.0)
    audio = np.tile(speech, 2)[: int(5.0 * MODEL_RATE)]  # 5 s: pieces of 2, 2 and 1 s
    transcribed: list[int] = []
    real = model.transcribe
    monkeypatch.setattr(model, "transcribe", lambda a, rate, language=None: transcribed.append(a.size) or real(
        a, rate, language=language, max_new_tokens=8))
    seen: list[float] = []
    events = with_voxtral(model, audio, "mic", "en", seen.append, threading.Event())
    assert transcribed == [2 * MODEL_RATE, 2 * MODEL_RATE, MODEL_RATE]
    assert seen == pytest.approx([0.4, 0.8, 1.0])
    expected = [real(audio[i : i + 2 * MODEL_RATE], MODEL_RATE, language="en", max_new_tokens=8).text.strip()
                for i in range(0, audio.size, 2 * MODEL_RATE)]
    def words(text: str) -> list[str]:
        return text.split()  # sentences are rejoined with single spaces

    assert words("".join(e.text for e in events)) == words(" ".join(expected))
    assert events[-1].final and events[-1].end_s <= 5.0 + 1e-9
