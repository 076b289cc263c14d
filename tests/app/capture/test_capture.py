"""The capture thread: real capture of a PulseAudio monitor, failures with a fake sounddevice, and file sources."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import soundfile

from app.audio_queue import AudioQueue
from app.capture.capture import PAUSED, Capture
from app.capture.devices import list_sources
from app.events import MODEL_RATE, AudioBlock, AudioSource, Severity, SourceKind
from model.audio import StreamResampler
from tests.app.capture.fakes import FakeSounddevice, device
from tests.fixtures.pulse import pulse_server  # noqa: F401  (fixture)
from tests.fixtures.speech import espeak_speech

OTHER_SINK = "othersink"


class Run:
    """A Capture with everything it reports collected; blocks are recorded by a listener on the capture thread."""

    def __init__(self, source: AudioSource, *, listeners=(), **kwargs) -> None:
        self.queue = AudioQueue()
        self.blocks: list[AudioBlock] = []
        self._cond = threading.Condition()
        self.capture = Capture(source, self.queue, listeners=[self._listen, *listeners], **kwargs)
        self.levels, self.notices, self.ended = [], [], []
        self.capture.level.connect(self.levels.append)
        self.capture.notice.connect(self.notices.append)
        self.capture.ended.connect(self.ended.append)

    def _listen(self, block: AudioBlock) -> None:
        with self._cond:
            self.blocks.append(block)
            self._cond.notify_all()

    def start(self) -> Run:
        self.capture.start()
        return self

    def wait_audio(self, seconds: float, timeout: float = 8.0) -> None:
        """Block until the capture has delivered ``seconds`` of audio in all."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self.blocks and self.blocks[-1].end_s >= seconds, timeout)
        assert ok, f"only {self.capture.captured_seconds:.2f} s captured, waited for {seconds} s; {self.notices}"

    def finish(self, qtbot) -> None:
        """Stop the capture and deliver its queued signals."""
        with qtbot.waitSignal(self.capture.ended, timeout=3000):
            self.capture.stop()
        assert self.capture.wait(1000)

    def audio(self) -> np.ndarray:
        return np.concatenate([b.samples for b in self.blocks])

    def assert_continuous_timeline(self) -> None:
        delivered = 0
        for block in self.blocks:
            assert block.source_id == self.capture.source.id
            assert round(block.start_s * MODEL_RATE) == delivered
            delivered += block.samples.size
        assert self.capture.captured_seconds == delivered / MODEL_RATE


def monitor_of(sink: str) -> AudioSource:
    return {s.id: s for s in list_sources()}[f"system:{sink}.monitor"]


@pytest.fixture(scope="module")
def other_sink(pulse_server):  # noqa: F811
    """A second null sink, to show that a capture hears only the monitor it names."""
    module = pulse_server.pactl("load-module", "module-null-sink", f"sink_name={OTHER_SINK}").strip()
    yield OTHER_SINK
    pulse_server.pactl("unload-module", module)


def align(captured: np.ndarray, played: np.ndarray) -> np.ndarray:
    """The stretch of ``captured`` that lines up best with ``played`` (by cross-correlation)."""
    n = captured.size + played.size
    corr = np.fft.irfft(np.fft.rfft(captured, n) * np.conj(np.fft.rfft(played, n)), n)
    lag = int(np.argmax(corr[: captured.size]))
    return captured[lag : lag + played.size]


def test_captures_speech_from_the_chosen_monitor_only(qtbot, pulse_server, other_sink):  # noqa: F811
    speech, rate = espeak_speech("Captions appear while people speak.")
    heard = Run(monitor_of(pulse_server.sink)).start()
    elsewhere = Run(monitor_of(other_sink)).start()
    heard.wait_audio(0.1)
    elsewhere.wait_audio(0.1)
    pulse_server.play(speech, rate).wait(timeout=15)
    heard.wait_audio(heard.capture.captured_seconds + 0.3)  # what is still in the pipes
    heard.finish(qtbot)
    elsewhere.finish(qtbot)

    segment = align(heard.audio(), speech)
    assert segment.size == speech.size
    assert np.corrcoef(segment, speech)[0, 1] > 0.9
    assert np.abs(elsewhere.audio()).max() < 1e-3
    heard.assert_continuous_timeline()
    assert heard.notices == [] and heard.ended == [heard.capture.source.id]


