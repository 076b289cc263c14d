"""Playing a recorded source from a chosen time through sounddevice (no Qt).

The WAV file is read block by block inside the PortAudio callback, so a recording of hours is never loaded whole.
One Player plays one thing at a time: ``play`` stops what was playing first.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from app.portaudio import load_sounddevice

# Playback needs no low latency, and PortAudio's default for some devices is too short: through the ALSA pulse
# plugin its ~35 ms made every callback underflow and a 2 s file ran out in 0.2 s (seen with PulseAudio 16).
LATENCY_S = 0.2


class PlaybackError(Exception):
    """A recording cannot be played; the message is meant for the user."""


def import_sounddevice() -> ModuleType:
    """The sounddevice module; a PlaybackError that says what to install when it or PortAudio is missing."""
    return load_sounddevice("Playing recordings", PlaybackError)


class Player:
    """Plays a WAV file from a time on an output device; ``sd`` replaces the sounddevice module (tests)."""

    def __init__(self, sd: Any = None, device: int | str | None = None) -> None:
        self._sd = sd
        self._device = device  # None: the system's default output
        self._stream: Any = None
        self._file: Any = None
        self._rate = 1
        self._start_frame = 0
        self._played = 0  # frames handed to the device since play(); only the callback advances it

    @property
    def playing(self) -> bool:
        """Whether audio is playing now (False once the file has been played to its end)."""
        stream = self._stream
        return stream is not None and bool(stream.active)

    @property
    def position_s(self) -> float:
        """Where in the file playback is (or stopped), in seconds; ahead of what is heard by the output latency."""
        return (self._start_frame + self._played) / self._rate

    def play(self, path: Path, start_s: float = 0.0) -> None:
        """Stop what is playing and play ``path`` from ``start_s`` seconds on; PlaybackError when it cannot."""
        import soundfile

        self.stop()
        sd = self._sd = self._sd or import_sounddevice()
        try:
            audio = soundfile.SoundFile(str(path))
        except (RuntimeError, OSError) as exc:  # libsndfile's errors are RuntimeErrors
            raise PlaybackError(f"Cannot open the recording {Path(path).name}: {exc}") from None
        start = min(max(0, round(start_s * audio.samplerate)), audio.frames)
        audio.seek(start)

        def fill(outdata: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
            data = audio.read(frames, dtype="float32", always_2d=True)
            n = len(data)
            outdata[:n] = data
            outdata[n:] = 0
            self._played += n
            if n < frames:
                raise sd.CallbackStop

        self._file, self._rate, self._start_frame, self._played = audio, audio.samplerate, start, 0
        try:
            self._stream = sd.OutputStream(
                samplerate=audio.samplerate,
                channels=audio.channels,
                dtype="float32",
                device=self._device,
                latency=LATENCY_S,
                callback=fill,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:  # ValueError: no such device
            self.stop()
            raise PlaybackError(f"Cannot play the recording: {exc}") from None

    def stop(self) -> None:
        """Stop playing (nothing happens when nothing plays); the position stays where playback stopped."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()  # aborts: the callback has run for the last time when this returns
        audio, self._file = self._file, None
        if audio is not None:
            audio.close()
