"""Cutting clips out of session folders: the exact samples, the mix of sources, the transcript excerpt."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from app.chat.clips import ClipError, ClipSource, mix, transcript_excerpt
from app.chat.model import Clip
from app.library.index import Library
from tests.app.library.sessions import MEETING, make_session

RATE = 16000


def tone(seconds: float, freq: float, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def meeting(tmp_path):
    audio = {"mic": tone(7.0, 220.0, 0.3), "sys": tone(3.0, 330.0, 0.4)}
    folder = make_session(tmp_path, "Budget", MEETING, audio, labels={"mic": "You", "sys": "Others"})
    return Library(tmp_path), folder


def wav(folder, n: int) -> np.ndarray:
    path = sorted((folder / "audio").glob(f"{n}-*.wav"))[0]
    return soundfile.read(str(path), dtype="float32")[0]


def test_clip_audio_is_the_exact_samples_of_every_source_summed(meeting) -> None:
    library, folder = meeting
    clip = Clip(folder.name, 1.25003, 3.5)
    cut = ClipSource(library).audio(clip)
    start, stop = round(1.25003 * RATE), round(3.5 * RATE)
    mic, sys = wav(folder, 1), wav(folder, 2)
    expected = mic[start:stop].copy()
    expected[: sys.size - start] += sys[start:]  # the shorter source ends at 3 s: silence after
    assert cut.samples.dtype == np.float32 and cut.samples.size == stop - start
    np.testing.assert_array_equal(cut.samples, expected)
    assert cut.range.start_s == start / RATE and cut.range.end_s == 3.5


def test_whole_recording_runs_to_the_longest_source(meeting) -> None:
    library, folder = meeting
    source = ClipSource(library)
    span = source.range(Clip(folder.name))
    assert (span.start_s, span.end_s) == (0.0, 7.0)
    assert source.duration_s(folder.name) == 7.0
    assert source.audio(Clip(folder.name)).samples.size == 7 * RATE
    # A range past the end is cut to the recording; one outside it holds nothing.
    assert source.range(Clip(folder.name, 6.0, 60.0)).end_s == 7.0
    with pytest.raises(ClipError, match="holds no audio"):
        source.range(Clip(folder.name, 8.0, 9.0))


def test_mix_is_scaled_only_when_it_would_clip() -> None:
    a = np.array([0.5, -0.2, 0.9], dtype=np.float32)
    b = np.array([0.25, 0.1], dtype=np.float32)
    np.testing.assert_allclose(mix([a, b]), [0.75, -0.1, 0.9])
    loud = mix([a, a, b])  # peak 1.8 + 0: brought back to full scale, proportions kept
    np.testing.assert_allclose(loud, np.array([1.25, -0.3, 1.8]) / 1.8, rtol=1e-6)
    assert np.max(np.abs(loud)) == pytest.approx(1.0)


def test_excerpt_holds_the_overlapping_lines_in_recording_time(meeting) -> None:
    library, folder = meeting
    source = ClipSource(library)
    # 1.0–5.5 s: the end of line 0 (0.0–1.5), line 1 (1.6–2.4) and the start of line 2 (5.0–6.0).
    assert source.range(Clip(folder.name, 1.0, 5.5)).excerpt == (
        "[00:00] You: Hello everyone. Let's talk about the budget.\n"
        '[00:01] Others: Sure, the "Q3" numbers look fine\n'
        "[00:05] You: Next item: C++ build times (slow)."
    )
    # A line ending where the clip starts is not in it; one starting where the clip ends is not either.
    assert [ln.index for ln in source.range(Clip(folder.name, 1.5, 5.0)).lines] == [1]
    assert source.range(Clip(folder.name, 2.5, 4.5)).excerpt == ""


def test_excerpt_without_labels_and_past_an_hour(tmp_path) -> None:
    from app.library.index import Line

    line = Line(0, "mic", "", 3725.0, 3726.0, "Late.", "Late.", False)
    assert transcript_excerpt([line]) == "[1:02:05] Late."


def test_describe() -> None:
    assert Clip("s").describe() == "whole recording"
    assert Clip("s", 723.0, 940.5).describe() == "12:03–15:40"
    assert Clip("s", 60.0).describe() == "01:00–end"
