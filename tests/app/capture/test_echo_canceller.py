"""The echo canceller on speech: a meeting heard back through a simulated room, a second voice in the room."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from app.capture.echo_canceller import EchoCanceller, estimate_offset
from app.events import MODEL_RATE as R
from tests.fixtures.speech import espeak_speech

MEETING = [
    "We should ship the quarterly numbers before the board meeting on Friday.",
    "Then we can talk about the budget for next year in more detail.",
    "Does anybody have questions about the plan or the schedule?",
]
ROOM = "Sorry, I could not hear the last part, can you say it again?"


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


@dataclass
class Scene:
    reference: np.ndarray  # what the computer plays, on the microphone's timeline
    echo: np.ndarray  # what the microphone hears of it
    room: np.ndarray  # the second voice as the microphone hears it
    room_at: int  # where the second voice starts

    @property
    def mic(self) -> np.ndarray:
        noise = 1e-4 * np.random.default_rng(2).standard_normal(self.echo.size)
        return (self.echo + self.room + noise).astype(np.float32)


@pytest.fixture(scope="module")
def scene() -> Scene:
    """The meeting from 1 s on; its echo 150 ms later, 10 dB quieter, with 60 ms of room reverberation; the second
    voice over the meeting's last three seconds."""
    meeting = np.concatenate([espeak_speech(t)[0] for t in MEETING])
    room, _ = espeak_speech(ROOM, voice="en-gb")
    total = R + meeting.size + 3 * R
    reference = np.zeros(total, np.float32)
    reference[R : R + meeting.size] = meeting
    rng = np.random.default_rng(0)
    path = rng.standard_normal(round(0.06 * R)) * 0.3 * np.exp(-np.arange(round(0.06 * R)) / (0.015 * R))
    path[0] = 1.0
    delay = round(0.15 * R)
    echo = np.zeros(total)
    echo[delay:] = 0.316 * np.convolve(reference, path)[: total - delay]
    at = R + meeting.size - 3 * R
    voice = np.zeros(total, np.float32)
    voice[at : at + room.size] = 0.5 * room[: total - at]
    return Scene(reference, echo, voice, at)


def run(canceller: EchoCanceller, scene: Scene, *, offset_s: float = 0.0, sizes=(640,), late: bool = False):
    """Feeds both signals in blocks (the reference's timeline starting ``offset_s`` after the microphone's), the
    reference first, or one block after the microphone when ``late``; the cleaned microphone signal."""
    mic, offset = scene.mic, round(offset_s * R)
    out, pending = [], None
    i, k = 0, 0
    while i < mic.size:
        n = sizes[k % len(sizes)]
        block = (max(0, i - offset) / R, scene.reference[i : i + n]) if i >= offset else None
        if not late and block is not None:
            canceller.add_reference(*block)
        cleaned = canceller.process(i / R, mic[i : i + n])
        assert cleaned.dtype == np.float32 and cleaned.size == mic[i : i + n].size
        out.append(cleaned)
        if late:
            if pending is not None:
                canceller.add_reference(*pending)
            pending = block
        i, k = i + n, k + 1
    return np.concatenate(out)


def erle(scene: Scene, out: np.ndarray) -> float:
    """Echo return loss enhancement over the two seconds before the second voice starts (echo alone)."""
    a, b = scene.room_at - 2 * R, scene.room_at
    return db(scene.echo[a:b]) - db(out[a:b] - scene.room[a:b])


@pytest.mark.parametrize("lag", [-8000, -100, 0, 2400, 30000, 40000])
def test_the_offset_is_found_either_way(lag: int) -> None:
    speech = np.concatenate([espeak_speech(t)[0] for t in MEETING])
    max_lag = 2 * R
    mic = 0.3 * speech[4 * R : 6 * R]  # mic[n] = 0.3 reference[n + max_lag - lag]
    start = 4 * R - max_lag + lag
    reference = np.zeros(mic.size + 2 * max_lag, np.float32)
    lo, hi = max(0, start), min(speech.size, start + reference.size)
    reference[lo - start : hi - start] = speech[lo:hi]
    found = estimate_offset(mic, reference, max_lag)
    assert found == (lag if abs(lag) <= max_lag else None)


