"""The library index: scanning session folders, the summary, user actions, search, versions and corrections."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from app.events import MODEL_RATE
from app.library import Library, LibraryError, schema
from app.transcript import LiveTranscript
from tests.app.library.sessions import MEETING, STANDUP, START, event, make_session


def folder_state(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file of a folder with a hash of its bytes and its mtime."""
    return {
        p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(params=[True, False], ids=["fts5", "scan-fallback"])
def library(request, tmp_path, monkeypatch) -> Library:
    if not request.param:
        monkeypatch.setattr(schema, "has_fts5", lambda conn: False)
    lib = Library(tmp_path)
    assert lib.full_text is request.param
    yield lib
    lib.close()


@pytest.fixture
def two_sessions(library: Library) -> tuple[Library, str, str]:
    audio = {"mic": np.zeros(2 * MODEL_RATE, dtype=np.float32), "sys": np.zeros(3 * MODEL_RATE, dtype=np.float32)}
    meeting = make_session(library.data_dir, "Budget meeting", MEETING, audio, labels={"mic": "You", "sys": "Others"})
    standup = make_session(library.data_dir, "Standup", STANDUP, started_at=START + timedelta(days=1))
    assert library.scan() == sorted([meeting.name, standup.name])
    return library, meeting.name, standup.name


def test_scan_lists_sessions_newest_first_with_their_details(two_sessions):
    library, meeting, standup = two_sessions
    summaries = library.sessions()
    assert [s.id for s in summaries] == [standup, meeting]
    summary = summaries[1]
    assert summary.title == "Budget meeting"
    assert summary.started_at == START
    assert summary.duration_s == pytest.approx(3.0)
    assert summary.source_names == ("You", "Others")
    assert [s.audio for s in summary.sources] == ["audio/1-mic.wav", "audio/2-sys.wav"]
    folder = library.folder(meeting)
    assert summary.size_bytes == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert summary.size_bytes > 5 * 2 * MODEL_RATE  # the audio counts
    assert (summary.state, summary.versions, summary.problem) == ("complete", ("live",), None)
    assert library.scan() == []  # nothing changed


def test_scan_follows_changed_and_vanished_folders_without_touching_them(two_sessions):
    library, meeting, standup = two_sessions
    (library.data_dir / "sessions" / "not-a-session").mkdir()
    folder = library.folder(meeting)
    with open(folder / "transcript.jsonl", "a", encoding="utf-8") as f:  # the recorder appends
        f.write(
            json.dumps(
                {
                    "source_id": "mic",
                    "text": "Zebra crossing.",
                    "token_ids": [],
                    "start_s": 9.0,
                    "end_s": 9.5,
                    "final": False,
                }
            )
            + "\n"
        )
    before = folder_state(folder)
    assert library.scan() == [meeting]
    assert folder_state(folder) == before
    assert [h.line_index for h in library.search("zebra")] == [3]

    with open(folder / "audio" / "1-mic.wav", "ab") as f:  # only audio grew: the size follows, no re-index
        f.write(b"\0" * 1000)
    assert library.scan() == []
    assert library.sessions()[1].size_bytes == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

    for p in sorted(library.folder(standup).rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    library.folder(standup).rmdir()
    assert library.scan() == [standup]
    assert [s.id for s in library.sessions()] == [meeting]
    assert library.search("report") == []


def test_a_damaged_session_json_is_listed_with_a_problem(library):
    folder = make_session(library.data_dir, "Broken", STANDUP)
    (folder / "session.json").write_text('{"title": "Broken", "sour', encoding="utf-8")
    good = make_session(library.data_dir, "Fine", MEETING)
    assert sorted(library.scan()) == sorted([folder.name, good.name])
    broken = next(s for s in library.sessions() if s.id == folder.name)
    assert broken.state == "damaged"
    assert broken.title == folder.name
    assert broken.started_at == START  # from the folder's name
    assert "session.json cannot be read" in broken.problem
    assert broken.duration_s == pytest.approx(4.0)  # from the transcript
    assert [h.session_id for h in library.search("reviews")] == [folder.name]  # its transcript is still searchable
    with pytest.raises(LibraryError, match="session.json"):
        library.rename(folder.name, "Repaired")


def test_the_recorder_problem_and_damaged_corrections_are_reported(library):
    folder = make_session(library.data_dir, "Cut short", STANDUP, state="recovered", problem="The microphone was lost.")
    (folder / "corrections.json").write_text("{nope", encoding="utf-8")
    library.scan()
    summary = library.sessions()[0]
    assert summary.state == "recovered"
    assert summary.problem.startswith("The microphone was lost. corrections.json cannot be read")
    assert [line.text for line in library.lines(folder.name)][0] == "Yesterday I fixed the budget report."
    with pytest.raises(LibraryError, match="corrections in it are kept"):
        library.correct(folder.name, "live", 0, "Changed")
    assert (folder / "corrections.json").read_text(encoding="utf-8") == "{nope"


def test_rename_updates_session_json_and_the_index(two_sessions):
    library, meeting, _ = two_sessions
    folder = library.folder(meeting)
    library.rename(meeting, "  Budget   review \n")
    raw = json.loads((folder / "session.json").read_text(encoding="utf-8"))
    assert raw["title"] == "Budget review"
    assert raw["sources"][0]["label"] == "You"  # the rest is kept
    assert library.sessions()[1].title == "Budget review"
    assert library.search("budget", session_id=meeting)[0].title == "Budget review"
    assert library.scan() == []  # our own write does not make the session look changed
    assert not list(folder.glob(".*tmp"))
    with pytest.raises(LibraryError, match="needs a title"):
        library.rename(meeting, "   ")
    library.close()
    reopened = Library(library.data_dir)
    assert reopened.sessions()[1].title == "Budget review"
    reopened.close()


def test_delete_removes_the_folder_and_its_index_entries(two_sessions):
    library, meeting, standup = two_sessions
    folder = library.folder(meeting)
    library.delete(meeting)
    assert not folder.exists()
    assert [s.id for s in library.sessions()] == [standup]
    assert {h.session_id for h in library.search("budget")} == {standup}
    with pytest.raises(LibraryError, match="no longer exists"):
        library.folder(meeting)
    with pytest.raises(LibraryError):
        library.folder("../../etc")


def test_lines_are_grouped_as_the_live_view_grouped_them(two_sessions):
    library, meeting, _ = two_sessions
    live = LiveTranscript()
    labels = {"mic": "You", "sys": "Others"}
    for e in MEETING:
        live.add(e, labels[e.source_id])
    lines = library.lines(meeting)
    assert [(x.index, x.source_id, x.label, x.start_s, x.end_s, x.text) for x in lines] == [
        (x.index, x.source_id, x.label, x.start_s, x.end_s, x.text) for x in live.lines
    ]
    assert [x.text for x in lines] == [
        "Hello everyone. Let's talk about the budget.",
        'Sure, the "Q3" numbers look fine',
        "Next item: C++ build times (slow).",
    ]
    assert not any(x.corrected for x in lines)
    assert library.audio_path(meeting, "sys") == library.folder(meeting).resolve() / "audio" / "2-sys.wav"
    with pytest.raises(LibraryError, match="missing"):
        library.audio_path(meeting, "nope")


def test_search_across_and_within_sessions_in_time_order(two_sessions):
    library, meeting, standup = two_sessions
    hits = library.search("BUDGET")
    assert [(h.session_id, h.line_index) for h in hits] == [(standup, 0), (meeting, 0)]  # newest session first
    assert hits[1].title == "Budget meeting" and hits[1].version == "live" and hits[1].label == "You"
    assert hits[1].snippet == "Hello everyone. Let's talk about the budget."
    assert [hits[1].snippet[a:b] for a, b in hits[1].marks] == ["budget"]
    assert hits[0].start_s == 0.0
    assert [h.line_index for h in library.search("e", session_id=meeting)] == [0, 1, 2]
    assert [h.line_index for h in library.search("item times", session_id=meeting)] == [2]  # every word, any order
    assert library.search("times budget") == []
    assert [h.session_id for h in library.search("report", session_id=meeting)] == []
    assert library.search("   ") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"Q3"', [1]),  # a quoted phrase: the quotes are the user's syntax
        ('\\"Q3\\"', []),
        ("Q3", [1]),
        ('"the budget"', [0]),
        ('"the budget', [0]),  # an unbalanced quote
        ("let's", [0]),
        ("C++", [2]),
        ("(slow).", [2]),
        ("item:", [2]),
        ("AND", []),
        ("budget OR", []),
        ("NOT budget", []),
        ("bud*", []),
        ("-budget", []),
        ("col:umn", []),
        ("^hello", []),
        ("look", [1]),
        ('"', []),
        ("''", []),
        ("(", [2]),
        ("ev", [0]),  # shorter than a trigram
    ],
)
def test_search_takes_any_text_literally(two_sessions, query, expected):
    library, meeting, _ = two_sessions
    assert [h.line_index for h in library.search(query, session_id=meeting)] == expected


