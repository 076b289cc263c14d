"""SubRip (.srt): numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, text lines, a blank line after each cue."""

from __future__ import annotations

from collections.abc import Sequence

from app.export.segments import Segment


def clock(seconds: float, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (or with another separator before the milliseconds) for a time in seconds."""
    ms = max(0, round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{separator}{ms % 1000:03d}"


def to_srt(cues: Sequence[Segment], *, labels: bool = False) -> str:
    """The cues as SRT; ``labels`` writes ``Label: `` before each cue's first line (see ``segment(label_prefix=)``)."""
    blocks = []
    for number, cue in enumerate(cues, start=1):
        lines = list(cue.lines)
        if labels and cue.label:
            lines[0] = f"{cue.label}: {lines[0]}"
        blocks.append(f"{number}\n{clock(cue.start_s)} --> {clock(cue.end_s)}\n" + "\n".join(lines) + "\n\n")
    return "".join(blocks)
