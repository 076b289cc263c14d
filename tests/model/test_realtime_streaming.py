"""Live sessions decode exactly what offline transcription decodes, however the audio is cut into blocks."""

import numpy as np
import pytest
import soxr
import torch

from model import AudioInputError


def stream_blocks(model, audio: np.ndarray, sizes, *, rate: int = 16000, delay_ms: float = 480):
    session = model.stream(delay_ms=delay_ms)
    events = []
    i = 0
    sizes = iter(sizes)
    while i < len(audio):
        n = next(sizes)
        events += session.feed(audio[i : i + n], sample_rate=rate)
        i += n
    events += session.finish()
    return session, events


def cycle(*sizes):
    while True:
        yield from sizes


def random_sizes(seed: int, low: int, high: int):
    rng = np.random.default_rng(seed)
    while True:
        yield int(rng.integers(low, high))


def assert_same_as_offline(session, offline) -> None:
    # An EOS decoded while audio is still arriving does not end a live session; up to there the two must agree.
    eos = 2
    ids = session.token_ids
    assert ids[: len(offline.token_ids)] == offline.token_ids
    if len(ids) > len(offline.token_ids):
        assert ids[len(offline.token_ids)] == eos


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param(lambda: cycle(1), id="1-sample"),
        pytest.param(lambda: cycle(37), id="37-samples"),
        pytest.param(lambda: cycle(1280), id="80ms"),
        pytest.param(lambda: cycle(16000 * 2), id="2s"),
        pytest.param(lambda: random_sizes(0, 1, 4000), id="random-small"),
        pytest.param(lambda: random_sizes(1, 1, 40000), id="random-mix"),
    ],
)
def test_stream_equals_offline(tiny, speech, sizes) -> None:
    audio = speech if sizes().__next__() != 1 else speech[:16000]  # one sample at a time: keep it short
    offline = tiny.model.transcribe(audio, 16000)
    session, events = stream_blocks(tiny.model, audio, sizes())
    assert_same_as_offline(session, offline)
    assert [e.token_id for e in events] == session.token_ids
    assert "".join(e.text for e in events) == session.text or session.text.endswith("\ufffd")


@pytest.mark.parametrize("name", ["mqa_small_windows", "mha_deep_encoder"])
@pytest.mark.parametrize("delay_ms", [80, 480, 2400])
def test_stream_equals_offline_other_configs_and_delays(tiny_factory, speech, name, delay_ms) -> None:
    model = tiny_factory(name).model
    offline = model.transcribe(speech, 16000, delay_ms=delay_ms)
    session, _ = stream_blocks(model, speech, random_sizes(delay_ms, 200, 6000), delay_ms=delay_ms)
    assert_same_as_offline(session, offline)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_stream_resamples_any_rate_like_offline(tiny, speech, rate) -> None:
    audio = soxr.resample(speech, 16000, rate, quality="HQ").astype(np.float32)
    offline = tiny.model.transcribe(audio, rate)
    session, _ = stream_blocks(tiny.model, audio, random_sizes(rate, 1, 9000), rate=rate)
    assert_same_as_offline(session, offline)
    assert session.fed_seconds == pytest.approx(len(audio) / rate, abs=0.01)


def test_events_carry_time_spans_and_utf8_safe_text(tiny, speech) -> None:
    session, events = stream_blocks(tiny.model, speech, cycle(1280))
    positions = [e.position for e in events]
    assert positions == list(range(positions[0], positions[0] + len(events)))
    assert positions[0] == len(tiny.model.prompt(6)) - 1
    for e in events:
        assert 0.0 <= e.start_s <= e.end_s <= len(speech) / 16000 + 2.0
    ends = [e.end_s for e in events]
    assert ends == sorted(ends)
    text = "".join(e.text for e in events)
    assert text == tiny.model.tokenizer.decode(session.token_ids)


def test_text_arrives_before_finish(tiny, speech) -> None:
    session = tiny.model.stream()
    early = session.feed(speech)
    assert len(early) > 0  # decoding keeps pace with the audio; it does not wait for the end
    assert session.decoded_seconds > session.fed_seconds - 1.0
    session.finish()


def test_session_state_is_bounded(tiny, speech) -> None:
    """Hours of audio run in constant memory: rings stay at their window size, buffers stay small."""
    session = tiny.model.stream()
    core = session._core
    shapes = [tuple(c.k.shape) for c in (core.enc.cache, core.dec.cache)]
    long_audio = np.tile(speech, 6)
    for i in range(0, len(long_audio), 3000):
        session.feed(long_audio[i : i + 3000])
        assert core.buffer.shape[1] < 3000 + 2 * 1280
        assert core.n_pending < len(tiny.model.prompt(6))  # only while the prompt fills
    assert [tuple(c.k.shape) for c in (core.enc.cache, core.dec.cache)] == shapes
    assert core.dec.next_pos > 4 * tiny.model.config.decoder.sliding_window


def test_eos_mid_stream_does_not_end_session(tiny, speech) -> None:
    """Force an end-of-stream token in the middle of a live stream; decoding must go on."""
    model = tiny.model
    session = model.stream()
    session.feed(speech[:16000])
    before = len(session.token_ids)
    core = session._core
    core.last = torch.full_like(core.last, model.tokenizer.eos)  # as if the model had just decoded EOS
    session.feed(speech[16000:])
    assert len(session.token_ids) > before + 10
    session.finish()


def test_feed_rejects_bad_blocks_without_losing_state(tiny, speech) -> None:
    session = tiny.model.stream()
    session.feed(speech[:8000])
    n = len(session.token_ids)
    bad = speech[:100].copy()
    bad[5] = np.nan
    with pytest.raises(AudioInputError, match="NaN"):
        session.feed(bad)
    with pytest.raises(AudioInputError, match="sample_rate"):
        session.feed(speech[:100], sample_rate=0)
    assert session.feed(np.zeros(0, dtype=np.float32)) == []  # an empty block is simply nothing new
    session.feed(speech[8000:])
    session.finish()
    offline = tiny.model.transcribe(speech, 16000)
    assert_same_as_offline(session, offline)
    assert len(session.token_ids) > n
    with pytest.raises(RuntimeError, match="finished"):
        session.feed(speech[:100])


def test_int16_and_stereo_blocks(tiny, speech) -> None:
    pcm = (np.clip(speech, -1, 1) * 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1)
    offline = tiny.model.transcribe(pcm, 16000)
    session, _ = stream_blocks(tiny.model, stereo, cycle(4000))
    assert_same_as_offline(session, offline)


def test_rate_change_mid_stream(tiny, speech) -> None:
    session = tiny.model.stream()
    first = soxr.resample(speech[:24000], 16000, 48000, quality="HQ").astype(np.float32)
    session.feed(first, sample_rate=48000)
    session.feed(speech[24000:], sample_rate=16000)
    session.finish()
    assert session.fed_seconds == pytest.approx(len(speech) / 16000, abs=0.01)
    assert len(session.token_ids) > 20


def test_delay_must_be_on_the_grid(tiny) -> None:
    for bad in (0, 50, 100, 2480, -80, True):
        with pytest.raises(ValueError, match="delay_ms"):
            tiny.model.stream(delay_ms=bad)
    assert tiny.model.stream(delay_ms=2400).delay_ms == 2400
