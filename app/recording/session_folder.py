"""The folder of one recorded session: names, the metadata file, the transcript and the audio (plain Python, no Qt).

Layout (a contract: the recorder, recovery, the library and exporters all use it)::

    <data_dir>/sessions/<YYYYmmdd-HHMMSS>-<6 hex chars>/    data_dir: platformdirs.user_data_dir("Captionist",
                                                             appauthor=False) unless given; the time is UTC
      session.json       {"format": 1, "id": "<folder name>", "title": str, "started_at": ISO-8601 UTC,
                          "ended_at": ISO-8601 UTC or null, "state": "recording" | "complete" | "recovered",
                          "duration_s": float,
                          "sources": [{"id", "name", "kind", "label", "audio": "audio/<n>-<slug>.wav",
                                       "sample_rate": 16000}],
                          "problem": str or null}
      audio/<n>-<slug>.wav   one per source (n counts from 1, slug from its name): 16 kHz mono PCM 16-bit WAV
      transcript.jsonl   one JSON object per line per CaptionEvent:
                         {"source_id", "text", "token_ids", "start_s", "end_s", "final"}; a stretch without
                         captions (CaptionGap) is an empty one with "gap": reason
      recording.lock     present while a recorder writes the session; it holds an exclusive lock on it (flock, or
                         msvcrt.locking on Windows), so a session whose lock can be taken has no live writer
      versions/, corrections.json   what the library adds later (see ``app.library.folder``)

- session.json (and every file the library writes) is replaced atomically (temp file, fsync, os.replace, fsync of the
  folder): it is always the old or the new version.
- state "recording": written while recording, or left behind by a crash. "complete": closed by the recorder (a
  ``problem`` says why recording stopped early). "recovered": repaired after a crash by ``app.recording.recovery``.
- While recording, the audio and transcript are valid up to their last sync (at most about a second old): the WAV
  header's sizes are rewritten after the data is on disk, and whole lines of the transcript end with a newline. A
  crash can leave a partial sample after the header's size and a partial last transcript line; readers ignore both.
- Times in transcript.jsonl are seconds on the source's timeline, which is also the position in its WAV file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import IO, Any

import numpy as np

from app.events import CaptionEvent, CaptionGap
from app.recording.privacy import FILE_MODE, open_private
from app.settings import APP_NAME

FORMAT = 1
MAX_SESSION_BYTES = 1024 * 1024  # a real session.json is about 1 KB
MAX_DURATION_S = 7 * 24 * 3600.0  # a week: anything longer is damage, not a recording
MAX_SOURCES = 16
MAX_TITLE = 1000  # characters; a longer title is damage
SESSION_FILE = "session.json"
TRANSCRIPT_FILE = "transcript.jsonl"
LOCK_FILE = "recording.lock"
AUDIO_DIR = "audio"
ID_PATTERN = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")  # the folder names that new_session_id makes
AUDIO_PATTERN = re.compile(r"audio/[A-Za-z0-9][A-Za-z0-9_-]{0,80}\.wav")  # what audio_name makes (and made)


class SessionError(Exception):
    """A session folder that cannot be read; the message names the file and what is wrong.

    ``path`` is the file and ``reason`` what is wrong with it ("is missing", "cannot be read: …", "is damaged: …").
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} {reason}.")
        self.path = Path(path)
        self.reason = reason


class SessionState(str, Enum):
    RECORDING = "recording"
    COMPLETE = "complete"
    RECOVERED = "recovered"


@dataclass(frozen=True)
class SourceInfo:
    """One recorded source: who it was and where its audio is (``audio`` is relative to the session folder)."""

    id: str
    name: str
    kind: str
    label: str
    audio: str
    sample_rate: int = 16000

    @property
    def display(self) -> str:
        """What the user calls it: the label ("You", "Others"), else the device name."""
        return self.label or self.name


@dataclass(frozen=True)
class SessionInfo:
    """The contents of session.json."""

    id: str
    title: str
    started_at: datetime
    state: SessionState
    sources: tuple[SourceInfo, ...]
    ended_at: datetime | None = None
    duration_s: float = 0.0
    problem: str | None = None
    format: int = FORMAT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "id": self.id,
            "title": self.title,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at is not None else None,
            "state": self.state.value,
            "duration_s": self.duration_s,
            "sources": [dataclasses.asdict(s) for s in self.sources],
            "problem": self.problem,
        }


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def sessions_dir(data_dir: Path | str | None = None) -> Path:
    """The folder holding one folder per session."""
    return Path(data_dir if data_dir is not None else default_data_dir()) / "sessions"


