"""Live captions through a real vLLM server (tests/fixtures/vllm_server.py): the ServerStream alone and inside the
inference worker, compared with what an independent client gets from the same server for the same audio."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.audio_queue import AudioQueue
from app.engine.base import UNKNOWN_TOKEN_ID
from app.engine.server.address import parse_address
from app.engine.server.live_stream import ServerEngine
from app.engine.server.transcription_link import LinkOptions
from app.events import MODEL_RATE, AudioBlock
from model.audio import to_rate
from tests.app.engine.test_worker import Recorder, blocks_of, make_worker, run_to_end  # noqa: F401 — a fixture
from tests.fixtures.speech import espeak_speech
from tests.fixtures.vllm_clients import pcm16, realtime_text

STEP = 0.08


def as_sent(audio: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Audio as PCM16 (what the independent client sends) and the float samples that turn into exactly those."""
    pcm = pcm16(audio)
    return pcm, np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def speech() -> tuple[bytes, np.ndarray]:
    audio, _ = espeak_speech("Captions should keep up with every word said in the meeting.")
    return as_sent(audio)


# The test machine is shared and often busy: a server that takes its time is not what these tests are about.
PATIENT = dict(stall_s=60.0, first_answer_s=120.0)


def engine_for(server, *, base_url: str | None = None, api_key: str | None = None, model: str | None = None,
               **options) -> ServerEngine:
    """An engine for ``server`` (or, with ``base_url``, for whatever listens there: a proxy, nothing)."""
    return ServerEngine(parse_address(base_url or server.base_url, api_key or server.api_key), model or server.model,
                        options=LinkOptions(**{**PATIENT, **options}))


def on_grid(seconds: float, origin: float = 0.0) -> bool:
    steps = (seconds - origin) / STEP
    return abs(steps - round(steps)) < 1e-6


class LiveFeed:
    """Plays audio into a queue in real time on a thread, in 40 ms blocks, as a capture thread does."""

    def __init__(self, queue: AudioQueue, audio: np.ndarray, *, source_id: str = "mic", loop: bool = False) -> None:
        self._queue, self._blocks, self._loop, self._source = queue, blocks_of(audio, source_id), loop, source_id
        self._stop = threading.Event()
        self.fed_s = 0.0
        self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)

    def start(self) -> LiveFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def _run(self) -> None:
        t0, offset = time.monotonic(), 0.0
        while not self._stop.is_set():
            for block in self._blocks:
                if self._stop.wait(max(0.0, t0 + self.fed_s - time.monotonic())):  # paced on the audio clock
                    return
                self._queue.put(AudioBlock(self._source, block.samples, offset + block.start_s))
                self.fed_s = offset + block.end_s
            offset = self.fed_s
            if not self._loop:
                return


def test_the_streams_text_is_what_the_server_gives_anyone(vllm_realtime, speech) -> None:
    pcm, samples = speech
    reference = realtime_text(vllm_realtime, pcm)
    assert len(set(reference)) > 3  # a server that says one thing would make this test weak
    stream = engine_for(vllm_realtime).open_stream(480)
    events, at, k, sizes = [], 0, 0, [320, 960, 640, 1280]  # 20 to 80 ms blocks, in real time
    t0 = time.monotonic()
    while at < samples.size:
        block = samples[at : at + sizes[k % len(sizes)]]
        events += stream.feed(block, MODEL_RATE)
        at, k = at + block.size, k + 1
        time.sleep(max(0.0, t0 + at / MODEL_RATE - time.monotonic()))
    events += stream.finish()
    assert stream.text == reference and "".join(e.text for e in events) == reference
    assert all(e.token_id == UNKNOWN_TOKEN_ID for e in events)
    # One event per 80 ms step, in order, from the stream's first sample on.
    assert [(round(e.start_s / STEP), round(e.end_s / STEP)) for e in events] == [(i, i + 1) for i in
                                                                                  range(len(events))]
    assert all(on_grid(e.start_s) and on_grid(e.end_s) for e in events)
    assert stream.decoded_seconds == pytest.approx(samples.size / MODEL_RATE)
    assert stream.take_reports() == []


def test_audio_at_another_rate_is_resampled_for_the_server(vllm_realtime, speech) -> None:
    _, samples = speech
    at_48k = to_rate(samples, MODEL_RATE, 48000)
    pcm, _ = as_sent(to_rate(at_48k, 48000, MODEL_RATE))  # what the server hears, in the independent client's PCM
    stream = engine_for(vllm_realtime).open_stream(480)
    for i in range(0, at_48k.size, 1920):
        stream.feed(at_48k[i : i + 1920], 48000)
    stream.finish()
    assert stream.text == realtime_text(vllm_realtime, pcm)