def test_a_delayed_quieter_echo_with_a_room_tail_is_taken_out(scene: Scene) -> None:
    canceller = EchoCanceller()
    out = run(canceller, scene, offset_s=0.7)
    assert canceller.delay_s == pytest.approx(0.15 + 0.7, abs=0.002)
    assert erle(scene, out) > 20.0


def test_the_voice_in_the_room_is_kept_while_the_meeting_goes_on(scene: Scene) -> None:
    out = run(EchoCanceller(), scene)
    a, b = scene.room_at, scene.room_at + 2 * R
    damage = out[a:b] - scene.room[a:b]  # what is left of the echo plus what happened to the voice
    assert db(scene.room[a:b]) - db(damage) > 15.0
    assert db(out[a:b]) - db(scene.room[a:b]) == pytest.approx(0.0, abs=1.0)  # the voice keeps its level
    assert db(scene.echo[a:b]) - db(damage) > 20.0  # and the echo under it is gone


def test_without_an_echo_the_microphone_passes_unchanged(scene: Scene) -> None:
    """With headphones the microphone hears only the room: nothing is found, nothing changed."""
    canceller = EchoCanceller()
    silent_room = Scene(scene.reference, np.zeros_like(scene.echo), scene.room, scene.room_at)
    out = run(canceller, silent_room)
    assert canceller.delay_s is None
    np.testing.assert_array_equal(out, silent_room.mic)


def test_any_block_sizes_and_a_reference_that_comes_late(scene: Scene) -> None:
    """Capture blocks come in all sizes and the reference's may reach the worker after the microphone's."""
    out = run(EchoCanceller(), scene, sizes=(1, 37, 640, 256, 1500, 100), late=True)
    assert erle(scene, out) > 20.0


def test_a_jump_on_the_timeline_goes_on_cleanly(scene: Scene) -> None:
    """Skipping to the live edge drops audio: the microphone's next block starts later than the last ended."""
    canceller = EchoCanceller()
    mic = scene.mic
    cut = scene.room_at - 4 * R
    out = np.zeros_like(mic)
    for i in range(0, mic.size, 640):
        canceller.add_reference(i / R, scene.reference[i : i + 640])
        if not cut <= i < cut + R // 2:  # half a second the worker never fed
            out[i : i + 640] = canceller.process(i / R, mic[i : i + 640])
    assert erle(scene, out) > 20.0


class Ear:
    """A caption stream that keeps what it is fed and says nothing."""

    text, dropped_chars = "", 0

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def feed(self, samples: np.ndarray, sample_rate: int = R) -> list:
        self.parts.append(np.array(samples))
        return []

    def finish(self) -> list:
        return []

    @property
    def decoded_seconds(self) -> float:
        return sum(p.size for p in self.parts) / R


class Listening:
    """An engine whose streams keep what the worker feeds them."""

    device_name = "test"

    def __init__(self) -> None:
        self.streams: list[Ear] = []

    def open_stream(self, delay_ms: int) -> Ear:
        self.streams.append(Ear())
        return self.streams[-1]

    def release_memory(self) -> None:
        pass


def test_the_worker_feeds_the_model_the_cleaned_microphone_and_leaves_the_blocks_raw(qtbot, scene: Scene) -> None:
    from app.audio_queue import AudioQueue
    from app.engine.worker import InferenceWorker
    from app.events import AudioBlock

    engine, queue = Listening(), AudioQueue(max_seconds=60)
    worker = InferenceWorker(engine, queue, ["sys", "mic"], echo_references={"mic": "sys"})
    mic = scene.mic
    blocks = []
    for i in range(0, mic.size, 640):
        blocks += [AudioBlock("sys", scene.reference[i : i + 640], i / R), AudioBlock("mic", mic[i : i + 640], i / R)]
    for block in blocks:
        block.samples.flags.writeable = False  # as the capture hands them over: shared with the recording
        queue.put(block)
    worker.start()
    worker.stop(flush=True)
    qtbot.waitUntil(worker.isFinished, timeout=30000)

    fed = [np.concatenate(s.parts) for s in engine.streams]
    system = next(f for f in fed if np.array_equal(f, scene.reference))
    cleaned = next(f for f in fed if f is not system)
    assert cleaned.size == mic.size
    assert erle(scene, cleaned) > 20.0
    np.testing.assert_array_equal(np.concatenate([b.samples for b in blocks if b.source_id == "mic"]), mic)
