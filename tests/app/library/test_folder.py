"""The library's view of session.json: the recorder's reader, or a "damaged" entry built from the folder's name."""

from __future__ import annotations

import json

from app.library.folder import read_meta, read_version
from app.recording.session_folder import read_session
from tests.app.library.sessions import MEETING, START, make_session


def test_read_meta_is_read_session_or_a_damaged_entry(tmp_path):
    folder = make_session(tmp_path, "Budget meeting", MEETING, problem="The microphone was lost.")
    meta = read_meta(folder)
    assert meta.info == read_session(folder)
    assert (meta.id, meta.title, meta.started_at, meta.state, meta.problem) == (
        folder.name, "Budget meeting", START, "complete", "The microphone was lost.")
    assert read_version(folder, "live") == MEETING

    raw = json.loads((folder / "session.json").read_text(encoding="utf-8"))
    (folder / "session.json").write_text(json.dumps({**raw, "sources": "mic"}), encoding="utf-8")
    damaged = read_meta(folder)
    assert (damaged.info, damaged.title, damaged.started_at, damaged.state, damaged.duration_s, damaged.sources) == (
        None, folder.name, START, "damaged", 0.0, ())
    assert damaged.problem == "session.json is damaged: 'sources' is not a list."
    (folder / "session.json").unlink()
    assert read_meta(folder).problem == "session.json is missing."
