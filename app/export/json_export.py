"""JSON transcript: sources, then segments (the subtitle cues) with their words and model tokens.

Schema (version 1)::

    {"format": "captionist-transcript", "version": 1, "model": str, "timing": "tokens" | "estimated",
     "sources": [{"id": str, "label": str}],
     "segments": [{"start": s, "end": s, "source": id, "label": str, "text": str,
                   "words": [{"start": s, "end": s, "text": str}],
                   "tokens": [{"id": int | null, "text": str, "start": s, "end": s}]}]}

Times are seconds with millisecond precision. A segment's times are spoken times, from its first word's start to
its last word's end (subtitle formats show cues longer, for reading). "timing" is "tokens" when every piece of text
came with model tokens (the realtime model: 80 ms steps) and "estimated" otherwise (e.g. Voxtral Mini 3B, which gives
no token times: its words are timed by spreading sentences evenly over the audio). "tokens" lists the tokens whose
text starts in the segment; control tokens, which carry no text, are left out; a token's "id" is null when a vLLM
server decoded it (it sends each step's text, not its id).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from app.export.segments import Segment

FORMAT_NAME = "captionist-transcript"
VERSION = 1


def _t(seconds: float) -> float:
    return round(seconds, 3)


def to_document(cues: Sequence[Segment], *, model: str, sources: Sequence[tuple[str, str]],
                timing: str = "tokens") -> dict[str, Any]:
    """The JSON document as Python data; ``timing`` is "tokens" or "estimated" (see the module docstring)."""
    return {
        "format": FORMAT_NAME,
        "version": VERSION,
        "model": model,
        "timing": timing,
        "sources": [{"id": sid, "label": label} for sid, label in sources],
        "segments": [
            {
                "start": _t(cue.words[0].start_s),
                "end": _t(cue.words[-1].end_s),
                "source": cue.source_id,
                "label": cue.label,
                "text": cue.text,
                "words": [{"start": _t(w.start_s), "end": _t(w.end_s), "text": w.text} for w in cue.words],
                "tokens": [
                    {"id": t.id if t.id >= 0 else None, "text": t.text, "start": _t(t.start_s), "end": _t(t.end_s)}
                    for w in cue.words for t in w.tokens
                ],
            }
            for cue in cues
        ],
    }


def to_json(cues: Sequence[Segment], *, model: str, sources: Sequence[tuple[str, str]], timing: str = "tokens") -> str:
    """The JSON document as text (UTF-8, indented)."""
    document = to_document(cues, model=model, sources=sources, timing=timing)
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
