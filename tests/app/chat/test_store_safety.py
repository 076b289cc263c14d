"""Saved conversations stay inside their session folder: a link planted there is never read or written through."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from app.chat import store
from app.chat.model import Conversation


def test_conversations_are_saved_privately_and_read_back(tmp_path: Path) -> None:
    conversation = Conversation.new("20261203-101500-abcdef")
    path = store.save(tmp_path, conversation)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.list_conversations(tmp_path) == [conversation]


def test_a_chats_folder_that_is_a_link_is_neither_read_nor_written(tmp_path: Path) -> None:
    session, elsewhere = tmp_path / "session", tmp_path / "elsewhere"
    session.mkdir()
    elsewhere.mkdir()
    planted = Conversation.new("20261203-101500-abcdef")
    (elsewhere / f"{planted.id}.json").write_text(json.dumps(planted.to_json()))
    (session / "chats").symlink_to(elsewhere)
    before = sorted(p.name for p in elsewhere.iterdir())

    assert store.list_conversations(session) == []
    with pytest.raises(OSError, match="symbolic link"):
        store.save(session, Conversation.new("20261203-101500-abcdef"))
    with pytest.raises(OSError, match="symbolic link"):
        store.load(session, planted.id)
    assert sorted(p.name for p in elsewhere.iterdir()) == before


def test_a_conversation_file_nested_too_deeply_is_skipped_as_damaged(tmp_path: Path) -> None:
    good = Conversation.new("20261203-101500-abcdef")
    store.save(tmp_path, good)
    (tmp_path / "chats" / "20261203-101501-000000.json").write_text("[" * 100000)
    assert store.list_conversations(tmp_path) == [good]
