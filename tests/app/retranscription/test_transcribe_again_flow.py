"""Transcribe again as the user meets it: the dialog's bar runs to the end and the library shows the new version."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

from app.chat.model_manager import ModelManager
from app.engine.local import LocalEngine
from app.library_actions import LibraryActions
from app.retranscription.worker import TRANSCRIBING_SHARE
from app.ui.library_view import LibraryView
from app.ui.retranscribe_dialog import RetranscribeDialog
from tests.app.retranscription.test_worker import session  # noqa: F401 - the fixture


def test_the_bar_ends_full_and_the_view_shows_the_new_version(qtbot, tiny_realtime, session) -> None:  # noqa: F811
    library, session_id, _folder = session
    parent = QWidget()
    qtbot.addWidget(parent)
    view = LibraryView(library)
    qtbot.addWidget(view)
    view.refresh()
    view.transcript.show_session(session_id)
    assert view.transcript.version() == "live"
    engine = LocalEngine(tiny_realtime.model)
    actions = LibraryActions(library, view, realtime=lambda: engine, models=ModelManager("unused", offline=True),
                             notify=lambda notice: None, parent=parent)
    seen: dict[str, object] = {"values": []}

    def drive() -> None:
        dialog = next(w for w in parent.findChildren(RetranscribeDialog) if w.isVisible())
        dialog.bar.valueChanged.connect(seen["values"].append)
        dialog.realtime.setChecked(True)
        dialog.start.click()

        def finished() -> None:
            seen["bar"] = (dialog.bar.value(), dialog.bar.maximum())
            seen["status"] = dialog.status.text()
            dialog.reject()

        dialog.cancel.setEnabled(True)  # enabled while running; disabled again when it ends
        qtbot.waitUntil(lambda: not dialog.cancel.isEnabled(), timeout=60000)
        finished()

    QTimer.singleShot(0, drive)
    actions.retranscribe(session_id)
    values = seen["values"]
    assert seen["bar"][0] == seen["bar"][1]  # the bar ends full, not where the transcribing part stopped
    assert any(v < seen["bar"][1] * TRANSCRIBING_SHARE for v in values) and values == sorted(values)
    assert "stored as the version" in seen["status"]
    version = view.transcript.version()
    assert version.startswith("realtime-") and version in library.versions(session_id)  # shown without asking
