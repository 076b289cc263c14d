"""The inference worker on a tiny random realtime model: lag, catch-up, live-edge restart, stopping, errors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication

from app.audio_queue import AudioQueue
from app.engine.local import LocalEngine
from app.engine.worker import InferenceWorker
from app.events import MODEL_RATE, AudioBlock, CaptionEvent, CaptionGap, Notice, Severity, WorkerStatus
from tests.fixtures.speech import espeak_speech

BLOCK = 640  # 40 ms, as a sound card delivers them


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    audio, _ = espeak_speech("Captions should keep up with every word said in the meeting.")
    return audio


def blocks_of(audio: np.ndarray, source_id: str = "mic", start_s: float = 0.0) -> list[AudioBlock]:
    return [
        AudioBlock(source_id, audio[i : i + BLOCK], start_s + i / MODEL_RATE) for i in range(0, audio.size, BLOCK)
    ]


class Recorder:
    """Collects what a worker emits (delivered through the Qt event loop of the test thread)."""

    def __init__(self, worker: InferenceWorker) -> None:
        self.captions: list[CaptionEvent] = []
        self.statuses: list[WorkerStatus] = []
        self.notices: list[Notice] = []
        self.gaps: list[CaptionGap] = []
        worker.caption.connect(self.captions.append)
        worker.status.connect(self.statuses.append)
        worker.notice.connect(self.notices.append)
        worker.gap.connect(self.gaps.append)

    def text(self, source_id: str = "mic") -> str:
        return "".join(e.text for e in self.captions if e.source_id == source_id)

    def ids(self, source_id: str = "mic") -> list[int]:
        return [t for e in self.captions if e.source_id == source_id for t in e.token_ids]


@pytest.fixture
def make_worker():
    """Builds workers and makes sure none outlives its test, whatever the outcome."""
    workers: list[InferenceWorker] = []

    def make(*args, **kwargs) -> InferenceWorker:
        workers.append(InferenceWorker(*args, **kwargs))
        return workers[-1]

    yield make
    for worker in workers:
        worker.stop(flush=False)
        worker.wait(10000)


def run_to_end(qtbot, worker: InferenceWorker, *, flush: bool = True, timeout_ms: int = 60000) -> None:
    worker.stop(flush=flush)
    qtbot.waitUntil(worker.isFinished, timeout=timeout_ms)
    QCoreApplication.processEvents()


def assert_matches_offline(ids: list[int], offline_ids: list[int], eos: int) -> None:
    # A live stream does not end at an EOS; up to the offline result's end the two must agree.
    assert ids[: len(offline_ids)] == offline_ids
    if len(ids) > len(offline_ids):
        assert ids[len(offline_ids)] == eos


def test_backlog_is_caught_up_in_one_batch_and_equals_offline(qtbot, make_worker, tiny_realtime, speech) -> None:
    model = tiny_realtime.model
    queue = AudioQueue()
    for block in blocks_of(speech):  # the whole utterance is pending before the worker starts: a backlog
        queue.put(block)
    worker = make_worker(LocalEngine(model), queue, ["mic"], lag_ceiling_s=30.0)
    rec = Recorder(worker)
    worker.start()
    run_to_end(qtbot, worker)

    offline = model.transcribe(speech, MODEL_RATE)
    assert_matches_offline(rec.ids(), offline.token_ids, model.tokenizer.eos)
    assert len(set(offline.token_ids)) > 3  # a model that says one thing would make this test weak
    assert rec.text().startswith(offline.text)
    first = rec.captions[0]
    assert len(first.token_ids) > 20  # the backlog went through as one batch, not step by step
    assert rec.captions[-1].final
    # Lag accounting: everything was captured; decoding stops short of the end by the delay.
    status = rec.statuses[-1]
    duration = speech.size / MODEL_RATE
    assert status.captured_s == pytest.approx(duration)
    assert 0.0 < status.lag_s <= 0.48 + 0.08 + 1e-6
    assert status.device == "CPU" and status.delay_ms == 480
    assert status.step_ms > 0 and status.realtime_factor > 0
    assert not [n for n in rec.notices if n.severity is not Severity.INFO]


def test_past_the_ceiling_it_restarts_at_the_live_edge(qtbot, make_worker, tiny_realtime, speech) -> None:
    model = tiny_realtime.model
    queue = AudioQueue()
    audio = np.concatenate([speech, speech])
    worker = make_worker(LocalEngine(model), queue, ["mic"], lag_ceiling_s=1.0)
    rec = Recorder(worker)
    blocks = blocks_of(audio)
    queue.put(blocks[0])  # a stream exists, then the worker falls far behind
    worker.start()
    qtbot.waitUntil(lambda: len(rec.statuses) >= 1, timeout=20000)
    for block in blocks[1:]:
        queue.put(block)
    run_to_end(qtbot, worker)

    warnings = [n for n in rec.notices if n.severity is Severity.WARNING]
    assert len(warnings) == 1 and "skipped ahead" in warnings[0].message and warnings[0].source_id == "mic"
    duration = audio.size / MODEL_RATE
    restarted = [e for e in rec.captions if e.start_s > 1.0]
    # The new stream starts with the newest half second, so its captions lie at the end of the timeline.
    assert restarted and min(e.start_s for e in restarted) >= duration - 0.5 - 1e-6
    assert rec.statuses[-1].lag_s < 1.0
    # The skipped stretch is marked: from the end of the old stream's captions to where the new one starts.
    [gap] = rec.gaps
    assert gap.reason == "captions fell behind" and gap.source_id == "mic"
    before = [e.end_s for e in rec.captions if e.start_s < duration - 0.5 - 1e-6]  # the first stream's captions
    assert gap.start_s == pytest.approx(max(before, default=0.0))
    assert gap.end_s == pytest.approx(duration - 0.5, abs=BLOCK / MODEL_RATE)


def test_stop_without_flush_is_prompt_mid_stream(qtbot, make_worker, tiny_realtime, speech) -> None:
    queue = AudioQueue()
    worker = make_worker(LocalEngine(tiny_realtime.model), queue, ["mic"])
    rec = Recorder(worker)
    worker.start()
    stop_feeding = threading.Event()

    def feed_live() -> None:
        for block in blocks_of(np.tile(speech, 5)):
            if stop_feeding.wait(BLOCK / MODEL_RATE):  # real-time pacing; returns at once when told to stop
                return
            queue.put(block)

    feeder = threading.Thread(target=feed_live)
    feeder.start()
    try:
        qtbot.waitUntil(lambda: len(rec.statuses) >= 5, timeout=20000)
        t0 = time.monotonic()
        worker.stop(flush=False)
        assert worker.wait(2000)
        assert time.monotonic() - t0 < 2.0
    finally:
        stop_feeding.set()
        feeder.join()
    QCoreApplication.processEvents()
    assert not any(e.final for e in rec.captions)  # not flushed
    assert worker.isFinished()


class FailingEngine(LocalEngine):
    """The real engine whose streams raise on chosen feeds, as an out-of-memory error would."""

    def __init__(self, model, fail_on: set[int]) -> None:
        super().__init__(model)
        self.fail_on = fail_on
        self.feeds = 0

    def open_stream(self, delay_ms: int):
        stream = super().open_stream(delay_ms)
        engine = self

        class Flaky:
            def feed(self, samples, sample_rate=16000):
                engine.feeds += 1
                if engine.feeds in engine.fail_on:
                    raise RuntimeError("CUDA out of memory (simulated)")
                return stream.feed(samples, sample_rate)

            def finish(self):
                return stream.finish()

            @property
            def decoded_seconds(self) -> float:
                return stream.decoded_seconds

            @property
            def text(self) -> str:
                return stream.text

            @property
            def dropped_chars(self) -> int:
                return stream.dropped_chars

        return Flaky()


def test_engine_errors_become_notices_and_captions_continue(qtbot, make_worker, tiny_realtime, speech) -> None:
    queue = AudioQueue()
    engine = FailingEngine(tiny_realtime.model, fail_on={2})
    worker = make_worker(engine, queue, ["mic"])
    rec = Recorder(worker)
    worker.start()
    for i, block in enumerate(blocks_of(speech[: 2 * MODEL_RATE])):
        queue.put(block)
        qtbot.waitUntil(lambda i=i: engine.feeds > i, timeout=20000)  # one feed per block: the second one fails
    run_to_end(qtbot, worker)
    errors = [n for n in rec.notices if n.severity is Severity.ERROR]
    assert len(errors) == 1 and "out of memory" in errors[0].message and "restarts" in errors[0].message
    assert rec.captions and rec.captions[-1].final  # a new stream carried on after the failure


def test_repeated_failures_stop_the_worker_with_an_error(qtbot, make_worker, tiny_realtime, speech) -> None:
    queue = AudioQueue()
    engine = FailingEngine(tiny_realtime.model, fail_on=set(range(1, 100)))
    worker = make_worker(engine, queue, ["mic"])
    rec = Recorder(worker)
    worker.start()
    for block in blocks_of(speech):
        queue.put(block)
        if worker.isFinished():
            break
        qtbot.wait(5)
    qtbot.waitUntil(worker.isFinished, timeout=20000)
    QCoreApplication.processEvents()
    errors = [n for n in rec.notices if n.severity is Severity.ERROR]
    assert len(errors) == 3 and "stopped" in errors[-1].message


def test_delay_change_restarts_streams_with_the_new_delay(qtbot, make_worker, tiny_realtime, speech) -> None:
    queue = AudioQueue()
    worker = make_worker(LocalEngine(tiny_realtime.model), queue, ["mic"])
    rec = Recorder(worker)
    worker.start()
    half = blocks_of(speech)
    for block in half[:40]:
        queue.put(block)
    qtbot.waitUntil(lambda: bool(rec.statuses), timeout=20000)
    worker.set_delay(960)
    for block in half[40:]:
        queue.put(block)
    run_to_end(qtbot, worker)
    assert any("960 ms" in n.message for n in rec.notices)
    assert rec.statuses[-1].delay_ms == 960
    assert sum(e.final for e in rec.captions) == 2  # the 480 ms stream was flushed, then the 960 ms one


def test_two_sources_each_get_their_own_stream(qtbot, make_worker, tiny_realtime, speech) -> None:
    model = tiny_realtime.model
    other, _ = espeak_speech("The budget for next quarter was approved by everyone.")
    queue = AudioQueue()
    worker = make_worker(LocalEngine(model), queue, ["mic", "system"], lag_ceiling_s=30.0)
    rec = Recorder(worker)
    a, b = blocks_of(speech, "mic"), blocks_of(other, "system")
    for i in range(max(len(a), len(b))):  # interleaved, as two capture threads deliver them
        if i < len(a):
            queue.put(a[i])
        if i < len(b):
            queue.put(b[i])
    worker.start()
    run_to_end(qtbot, worker)
    eos = model.tokenizer.eos
    assert_matches_offline(rec.ids("mic"), model.transcribe(speech, MODEL_RATE).token_ids, eos)
    assert_matches_offline(rec.ids("system"), model.transcribe(other, MODEL_RATE).token_ids, eos)
    assert {s.source_id for s in rec.statuses} == {"mic", "system"}


class ShortMemoryEngine(LocalEngine):
    """Streams that keep only their last few tokens, as an hour-long stream does with the default limit."""

    def open_stream(self, delay_ms: int):
        return self.model.stream(delay_ms=delay_ms, keep_tokens=5)


def test_a_stream_that_let_its_old_tokens_go_still_ends_with_the_right_text(qtbot, make_worker, tiny_realtime,
                                                                            speech) -> None:
    model = tiny_realtime.model
    queue = AudioQueue()
    for block in blocks_of(speech):
        queue.put(block)
    worker = make_worker(ShortMemoryEngine(model), queue, ["mic"], lag_ceiling_s=30.0)
    rec = Recorder(worker)
    worker.start()
    run_to_end(qtbot, worker)

    unbounded = LocalEngine(model).open_stream(480)
    unbounded.feed(speech, MODEL_RATE)
    unbounded.finish()
    assert len(rec.ids()) > 5 * 4  # far more tokens than the streams kept
    assert rec.text() == unbounded.text and len(unbounded.text) > 10
    assert rec.captions[-1].final


def test_the_engine_names_how_the_model_keeps_its_weights(tiny_realtime) -> None:
    from model import load_realtime

    assert LocalEngine(tiny_realtime.model).device_name == "CPU"  # an fp32 checkpoint, kept as stored
    int8 = load_realtime(tiny_realtime.folder, device="cpu", precision="int8")
    assert LocalEngine(int8).device_name == "CPU (int8 weights)"
