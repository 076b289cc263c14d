"""``captionist transcribe`` of a long file runs in constant memory: a 30-minute 48 kHz stereo FLAC (660 MB once
decoded to float32) through the tiny realtime checkpoint, in a subprocess whose peak RSS is compared with the same
command on a 1-minute file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

ROOT = Path(__file__).resolve().parents[2]
RATE = 48000
SHORT_S, LONG_S = 60, 30 * 60
BLOCK_S = 10
# The child reports its own peak resident memory after the command ran: VmHWM, the high-water mark of this program's
# memory. (ru_maxrss would not do: Linux carries it over from the forked test process, already hundreds of MB.)
CHILD = ("import sys; from pathlib import Path; from app.cli import main; rc = main(sys.argv[1:]); "
         "hwm = next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM:')); "
         "print('peak_kb', hwm.split()[1]); sys.exit(rc)")


def write_tone(path: Path, seconds: int) -> Path:
    """Two slowly beating tones, one per channel, written ten seconds at a time (the test holds no more)."""
    with soundfile.SoundFile(str(path), "w", RATE, 2, subtype="PCM_16", format="FLAC") as f:
        for start in range(0, seconds, BLOCK_S):
            t = (start * RATE + np.arange(BLOCK_S * RATE)) / RATE
            f.write(np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 443 * t)], axis=1))
    return path


def peak_kb(audio: Path, model: Path, out: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "transcribe", str(audio), "--model", str(model), "--device", "cpu",
         "--format", "json", "-o", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.is_file()
    return int(done.stdout.split("peak_kb")[-1])


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak memory from Linux's /proc")
def test_memory_does_not_grow_with_the_length_of_the_file(tiny_realtime, tmp_path) -> None:
    short = peak_kb(write_tone(tmp_path / "short.flac", SHORT_S), tiny_realtime.folder, tmp_path / "short.json")
    long = peak_kb(write_tone(tmp_path / "long.flac", LONG_S), tiny_realtime.folder, tmp_path / "long.json")
    decoded_mb = LONG_S * RATE * 2 * 4 / 2**20  # what holding the long file as float32 would take
    grown_mb = (long - short) / 1024
    print(f"peak RSS: {short / 1024:.0f} MB for {SHORT_S} s, {long / 1024:.0f} MB for {LONG_S} s "
          f"(decoded: {decoded_mb:.0f} MB)")
    assert grown_mb < decoded_mb / 10, f"peak memory grew by {grown_mb:.0f} MB for {decoded_mb:.0f} MB of audio"
