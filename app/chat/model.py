"""The conversation types of the chat panel: clips of a recording, turns, conversations (immutable, JSON-able)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any


def clock(seconds: float) -> str:
    """A recording time as the answers cite it: "mm:ss", or "h:mm:ss" from an hour on."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def duration_text(seconds: float) -> str:
    """A length in words: "72 min", or "45 s" under a minute."""
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


@dataclass(frozen=True)
class Clip:
    """A time range of one saved session (seconds from the recording's start); ``end_s`` None: to the end."""

    session_id: str
    start_s: float = 0.0
    end_s: float | None = None

    @property
    def whole(self) -> bool:
        return self.start_s <= 0.0 and self.end_s is None

    def describe(self) -> str:
        """"whole recording", "12:03–15:40" or "12:03–end"."""
        if self.whole:
            return "whole recording"
        return f"{clock(self.start_s)}–{'end' if self.end_s is None else clock(self.end_s)}"

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "start_s": self.start_s, "end_s": self.end_s}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Clip:
        end = raw.get("end_s")
        return cls(str(raw["session_id"]), float(raw.get("start_s", 0.0)), None if end is None else float(end))


@dataclass(frozen=True)
class ChatTurn:
    """One message. A user turn carries the clips attached with it; an assistant turn says why it ended
    ("eos", "length", "stopped", "error") and, in ``note``, what was done to answer (e.g. the recording was split)."""

    role: str  # "user" | "assistant"
    text: str
    clips: tuple[Clip, ...] = ()
    finish_reason: str = ""
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "text": self.text, "clips": [c.to_json() for c in self.clips],
                "finish_reason": self.finish_reason, "note": self.note}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ChatTurn:
        role = raw["role"]
        if role not in ("user", "assistant"):
            raise ValueError(f"unknown role {role!r}")
        return cls(role, str(raw["text"]), tuple(Clip.from_json(c) for c in raw.get("clips") or ()),
                   str(raw.get("finish_reason") or ""), str(raw.get("note") or ""))


@dataclass(frozen=True)
class Conversation:
    """The turns of one chat about one session; ``created_at`` is ISO-8601 UTC."""

    id: str
    session_id: str
    created_at: str
    turns: tuple[ChatTurn, ...] = ()

    @classmethod
    def new(cls, session_id: str, now: datetime | None = None) -> Conversation:
        """An empty conversation whose id sorts by creation time."""
        now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        return cls(f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}", session_id, now.isoformat())

    def with_turn(self, turn: ChatTurn) -> Conversation:
        return replace(self, turns=(*self.turns, turn))

    @property
    def clips(self) -> tuple[Clip, ...]:
        """Every clip attached so far, in order."""
        return tuple(c for t in self.turns for c in t.clips)

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, "id": self.id, "session_id": self.session_id, "created_at": self.created_at,
                "turns": [t.to_json() for t in self.turns]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Conversation:
        if raw.get("format") != 1:
            raise ValueError(f"format {raw.get('format')!r} is not supported")
        return cls(str(raw["id"]), str(raw["session_id"]), str(raw["created_at"]),
                   tuple(ChatTurn.from_json(t) for t in raw.get("turns") or ()))
