"""Audio files read in blocks: mono float32, optionally resampled, with the length known before reading.

    with AudioFile("talk.flac", target_rate=16000) as audio:
        print(audio.duration_s)
        for block in audio.blocks(32000):    # 2 s blocks at 16 kHz; memory does not grow with the file
            ...

soundfile decodes (WAV, FLAC, OGG, MP3). A plain PCM WAV whose header counts less data than its data chunk holds (a
recorder that stopped before bringing its header up to date) is read to its true length here, from the RIFF chunks;
such a header on a WAV this module cannot decode itself is reported, never silently cut short.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from model.audio import StreamResampler, check_sample_rate
from model.errors import AudioInputError

SUPPORTED = "WAV, FLAC, OGG, MP3"
READ_FRAMES = 65536  # frames decoded at a time: about 1.4 s at 48 kHz
_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


@dataclass(frozen=True)
class _PcmData:
    """Where a WAV's samples really are, when its header says there are fewer."""

    start: int  # byte offset of the first sample
    frames: int  # whole frames from there to the end of the file
    channels: int
    rate: int
    width: int  # bytes per sample
    is_float: bool
    stated_frames: int  # what the header says


def _printable_id(chunk_id: bytes) -> bool:
    return len(chunk_id) == 4 and all(0x20 <= b <= 0x7E for b in chunk_id)


def _chunks_reach_end(f: BinaryIO, pos: int, size: int) -> bool:
    """Whether the bytes from ``pos`` to the end are RIFF chunks (or nothing but a pad byte)."""
    while size - pos > 1:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8 or not _printable_id(head[:4]):
            return False
        length = struct.unpack("<I", head[4:])[0]
        if pos + 8 + length > size:
            return False
        pos += 8 + length + (length & 1)
    return True


def _sample_layout(fmt: bytes) -> tuple[int, int, int, bool] | None:
    """(channels, rate, bytes per sample, float) of a PCM or IEEE-float format chunk; None for any other coding."""
    if len(fmt) < 16:
        return None
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # the sub-format GUID starts with the plain format tag
    if tag not in (_PCM, _FLOAT) or channels == 0 or block_align % channels or not bits:
        return None
    width = block_align // channels
    if (tag == _PCM and width not in (1, 2, 3, 4)) or (tag == _FLOAT and width not in (4, 8)) or bits > 8 * width:
        return None
    return channels, rate, width, tag == _FLOAT


