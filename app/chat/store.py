"""Conversations saved with their session (``<session folder>/chats/<conversation id>.json``, replaced atomically)
and exported as Markdown."""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.chat.model import Conversation
from app.recording.session_folder import write_atomic, write_json

CHATS_DIR = "chats"
_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")  # ids are file names: nothing that could leave the folder


def chat_path(session_folder: Path, conversation_id: str) -> Path:
    if not _ID.fullmatch(conversation_id):
        raise ValueError(f"{conversation_id!r} is not a conversation id.")
    return Path(session_folder) / CHATS_DIR / f"{conversation_id}.json"


def save(session_folder: Path, conversation: Conversation) -> Path:
    """Write ``conversation`` into its session's folder atomically (old or new file, never a mix); raises OSError."""
    path = chat_path(session_folder, conversation.id)
    path.parent.mkdir(exist_ok=True)
    write_json(path, conversation.to_json())
    return path


def load(session_folder: Path, conversation_id: str) -> Conversation:
    """A saved conversation; raises OSError when it cannot be read and ValueError when it is damaged."""
    raw = json.loads(chat_path(session_folder, conversation_id).read_text(encoding="utf-8"))
    try:
        return Conversation.from_json(raw)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"The conversation {conversation_id} is damaged: {exc!r}") from exc


def list_conversations(session_folder: Path) -> list[Conversation]:
    """The session's saved conversations, oldest first; damaged files are skipped (they stay on disk)."""
    found = []
    for path in sorted((Path(session_folder) / CHATS_DIR).glob("*.json")):
        try:
            found.append(load(session_folder, path.stem))
        except (OSError, ValueError):  # json.JSONDecodeError is a ValueError
            continue
    return sorted(found, key=lambda c: (c.created_at, c.id))


def to_markdown(conversation: Conversation, title: str = "") -> str:
    """The conversation as Markdown: each question with the clips it attached, each answer with its [mm:ss] times
    as written, a stopped or cut answer marked as such."""
    heading = f"# Chat about “{title}”" if title else "# Chat about a recording"
    out = [heading, "", f"Started {conversation.created_at}; answers by Voxtral Mini 3B, on this computer.", ""]
    ends = {"stopped": "_(stopped before the end)_", "length": "_(cut at the length limit)_",
            "error": "_(the answer failed)_"}
    for turn in conversation.turns:
        if turn.role == "user":
            clips = f" — clips: {', '.join(c.describe() for c in turn.clips)}" if turn.clips else ""
            out += [f"## Question{clips}", "", turn.text, ""]
        else:
            out += ["## Answer", ""]
            if turn.note:
                out += [f"> {turn.note}", ""]
            if turn.text:
                out += [turn.text, ""]
            if turn.finish_reason in ends:
                out += [ends[turn.finish_reason], ""]
    return "\n".join(out)


def export_markdown(conversation: Conversation, path: Path, title: str = "") -> Path:
    """Write ``to_markdown`` to ``path`` atomically; raises OSError."""
    path = Path(path)
    write_atomic(path, to_markdown(conversation, title).encode("utf-8"))
    return path