def test_device_rate_is_converted_without_clicks_and_levels_follow_the_input(qtbot, pulse_server):  # noqa: F811
    run = Run(monitor_of(pulse_server.sink)).start()
    run.wait_audio(0.3)
    device_rate = run.capture.device_rate
    assert device_rate in (44100, 48000)  # the pulse device's own rate: capture resamples, not PortAudio
    silent_s = run.capture.captured_seconds
    t = np.arange(device_rate) / device_rate
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)  # 20 ms fades: the tone itself has no steps
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * fade).astype(np.float32)
    # PulseAudio rewinds a sink when a stream starts, and the monitor misses the start of that stream: lead in
    # with silence so the tone's fade-in reaches the monitor whole.
    lead_in = np.zeros(device_rate // 4, dtype=np.float32)
    pulse_server.play(np.concatenate([lead_in, tone]), device_rate).wait(timeout=10)
    run.wait_audio(run.capture.captured_seconds + 0.2)
    run.finish(qtbot)

    audio = run.audio()
    steepest = 2 * 0.5 * np.sin(np.pi * 440 / MODEL_RATE)  # the largest step between samples of this tone
    step = np.abs(np.diff(audio)).max()
    assert 0.9 * steepest < step < 1.1 * steepest, "a step larger than the tone allows is a click at a block border"
    run.assert_continuous_timeline()

    rms = np.array([reading.rms_dbfs for reading in run.levels])
    assert abs(rms.size - 20 * run.capture.captured_seconds) <= 2
    assert (rms[: int(silent_s * 20) - 1] < -60).all()
    tone_dbfs = 20 * np.log10(0.5 / np.sqrt(2))
    assert np.count_nonzero(np.abs(rms - tone_dbfs) < 0.5) >= 15  # the steady second of tone
    assert rms.max() < tone_dbfs + 0.5
    assert max(reading.peak for reading in run.levels) == pytest.approx(0.5, abs=0.03)


def test_stop_is_prompt(qtbot, pulse_server):  # noqa: F811
    run = Run(monitor_of(pulse_server.sink)).start()
    run.wait_audio(0.2)
    began = time.monotonic()
    run.capture.stop()
    assert run.capture.wait(500)
    assert time.monotonic() - began < 0.5
    captured = run.capture.captured_seconds
    qtbot.waitUntil(lambda: run.ended == [run.capture.source.id], timeout=1000)
    assert run.capture.captured_seconds == captured


@pytest.mark.parametrize(
    ("source", "cause"),
    [
        (AudioSource("mic:Lost Mic", SourceKind.MICROPHONE, "Lost Mic", "Lost Mic, ALSA"), "not connected"),
        (AudioSource("system:gone.monitor", SourceKind.SYSTEM, "Gone", "pulse:gone.monitor"), "Error opening"),
    ],
)
def test_a_device_that_cannot_be_opened_is_reported_and_given_up(qtbot, pulse_server, source, cause):  # noqa: F811
    run = Run(source, retry_delays=(0.05,)).start()
    with qtbot.waitSignal(run.capture.ended, timeout=5000):
        pass
    assert [n.severity for n in run.notices] == [Severity.ERROR, Severity.ERROR]
    first, last = (n.message for n in run.notices)
    assert first.startswith(f"Cannot open {source.name}: ") and cause in first and "Retrying" in first
    assert last.startswith(f"Gave up on {source.name} after 2 attempt(s)") and "choose another source" in last
    assert all(n.source_id == source.id for n in run.notices)
    assert run.blocks == [] and run.ended == [source.id]
    assert run.capture.wait(1000)


def _fake_mic(**kwargs) -> tuple[FakeSounddevice, AudioSource]:
    sd = FakeSounddevice(devices=[device("USB Mic", 0, inputs=2, rate=48000)], **kwargs)
    return sd, AudioSource("mic:USB Mic", SourceKind.MICROPHONE, "USB Mic", "USB Mic, ALSA", "You")


@pytest.mark.parametrize("reports_error", [False, True], ids=["stream-ends", "stream-raises"])
def test_an_unplugged_device_is_reopened_and_the_outage_is_silence_on_the_timeline(qtbot, reports_error):
    sd, source = _fake_mic(blocks_before_unplug=10, fail_opens_after_unplug=1, unplug_reports_error=reports_error)
    run = Run(source, sd=sd, retry_delays=(0.2, 0.2)).start()
    run.wait_audio(1.2)
    run.finish(qtbot)

    assert [n.severity for n in run.notices] == [Severity.WARNING, Severity.INFO]
    assert run.notices[0].message == "USB Mic was disconnected; trying to reconnect."
    assert len(sd.streams) == 2 and all(s.closed for s in sd.streams)
    run.assert_continuous_timeline()
    silent = np.concatenate([[False], run.audio() == 0.0, [False]]).astype(np.int8)
    starts, ends = np.flatnonzero(np.diff(silent) == 1), np.flatnonzero(np.diff(silent) == -1)
    longest = int(np.argmax(ends - starts))
    assert starts[longest] == 10 * 1920 // 3  # right after ten blocks of 40 ms at 48 kHz
    assert 0.1 * MODEL_RATE < ends[longest] - starts[longest] < 0.4 * MODEL_RATE  # the outage: one 0.2 s retry


def test_open_failures_rate_fallback_and_overflow_are_reported(qtbot):
    sd, source = _fake_mic(fail_opens=2, refused_rates={48000}, overflow_at_block=3)
    run = Run(source, sd=sd, retry_delays=(0.02, 0.02, 0.02)).start()
    run.wait_audio(0.5)
    run.finish(qtbot)

    assert [n.severity for n in run.notices] == [Severity.ERROR, Severity.INFO, Severity.WARNING]
    assert "Unanticipated host error" in run.notices[0].message
    assert "lost" in run.notices[2].message
    assert run.capture.device_rate == 44100  # the device refused its own rate
    assert sd.streams[0].kwargs["channels"] == 1 and sd.streams[0].kwargs["blocksize"] == 1764
    steepest = 2 * 0.5 * np.sin(np.pi * 440 / MODEL_RATE)
    assert np.abs(np.diff(run.audio())).max() < 1.05 * steepest


def _write(path, audio: np.ndarray, rate: int) -> AudioSource:
    soundfile.write(str(path), audio, rate, subtype="FLOAT")
    return AudioSource(f"file:{path.name}", SourceKind.FILE, path.name, str(path))


def test_a_file_plays_as_a_paced_live_source_and_every_sample_arrives(qtbot, tmp_path):
    speech, rate = espeak_speech("A file can be played as a live source.", rate=22050)
    source = _write(tmp_path / "speech.wav", np.stack([speech, np.zeros_like(speech)], axis=1), rate)
    run = Run(source, speed=4.0)
    began = time.monotonic()
    with qtbot.waitSignal(run.capture.ended, timeout=10000):
        run.start()
    wall = time.monotonic() - began

    duration = speech.size / rate
    assert duration / 4 * 0.95 < wall < duration / 4 + 0.5
    expected = StreamResampler(rate, MODEL_RATE).process(0.5 * speech, last=True)
    np.testing.assert_allclose(run.audio(), expected, atol=1e-6)
    run.assert_continuous_timeline()
    assert [b.samples.size for b in run.queue.get_all()] == [b.samples.size for b in run.blocks]
    assert run.notices == [] and run.ended == [source.id] and run.capture.device_rate == rate


def test_a_looping_file_repeats_until_stopped(qtbot, tmp_path):
    tone = (0.3 * np.sin(2 * np.pi * 300 * np.arange(3200) / MODEL_RATE)).astype(np.float32)
    run = Run(_write(tmp_path / "tone.wav", tone, MODEL_RATE), speed=10.0, loop=True).start()
    run.wait_audio(0.7)
    run.finish(qtbot)
    audio = run.audio()
    assert audio.size >= 3.5 * tone.size
    np.testing.assert_array_equal(audio, np.resize(tone, audio.size))


def test_a_pause_delivers_silence_on_the_same_timeline_and_reports_the_stretch(qtbot, tmp_path):
    tone = (0.3 * np.sin(2 * np.pi * 300 * np.arange(3200) / MODEL_RATE)).astype(np.float32)
    run = Run(_write(tmp_path / "tone.wav", tone, MODEL_RATE), speed=4.0, loop=True)
    gaps = []
    run.capture.gap.connect(gaps.append)
    run.start()
    run.wait_audio(0.5)
    run.capture.set_paused(True)
    run.wait_audio(1.5)
    run.capture.set_paused(False)
    run.wait_audio(2.5)
    qtbot.waitUntil(lambda: bool(gaps), timeout=3000)  # at the first block after the resume
    run.finish(qtbot)

    (gap,) = gaps
    assert gap.source_id == run.capture.source.id and gap.reason == PAUSED
    assert 0.5 <= gap.start_s < gap.end_s <= 1.6 and gap.end_s - gap.start_s >= 0.8
    audio = run.audio()
    a, b = round(gap.start_s * MODEL_RATE), round(gap.end_s * MODEL_RATE)
    assert not audio[a:b].any()  # nothing the source heard while paused
    played = np.resize(tone, audio.size)  # the file went on playing meanwhile: the timeline kept its time
    np.testing.assert_array_equal(audio[:a], played[:a])
    np.testing.assert_array_equal(audio[b:], played[b:])
    run.assert_continuous_timeline()


def test_an_unreadable_file_is_reported(qtbot, tmp_path):
    source = AudioSource("file:nothing.wav", SourceKind.FILE, "nothing.wav", str(tmp_path / "nothing.wav"))
    run = Run(source)
    with qtbot.waitSignal(run.capture.ended, timeout=3000):
        run.start()
    assert [n.severity for n in run.notices] == [Severity.ERROR]
    assert "nothing.wav: no such file" in run.notices[0].message
    assert run.blocks == []


def test_listeners_see_each_block_before_the_queue_does(qtbot, tmp_path):
    tone = (0.3 * np.sin(2 * np.pi * 300 * np.arange(8000) / 44100)).astype(np.float32)
    source = _write(tmp_path / "tone.wav", tone, 44100)
    queue_had_it: list[bool] = []
    run: Run

    def recorder(block: AudioBlock) -> None:
        queue_had_it.append(run.queue.captured_s(block.source_id) >= block.end_s)

    def broken(block: AudioBlock) -> None:
        raise OSError("No space left on device")

    run = Run(source, listeners=[recorder, broken], speed=8.0)
    with qtbot.waitSignal(run.capture.ended, timeout=5000):
        run.start()
    assert queue_had_it and not any(queue_had_it)
    assert [n.severity for n in run.notices] == [Severity.ERROR]  # once, not for every block
    assert "No space left on device" in run.notices[0].message
    assert len(run.queue.get_all()) == len(run.blocks) == len(queue_had_it)  # the failure stopped nothing