def _undercounted_wav(path: Path, f: BinaryIO) -> _PcmData | None:
    """The true extent of a WAV's samples when its header counts fewer whole frames than the file holds after them.

    None for anything else (not a RIFF WAVE, a consistent header, a file cut short): soundfile reads those. Raises
    AudioInputError when the header undercounts but the coding is not plain PCM or float.
    """
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
        return None
    pos, fmt = 12, b""
    while pos + 8 <= size:
        f.seek(pos)
        chunk_id, length = struct.unpack("<4sI", f.read(8))
        if chunk_id == b"fmt ":
            fmt = f.read(min(length, 64))
        elif chunk_id == b"data":
            break
        pos += 8 + length + (length & 1)
    else:
        return None
    start, end = pos + 8, pos + 8 + length
    layout = _sample_layout(fmt)
    frame_bytes = layout[0] * layout[2] if layout else 1
    if end > size or (size - end) < frame_bytes or _chunks_reach_end(f, end + (length & 1), size):
        return None
    if layout is None:
        raise AudioInputError(
            f"{path}: the WAV header is inconsistent: it counts {length} bytes of audio, but the file holds "
            f"{size - start} after it. It was probably written by a program that stopped before finishing the file; "
            "repair it (for example by converting it with an audio editor) and try again."
        )
    channels, rate, width, is_float = layout
    return _PcmData(start, (size - start) // frame_bytes, channels, rate, width, is_float, length // frame_bytes)


def _decode(raw: bytes, data: _PcmData) -> np.ndarray:
    """Little-endian samples as float32 frames x channels, scaled as libsndfile scales them."""
    if data.is_float:
        flat = np.frombuffer(raw, "<f4" if data.width == 4 else "<f8").astype(np.float32)
    elif data.width == 1:
        flat = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif data.width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        flat = ((value ^ 0x800000) - 0x800000).astype(np.float32) / 8388608.0
    else:
        kind, scale = ("<i2", 32768.0) if data.width == 2 else ("<i4", 2147483648.0)
        flat = np.frombuffer(raw, kind).astype(np.float32) / scale
    return flat.reshape(-1, data.channels)


class _RawPcm:
    """Frames of an undercounted WAV, read straight from its data chunk."""

    def __init__(self, f: BinaryIO, data: _PcmData) -> None:
        self._f, self._data, self._done = f, data, 0

    def seek_start(self) -> None:
        self._done = 0
        self._f.seek(self._data.start)

    def read(self, frames: int) -> np.ndarray:
        frames = min(frames, self._data.frames - self._done)
        raw = self._f.read(frames * self._data.channels * self._data.width)
        block = _decode(raw, self._data)
        self._done += len(block)
        return block

    def close(self) -> None:
        self._f.close()


class _Decoded:
    """Frames decoded by soundfile."""

    def __init__(self, sound) -> None:  # a soundfile.SoundFile
        self._sound = sound

    def seek_start(self) -> None:
        self._sound.seek(0)

    def read(self, frames: int) -> np.ndarray:
        return self._sound.read(frames, dtype="float32", always_2d=True)

    def close(self) -> None:
        self._sound.close()


def _cannot_read(path: Path, exc: Exception) -> AudioInputError:
    reason = (str(exc).split(": ", 1)[-1] if str(path) in str(exc) else str(exc)).strip().rstrip(".")
    if "does not exist" in reason:  # libsndfile's words for data no decoder accepts (e.g. a broken MP3)
        reason = "unrecognised or damaged audio data"
    return AudioInputError(f"{path}: cannot read this file ({reason}): is it an audio file? Supported: {SUPPORTED}.")


class AudioFile:
    """An open audio file whose samples come out in blocks, mono float32 at ``rate``.

    ``target_rate`` resamples (with model.audio.StreamResampler, so the samples do not depend on the block size);
    None keeps the file's own rate. Channels are averaged. Opening reads only the header; it raises AudioInputError
    for a missing, unreadable or empty file, and reading raises it for corrupt samples (NaN or infinite).

    ``frames`` is the file's true length in frames at its own rate; ``stated_frames`` what its header says, which is
    less only for a WAV whose header was not brought up to date.
    """

    def __init__(self, path: str | Path, *, target_rate: int | None = None) -> None:
        import soundfile

        self.path = Path(path)
        if os.path.isdir(self.path):
            raise AudioInputError(f"{self.path}: is a folder, not an audio file.")
        try:
            f = open(self.path, "rb")  # noqa: SIM115  (kept by the raw reader, closed here otherwise)
        except FileNotFoundError:
            raise AudioInputError(f"{self.path}: no such file.") from None
        except OSError as exc:
            raise AudioInputError(f"{self.path}: cannot be opened ({exc.strerror or exc}).") from None
        try:
            data = _undercounted_wav(self.path, f)
            if data is None:
                f.close()
                sound = soundfile.SoundFile(str(self.path))  # libsndfile's own file access: faster than Python's
                self._source: _RawPcm | _Decoded = _Decoded(sound)
                self.frames, self.source_rate, self.channels = sound.frames, sound.samplerate, sound.channels
                self.stated_frames = self.frames
            else:
                self._source = _RawPcm(f, data)
                self.frames, self.source_rate, self.channels = data.frames, data.rate, data.channels
                self.stated_frames = data.stated_frames
        except AudioInputError:
            f.close()
            raise
        except (soundfile.LibsndfileError, RuntimeError, TypeError, OSError, struct.error) as exc:
            f.close()
            raise _cannot_read(self.path, exc) from None
        try:
            check_sample_rate(self.source_rate)
            if target_rate is not None:
                check_sample_rate(target_rate)
        except AudioInputError as exc:
            self.close()
            raise AudioInputError(f"{self.path}: {exc}") from None
        if self.frames <= 0:
            self.close()
            raise AudioInputError(f"{self.path}: the file holds no audio.")
        self.rate = self.source_rate if target_rate is None else target_rate

    @property
    def duration_s(self) -> float:
        """The file's length in seconds, known before anything is decoded."""
        return self.frames / self.source_rate

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """Mono float32 blocks of ``frames`` samples at ``rate`` (the last one shorter), from the start of the file.

        Each call starts again at the beginning.
        """
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        resampler = StreamResampler(self.source_rate, self.rate) if self.rate != self.source_rate else None
        self._source.seek_start()
        pending: list[np.ndarray] = []
        held = 0  # samples in pending
        done = 0  # source frames read so far
        while True:
            block = self._source.read(READ_FRAMES)
            last = len(block) == 0
            mono = self._mono(block, done)
            done += len(block)
            if resampler is not None:
                mono = resampler.process(mono, last=last)
            if mono.size:
                pending.append(mono)
                held += mono.size
            while held >= frames or (last and held):
                joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
                out, rest = joined[:frames], joined[frames:]
                pending, held = ([rest], rest.size) if rest.size else ([], 0)
                yield out
            if last:
                return

    def _mono(self, block: np.ndarray, offset: int) -> np.ndarray:
        mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)
        if not np.isfinite(mono).all():
            bad = offset + int(np.flatnonzero(~np.isfinite(mono))[0])
            raise AudioInputError(
                f"{self.path}: the audio contains NaN or infinite values (first at frame {bad}); the file is corrupt."
            )
        return np.ascontiguousarray(mono, dtype=np.float32)

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> AudioFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def read_file(path: str | Path, *, target_rate: int | None = None) -> tuple[np.ndarray, int]:
    """A whole file as mono float32 samples and their rate (the file's own unless ``target_rate`` is given).

    Raises AudioInputError as AudioFile does. Holds the whole signal: use AudioFile for long files.
    """
    with AudioFile(path, target_rate=target_rate) as audio:
        parts = list(audio.blocks(READ_FRAMES))
        return (np.concatenate(parts) if len(parts) > 1 else parts[0]), audio.rate
