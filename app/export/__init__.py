"""Transcript export (plain Python, no Qt): caption events to TXT, SRT, WebVTT, JSON or Markdown.

    text = export(events, "srt", labels={"mic": "You", "system": "Others"})
    write_export(Path("meeting.srt"), text)

Events are turned into timed words (``words``), grouped into reading cues or paragraphs (``segments``) and written
by one module per format.
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from app.events import CaptionEvent
from app.export.json_export import to_json
from app.export.markdown import to_markdown
from app.export.segments import Segment, label_for, paragraphs, segment
from app.export.srt import to_srt
from app.export.txt import to_txt
from app.export.vtt import to_vtt
from app.export.words import TimedToken, TimedWord, source_ids, timed_tokens, timed_words

FORMATS = ("txt", "srt", "vtt", "json", "md")
EXTENSIONS = {"txt": ".txt", "srt": ".srt", "vtt": ".vtt", "json": ".json", "md": ".md"}

__all__ = [
    "EXTENSIONS", "FORMATS", "Segment", "TimedToken", "TimedWord", "export", "paragraphs", "segment",
    "timed_tokens", "timed_words", "write_export",
]


def export(
    events: Iterable[CaptionEvent],
    fmt: str,
    *,
    labels: dict[str, str] | None = None,
    show_labels: bool | None = None,
    timestamps: bool = True,
    model: str = "",
    title: str = "Transcript",
    date: str | None = None,
) -> str:
    """The transcript of ``events`` in format ``fmt`` (one of ``FORMATS``).

    labels: display names by source id (a source without one is shown by its id). show_labels: name the speaker of
    each cue / paragraph (TXT, SRT, WebVTT voice spans, Markdown); None does so when there is more than one source.
    timestamps: TXT only (Markdown always has them). model: recorded in JSON. title and date (default: now, local
    time): Markdown's heading.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    events = list(events)
    sources = [(sid, label_for(sid, labels)) for sid in source_ids(events)]
    shown = len(sources) > 1 if show_labels is None else show_labels
    words = timed_words(events)
    if fmt == "txt":
        return to_txt(paragraphs(words, labels=labels), timestamps=timestamps, labels=shown)
    if fmt == "md":
        when = date if date is not None else _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        return to_markdown(paragraphs(words, labels=labels), title=title, date=when, sources=sources, labels=shown)
    if fmt == "srt":
        return to_srt(segment(words, labels=labels, label_prefix=shown), labels=shown)
    if fmt == "vtt":
        return to_vtt(segment(words, labels=labels), voices=shown)
    # Voxtral-style events (text without token ids) have estimated times; the JSON says so.
    timing = "tokens" if all(e.token_ids for e in events if e.text.strip()) else "estimated"
    return to_json(segment(words, labels=labels), model=model, sources=sources, timing=timing)


def write_export(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: readers see the old file or the whole new one, never a part.

    Missing parent folders are created. Returns the path written. Callers decide first whether ``path`` may be
    written (app.export.output_check); this only writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short temporary name fits however long the final name is (up to the file system's limit).
    temp = path.with_name(f".captionist-{secrets.token_hex(8)}.tmp")
    # O_EXCL never opens an existing name, a planted symbolic link included; O_NOFOLLOW says so twice. Mode 0o666
    # lets the umask decide the permissions, as for any file the user creates: exports are the user's files.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path
