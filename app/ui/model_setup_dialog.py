"""The first-run (and settings) dialog that chooses where the speech model comes from and brings it into memory.

Thin: what a folder must hold, the download and its numbers live in :mod:`app.setup.model_source`; the work runs on
:class:`app.setup.loader.ModelLoader`'s thread; this dialog only shows them.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtGui import QAccessible, QAccessibleEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.engine.local import describe_placement
from app.settings import DEFAULT_REALTIME_MODEL, ModelSettings
from app.setup.device_info import SpeedReport, describe_device
from app.setup.loader import DOWNLOADING, ModelLoader
from app.setup.model_source import (
    DownloadStatus,
    SetupError,
    check_local_folder,
    download_size,
    find_cached,
    size_note,
    start_text,
)
from app.status_text import short_model_name
from app.ui.text_fitting_dialog import TextFittingDialog
from model import RealtimeModel
from model.hub import looks_like_repo_id

_BAR_STEPS = 1000
CANCELLED = (
    "Download cancelled. What was downloaded so far is kept: the next download continues where this one stopped."
)
READY = "The model is loaded and ready."


class _SizeCheck(QThread):
    """Asks the hub, once, how big a download of ``repo_id`` is (a listing can take seconds: not on the GUI thread)."""

    answered = Signal(str, object)  # the repo id, and its size in bytes or why it is unknown (a str)

    def __init__(self, repo_id: str, parent: QObject) -> None:
        super().__init__(parent)
        self.repo_id = repo_id

    def run(self) -> None:
        try:
            self.answered.emit(self.repo_id, download_size(self.repo_id))
        except SetupError as exc:
            self.answered.emit(self.repo_id, str(exc))
        except Exception as exc:  # the thread's last stop: the dialog waits for an answer
            self.answered.emit(self.repo_id, f"the hub's answer could not be read ({exc})")


class ModelSetupDialog(TextFittingDialog):
    """Choose "download from Hugging Face" (repo id) or "a folder on this computer", then download and load it; or
    "a vLLM server", which hands over to Settings → Engine.

    Accepted once a model is loaded (``loaded_model()``; ``chosen_source()`` and ``offline()`` are what to save), or
    when the server was chosen (``use_server()``).
    """

    def __init__(
        self,
        settings: ModelSettings | None = None,
        parent: QWidget | None = None,
        *,
        cache_dir: str | Path | None = None,
        measure_seconds: float | None = 2.0,
        loaded: str = "",
    ) -> None:
        """``loaded`` names the model in use now, as the status bar does ("Voxtral-Mini-4B-Realtime-2602 on CPU");
        "" when none is loaded."""
        super().__init__(parent)
        settings = settings if settings is not None else ModelSettings()
        self._device = settings.device
        self._precision = settings.precision
        self._cache_dir = cache_dir
        self._measure_seconds = measure_seconds
        self._loader: ModelLoader | None = None
        self._running = False
        self._stage = ""
        self._model: RealtimeModel | None = None
        self._source = ""
        self._use_server = False
        self._sizes: dict[str, int | str] = {}  # per repo id: its download size, or why it is unknown
        self._size_check: _SizeCheck | None = None
        self.setWindowTitle("Speech model")

        self._loaded = QLabel(f"Loaded: {loaded}" if loaded else "No model is loaded.")

        self._hub_choice = QRadioButton("Download from &Hugging Face")
        self._repo = QLineEdit()
        self._repo_label = QLabel("&Repository id:")
        self._size = QLabel()
        self._check_size = QPushButton("Check download si&ze")
        self._folder_choice = QRadioButton("Use a &folder on this computer")
        self._path = QLineEdit()
        self._path.setPlaceholderText("A folder with consolidated.safetensors, params.json and tekken.json")
        self._path_label = QLabel("Folder &path:")
        self._browse = QPushButton("&Browse…")
        self._server_choice = QRadioButton("Use a v&LLM server (for computers without a big GPU)")
        self._server_note = QLabel("A server on your network runs the models; its address is set in Settings → "
                                   "Engine. Recordings stay on this computer.")
        self._offline = QCheckBox("&Offline mode: never contact the hub, use only what is on this computer")
        self._device_line = QLabel(describe_device(self._device).summary())
        self._measured = QLabel()
        self._bar = QProgressBar()
        self._bar.setRange(0, _BAR_STEPS)
        self._bar.setValue(0)
        self._status = QLabel()
        self._error = QLabel()
        self._error.setStyleSheet("color: #b00020; font-weight: bold;")
        self._start = QPushButton("&Download")
        self._cancel = QPushButton("&Cancel download")
        self._close = QPushButton("Clos&e")  # Alt+S: "Set up the server"

        self._repo_label.setBuddy(self._repo)
        self._path_label.setBuddy(self._path)
        for label in (self._loaded, self._size, self._server_note, self._device_line, self._measured, self._status,
                      self._error):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._name_controls()
        self._lay_out()
        self._set_tab_order()

        source = settings.source.strip()
        use_folder = bool(source) and not looks_like_repo_id(source)
        self._repo.setText(DEFAULT_REALTIME_MODEL if use_folder or not source else source)
        self._path.setText(source if use_folder else "")
        (self._folder_choice if use_folder else self._hub_choice).setChecked(True)
        self._offline.setChecked(settings.offline)

        self._hub_choice.toggled.connect(self._update_controls)
        self._server_choice.toggled.connect(self._update_controls)
        self._repo.textChanged.connect(self._update_controls)
        self._offline.toggled.connect(self._update_controls)
        self._check_size.clicked.connect(self._ask_size)
        self._browse.clicked.connect(self._choose_folder)
        self._start.clicked.connect(self._begin)
        self._cancel.clicked.connect(self._cancel_clicked)
        self._close.clicked.connect(self._finish)
        self._show_error("")
        self._set_running(False)

    # Results -------------------------------------------------------------------------------------------------------

    def chosen_source(self) -> str:
        """The repo id or folder last started (the one loaded, once loaded); else what the chosen field holds."""
        if self._source:
            return self._source
        return self._repo.text().strip() if self._hub_choice.isChecked() else self._path.text().strip()

    def offline(self) -> bool:
        return self._offline.isChecked()

    def loaded_model(self) -> RealtimeModel | None:
        return self._model

    def use_server(self) -> bool:
        """The user chose a vLLM server: the caller opens Settings → Engine."""
        return self._use_server

    def done(self, result: int) -> None:
        # A running thread must not outlive the dialog that owns it. A download stops within a network chunk;
        # loading cannot be interrupted, so closing waits for it.
        if self._loader is not None and self._loader.isRunning():
            self._loader.cancel()
            self._loader.wait()
        if self._size_check is not None:  # a listing has a short timeout
            self._size_check.wait()
        super().done(result)

    # Layout and accessibility ----------------------------------------------------------------------------------------

    def _name_controls(self) -> None:
        names = {
            self._hub_choice: ("Download from Hugging Face", "Download the model from the Hugging Face hub"),
            self._repo: ("Repository id", "The Hugging Face repository to download, as owner/name"),
            self._loaded: ("Loaded model", ""),
            self._size: ("Download size", ""),
            self._check_size: ("Check the download size", "Ask the hub how big the download is"),
            self._folder_choice: ("Use a folder on this computer", "Load a model already saved in a folder"),
            self._server_choice: ("Use a vLLM server", "Recognise speech on a vLLM server instead of this computer"),
            self._server_note: ("About the server", ""),
            self._path: ("Model folder", "The folder that holds the model's files"),
            self._browse: ("Browse for the model folder", ""),
            self._offline: ("Offline mode", "Never contact the hub; use only what is on this computer"),
            self._device_line: ("Device", "Where the model runs and whether live captions keep up there"),
            self._measured: ("Measured speed", ""),
            self._bar: ("Download progress", ""),
            self._status: ("Status", ""),
            self._error: ("Problem", "What went wrong and what to do"),
            self._start: ("Start", "Download (when needed) and load the chosen model, as the button says"),
            self._cancel: ("Cancel download", "Stop the download; what was fetched is kept for the next attempt"),
            self._close: ("Close", ""),
        }
        for widget, (name, description) in names.items():
            widget.setAccessibleName(name)
            if description:
                widget.setAccessibleDescription(description)

    def _lay_out(self) -> None:
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.addWidget(self._hub_choice, 0, 0, 1, 3)
        grid.addWidget(self._repo_label, 1, 0)
        grid.addWidget(self._repo, 1, 1, 1, 2)
        grid.addWidget(self._size, 2, 1)
        grid.addWidget(self._check_size, 2, 2)
        grid.addWidget(self._folder_choice, 3, 0, 1, 3)
        grid.addWidget(self._path_label, 4, 0)
        grid.addWidget(self._path, 4, 1)
        grid.addWidget(self._browse, 4, 2)
        grid.addWidget(self._server_choice, 5, 0, 1, 3)
        grid.addWidget(self._server_note, 6, 1, 1, 2)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self._start, self._cancel, self._close):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self._loaded)
        layout.addLayout(grid)
        for widget in (self._offline, self._device_line, self._measured, self._bar, self._status, self._error):
            layout.addWidget(widget)
        layout.addLayout(buttons)

    def _set_tab_order(self) -> None:
        order = [
            self._hub_choice, self._repo, self._check_size, self._folder_choice, self._path, self._browse,
            self._server_choice, self._offline, self._start, self._cancel, self._close,
        ]
        for first, second in pairwise(order):
            QWidget.setTabOrder(first, second)

    # Reactions -----------------------------------------------------------------------------------------------------

    def _update_controls(self) -> None:
        running = self._running
        hub, server = self._hub_choice.isChecked(), self._server_choice.isChecked()
        repo, offline = self._repo.text().strip(), self._offline.isChecked()
        on_disk = hub and find_cached(repo, self._cache_dir) is not None
        size = self._sizes.get(repo)
        asking = self._size_check is not None and self._size_check.repo_id == repo
        self._size.setText(size_note(size, on_disk=on_disk, offline=offline, asking=asking))
        self._check_size.setEnabled(
            hub and not running and not offline and not on_disk and not isinstance(size, int)
            and self._size_check is None and looks_like_repo_id(repo)
        )
        for widget in (self._repo_label, self._repo):
            widget.setEnabled(hub and not running)
        for widget in (self._path_label, self._path, self._browse):
            widget.setEnabled(not hub and not server and not running)
        for widget in (self._hub_choice, self._folder_choice, self._server_choice):
            widget.setEnabled(not running)
        self._offline.setEnabled(not running and not server)
        choice = "hub" if hub else "server" if server else "folder"
        self._start.setText(start_text(choice, offline=offline, on_disk=on_disk, size=size))
        self._start.setEnabled(not running)
        self._cancel.setEnabled(running)

    def _ask_size(self) -> None:
        self._size_check = _SizeCheck(self._repo.text().strip(), self)
        self._size_check.answered.connect(self._on_size)
        self._size_check.start()
        self._update_controls()

    def _on_size(self, repo_id: str, size: int | str) -> None:
        check, self._size_check = self._size_check, None
        if check is not None:
            check.wait()  # its last act was this signal
            check.deleteLater()
        self._sizes[repo_id] = size
        self._update_controls()

    def _set_running(self, running: bool) -> None:
        # Not QThread.isRunning(): the queued `finished` can arrive while the thread is still winding down.
        self._running = running
        self._update_controls()
        ready = self._model is not None
        self._start.setDefault(not ready)
        self._close.setDefault(ready)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the model folder", self._path.text())
        if folder:
            self._path.setText(folder)

    def _begin(self) -> None:
        self._show_error("")
        if self._server_choice.isChecked():
            self._use_server = True
            self.accept()
            return
        if self._hub_choice.isChecked():
            source = self._repo.text().strip()
            if not looks_like_repo_id(source):
                self._show_error(f"'{source}' is not a Hugging Face repo id of the form owner/name.")
                return
            if (not self.offline() and source not in self._sizes and find_cached(source, self._cache_dir) is None):
                if self._size_check is None:  # the size first; the next press downloads
                    self._ask_size()
                return
        else:
            source = self._path.text().strip()
            problem = check_local_folder(source)
            if problem is not None:
                self._show_error(problem)
                return
        self._source = source
        self._stage = ""
        self._model = None
        self._measured.setText("")
        self._loader = ModelLoader(source, offline=self.offline(), device=self._device, precision=self._precision,
                                   cache_dir=self._cache_dir, measure_seconds=self._measure_seconds, parent=self)
        self._loader.progress.connect(self._on_progress)
        self._loader.stage.connect(self._on_stage)
        self._loader.measured.connect(self._on_measured)
        self._loader.loaded.connect(self._on_loaded)
        self._loader.failed.connect(self._on_failed)
        self._loader.cancelled.connect(self._on_cancelled)
        self._loader.finished.connect(self._on_finished)
        self._bar.setRange(0, _BAR_STEPS)
        self._bar.setValue(0)
        self._loader.start()
        self._set_running(True)

    def _cancel_clicked(self) -> None:
        if self._loader is not None:
            self._loader.cancel()
            self._status.setText("Cancelling…")

    def _finish(self) -> None:
        if self._model is not None:
            self.accept()
        else:
            self.reject()

    def _on_finished(self) -> None:
        self._set_running(False)

    def _on_stage(self, text: str) -> None:
        self._stage = text
        self._status.setText(text)
        if text != DOWNLOADING:
            self._bar.setRange(0, 0)  # busy: loading and measuring have no byte count

    def _on_progress(self, status: DownloadStatus) -> None:
        self._bar.setRange(0, _BAR_STEPS)
        self._bar.setValue(round(status.fraction * _BAR_STEPS))
        self._sizes[self._source] = status.total_bytes  # known now, for the next attempt too
        self._size.setText(size_note(status.total_bytes, on_disk=False, offline=False, asking=False))
        self._status.setText(status.text())

    def _on_measured(self, report: SpeedReport) -> None:
        self._measured.setText(report.message())

    def _on_loaded(self, model: RealtimeModel) -> None:
        self._model = model
        self._loaded.setText(f"Loaded: {short_model_name(self._source)} on {describe_placement(model)}")
        self._bar.setRange(0, _BAR_STEPS)
        self._bar.setValue(_BAR_STEPS)
        self._status.setText(READY)

    def _on_failed(self, message: str) -> None:
        self._stop_busy()
        self._status.setText("")
        self._show_error(message)

    def _on_cancelled(self) -> None:
        self._stop_busy()
        self._status.setText(CANCELLED if self._stage == DOWNLOADING else "Cancelled before the model was ready.")

    def _stop_busy(self) -> None:
        if self._bar.maximum() == 0:
            self._bar.setRange(0, _BAR_STEPS)

    def _show_error(self, message: str) -> None:
        self._error.setText(message)
        self._error.setVisible(bool(message))
        if message:
            # Screen readers announce an alert without the user moving focus to it.
            QAccessible.updateAccessibility(QAccessibleEvent(self._error, QAccessible.Event.Alert))
