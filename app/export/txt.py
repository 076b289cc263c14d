"""Plain text: one paragraph per line, optionally led by ``[hh:mm:ss]`` and ``Label:``."""

from __future__ import annotations

from collections.abc import Sequence

from app.export.segments import Segment
from app.transcript import format_timestamp


def to_txt(paragraphs: Sequence[Segment], *, timestamps: bool = False, labels: bool = False) -> str:
    """The paragraphs as text lines."""
    lines = []
    for p in paragraphs:
        prefix = f"[{format_timestamp(p.start_s)}] " if timestamps else ""
        if labels and p.label:
            prefix += f"{p.label}: "
        lines.append(prefix + p.text + "\n")
    return "".join(lines)
