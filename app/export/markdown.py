"""Markdown: a title, the date and the sources, then one paragraph per speaker turn led by ``[hh:mm:ss]``."""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.export.segments import Segment
from app.transcript import format_timestamp

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")


def escape(text: str) -> str:
    """``text`` with the characters Markdown would read as formatting backslash-escaped."""
    return _SPECIAL.sub(r"\\\1", text)


def to_markdown(paragraphs: Sequence[Segment], *, title: str, date: str, sources: Sequence[tuple[str, str]],
                labels: bool = False) -> str:
    """The transcript as Markdown; ``sources`` are (id, label) pairs, ``labels`` names the speaker of each turn."""
    listed = ", ".join(escape(label if label == sid else f"{label} ({sid})") for sid, label in sources)
    out = [f"# {escape(title)}\n", f"*{escape(date)}*\n" if date else "", f"**Sources:** {listed}\n"]
    for p in paragraphs:
        who = f" {escape(p.label)}:" if labels and p.label else ""
        out.append(f"**[{format_timestamp(p.start_s)}]{who}** {escape(p.text)}\n")
    return "\n".join(part for part in out if part)
