"""The Engine page of the settings dialog: speech recognised on this computer, or by a vLLM server (its address,
API key and served model names, and a *Test connection* button that says what it found)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.engine.server.address import ServerError, parse_address
from app.engine.server.api_key import MAX_KEY_CHARS
from app.engine.server.connection_test import ConnectionReport, check_connection
from app.settings import LOCAL, MAX_PATH_CHARS, SERVER, EngineSettings
from app.ui.form_helpers import add_row, note

Tester = Callable[[str, str | None, str, str, str], ConnectionReport]  # address, key, models, questions address


class _TestThread(QThread):
    done = Signal(object)  # ConnectionReport

    def __init__(self, tester: Tester, args: tuple) -> None:
        super().__init__()
        self._tester, self._args = tester, args

    def run(self) -> None:
        self.done.emit(self._tester(*self._args))


def _model_combo(name: str, current: str) -> QComboBox:
    combo = QComboBox()
    combo.setEditable(True)  # a name can be typed before the server was asked
    combo.lineEdit().setMaxLength(MAX_PATH_CHARS)
    if current:
        combo.addItem(current)
    combo.setCurrentText(current)
    combo.setAccessibleName(name)
    return combo


class EnginePage(QWidget):
    changed = Signal()

    def __init__(self, engine: EngineSettings, api_key: str | None, *, tester: Tester = check_connection) -> None:
        super().__init__()
        self._engine = engine
        self._tester = tester
        self._thread: _TestThread | None = None
        self.local_radio = QRadioButton("&This computer")
        self.local_radio.setAccessibleName("Recognise speech on this computer")
        self.server_radio = QRadioButton("A v&LLM server")
        self.server_radio.setAccessibleName("Recognise speech on a vLLM server")
        group = QButtonGroup(self)
        group.addButton(self.local_radio)
        group.addButton(self.server_radio)
        (self.server_radio if engine.kind == SERVER else self.local_radio).setChecked(True)
        self.address_edit = QLineEdit(engine.server_url)
        self.address_edit.setMaxLength(MAX_PATH_CHARS)
        self.address_edit.setPlaceholderText("http://gpu-box:8000")
        self.address_edit.setAccessibleName("Server address")
        self.key_edit = QLineEdit(api_key or "")
        self.key_edit.setMaxLength(MAX_KEY_CHARS)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("Only if the server was started with --api-key")
        self.key_edit.setAccessibleName("Server API key")
        self.live_combo = _model_combo("Served model for live captions", engine.realtime_model)
        self.chat_combo = _model_combo("Served model for questions", engine.chat_model)
        self.chat_address_edit = QLineEdit(engine.chat_server_url)
        self.chat_address_edit.setMaxLength(MAX_PATH_CHARS)
        self.chat_address_edit.setPlaceholderText("The same server")
        self.chat_address_edit.setAccessibleName("Address of the server for questions")
        self.test_button = QPushButton("Test co&nnection")
        self.test_button.setAccessibleName("Test the connection to the server")
        self.result_label = note("")
        self.result_label.setAccessibleName("Connection test result")

        self.server_box = QWidget()
        form = QFormLayout(self.server_box)
        form.setContentsMargins(24, 0, 0, 0)
        add_row(form, "Add&ress:", self.address_edit, self.address_edit)
        add_row(form, "API &key:", self.key_edit, self.key_edit)
        form.addRow("", note("The key is kept in a file only you can read, never in the settings or your files."))
        add_row(form, "Live &captions model:", self.live_combo, self.live_combo)
        add_row(form, "&Questions model:", self.chat_combo, self.chat_combo)
        add_row(form, "Questions ser&ver:", self.chat_address_edit, self.chat_address_edit)
        form.addRow("", note("Voxtral Mini 4B Realtime for live captions, Voxtral Mini 3B for questions and for "
                             "transcribing recordings again. vLLM serves one model per server: give the second "
                             "one's address when it runs apart (the same API key is sent to both). Test "
                             "connection fills in what the servers serve."))
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addStretch(1)
        form.addRow("", test_row)
        form.addRow("", self.result_label)
        form.addRow("", note("The server fixes the caption delay (vLLM reads it from the model's tekken.json): "
                             "the delay on the Model page applies to this computer only. Audio is always saved "
                             "here first, then sent to the server; nothing is sent anywhere else."))
        layout = QVBoxLayout(self)
        layout.addWidget(note("Where speech is recognised:"))
        layout.addWidget(self.local_radio)
        layout.addWidget(note("The models run here; live captions at full size need a CUDA GPU with 16 GB."))
        layout.addWidget(self.server_radio)
        layout.addWidget(self.server_box)
        layout.addStretch(1)

        self.local_radio.toggled.connect(self._kind_changed)
        self.test_button.clicked.connect(self.test)
        for edit in (self.address_edit, self.key_edit, self.chat_address_edit):
            edit.textChanged.connect(self.changed)
        for combo in (self.live_combo, self.chat_combo):
            combo.currentTextChanged.connect(self.changed)
        self._kind_changed()

    # -- values ---------------------------------------------------------------------------------------------------
    def value(self) -> EngineSettings:
        return dataclasses.replace(
            self._engine,
            kind=SERVER if self.server_radio.isChecked() else LOCAL,
            server_url=self.address_edit.text().strip(),
            realtime_model=self.live_combo.currentText().strip(),
            chat_model=self.chat_combo.currentText().strip(),
            chat_server_url=self.chat_address_edit.text().strip(),
        )

    def api_key(self) -> str | None:
        return self.key_edit.text().strip() or None

    def problems(self) -> list[str]:
        """What keeps the server settings from being used (nothing while "This computer" is chosen)."""
        if not self.server_radio.isChecked():
            return []
        out = []
        try:
            parse_address(self.address_edit.text())
            if self.chat_address_edit.text().strip():
                parse_address(self.chat_address_edit.text())
        except ServerError as exc:
            out.append(str(exc))
        if not self.live_combo.currentText().strip():
            out.append("choose the server's model for live captions (Test connection lists them)")
        return out

    # -- testing --------------------------------------------------------------------------------------------------
    def test(self) -> None:
        """Ask the server, off the GUI thread; the result label says what was found."""
        if self._thread is not None:
            return
        self.test_button.setEnabled(False)
        self.result_label.setText("Asking the server…")
        args = (self.address_edit.text(), self.api_key(), self.live_combo.currentText().strip(),
                self.chat_combo.currentText().strip(), self.chat_address_edit.text())
        self._thread = _TestThread(self._tester, args)
        self._thread.done.connect(self._tested)
        self._thread.finished.connect(self._thread_finished)
        self._thread.start()

    def wait(self) -> None:
        """Wait for a running test (the dialog is closing)."""
        if self._thread is not None:
            self._thread.wait()

    def _tested(self, report: ConnectionReport) -> None:
        self.result_label.setText(report.message)
        for combo, chosen in ((self.live_combo, report.realtime_model), (self.chat_combo, report.chat_model)):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(list(report.models))
            combo.setCurrentText(current or chosen or "")
            combo.blockSignals(False)
        self.changed.emit()

    def _thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        self.test_button.setEnabled(True)

    def _kind_changed(self) -> None:
        self.server_box.setEnabled(self.server_radio.isChecked())
        self.changed.emit()
