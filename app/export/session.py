"""Exporting one version of a saved session, with the user's corrections in place of what the model wrote."""

from __future__ import annotations

from pathlib import Path

from app.events import CaptionEvent
from app.export import export, write_export
from app.export.output_check import check_output
from app.library.folder import read_meta, read_version
from app.library.index import Library

_EPS = 1e-6


def corrected_events(events: list[CaptionEvent], lines: list) -> list[CaptionEvent]:
    """``events`` where each corrected line's events are replaced by one event carrying the corrected text."""
    out = list(events)
    for line in (line for line in lines if line.corrected):
        inside = [i for i, e in enumerate(out) if e.source_id == line.source_id
                  and e.start_s >= line.start_s - _EPS and e.end_s <= line.end_s + _EPS]
        if not inside:
            continue
        first = out[inside[0]]
        lead = " " if first.text[:1].isspace() else ""
        replacement = CaptionEvent(line.source_id, lead + line.text.strip(), (), line.start_s, line.end_s,
                                   any(out[i].final for i in inside))
        drop = set(inside[1:])
        out = [replacement if i == inside[0] else e for i, e in enumerate(out) if i not in drop]
    return out


def export_session(library: Library, session_id: str, version: str, fmt: str, path: Path, *,
                   timestamps: bool = True, labels: bool | None = None) -> Path:
    """Write one version of a session in ``fmt`` to ``path`` (atomically); returns the path written.

    ``labels`` names each turn's speaker; a session of one source has no one to tell apart, so its export carries no
    labels whatever is asked. The name is shortened when too long for the file system. Raises OutputRefused (an
    OSError) before reading anything when ``path`` is audio, a folder, a link, inside the library's sessions folder,
    or cannot be written.
    """
    path = check_output(path, protected=[library.sessions_dir])
    folder = library.folder(session_id)
    meta = read_meta(folder)
    events = corrected_events(read_version(folder, version), library.lines(session_id, version))
    names = {s.id: s.display for s in meta.sources}
    info = library.version_meta(session_id, version)
    shown = labels if len(meta.sources) > 1 else False
    text = export(events, fmt, labels=names, show_labels=shown, timestamps=timestamps,
                  model=str(info.get("model", "Voxtral Mini 4B Realtime (live)")), title=meta.title,
                  date=meta.started_at.isoformat(timespec="minutes") if meta.started_at else None)
    return write_export(path, text)
