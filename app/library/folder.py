"""Reading and writing one session folder (no Qt, no database).

The recorder writes the folders; this module reads them and writes only what the user changes: the title in
``session.json``, ``corrections.json`` and re-transcribed ``versions/``. Every write goes to a temporary file in the
same folder that then replaces the old file, so a crash leaves either the old or the new file, never half of one.

Layout of ``<data_dir>/sessions/<YYYYmmdd-HHMMSS>-<6 hex>/``::

    session.json        {"format": 1, "id", "title", "started_at", "ended_at", "state", "duration_s",
                         "sources": [{"id", "name", "kind", "label", "audio", "sample_rate"}], "problem"}
    audio/<n>-<slug>.wav
    transcript.jsonl    the live caption events, one JSON object a line
    versions/<name>.jsonl, versions/<name>.json   re-transcriptions (same event format) and their metadata
    corrections.json    {version: {line index: {"text", "model_text", "edited_at"}}}
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from app.events import CaptionEvent
from app.transcript import LiveTranscript, TranscriptLine

SESSION_FILE = "session.json"
TRANSCRIPT_FILE = "transcript.jsonl"
CORRECTIONS_FILE = "corrections.json"
VERSIONS_DIR = "versions"
LIVE = "live"
ID_PATTERN = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class DamagedFile(Exception):
    """A file of a session folder exists but cannot be read or parsed; the message names it."""


@dataclass(frozen=True)
class SourceInfo:
    """One recorded source as ``session.json`` lists it; ``audio`` is relative to the session folder."""

    id: str
    name: str
    kind: str
    label: str
    audio: str
    sample_rate: int

    @property
    def display(self) -> str:
        """What the user calls it: the label ("You", "Others"), else the device name."""
        return self.label or self.name


@dataclass(frozen=True)
class SessionMeta:
    """What ``session.json`` says; ``problem`` also says why the file could not be read."""

    id: str
    title: str
    started_at: datetime | None
    ended_at: datetime | None
    state: str
    duration_s: float
    sources: tuple[SourceInfo, ...]
    problem: str | None


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from ISO-8601 text (``Z`` allowed; no zone means UTC), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _time_from_id(session_id: str) -> datetime | None:
    try:
        return datetime.strptime(session_id[:15], "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _source(raw: Any) -> SourceInfo:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise ValueError("a source without an id")
    return SourceInfo(
        id=raw["id"],
        name=str(raw.get("name") or raw["id"]),
        kind=str(raw.get("kind") or ""),
        label=str(raw.get("label") or ""),
        audio=str(raw.get("audio") or ""),
        sample_rate=int(raw.get("sample_rate") or 16000),
    )


def read_meta(folder: Path) -> SessionMeta:
    """The folder's ``session.json``; a missing or damaged file gives defaults and a ``problem`` instead of raising."""
    fallback = SessionMeta(folder.name, folder.name, _time_from_id(folder.name), None, "damaged", 0.0, (), None)
    try:
        raw = json.loads((folder / SESSION_FILE).read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        sources = tuple(_source(s) for s in raw.get("sources") or ())
        return SessionMeta(
            id=folder.name,
            title=str(raw.get("title") or folder.name),
            started_at=parse_time(raw.get("started_at")) or fallback.started_at,
            ended_at=parse_time(raw.get("ended_at")),
            state=str(raw.get("state") or "complete"),
            duration_s=float(raw.get("duration_s") or 0.0),
            sources=sources,
            problem=str(raw["problem"]) if raw.get("problem") else None,
        )
    except FileNotFoundError:
        return replace(fallback, problem=f"{SESSION_FILE} is missing.")
    except (OSError, ValueError, TypeError) as exc:
        return replace(fallback, problem=f"{SESSION_FILE} cannot be read ({exc}).")


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` in one step (temporary file, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} when the file does not exist, DamagedFile when it cannot be parsed."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DamagedFile(f"{path.name} cannot be read ({exc}).") from None
    if not isinstance(raw, dict):
        raise DamagedFile(f"{path.name} does not hold a JSON object.")
    return raw


def event_to_json(event: CaptionEvent) -> dict[str, Any]:
    return {
        "source_id": event.source_id,
        "text": event.text,
        "token_ids": list(event.token_ids),
        "start_s": event.start_s,
        "end_s": event.end_s,
        "final": event.final,
    }


def read_events(path: Path) -> list[CaptionEvent]:
    """The events of a ``.jsonl`` file ([] when it does not exist).

    Lines that do not parse are skipped: after a crash the last line can be cut off, and one bad line must not hide
    the rest of the transcript.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    events = []
    for row in text.splitlines():
        try:
            raw = json.loads(row)
            events.append(
                CaptionEvent(
                    source_id=str(raw["source_id"]),
                    text=str(raw.get("text") or ""),
                    token_ids=tuple(int(t) for t in raw.get("token_ids") or ()),
                    start_s=float(raw["start_s"]),
                    end_s=float(raw["end_s"]),
                    final=bool(raw.get("final", False)),
                )
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return events


def write_events(path: Path, events: Iterable[CaptionEvent]) -> None:
    rows = (json.dumps(event_to_json(e), ensure_ascii=False) + "\n" for e in events)
    write_atomic(path, "".join(rows).encode("utf-8"))


def events_path(folder: Path, version: str) -> Path:
    return folder / TRANSCRIPT_FILE if version == LIVE else folder / VERSIONS_DIR / f"{version}.jsonl"


def version_names(folder: Path) -> list[str]:
    """``live`` and then the stored re-transcriptions, oldest first (by their metadata's ``created_at``)."""
    found = []
    for path in (folder / VERSIONS_DIR).glob("*.jsonl"):
        if not VERSION_PATTERN.fullmatch(path.stem) or path.stem == LIVE:
            continue
        try:
            created = str(read_json_object(path.with_suffix(".json")).get("created_at") or "")
        except DamagedFile:
            created = ""
        found.append((created, path.stem))
    return [LIVE, *(name for _, name in sorted(found))]


def build_lines(events: Iterable[CaptionEvent], sources: tuple[SourceInfo, ...]) -> list[TranscriptLine]:
    """The transcript lines of stored events, grouped exactly as the live view grouped them.

    A source's label is shown when it has one; the device name stands in only when several sources were recorded.
    """
    labels = {s.id: s.label or (s.name if len(sources) > 1 else "") for s in sources}
    transcript = LiveTranscript()
    for event in events:
        transcript.add(event, labels.get(event.source_id, ""))
    return transcript.lines


def file_stamps(folder: Path) -> tuple[dict[str, list[int]], int]:
    """``{relative path: [mtime_ns, size]}`` of the text files that the index is built from, and the folder's size."""
    stamps: dict[str, list[int]] = {}
    size = 0
    for path in folder.rglob("*"):
        try:
            info = path.stat()
        except FileNotFoundError:  # removed while we looked, e.g. the recorder's temporary files
            continue
        if not path.is_file():
            continue
        size += info.st_size
        rel = path.relative_to(folder).as_posix()
        if rel in (SESSION_FILE, TRANSCRIPT_FILE, CORRECTIONS_FILE) or rel.startswith(f"{VERSIONS_DIR}/"):
            stamps[rel] = [info.st_mtime_ns, info.st_size]
    return stamps, size


def stamp_of(folder: Path, rel: str) -> list[int] | None:
    try:
        info = (folder / rel).stat()
    except FileNotFoundError:
        return None
    return [info.st_mtime_ns, info.st_size]