def test_search_finds_words_in_any_script_regardless_of_case(library):
    folder = make_session(library.data_dir, "Été", [event("mic", "Un été à Paris. 我们明天开会吧。", 0.0, 1.0)])
    library.scan()
    for query, marked in [("ÉTÉ", ["été"]), ("明天", ["明天"]), ("paris 开会", ["Paris", "开会"])]:
        (hit,) = library.search(query)
        assert hit.session_id == folder.name
        assert [hit.snippet[a:b] for a, b in hit.marks] == marked


def test_versions_are_stored_beside_the_live_transcript(two_sessions):
    library, meeting, standup = two_sessions
    folder = library.folder(meeting)
    transcript = (folder / "transcript.jsonl").read_bytes()
    redo = [event("mic", "Hello everybody, budget first.", 0.0, 1.5), event("sys", "Fine by me.", 2.0, 2.5)]
    library.add_version(meeting, "realtime-480ms", redo, {"model": "realtime", "delay_ms": 480, "complete": True})
    library.add_version(meeting, "b", [event("mic", "Partial.", 0.0)], {"model": "voxtral", "complete": False})
    assert library.versions(meeting) == ["live", "realtime-480ms", "b"]
    assert library.versions(standup) == ["live"]
    assert library.sessions()[1].versions == ("live", "realtime-480ms", "b")
    assert (folder / "transcript.jsonl").read_bytes() == transcript
    stored = [json.loads(row) for row in (folder / "versions" / "realtime-480ms.jsonl").read_text().splitlines()]
    assert stored[0] == {
        "source_id": "mic",
        "text": "Hello everybody, budget first.",
        "token_ids": [1],
        "start_s": 0.0,
        "end_s": 1.5,
        "final": False,
    }
    meta = library.version_meta(meeting, "realtime-480ms")
    assert meta["name"] == "realtime-480ms" and meta["delay_ms"] == 480 and meta["complete"] is True
    assert meta["created_at"].startswith("20")
    assert library.version_meta(meeting, "b")["complete"] is False
    assert [(x.label, x.text) for x in library.lines(meeting, "realtime-480ms")] == [
        ("You", "Hello everybody, budget first."),
        ("Others", "Fine by me."),
    ]
    assert [(h.version, h.line_index) for h in library.search("budget", session_id=meeting)] == [
        ("live", 0),
        ("realtime-480ms", 0),
    ]
    assert [h.version for h in library.search("budget", session_id=meeting, version="realtime-480ms")] == [
        "realtime-480ms"
    ]
    assert library.scan() == []
    for bad in ("live", "../escape", "", "a b"):
        with pytest.raises(LibraryError, match="cannot name a version"):
            library.add_version(meeting, bad, redo, {})
    with pytest.raises(LibraryError, match="no version"):
        library.lines(meeting, "missing")


