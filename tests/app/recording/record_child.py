"""Run by test_recovery in a subprocess: records two sources in real time, with captions, until it is killed.

Usage: ``python record_child.py DATA_DIR SECONDS``. Prints ``folder PATH`` once, then ``fed S`` after each 40 ms
block (S: seconds of audio handed to the recorder so far, per source).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from app.events import MODEL_RATE, AudioBlock, AudioSource, CaptionEvent, SourceKind
from app.recording import SessionRecorder

BLOCK = 640  # 40 ms
SOURCES = (AudioSource("mic", SourceKind.MICROPHONE, "Microphone", label="You"),
           AudioSource("sys", SourceKind.SYSTEM, "Speakers", label="Others"))
TITLE = "Killed meeting"


def signal(source_index: int, seconds: float) -> np.ndarray:
    """A deterministic test signal per source; its noise sometimes exceeds [-1, 1], so clipping is exercised too."""
    n = round(seconds * MODEL_RATE)
    t = np.arange(n) / MODEL_RATE
    noise = np.random.default_rng(source_index).standard_normal(n)
    return (0.6 * np.sin(2 * np.pi * (220 + 110 * source_index) * t) + 0.25 * noise).astype(np.float32)


def caption(i: int) -> CaptionEvent:
    """The i-th caption event, sent once the audio up to its end has been fed; sources alternate."""
    return CaptionEvent(SOURCES[i % 2].id, f" word{i}", (i, i + 1), i * 0.08, (i + 1) * 0.08)


def main(data_dir: str, seconds: float) -> None:
    recorder = SessionRecorder.start(data_dir, SOURCES, TITLE, sync_interval_s=0.5)
    print("folder", recorder.folder, flush=True)
    audio = [signal(i, seconds) for i in range(len(SOURCES))]
    t0 = time.monotonic()
    for k, start in enumerate(range(0, audio[0].size, BLOCK)):
        for source, samples in zip(SOURCES, audio, strict=True):
            recorder.listener(AudioBlock(source.id, samples[start : start + BLOCK], start / MODEL_RATE))
        if k % 2:
            recorder.add_caption(caption(k // 2))
        fed = (start + BLOCK) / MODEL_RATE
        print(f"fed {fed:.2f}", flush=True)
        time.sleep(max(0.0, t0 + fed - time.monotonic()))  # real time
    recorder.close()


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
