"""The conversation of the chat pane: questions and answers, the answer being written growing as its text arrives.

Times in answers ("[12:03]", "1:02:03", see ``app.chat.citations``) become links with the href ``t:<seconds>``;
activating one (click, or Tab to it and Enter) emits ``timeClicked`` instead of navigating.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QFont, QPalette, QTextBlockFormat, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

from app.chat.citations import find_citations
from app.chat.model import ChatTurn
from app.transcript import format_timestamp

TIME_SCHEME = "t"
FINISH_NOTES = {  # how an answer that did not end by itself is marked
    "stopped": "stopped",
    "length": "cut off: the answer reached its length limit",
    "error": "failed",
}


def time_href(seconds: float) -> str:
    """The href of a link that plays the recording from ``seconds``."""
    return f"{TIME_SCHEME}:{float(seconds)}"


class ChatAnswerView(QTextBrowser):
    """Read-only conversation; only the answer being written is touched while it streams in."""

    timeClicked = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setAccessibleName("Conversation about the recording")
        self.document().setUndoRedoEnabled(False)  # an undo history of every streamed token would only grow
        self._pending: int | None = None  # where the answer being written starts in the document
        self._duration_s: float | None = None
        self._following = True
        self._plain = QTextCharFormat()
        self._heading = QTextCharFormat()
        self._heading.setFontWeight(QFont.Weight.Bold)
        self._note = QTextCharFormat()
        self._note.setFontItalic(True)
        self._link = QTextCharFormat()
        self._link.setAnchor(True)
        self._link.setFontUnderline(True)
        self._link.setForeground(self.palette().brush(QPalette.ColorRole.Link))
        self._block = QTextBlockFormat()
        self._block.setTopMargin(6)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)
        self.anchorClicked.connect(self._clicked)

    def show_turns(self, turns: Sequence[ChatTurn], duration_s: float | None = None) -> None:
        """Show a conversation's turns in place of what was shown; times past ``duration_s`` (e.g. a time of day)
        are not made links, in these answers or the ones that follow."""
        self._duration_s = duration_s
        self.clear()
        self._pending = None
        self._following = True
        for turn in turns:
            self._write(turn)

    def add_turn(self, turn: ChatTurn) -> None:
        """Add a turn; a finished answer replaces the text streamed for it."""
        if turn.role == "assistant" and self._pending is not None:
            cursor = QTextCursor(self.document())
            cursor.setPosition(self._pending)
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            self._pending = None
        self._write(turn)

    def append_delta(self, text: str) -> None:
        """Add streamed text to the answer being written (starting one when none is)."""
        cursor = self._end()
        if self._pending is None:
            self._pending = self._new_block(cursor)
            cursor.insertText("Answer: ", self._heading)
        cursor.insertText(text, self._plain)

    def _write(self, turn: ChatTurn) -> None:
        cursor = self._end()
        self._new_block(cursor)
        if turn.role == "user":
            cursor.insertText("Question: ", self._heading)
            cursor.insertText(turn.text, self._plain)
            if turn.clips:
                cursor.insertText("\nAudio: " + ", ".join(clip.describe() for clip in turn.clips), self._note)
            return
        cursor.insertText("Answer: ", self._heading)
        at = 0
        for citation in find_citations(turn.text, self._duration_s):
            cursor.insertText(turn.text[at : citation.start], self._plain)
            link = QTextCharFormat(self._link)
            link.setAnchorHref(time_href(citation.seconds))
            link.setToolTip(f"Play the recording from {format_timestamp(citation.seconds)}")
            cursor.insertText(turn.text[citation.start : citation.end], link)
            at = citation.end
        cursor.insertText(turn.text[at:], self._plain)
        finish = FINISH_NOTES.get(turn.finish_reason)
        if finish:
            cursor.insertText(f" ({finish})", self._note)
        if turn.note:
            cursor.insertText(f"\n{turn.note}", self._note)

    def _end(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _new_block(self, cursor: QTextCursor) -> int:
        """Start a paragraph at ``cursor`` (the end); the position before it, from where it can be removed again."""
        at = cursor.position()
        if self.document().isEmpty():
            cursor.setBlockFormat(self._block)
        else:
            cursor.insertBlock(self._block)
        return at

    def _clicked(self, url: QUrl) -> None:
        if url.scheme() != TIME_SCHEME:
            return
        try:
            seconds = float(url.path())
        except ValueError:
            return
        self.timeClicked.emit(seconds)

    def _scrolled(self, value: int) -> None:
        self._following = value >= self.verticalScrollBar().maximum()

    def _range_changed(self, _minimum: int, maximum: int) -> None:
        if self._following:
            self.verticalScrollBar().setValue(maximum)