def test_corrections_are_saved_apart_from_the_model_text(two_sessions):
    library, meeting, _ = two_sessions
    folder = library.folder(meeting)
    transcript = (folder / "transcript.jsonl").read_bytes()
    assert library.correct(meeting, "live", 2, "Next item: C++ build times (slow).").corrected is False
    assert not (folder / "corrections.json").exists()  # no change, no file
    line = library.correct(meeting, "live", 2, "Next item: C# build times (slow). ")
    assert (line.text, line.model_text, line.corrected) == (
        "Next item: C# build times (slow).",
        "Next item: C++ build times (slow).",
        True,
    )
    assert (folder / "transcript.jsonl").read_bytes() == transcript
    saved = json.loads((folder / "corrections.json").read_text(encoding="utf-8"))
    assert set(saved) == {"live"} and set(saved["live"]) == {"2"}
    assert saved["live"]["2"]["text"] == "Next item: C# build times (slow)."
    assert saved["live"]["2"]["model_text"] == "Next item: C++ build times (slow)."
    assert saved["live"]["2"]["edited_at"].startswith("20")
    lines = library.lines(meeting)
    assert [x.corrected for x in lines] == [False, False, True]
    assert lines[2].text == "Next item: C# build times (slow)."

    assert [h.line_index for h in library.search("C#")] == [2]  # search covers the corrected text
    assert library.search("C++") == []
    assert library.scan() == []

    reverted = library.revert_correction(meeting, "live", 2)
    assert (reverted.text, reverted.corrected) == ("Next item: C++ build times (slow).", False)
    assert json.loads((folder / "corrections.json").read_text(encoding="utf-8")) == {}
    assert [h.line_index for h in library.search("C++")] == [2]
    assert library.search("C#") == []

    library.correct(meeting, "live", 0, "Hello all.")
    assert library.correct(meeting, "live", 0, "Hello everyone. Let's talk about the budget.").corrected is False
    assert json.loads((folder / "corrections.json").read_text(encoding="utf-8")) == {}  # the model's text: no edit
    with pytest.raises(LibraryError, match="no line 4"):
        library.correct(meeting, "live", 3, "x")
    assert (folder / "transcript.jsonl").read_bytes() == transcript


