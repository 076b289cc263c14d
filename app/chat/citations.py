"""Times that an answer cites ("[12:03]", "[1:02:03]", "12:03"), as positions in the recording."""

from __future__ import annotations

import re
from dataclasses import dataclass

# h:mm:ss, or m:ss with up to three digits of minutes (answers about long meetings write [75:10]); not part of a
# longer number or time, and a bracket belongs to the citation only when both are there.
_TIME = re.compile(r"(?<![\w:.])(\[)?(?:(\d{1,2}):([0-5]\d)|(\d{1,3})):([0-5]\d)(\])?(?![\w:])")


@dataclass(frozen=True)
class Citation:
    """``text[start:end]`` cites ``seconds`` from the start of the recording."""

    start: int
    end: int
    seconds: float


def find_citations(text: str, duration_s: float | None = None) -> list[Citation]:
    """The cited times in ``text``, in order; with ``duration_s``, times past the recording's end are left out
    (e.g. a time of day such as "at 14:30")."""
    found = []
    for m in _TIME.finditer(text):
        hours, minutes = (int(m[2]), int(m[3])) if m[2] is not None else (0, int(m[4]))
        seconds = hours * 3600 + minutes * 60 + int(m[5])
        if duration_s is not None and seconds > duration_s:
            continue
        start, end = m.start(), m.end()
        if m[1] is None or m[6] is None:  # a lone bracket, as in "[12:03–15:40]", is not part of one time
            start, end = m.start(2) if m[2] is not None else m.start(4), m.end(5)
        found.append(Citation(start, end, float(seconds)))
    return found
