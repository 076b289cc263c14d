"""The inputs of the packaging smoke tests (packaging/lib.sh's smoke_inputs): tiny random checkpoints in the real
on-disk layouts, written by the test fixtures, and a short speech WAV (espeak-ng's, else a chord)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests.fixtures

from tests.fixtures.realtime_checkpoint import RealtimeDims, write_native  # noqa: E402
from tests.fixtures.realtime_checkpoint import make_reference as make_realtime  # noqa: E402

RATE = 16000


def speech(path: Path) -> None:
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(path), "Hello there. This is a test of the captions."], check=True)
        return
    t = np.arange(2 * RATE) / RATE  # two seconds of a chord
    samples = (8000 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 330 * t)) / 2).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--voxtral", action="store_true", help="also a tiny Voxtral Mini 3B checkpoint")
    args = parser.parse_args()
    write_native(make_realtime(RealtimeDims(), seed=0), args.folder / "model")
    if args.voxtral:
        from tests.fixtures.voxtral_checkpoint import VoxtralDims
        from tests.fixtures.voxtral_checkpoint import make_reference as make_voxtral
        from tests.fixtures.voxtral_checkpoint import write_native as write_voxtral

        write_voxtral(make_voxtral(VoxtralDims(), seed=0), args.folder / "voxtral")
    speech(args.folder / "speech.wav")


if __name__ == "__main__":
    main()
