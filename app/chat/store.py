"""Conversations saved with their session (``<session folder>/chats/<conversation id>.json``, replaced atomically)
and exported as Markdown."""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from app.chat.model import Conversation
from app.export import write_export
from app.export.output_check import check_output
from app.recording.privacy import private_dirs
from app.recording.session_folder import SessionError, member, write_json

CHATS_DIR = "chats"
_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")  # ids are file names: nothing that could leave the folder


def chat_path(session_folder: Path, conversation_id: str) -> Path:
    """Where a conversation is saved; OSError when that place is a link out of the session folder."""
    if not _ID.fullmatch(conversation_id):
        raise ValueError(f"{conversation_id!r} is not a conversation id.")
    try:
        return member(Path(session_folder), f"{CHATS_DIR}/{conversation_id}.json")
    except SessionError as exc:
        raise OSError(errno.ELOOP, f"{exc.reason}; nothing is read or written through it", str(exc.path)) from None


def save(session_folder: Path, conversation: Conversation) -> Path:
    """Write ``conversation`` into its session's folder atomically (old or new file, never a mix); raises OSError."""
    path = chat_path(session_folder, conversation.id)
    private_dirs(path.parent, below=Path(session_folder))
    write_json(path, conversation.to_json())
    return path


def load(session_folder: Path, conversation_id: str) -> Conversation:
    """A saved conversation; raises OSError when it cannot be read and ValueError when it is damaged."""
    path = chat_path(session_folder, conversation_id)
    with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), encoding="utf-8") as f:
        try:
            raw = json.load(f)
        except RecursionError:  # JSON nested past the parser's limit
            raise ValueError(f"The conversation {conversation_id} is damaged: it nests too deeply.") from None
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


def export_markdown(conversation: Conversation, path: Path, title: str = "", *,
                    protected: Iterable[Path] = ()) -> Path:
    """Write ``to_markdown`` to ``path`` atomically, as transcripts are exported; returns the path written (its name
    shortened when too long for the file system).

    Raises OutputRefused (an OSError) for audio, folders, links, anything inside ``protected`` (the sessions folder)
    or a place that cannot be written, and OSError when writing fails.
    """
    path = check_output(Path(path), protected=protected)
    return write_export(path, to_markdown(conversation, title))
