"""Downloading (when needed) and loading the realtime model on a worker thread, reported through Qt signals.

Signals are emitted from the worker thread; connected slots of objects living in the GUI thread run there (queued),
so the GUI never blocks on the network, the disk or the model's first steps.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from app.settings import DEFAULT_REALTIME_MODEL
from app.setup.device_info import measure_speed
from app.setup.model_source import ModelDownload, SetupError, check_local_folder
from model import DownloadCancelled, ModelError, load_realtime
from model.hub import looks_like_repo_id
from model.hub.errors import short

DOWNLOADING = "Downloading the model…"
LOADING = "Loading the model…"
MEASURING = "Measuring how fast the model runs here…"


class ModelLoader(QThread):
    """One attempt to bring a model source (hub repo id or folder) into memory.

    Exactly one of ``loaded``, ``failed`` or ``cancelled`` ends each run; ``measured`` (when asked for) comes just
    before ``loaded``. ``stage`` says what the worker is doing now, in words for a status line.
    """

    progress = Signal(object)  # DownloadStatus
    stage = Signal(str)
    measured = Signal(object)  # SpeedReport
    loaded = Signal(object)  # RealtimeModel
    failed = Signal(str)
    cancelled = Signal()

    def __init__(
        self,
        source: str,
        *,
        offline: bool = False,
        device: str = "",
        cache_dir: str | Path | None = None,
        measure_seconds: float | None = None,
        precision: str = "auto",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.source = source.strip()
        self.offline = offline
        self.device = device
        self.precision = precision
        self.cache_dir = cache_dir
        self.measure_seconds = measure_seconds
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop as soon as possible: a download stops within one network chunk and keeps what it fetched; loading
        itself cannot be interrupted, so its result is dropped."""
        self._cancel.set()

    def run(self) -> None:
        try:
            folder = self._folder()
            self._check_cancel()
            self.stage.emit(LOADING)
            model = load_realtime(folder, device=self.device or None, precision=self.precision)
            self._check_cancel()
            if self.measure_seconds is not None:
                self.stage.emit(MEASURING)
                self.measured.emit(measure_speed(model, self.measure_seconds))
                self._check_cancel()
            self.loaded.emit(model)
        except DownloadCancelled:
            self.cancelled.emit()
        except (SetupError, ModelError) as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # the thread's last stop: anything uncaught here would leave the GUI waiting
            self.failed.emit(f"Loading the model failed: {short(exc)}")

    def _folder(self) -> Path:
        if not self.source:
            raise SetupError("No model is chosen: choose a Hugging Face repo id or a folder that contains the model.")
        path = Path(self.source).expanduser()
        if path.exists():  # a local folder of that name wins over a repo id, as in model.loading
            problem = check_local_folder(path)
            if problem is not None:
                raise SetupError(problem)
            return path
        if not looks_like_repo_id(self.source):
            raise SetupError(
                f"'{self.source}' is neither a folder on this computer nor a Hugging Face repo id such as "
                f"'{DEFAULT_REALTIME_MODEL}'."
            )
        if not self.offline:
            self.stage.emit(DOWNLOADING)
        download = ModelDownload(
            self.source,
            cache_dir=self.cache_dir,
            offline=self.offline,
            on_status=self.progress.emit,
            cancel=self._cancel,
        )
        return download.run()

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise DownloadCancelled("Cancelled before the model was ready.")