def test_a_correction_of_text_that_changed_since_is_kept_but_flagged(two_sessions):
    library, meeting, _ = two_sessions
    folder = library.folder(meeting)
    library.correct(meeting, "live", 1, "Sure, the Q3 numbers look fine.")
    rows = (folder / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
    rows[2] = rows[2].replace("look fine", "look great")  # as if the model's text were different now
    (folder / "transcript.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert library.scan() == [meeting]
    line = library.lines(meeting)[1]
    assert (line.text, line.corrected, line.stale_correction) == (
        'Sure, the "Q3" numbers look great',
        False,
        "Sure, the Q3 numbers look fine.",
    )
    assert "1" in json.loads((folder / "corrections.json").read_text(encoding="utf-8"))["live"]
    assert [h.line_index for h in library.search("great")] == [1]


def test_a_damaged_or_outdated_index_is_rebuilt(tmp_path):
    folder = make_session(tmp_path, "Standup", STANDUP)
    (tmp_path / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    library = Library(tmp_path)
    assert library.scan() == [folder.name]
    assert library._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    library.close()
    with sqlite3.connect(tmp_path / "index.sqlite3") as conn:
        conn.execute("UPDATE schema SET version = version + 1")
    conn.close()
    library = Library(tmp_path)
    assert library.sessions() == []
    assert library.scan() == [folder.name]
    assert [h.line_index for h in library.search("reviews")] == [1]
    library.close()


def test_the_library_can_be_used_from_several_threads(two_sessions):
    library, meeting, _ = two_sessions
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                library.correct(meeting, "live", n, f"Edit {n}-{i}")
                assert library.search(f"Edit {n}-{i}")[0].line_index == n
                library.scan()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [x.text for x in library.lines(meeting)] == ["Edit 0-19", "Edit 1-19", "Edit 2-19"]


def test_a_session_being_recorded_cannot_be_deleted(tmp_path):
    from app.events import AudioBlock, AudioSource, SourceKind
    from app.recording.recorder import SessionRecorder

    source = AudioSource("mic:a", SourceKind.MICROPHONE, "Microphone")
    recorder = SessionRecorder.start(tmp_path, [source])
    recorder.listener(AudioBlock(source.id, np.zeros(1600, np.float32), 0.0))
    library = Library(tmp_path)
    try:
        library.scan()
        (session,) = library.sessions()
        with pytest.raises(LibraryError, match="still being recorded"):
            library.delete(session.id)
        assert recorder.folder.exists()
        recorder.close()
        library.delete(session.id)
        assert not recorder.folder.exists()
    finally:
        library.close()
