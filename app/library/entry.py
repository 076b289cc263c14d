"""One session as the index holds it: read from its folder, where whatever cannot be read becomes the session's
problem (never an exception), and read back from the index's rows, checked, where a value the library never writes
(a NULL or text where a number belongs, JSON that does not parse, an unknown state) is IndexDamage.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from app.library.folder import (
    CORRECTIONS_FILE,
    DAMAGED,
    LIVE,
    VERSIONS_DIR,
    DamagedFile,
    FolderFiles,
    Line,
    build_lines,
    plain_file,
    read_json_object,
    read_meta,
    read_version,
    relative,
    storable,
    version_file,
    version_names,
    with_corrections,
)
from app.library.search import SearchHit, folded_text, marks
from app.recording.session_folder import ID_PATTERN, SessionError, SessionState, SourceInfo, member

SUMMARY_COLUMNS = "id, title, started_at, duration_s, sources, size_bytes, state, versions, problem"
SESSION_COLUMNS = SUMMARY_COLUMNS + ", stamps"
LINE_COLUMNS = "session_id, version, line_index, start_s, label, text, folded"
STATES = frozenset({*(s.value for s in SessionState), DAMAGED})


class IndexDamage(Exception):
    """A row of the index holds a value that the library never writes: the index is damaged."""


@dataclass(frozen=True)
class SessionSummary:
    """One session as the library list shows it; ``versions`` starts with ``"live"``."""

    id: str
    title: str
    started_at: datetime | None
    duration_s: float
    sources: tuple[SourceInfo, ...]
    size_bytes: int
    state: str  # "recording", "complete", "recovered", or "damaged" when session.json cannot be read
    versions: tuple[str, ...]
    problem: str | None

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(s.display for s in self.sources)


@dataclass(frozen=True)
class Entry:
    """What the index holds about a session: its summary, the stamps of its files, and each version's lines."""

    summary: SessionSummary
    stamps: dict[str, list[int]]
    lines: dict[str, list[Line]]


def read_entry(folder: Path, files: FolderFiles) -> Entry:
    """The Entry of a session folder whose ``file_stamps`` are ``files`` (taken first, so that a file changing while
    it is read shows as changed at the next scan); what cannot be read is named in the summary's problem."""
    meta = read_meta(folder)
    problems = [meta.problem] if meta.problem else []
    # What the library would not read or follow, said now rather than when it is needed.
    for rel, look in [*((source.audio, plain_file) for source in meta.sources), (VERSIONS_DIR, member)]:
        try:
            look(folder, rel)
        except SessionError as exc:
            problems.append(relative(folder, exc))
    try:
        corrections = read_json_object(folder, CORRECTIONS_FILE)
    except DamagedFile as exc:
        corrections = {}
        problems.append(f"{exc} The corrections in it are not shown.")
    versions = version_names(folder)
    lines: dict[str, list[Line]] = {}
    end_s = 0.0
    for version in versions:
        try:
            events = read_version(folder, version)
        except SessionError as exc:
            events = []
            problems.append(relative(folder, exc))
        except OSError as exc:
            events = []
            problems.append(f"{version_file(version)} cannot be read ({exc.strerror or exc}).")
        if version == LIVE:
            end_s = max((e.end_s for e in events), default=0.0)
        lines[version] = with_corrections(build_lines(events, meta.sources), corrections.get(version))
    summary = SessionSummary(
        folder.name, storable(meta.title), _utc(meta.started_at), meta.duration_s or max(end_s, 0.0), meta.sources,
        files.size, meta.state, tuple(versions), storable(" ".join(problems)) or None,
    )
    return Entry(summary, files.stamps, lines)


def session_row(entry: Entry) -> tuple[Any, ...]:
    """The ``sessions`` row of an Entry: SESSION_COLUMNS."""
    s = entry.summary
    return (
        s.id, s.title, s.started_at.isoformat() if s.started_at else None, s.duration_s,
        json.dumps([source.__dict__ for source in s.sources]), s.size_bytes, s.state, json.dumps(list(s.versions)),
        s.problem, json.dumps(entry.stamps),
    )


def line_rows(entry: Entry) -> list[tuple[Any, ...]]:
    """The ``lines`` rows of an Entry: LINE_COLUMNS."""
    return [
        (entry.summary.id, version, x.index, x.start_s, x.label, x.text, folded_text(x.text))
        for version, lines in entry.lines.items()
        for x in lines
    ]


def summary_of(row: tuple[Any, ...]) -> SessionSummary:
    """The SessionSummary of a row of SUMMARY_COLUMNS; IndexDamage when it holds what the library never writes."""
    try:
        sid, title, started, duration, sources, size, state, versions, problem = row
        summary = SessionSummary(
            _text(sid), _text(title), _time(started), _number(duration),
            tuple(_source(s) for s in _json(sources, list)), _count(size), _text(state),
            tuple(_text(v) for v in _json(versions, list)), None if problem is None else _text(problem),
        )
    except (TypeError, ValueError, RecursionError) as exc:
        raise IndexDamage(f"a session's entry holds impossible values ({exc})") from None
    if not ID_PATTERN.fullmatch(summary.id) or summary.state not in STATES or summary.versions[:1] != (LIVE,):
        raise IndexDamage("a session's entry holds impossible values")
    return summary


def hit_of(row: tuple[Any, ...], terms: list[str]) -> SearchHit:
    """The SearchHit of a row that ``search_query`` selects; IndexDamage when it holds what the library never writes."""
    try:
        sid, title, version, index, start, label, text = row
        return SearchHit(_text(sid), _text(title), _text(version), _count(index), _number(start, signed=True),
                         _text(label), _text(text), marks(_text(text), terms))
    except (TypeError, ValueError, RecursionError) as exc:
        raise IndexDamage(f"a line's entry holds impossible values ({exc})") from None


def stamps_of(value: Any) -> dict[str, Any]:
    """The stamps stored for a session; IndexDamage when they are not what ``session_row`` writes."""
    try:
        return _json(value, dict)
    except (TypeError, ValueError, RecursionError) as exc:
        raise IndexDamage(f"a session's file stamps are damaged ({exc})") from None


def _utc(when: datetime | None) -> datetime | None:
    try:
        return when.astimezone(timezone.utc) if when is not None else None
    except (OverflowError, ValueError):  # a time at the very edge of the calendar: not one a recording has
        return None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{type(value).__name__} where text belongs")
    return value


def _number(value: Any, *, signed: bool = False) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise TypeError(f"{value!r} where a number belongs")
    if value < 0 and not signed:
        raise ValueError(f"{value!r} is negative")
    return float(value)


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{value!r} where a count belongs")
    return value


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    when = datetime.fromisoformat(_text(value))
    if when.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return when


def _json(value: Any, kind: type) -> Any:
    parsed = json.loads(_text(value))  # JSONDecodeError is a ValueError
    if not isinstance(parsed, kind):
        raise TypeError(f"{kind.__name__} expected")
    return parsed


def _source(raw: Any) -> SourceInfo:
    if not isinstance(raw, dict):
        raise TypeError("a source is not an object")
    source = SourceInfo(**raw)  # TypeError for missing or unknown fields
    for value in (source.id, source.name, source.kind, source.label, source.audio):
        _text(value)
    _count(source.sample_rate)
    return source
