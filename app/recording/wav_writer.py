"""A mono 16-bit PCM WAV file that grows while recording and stays readable if the process dies at any instant.

The 44-byte header is written first with a data size of zero. ``sync`` flushes the samples, fsyncs them, and only
then rewrites the header (one 44-byte write, so a kill cannot leave half of it) with the sizes of what is now on disk.
So the file is a valid WAV at every instant, holding everything up to the last sync; after a crash, ``repair_wav``
recomputes the sizes from the file's length to keep also what was written after it.
"""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

import numpy as np

from app.recording.privacy import open_private

HEADER_BYTES = 44
MAX_DATA_BYTES = 0xFFFFFFFF - 36  # the RIFF size field is 32 bits: about 37 hours at 16 kHz


_HEADER_FORMAT = "<4sI4s4sIHHIIHH4sI"


def _header(data_bytes: int, sample_rate: int) -> bytes:
    return struct.pack(_HEADER_FORMAT, b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, 1, sample_rate,
                       sample_rate * 2, 2, 16, b"data", data_bytes)


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as int16, clipping what lies outside.

    Scaled by 32768, the inverse of how readers (libsndfile, soundfile) turn int16 into floats, so audio that came
    from a 16-bit file is stored bit for bit.
    """
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


class GrowingWav:
    """Appends samples to a new WAV file at ``path``; not thread-safe (one writer)."""

    def __init__(self, path: Path, sample_rate: int = 16000) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self._data_bytes = 0
        self._synced_bytes = 0
        self._file = open(self.path, "w+b", opener=open_private)  # noqa: SIM115  (kept open while recording)
        try:
            self._file.write(_header(0, sample_rate))
            self._file.flush()
        except BaseException:
            self._file.close()
            raise

    @property
    def frames(self) -> int:
        """Samples appended so far."""
        return self._data_bytes // 2

    def append(self, samples: np.ndarray) -> None:
        """Append float32 samples (converted to int16 with clipping) or int16 samples. Raises OSError."""
        pcm = samples if samples.dtype == np.int16 else to_pcm16(samples)
        if self._data_bytes + pcm.nbytes > MAX_DATA_BYTES:
            raise OSError(errno.EFBIG, "a WAV file cannot hold more than about 37 hours at 16 kHz", str(self.path))
        self._file.write(pcm.astype("<i2", copy=False).tobytes())
        self._data_bytes += pcm.nbytes

    def sync(self) -> None:
        """Put the appended samples on disk, then make the header count them. Raises OSError."""
        if self._synced_bytes == self._data_bytes:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.seek(0)
        self._file.write(_header(self._data_bytes, self.sample_rate))
        self._file.seek(0, os.SEEK_END)  # also flushes the header
        self._synced_bytes = self._data_bytes

    def close(self) -> None:
        """Sync and close; the file is closed even when the sync fails (then the error is raised)."""
        if self._file.closed:
            return
        try:
            self.sync()
            os.fsync(self._file.fileno())  # the last header too
        finally:
            self._file.close()


def repair_wav(path: Path, sample_rate: int = 16000) -> float:
    """Make an interrupted WAV written by GrowingWav whole again; returns its duration in seconds.

    The sizes in the header are set from the file's length, after cutting off a partial trailing sample. An empty
    file (a crash right after creating it) gets a header at ``sample_rate``. Raises ValueError for a file that is not
    a GrowingWav file (it is left untouched) and OSError when it cannot be read or written.
    """
    with os.fdopen(os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0)), "r+b") as f:  # a link is refused
        header = f.read(HEADER_BYTES)
        if header:
            size = f.seek(0, os.SEEK_END)
            fields = struct.unpack(_HEADER_FORMAT, header) if len(header) == HEADER_BYTES else ()
            rate = fields[7] if fields else 0
            expected = (b"RIFF", b"WAVE", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16, b"data")
            if fields[:1] + fields[2:12] != expected or not rate or size - HEADER_BYTES > MAX_DATA_BYTES:
                raise ValueError(f"{path} is not a 16-bit mono WAV file written while recording")
            data_bytes = (size - HEADER_BYTES) // 2 * 2
            f.truncate(HEADER_BYTES + data_bytes)
        else:
            rate, data_bytes = sample_rate, 0
        f.seek(0)
        f.write(_header(data_bytes, rate))
        f.flush()
        os.fsync(f.fileno())
    return data_bytes / 2 / rate