def new_session_id(now: datetime) -> str:
    """A folder name that sorts by start time (``now`` is converted to UTC) and does not collide."""
    return now.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def id_time(session_id: str) -> datetime | None:
    """The start time (UTC) that a folder name from ``new_session_id`` holds; None for another name."""
    try:
        return datetime.strptime(session_id[:15], "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def audio_name(index: int, source_name: str) -> str:
    """``audio/<n>-<slug>.wav`` for the source at ``index`` (0-based) in the session's list."""
    slug = re.sub(r"[^a-z0-9]+", "-", source_name.lower()).strip("-")[:40].strip("-") or "source"
    return f"{AUDIO_DIR}/{index + 1}-{slug}.wav"


def member(folder: Path, rel: str) -> Path:
    """``folder / rel``, checked to lie inside the session folder: ``rel`` is relative, has no ``..``, and neither
    the folder, nor ``rel``, nor any folder between them is a symbolic link (so no loop and no link to elsewhere).

    Every reader and writer of a session's files goes through this, so that nothing a ``session.json`` (or a link
    planted in the folder) says can make the program read, truncate or rewrite a file outside it. A path that does
    not exist yet is fine. Raises SessionError.
    """
    folder = Path(folder)
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or any(p in ("..", ".") for p in parts) or "\\" in rel:
        raise SessionError(folder / rel, "is not a file inside the session folder")
    path = folder
    for part in ("", *parts):
        path = path / part if part else path
        if path.is_symlink():
            raise SessionError(path, "is a symbolic link; session folders hold only plain files and folders")
    return folder / rel


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a session may hold")


def _time(value: Any, key: str, optional: bool = False) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"{key!r} is not a time")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _source(raw: Any) -> SourceInfo:
    if not isinstance(raw, dict):
        raise ValueError("a source is not an object")
    try:
        values = {k: raw[k] for k in ("id", "name", "kind", "label", "audio")}
        rate = raw.get("sample_rate", 16000)
    except KeyError as exc:
        raise ValueError(f"a source has no {exc.args[0]!r}") from None
    if not all(isinstance(v, str) for v in values.values()) or not isinstance(rate, int) or isinstance(rate, bool):
        raise ValueError("a source has a field of the wrong type")
    if not AUDIO_PATTERN.fullmatch(values["audio"]):
        raise ValueError(f"the audio file {values['audio'][:80]!r} of a source is not a file of its audio folder")
    if rate != 16000:
        raise ValueError(f"a source's sample rate is {rate}; recordings are 16000 Hz")
    return SourceInfo(**values, sample_rate=rate)


