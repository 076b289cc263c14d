"""The session folder format's shared pieces: transcript lines, atomic writes and session.json."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app.events import CaptionEvent
from app.recording.session_folder import (
    SessionError,
    SessionInfo,
    SessionState,
    SourceInfo,
    caption_line,
    id_time,
    new_session_id,
    parse_caption_line,
    read_session,
    read_transcript,
    write_json,
    write_session,
    write_transcript,
)

EVENTS = [
    CaptionEvent("mic", "Grüße\u2028zwei Zeilen", (1, 2), 0.0, 0.5, False),
    CaptionEvent("sys", ' "quoted"', (), 0.5, 1.25, True),
]


def test_a_caption_line_is_one_json_object_that_parses_back() -> None:
    for event in EVENTS:
        line = caption_line(event)
        assert line.endswith("\n") and line.count("\n") == 1
        assert json.loads(line) == {"source_id": event.source_id, "text": event.text,
                                    "token_ids": list(event.token_ids), "start_s": event.start_s,
                                    "end_s": event.end_s, "final": event.final}
        assert parse_caption_line(line) == event
        assert parse_caption_line(line.encode("utf-8")) == event
    assert parse_caption_line('{"source_id": "mic", "start_s": 1, "end_s": 2}') == CaptionEvent("mic", "", (), 1.0,
                                                                                                2.0, False)
    for bad in ("", '{"source_id": "mic", "te', "[1, 2]", '{"text": "no source"}', '{"source_id": "m", '
                '"start_s": "x", "end_s": 1}'):
        with pytest.raises(ValueError):
            parse_caption_line(bad)


def test_read_transcript_strictly_or_skipping_damaged_lines(tmp_path: Path) -> None:
    write_transcript(tmp_path, EVENTS)
    assert read_transcript(tmp_path) == EVENTS == read_transcript(tmp_path, skip_damaged=True)
    good = b"".join(caption_line(e).encode("utf-8") for e in EVENTS)
    (tmp_path / "transcript.jsonl").write_bytes(good + good[:20])  # a last line cut short by a crash
    assert read_transcript(tmp_path) == EVENTS == read_transcript(tmp_path, skip_damaged=True)
    (tmp_path / "transcript.jsonl").write_bytes(b"not json\n" + good + b"\xff\n" + good.rstrip(b"\n"))
    with pytest.raises(SessionError, match="is damaged at line 1"):
        read_transcript(tmp_path)
    assert read_transcript(tmp_path, skip_damaged=True) == EVENTS + EVENTS  # a whole last line counts here
    assert read_transcript(tmp_path, "versions/none.jsonl") == []


def test_session_json_is_written_atomically_in_its_format(tmp_path: Path) -> None:
    started = datetime(2025, 3, 14, 9, 30, tzinfo=timezone.utc)
    session_id = new_session_id(started)
    assert id_time(session_id) == started and id_time("elsewhere") is None
    info = SessionInfo(id=session_id, title="Café", started_at=started, state=SessionState.COMPLETE,
                       sources=(SourceInfo("mic", "Mic", "microphone", "You", "audio/1-mic.wav"),), duration_s=2.5)
    write_session(tmp_path, info)
    text = (tmp_path / "session.json").read_text(encoding="utf-8")
    assert text == json.dumps(info.to_json(), indent=2, ensure_ascii=False) + "\n"
    assert read_session(tmp_path) == info
    assert info.sources[0].display == "You"
    write_json(tmp_path / "other.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.json", "session.json"]  # no temporary files left
    (tmp_path / "session.json").write_text(text[:40], encoding="utf-8")
    with pytest.raises(SessionError, match="cannot be read") as caught:
        read_session(tmp_path)
    assert caught.value.path == tmp_path / "session.json" and caught.value.reason.startswith("cannot be read: ")