def test_a_long_stream_starts_a_new_transcription_at_a_pause(vllm_realtime) -> None:
    first, _ = espeak_speech("Hello there.")
    second, _ = espeak_speech("Good morning everyone, the meeting starts.")
    pause = 3 * MODEL_RATE
    pcm, samples = as_sent(np.concatenate([first, np.zeros(pause, np.float32), second]))
    limit_s = 5.0  # as if the server's limit were this short: a pause after 3.75 s starts a new transcription
    stream = engine_for(vllm_realtime, max_transcription_s=limit_s).open_stream(480)
    events = []
    for i in range(0, samples.size, 640):  # faster than real time: the server catches up
        events += stream.feed(samples[i : i + 640])
    events += stream.finish()

    # A new transcription starts its steps at its own first sample again: where the times step back.
    restarts = [i for i in range(1, len(events)) if events[i].start_s < events[i - 1].start_s]
    assert len(restarts) == 1
    cut_s = events[restarts[0]].start_s
    assert 0.75 * limit_s <= cut_s < limit_s and on_grid(cut_s)
    cut = round(cut_s * MODEL_RATE)
    assert first.size < cut < first.size + pause  # in the pause
    halves = realtime_text(vllm_realtime, pcm[: 2 * cut]) + realtime_text(vllm_realtime, pcm[2 * cut :])
    assert stream.text == halves and len(halves) > 6
    assert stream.take_reports() == []


def test_the_worker_captions_through_the_server_on_the_80ms_grid(qtbot, make_worker, vllm_realtime,  # noqa: F811
                                                                 speech) -> None:
    pcm, samples = speech
    reference = realtime_text(vllm_realtime, pcm)
    engine = engine_for(vllm_realtime)
    queue = AudioQueue()
    # A ceiling the busy test machine cannot reach: skipping ahead is another test's subject.
    worker = make_worker(engine, queue, ["mic"], delay_ms=960, lag_ceiling_s=600.0)
    rec = Recorder(worker)
    worker.start()
    feed = LiveFeed(queue, samples).start()
    qtbot.waitUntil(lambda: bool(rec.captions) or feed.done, timeout=120000)
    worker.set_delay(480)  # the server fixes the delay: nothing restarts, the user is told
    qtbot.waitUntil(lambda: feed.done, timeout=120000)
    run_to_end(qtbot, worker, timeout_ms=300000)

    assert rec.text() == reference
    assert rec.captions[-1].final and sum(e.final for e in rec.captions) == 1
    for event in rec.captions:
        assert all(t == UNKNOWN_TOKEN_ID for t in event.token_ids)
        if event.token_ids:  # one 80 ms slot per step, as the exporters read them
            assert on_grid(event.start_s) and event.end_s - event.start_s == pytest.approx(STEP * len(event.token_ids))
    steps = sum(len(e.token_ids) for e in rec.captions)
    assert steps >= samples.size / MODEL_RATE / STEP
    delay = engine.fixed_delay_ms
    assert delay == 480  # the fixture checkpoint's tekken.json
    status = rec.statuses[-1]
    assert status.device == f"vLLM server at 127.0.0.1:{vllm_realtime.port}" and status.delay_ms == delay
    assert status.captured_s == pytest.approx(samples.size / MODEL_RATE)
    assert [n.message for n in rec.notices] == ["The server sets the caption delay (480 ms); the delay setting "
                                                "applies only to captions made on this computer."]
    assert rec.gaps == []


def test_stopping_the_worker_mid_stream_ends_the_streams_threads(qtbot, make_worker, vllm_realtime,  # noqa: F811
                                                                 speech) -> None:
    _, samples = speech
    queue = AudioQueue()
    worker = make_worker(engine_for(vllm_realtime), queue, ["mic"], lag_ceiling_s=600.0)
    rec = Recorder(worker)
    worker.start()
    feed = LiveFeed(queue, samples, loop=True).start()
    try:
        qtbot.waitUntil(lambda: any(e.token_ids for e in rec.captions), timeout=120000)
        assert any(t.name.startswith("realtime-") for t in threading.enumerate())
        worker.stop(flush=False)
        assert worker.wait(10000)
    finally:
        feed.stop()
    # The link and reader threads end with the stream; a dialer still connecting ends within its timeouts.
    qtbot.waitUntil(lambda: not [t for t in threading.enumerate() if t.name in ("realtime-link", "realtime-read")],
                    timeout=10000)
    qtbot.waitUntil(lambda: not [t for t in threading.enumerate() if t.name == "realtime-dial"], timeout=60000)
    assert not any(e.final for e in rec.captions)