def read_session(folder: Path) -> SessionInfo:
    """The session.json of ``folder``; raises SessionError when it is missing or damaged."""
    path = member(folder, SESSION_FILE)
    try:
        if path.stat().st_size > MAX_SESSION_BYTES:
            raise SessionError(path, f"is damaged: it is larger than {MAX_SESSION_BYTES // 1024} KB")
        raw = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except FileNotFoundError:
        raise SessionError(path, "is missing") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise SessionError(path, f"cannot be read: {exc}") from exc
    try:
        if not isinstance(raw, dict):
            raise ValueError("it is not a JSON object")
        if raw.get("format") != FORMAT:
            raise ValueError(f"format {raw.get('format')!r} is not supported")
        title, problem, duration = raw.get("title"), raw.get("problem"), raw.get("duration_s", 0.0)
        if not isinstance(title, str) or not (problem is None or isinstance(problem, str)):
            raise ValueError("'title' or 'problem' is not text")
        if not isinstance(duration, (int, float)) or isinstance(duration, bool):
            raise ValueError("'duration_s' is not a number")
        if not math.isfinite(duration) or not 0 <= duration <= MAX_DURATION_S:
            raise ValueError(f"'duration_s' is {duration!r}, not a length of a recording")
        if not isinstance(raw.get("id"), str) or len(raw["id"]) > 200:
            raise ValueError("'id' is not a session id")
        if not isinstance(raw.get("sources"), list):
            raise ValueError("'sources' is not a list")
        if len(raw["sources"]) > MAX_SOURCES or len(title) > MAX_TITLE or len(problem or "") > 10000:
            raise ValueError("it lists more sources, or longer texts, than a recording has")
        return SessionInfo(
            id=str(raw["id"]),
            title=title,
            started_at=_time(raw.get("started_at"), "started_at"),
            ended_at=_time(raw.get("ended_at"), "ended_at", optional=True),
            state=SessionState(raw.get("state")),
            duration_s=float(duration),
            sources=tuple(_source(s) for s in raw["sources"]),
            problem=problem,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SessionError(path, f"is damaged: {exc}") from exc


def fsync_dir(folder: Path) -> None:
    """Make new names in ``folder`` durable (POSIX; Windows has no way to open a folder for this)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` in one step (temporary file, fsync, rename, fsync of the folder): a crash leaves
    the old or the new file, never a mix. Raises OSError."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        if os.name != "nt":
            os.fchmod(fd, FILE_MODE)  # private whatever the umask (mkstemp's 0600 is narrowed by it)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_json(path: Path, obj: Any) -> None:
    """Replace ``path`` atomically by ``obj`` as indented JSON (UTF-8, a newline at the end). Raises OSError."""
    write_atomic(path, (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def write_session(folder: Path, info: SessionInfo) -> None:
    """Replace session.json atomically: a crash leaves the old or the new file, never a mix. Raises OSError."""
    write_json(Path(folder) / SESSION_FILE, info.to_json())


def caption_line(event: CaptionEvent) -> str:
    """The transcript.jsonl line of ``event``, newline included."""
    record = {"source_id": event.source_id, "text": event.text, "token_ids": list(event.token_ids),
              "start_s": event.start_s, "end_s": event.end_s, "final": event.final}
    return json.dumps(record, ensure_ascii=False) + "\n"


def gap_line(gap: CaptionGap) -> str:
    """The transcript.jsonl line of a stretch without captions, newline included: an empty caption (which is what
    older readers take it for) with a ``gap`` key holding the reason."""
    record = {"source_id": gap.source_id, "text": "", "token_ids": [], "start_s": gap.start_s, "end_s": gap.end_s,
              "final": False, "gap": gap.reason}
    return json.dumps(record, ensure_ascii=False) + "\n"


def parse_caption_line(line: str | bytes) -> CaptionEvent:
    """The CaptionEvent of one transcript line (``caption_line``'s inverse); ValueError when the line is not one.

    ``source_id``, ``start_s`` and ``end_s`` are needed; a missing ``text``, ``token_ids`` or ``final`` reads as
    empty, none or False.
    """
    try:
        raw = json.loads(line)
        event = CaptionEvent(source_id=str(raw["source_id"]), text=str(raw.get("text") or ""),
                             token_ids=tuple(int(t) for t in raw.get("token_ids") or ()),
                             start_s=float(raw["start_s"]), end_s=float(raw["end_s"]),
                             final=bool(raw.get("final", False)))
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:  # JSON and UTF-8 errors too
        raise ValueError(str(exc) or type(exc).__name__) from exc
    if not (math.isfinite(event.start_s) and math.isfinite(event.end_s)):
        raise ValueError(f"the times {event.start_s}..{event.end_s} are not finite")
    return event


def _read_rows(path: Path) -> list[bytes]:
    """The lines of a transcript file, the part after the last newline included ([] when there is no file);
    never through a link."""
    try:
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as f:
            return f.read().split(b"\n")
    except FileNotFoundError:
        return []


def read_transcript(folder: Path, name: str = TRANSCRIPT_FILE, *, skip_damaged: bool = False) -> list[CaptionEvent]:
    """The caption events of a transcript file (``name`` is relative to the folder), in order.

    A missing file is an empty transcript. By default a last line cut short by a crash (no newline yet) is ignored
    and a damaged whole line raises SessionError. With ``skip_damaged`` every line that does not parse is skipped
    instead, the last one too (bytes that are not UTF-8 are replaced first): one bad line must not hide the rest.
    """
    path = member(folder, name)
    rows = _read_rows(path)
    events = []
    if skip_damaged:
        for row in rows:
            with contextlib.suppress(ValueError):
                events.append(parse_caption_line(row.decode("utf-8", errors="replace")))
        return events
    for number, row in enumerate(rows[:-1], start=1):  # after the last newline: unfinished
        try:
            events.append(parse_caption_line(row))
        except ValueError as exc:
            raise SessionError(path, f"is damaged at line {number}: {exc}") from exc
    return events


def read_gaps(folder: Path, name: str = TRANSCRIPT_FILE) -> list[CaptionGap]:
    """The stretches without captions a transcript file marks (``gap_line``), in order; lines that do not parse are
    skipped. Raises SessionError for a link and OSError when the file cannot be read."""
    gaps = []
    for row in _read_rows(member(folder, name)):
        if b'"gap"' not in row:
            continue
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raw = json.loads(row)
            gap = CaptionGap(str(raw["source_id"]), float(raw["start_s"]), float(raw["end_s"]), str(raw["gap"]))
            if math.isfinite(gap.start_s) and math.isfinite(gap.end_s):
                gaps.append(gap)
    return gaps


def write_transcript(folder: Path, events: Iterable[CaptionEvent], name: str = TRANSCRIPT_FILE) -> None:
    """Replace a whole transcript file (``name`` is relative to the folder) atomically by ``events``. Raises OSError."""
    write_atomic(Path(folder) / name, "".join(caption_line(e) for e in events).encode("utf-8"))


def read_audio(path: Path) -> np.ndarray:
    """The samples of a session WAV as float32 in [-1, 1), all of them even when a crash left its header behind.

    Raises AudioInputError (a ValueError) when the file cannot be read as audio."""
    from model.audio_file import read_file

    return read_file(path)[0]


def try_lock(folder: Path) -> IO[bytes] | None:
    """Take the session's recording.lock; the open file holds it (pass it to ``unlock``), None if someone else does."""
    f = open(member(folder, LOCK_FILE), "a+b", opener=open_private)  # noqa: SIM115  (the open file is the lock)
    try:
        if os.name == "nt":
            import msvcrt

            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def unlock(lock: IO[bytes], *, remove: bool = False) -> None:
    """Release a lock from ``try_lock``; ``remove`` also deletes recording.lock (the session has no writer now)."""
    path = Path(lock.name)
    try:
        if os.name == "nt":
            import msvcrt

            lock.seek(0)
            msvcrt.locking(lock.fileno(), msvcrt.LK_UNLCK, 1)
    finally:
        lock.close()
    if remove:
        with contextlib.suppress(OSError):  # a leftover lock file only costs recovery a look
            path.unlink(missing_ok=True)
