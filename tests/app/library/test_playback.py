"""The Player: which samples it hands to the output (with a stand-in sounddevice), errors, and real playback through a
PulseAudio null sink, recorded from its monitor."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app import portaudio
from app.events import MODEL_RATE
from app.library.playback import PlaybackError, Player
from tests.fixtures.pulse import pulse_server  # noqa: F401  (fixture)


class FakeStream:
    def __init__(self, sd: FakeSd, **kwargs) -> None:
        self.sd = sd
        self.kwargs = kwargs
        self.active = False
        self.closed = False

    def start(self) -> None:
        if self.sd.fail:
            raise self.sd.PortAudioError("Device unavailable [PaErrorCode -9985]")
        self.active = True

    def close(self) -> None:
        self.active = False
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        """What the device gets from one callback."""
        out = np.full((frames, self.kwargs["channels"]), 7.0, dtype=np.float32)
        try:
            self.kwargs["callback"](out, frames, None, None)
        except self.sd.CallbackStop:
            self.active = False  # PortAudio drains and ends the stream
        return out[:, 0]


class FakeSd:
    class CallbackStop(Exception):
        pass

    class PortAudioError(Exception):
        pass

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.streams: list[FakeStream] = []

    def OutputStream(self, **kwargs) -> FakeStream:  # noqa: N802 — sounddevice's name
        self.streams.append(FakeStream(self, **kwargs))
        return self.streams[-1]


@pytest.fixture
def wav(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Two seconds of a ramp, as the recorder stores it (16-bit), and the samples read back."""
    path = tmp_path / "1-mic.wav"
    soundfile.write(path, np.linspace(-0.5, 0.5, 2 * MODEL_RATE, dtype=np.float32), MODEL_RATE, subtype="PCM_16")
    return path, soundfile.read(path, dtype="float32")[0]


def test_play_hands_the_file_from_the_start_time_to_the_device(wav):
    path, samples = wav
    sd = FakeSd()
    player = Player(sd, device=3)
    assert not player.playing
    player.play(path, 1.25)
    stream = sd.streams[0]
    assert {k: stream.kwargs[k] for k in ("samplerate", "channels", "dtype", "device")} == {
        "samplerate": MODEL_RATE,
        "channels": 1,
        "dtype": "float32",
        "device": 3,
    }
    assert player.playing
    assert player.position_s == pytest.approx(1.25)
    np.testing.assert_array_equal(stream.pull(1000), samples[20000:21000])
    assert player.position_s == pytest.approx(21000 / MODEL_RATE)
    np.testing.assert_array_equal(stream.pull(10000), samples[21000:31000])
    tail = stream.pull(2000)  # the file ends within this block
    np.testing.assert_array_equal(tail[:1000], samples[31000:])
    assert not tail[1000:].any()
    assert not player.playing
    assert player.position_s == pytest.approx(2.0)


def test_play_stops_what_was_playing_and_stop_closes(wav):
    path, samples = wav
    sd = FakeSd()
    player = Player(sd)
    player.play(path, 0.5)
    player.play(path, 99.0)  # past the end: nothing left to play
    assert sd.streams[0].closed
    assert player.position_s == pytest.approx(2.0)
    assert not sd.streams[1].pull(100).any()
    player.play(path, -3.0)
    np.testing.assert_array_equal(sd.streams[2].pull(10), samples[:10])
    player.stop()
    assert sd.streams[2].closed and not player.playing
    assert player.position_s == pytest.approx(10 / MODEL_RATE)
    player.stop()  # twice is fine


def test_errors_say_what_went_wrong(wav, tmp_path, monkeypatch):
    path, _ = wav
    with pytest.raises(PlaybackError, match="Cannot open the recording missing.wav"):
        Player(FakeSd()).play(tmp_path / "missing.wav")
    player = Player(FakeSd(fail=True))
    with pytest.raises(PlaybackError, match="Cannot play the recording: Device unavailable"):
        player.play(path)
    assert not player.playing

    def no_portaudio(name: str):
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(portaudio.importlib, "import_module", no_portaudio)
    with pytest.raises(PlaybackError, match="libportaudio2"):
        Player().play(path)


def best_alignment(captured: np.ndarray, segment: np.ndarray) -> float:
    """The correlation coefficient of ``segment`` with the part of ``captured`` where it fits best."""
    n = 1 << int(np.ceil(np.log2(captured.size + segment.size)))
    scores = np.fft.irfft(np.fft.rfft(captured, n) * np.conj(np.fft.rfft(segment, n)), n)
    scores = scores[: captured.size - segment.size]
    offset = int(np.argmax(scores))
    return float(np.corrcoef(captured[offset : offset + segment.size], segment)[0, 1])


def test_plays_from_the_requested_time_through_a_real_sound_server(pulse_server, tmp_path):  # noqa: F811
    import sounddevice as sd

    from app.capture.devices import list_sources, open_input_stream, resolve

    rng = np.random.default_rng(0)
    noise = np.convolve(rng.standard_normal(4 * MODEL_RATE), np.ones(4) / 4, mode="same")  # below the resamplers' cut
    path = tmp_path / "noise.wav"
    soundfile.write(path, (0.3 * noise).astype(np.float32), MODEL_RATE, subtype="PCM_16")
    stored = soundfile.read(path, dtype="float32")[0]

    monitor = next(s for s in list_sources() if s.id == f"system:{pulse_server.monitor}")
    captured: list[np.ndarray] = []
    recorder = open_input_stream(
        sd,
        resolve(sd, monitor),
        samplerate=MODEL_RATE,
        channels=1,
        callback=lambda data, frames, t, status: captured.append(data[:, 0].copy()),
    )
    output = next(i for i, d in enumerate(sd.query_devices()) if d["name"] == "pulse" and d["max_output_channels"])
    player = Player(device=output)
    with recorder:
        deadline = time.monotonic() + 10
        while len(captured) < 5 and time.monotonic() < deadline:  # the monitor's first audio can take ~2 s
            time.sleep(0.05)
        player.play(path, 2.0)
        deadline = time.monotonic() + 10
        while player.playing and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not player.playing
        assert player.position_s == pytest.approx(4.0)
        time.sleep(0.5)  # the tail reaches the monitor
    player.stop()

    heard = np.concatenate(captured)
    assert best_alignment(heard, stored[int(2.2 * MODEL_RATE) : int(3.8 * MODEL_RATE)]) > 0.9
    assert best_alignment(heard, stored[int(0.2 * MODEL_RATE) : int(1.8 * MODEL_RATE)]) < 0.3  # not from the start
