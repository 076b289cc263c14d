"""WebVTT (.vtt): the ``WEBVTT`` header, then cues; labels as voice spans (``<v Others>``)."""

from __future__ import annotations

from collections.abc import Sequence

from app.export.segments import Segment
from app.export.srt import clock


def escape(text: str) -> str:
    """Cue text with the characters WebVTT reserves (``&``, ``<``, ``>``) written as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: Sequence[Segment], *, voices: bool = False) -> str:
    """The cues as WebVTT; ``voices`` marks each cue's text with its label as a voice span."""
    blocks = ["WEBVTT\n"]
    for cue in cues:
        text = "\n".join(escape(line) for line in cue.lines)
        if voices and cue.label:
            text = f"<v {escape(cue.label)}>{text}</v>"
        blocks.append(f"{clock(cue.start_s, '.')} --> {clock(cue.end_s, '.')}\n{text}\n")
    return "\n".join(blocks)
