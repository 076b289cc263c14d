"""Corrections made while a session is still being recorded, with a real SessionRecorder writing it: the line that
can still grow cannot be corrected until it is finished, so every correction saved survives the end of the
recording (none turns stale because its line changed after it)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from app.events import AudioBlock, AudioSource, SourceKind
from app.library import Library, LibraryError
from app.recording.recorder import SessionRecorder
from app.recording.session_folder import LOCK_FILE
from tests.app.library.sessions import event

MIC = AudioSource("mic:a", SourceKind.MICROPHONE, "Microphone", label="You")


def wait_for_lines(library: Library, session_id: str, count: int) -> list:
    """The lines once the recorder has written ``count`` of them (its writer thread syncs every few ms)."""
    deadline = time.monotonic() + 30
    while True:
        lines = library.lines(session_id)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.01)


@pytest.fixture
def recording(tmp_path: Path):
    recorder = SessionRecorder.start(tmp_path, [MIC], sync_interval_s=0.01)
    recorder.listener(AudioBlock(MIC.id, np.zeros(1600, np.float32), 0.0))
    library = Library(tmp_path)
    library.scan()
    yield recorder, library, recorder.folder.name
    recorder.close()
    library.close()


def test_the_line_still_being_recorded_cannot_be_corrected_and_the_others_survive_the_end(recording):
    recorder, library, sid = recording
    recorder.add_caption(event(MIC.id, "Fist line.", 0.0, 1.0))
    recorder.add_caption(event(MIC.id, "Second", 5.0, 5.5))
    assert [x.text for x in wait_for_lines(library, sid, 2)] == ["Fist line.", "Second"]

    assert library.correct(sid, "live", 0, "First line.").corrected
    with pytest.raises(LibraryError, match="still being recorded, so its words can still change"):
        library.correct(sid, "live", 1, "Second line.")
    assert library.revert_correction(sid, "live", 1).corrected is False  # nothing to undo, and allowed

    recorder.add_caption(event(MIC.id, " lien", 5.5, 6.0))  # the newest line grows...
    recorder.add_caption(event(MIC.id, "Third.", 10.0, 11.0))  # ...until the next one begins
    lines = wait_for_lines(library, sid, 3)
    assert [x.text for x in lines] == ["First line.", "Second lien", "Third."]
    assert library.correct(sid, "live", 1, "Second line.").corrected  # finished now: it can no longer change
    with pytest.raises(LibraryError, match="still being recorded"):
        library.correct(sid, "live", 2, "Third line.")

    recorder.close()
    library.scan()
    lines = library.lines(sid)
    assert [(x.text, x.corrected, x.stale_correction) for x in lines] == [
        ("First line.", True, None), ("Second line.", True, None), ("Third.", False, None)]
    assert library.correct(sid, "live", 2, "Third line.").corrected  # the recording is over
    assert [h.line_index for h in library.search("line.")] == [0, 1, 2]
    saved = json.loads((recorder.folder / "corrections.json").read_text(encoding="utf-8"))["live"]
    assert {k: v["model_text"] for k, v in saved.items()} == {"0": "Fist line.", "1": "Second lien", "2": "Third."}


def test_a_crashed_recording_leaves_a_lock_nobody_holds_and_its_last_line_can_be_corrected(recording):
    recorder, library, sid = recording
    recorder.add_caption(event(MIC.id, "Only line", 0.0, 1.0))
    wait_for_lines(library, sid, 1)
    recorder.close()
    (recorder.folder / LOCK_FILE).write_bytes(b"")  # as a crash leaves it: the file, but no lock on it
    assert library.correct(sid, "live", 0, "Only line.").corrected
