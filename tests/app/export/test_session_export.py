"""Exporting a saved session (app.export.session and the export dialog) on a real library: never over a recording,
audio or a folder; long titles and names shortened to what the file system takes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QDialogButtonBox

from app.export.output_check import OutputRefused
from app.export.session import export_session
from app.library.index import Library
from app.ui.export_dialog import ExportDialog
from tests.app.library.sessions import MEETING, make_session


@pytest.fixture
def meeting(tmp_path: Path):
    folder = make_session(tmp_path / "data", "Budget", MEETING)
    library = Library(tmp_path / "data")
    library.scan()
    yield library, folder
    library.close()


def test_an_export_never_replaces_the_recording_or_audio(meeting, tmp_path) -> None:
    library, folder = meeting
    wav = next((folder / "audio").iterdir())
    copy = tmp_path / "meeting.txt"
    copy.write_bytes(wav.read_bytes())  # audio under a transcript's name
    kept = {p: p.read_bytes() for p in (wav, folder / "transcript.jsonl", folder / "session.json", copy)}
    for target in kept:
        with pytest.raises(OutputRefused) as refused:
            export_session(library, folder.name, "live", "txt", target)
        assert str(target) in str(refused.value)
    with pytest.raises(OutputRefused, match="is a folder"):
        export_session(library, folder.name, "live", "srt", tmp_path)
    assert {p: p.read_bytes() for p in kept} == kept
    written = export_session(library, folder.name, "live", "srt", tmp_path / "out" / "meeting.srt")
    assert written.read_text(encoding="utf-8").startswith("1\n")


def test_a_name_too_long_is_shortened_and_the_path_written_returned(meeting, tmp_path) -> None:
    library, folder = meeting
    long_name = "Réunion du comité budgétaire " * 12 + ".vtt"
    written = export_session(library, folder.name, "live", "vtt", tmp_path / long_name)
    assert written.parent == tmp_path and written.suffix == ".vtt" and len(os.fsencode(written.name)) <= 255
    assert long_name.startswith(written.stem) and written.read_text(encoding="utf-8").startswith("WEBVTT")


def test_the_dialog_suggests_a_name_that_fits_and_keeps_save_from_a_refused_file(qtbot, meeting, tmp_path) -> None:
    library, folder = meeting
    title = "Réunion du comité budgétaire " * 12
    dialog = ExportDialog(title, ["live"], tmp_path, protected=[library.sessions_dir])
    qtbot.addWidget(dialog)
    suggested = dialog.chosen_path()
    assert suggested.suffix == ".txt" and len(os.fsencode(suggested.name)) <= 255
    dialog.format.setCurrentIndex(dialog.format.findData("json"))  # a longer extension: still fits
    assert dialog.chosen_path().suffix == ".json" and len(os.fsencode(dialog.chosen_path().name)) <= 255
    recording = next((folder / "audio").iterdir())
    dialog.show()
    dialog.path.setText(str(recording))
    save = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save)
    save.click()
    assert dialog.isVisible() and dialog.result() == 0
    assert "recordings folder" in dialog.problem.text() and dialog.problem.isVisibleTo(dialog)
    dialog.path.setText(str(tmp_path / "fine.json"))
    save.click()
    assert dialog.result() == ExportDialog.DialogCode.Accepted


@pytest.mark.parametrize("fmt", ["srt", "vtt", "txt", "md"])
def test_a_single_source_session_exports_without_a_source_label(tmp_path, fmt) -> None:
    from tests.app.library.sessions import STANDUP

    folder = make_session(tmp_path / "data", "Played file", STANDUP, labels={"mic": "File"})
    two = make_session(tmp_path / "data", "Meeting", MEETING, labels={"mic": "You", "sys": "Others"},
                       audio={"mic": np.zeros(16000, np.float32), "sys": np.zeros(16000, np.float32)})
    library = Library(tmp_path / "data")
    library.scan()
    try:
        alone = export_session(library, folder.name, "live", fmt, tmp_path / f"alone.{fmt}", labels=True)
        text = alone.read_text(encoding="utf-8")
        assert "Yesterday I fixed" in text and "File:" not in text and "<v File>" not in text
        both = export_session(library, two.name, "live", fmt, tmp_path / f"both.{fmt}", labels=True)
        assert "Others" in both.read_text(encoding="utf-8")
    finally:
        library.close()
