"""Wires the program together: settings, model loading, live captions, the overlay, the main window and the tray.

The widgets only lay themselves out and the workers only compute; this object connects their signals and keeps the
settings saved. It is created by ``app.gui.run`` and by the GUI tests.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QLabel, QSplitter, QSystemTrayIcon, QWidget

from app import autostart
from app.captions.dialog_stacking import DialogsAboveOverlay
from app.captions.overlay import CaptionOverlay
from app.captions.style import CaptionStyle
from app.capture.devices import list_sources
from app.capture.errors import CaptureError
from app.chat.backend import ChatModels
from app.chat.controller import ChatController
from app.chat.model_manager import ModelManager
from app.chat.server_models import ServerChatModels
from app.engine.base import Engine
from app.engine.local import LocalEngine
from app.engine.server.address import ServerAddress, ServerError, parse_address
from app.engine.server.api_key import ApiKeyStore
from app.engine.server.connection_test import unencrypted_warning
from app.engine.server.live_stream import ServerEngine
from app.events import AudioSource, CaptionEvent, CaptionGap, LevelReading, Notice, Severity, SourceKind, WorkerStatus
from app.library.index import Library, LibraryError
from app.library.playback import PlaybackError, Player
from app.library_actions import LibraryActions
from app.live import LiveCaptions
from app.recording.importer import import_audio
from app.recording.privacy import tighten
from app.recording.recorder import RecordingError, SessionRecorder
from app.recording.recovery import recover_sessions
from app.recording.session_folder import default_data_dir
from app.recording.storage import storage_problem
from app.settings import LOCAL, SERVER, Settings, SettingsStore
from app.setup.device_info import SpeedReport
from app.setup.loader import ModelLoader
from app.shortcuts import system_shortcuts
from app.shortcuts.keys import ACTIONS
from app.status_text import is_behind, short_model_name, status_line
from app.ui.about_dialog import AboutDialog, data_places
from app.ui.chat_panel import ChatPanel
from app.ui.icon import recording_icon
from app.ui.library_view import LibraryView
from app.ui.main_window import MainWindow
from app.ui.model_setup_dialog import ModelSetupDialog
from app.ui.settings_dialog import SettingsDialog
from app.ui.tray import Tray
from model import AudioInputError, RealtimeModel
from model import device as devices

WAITING_FOR_MODEL = "Captions start as soon as the model is loaded."


class Captionist(QObject):
    recordingFailed = Signal(str)  # from the recorder's writer thread; shown on the GUI thread

    def __init__(self, store: SettingsStore, *, capture_options: dict | None = None,
                 measure_seconds: float | None = 2.0, data_dir: Path | None = None) -> None:
        super().__init__()
        self.store = store
        self.api_keys = ApiKeyStore(store.path.parent)  # the server's key: a private file beside the settings
        self._key_changed = False  # the settings dialog just changed the key (the server engine reconnects)
        self.data_dir = data_dir if data_dir is not None else default_data_dir()
        self.recorder: SessionRecorder | None = None
        self.settings, problems = store.load()
        self._measure_seconds = measure_seconds
        self._loader: ModelLoader | None = None
        self._model: RealtimeModel | None = None
        self._file_sources: list[AudioSource] = []
        self._available: list[AudioSource] = []
        self._start_when_loaded = False
        self._quitting = False
        self._estimate = ""  # the speed estimate shown as a notice until live step times are known
        # Notices that a new start of captions makes stale (waiting for the model, a failed load, no source chosen,
        # the last session's stream problems); start-up problems are not among them and stay
        self._passing: set[str] = set()

        self.live = LiveCaptions(capture_options=capture_options, parent=self)
        self.window = MainWindow()
        self.overlay = CaptionOverlay(self.settings.captions, dict(self.settings.overlay.placements),
                                      self.settings.overlay.click_through, dock=self.settings.overlay.dock)
        w = self.window
        w.click_through_action.setChecked(self.settings.overlay.click_through)
        self.overlay.set_controls([w.start_action, w.pause_action, w.show_window_action, w.settings_action,
                                   w.click_through_action])
        self._dialogs_above = DialogsAboveOverlay(self.overlay)
        w.overlay_buttons_action.triggered.connect(self._overlay_buttons)
        w.reset_position_action.triggered.connect(self.overlay.reset_position)
        w.dock_actions[self.settings.overlay.dock].setChecked(True)
        for dock, action in w.dock_actions.items():
            action.triggered.connect(lambda _checked=False, d=dock: self.set_dock(d))
        self.recording_label = QLabel()
        self.recording_label.setAccessibleName("Recording")
        self.recording_label.hide()
        w.statusBar().addPermanentWidget(self.recording_label)
        self.tray = Tray(w.windowIcon(), [w.start_action, w.pause_action, w.overlay_action, w.click_through_action,
                                          w.reset_position_action, None, w.show_window_action, w.settings_action,
                                          None, w.quit_action])
        self._recording_icon = recording_icon(w.windowIcon())
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.show()

        w.start_action.triggered.connect(self.toggle_captions)
        w.pause_action.triggered.connect(self.set_paused)
        w.overlay_action.toggled.connect(self.overlay.setVisible)
        w.click_through_action.toggled.connect(self.set_click_through)
        w.settings_action.triggered.connect(self.open_settings)
        w.model_action.triggered.connect(self.open_model_setup)
        w.import_action.triggered.connect(self._choose_import)
        w.about_action.triggered.connect(self.show_about)
        w.show_window_action.triggered.connect(self._show_window)
        w.quit_action.triggered.connect(self.quit)
        w.closing.connect(self.quit)
        w.sources.selectionChanged.connect(self._selection_changed)
        w.sources.refreshRequested.connect(self.refresh_sources)
        w.sources.addFileRequested.connect(self._choose_file)
        self.overlay.placementChanged.connect(self._placement_changed)
        self.live.caption.connect(self._caption)
        self.live.gap.connect(self._gap)
        self.live.status.connect(self._status)
        self.live.notice.connect(self._passing_notice)
        self.live.level.connect(self._level)
        self.live.started.connect(lambda: w.set_running(True))
        self.live.stopped.connect(self._stopped)
        self.recordingFailed.connect(lambda message: w.show_notice(Notice(Severity.ERROR, message)))
        self.shortcuts = system_shortcuts(self)  # keys that work while another program has the focus
        self.shortcuts.activated.connect(self._shortcut_pressed)
        self.shortcuts.problemsChanged.connect(self._show_shortcut_problems)
        self._shortcut_problems: list[str] = []
        self._register_shortcuts()

        for problem in problems:
            w.show_notice(Notice(Severity.WARNING, problem))
        self.refresh_sources()
        self.check_storage()
        self.recover_recordings()
        self.player = Player()
        # Voxtral Mini 3B (chat, transcribing again) is resident only while live captions can spare the memory.
        self.models = ModelManager(self.settings.model.offline_source, offline=self.settings.model.offline,
                                   precision=self.settings.model.precision)
        self.library: Library | None = None
        self.library_view: LibraryView | None = None
        self.chat: ChatController | None = None
        self.chat_panel: ChatPanel | None = None
        self.library_actions: LibraryActions | None = None
        self.library_tab: QWidget = self._library_tab()
        w.add_library(self.library_tab)

    def _library_tab(self) -> QWidget:
        """The Library tab; without a usable library (its folder cannot be read) a page that says why, so that the
        program still starts and captions."""
        w = self.window
        try:
            self.library = Library(self.data_dir)
        except LibraryError as exc:
            w.show_notice(Notice(Severity.ERROR, f"The library is not available: {exc} Live captions work; "
                                                 "recordings are still saved when the disk allows."))
            page = QLabel(f"The library could not be opened.\n\n{exc}")
            page.setWordWrap(True)
            page.setAccessibleName("Library not available")
            return page
        if self.library.problem:
            w.show_notice(Notice(Severity.WARNING, self.library.problem))
        self.library_view = LibraryView(self.library, self.player)
        backend = self._chat_models()
        self.chat = ChatController(self.library, backend, parent=self)
        self.chat_panel = ChatPanel(self.chat, self.library, self._play)
        self.chat_panel.set_selection_source(self.library_view.transcript.selected_range)
        self.library_view.sessions.sessionSelected.connect(self.chat_panel.set_session)
        tab = QSplitter()
        tab.addWidget(self.library_view)
        tab.addWidget(self.chat_panel)
        tab.setStretchFactor(0, 3)
        tab.setStretchFactor(1, 2)
        self.library_actions = LibraryActions(self.library, self.library_view, realtime=lambda: self.live.engine,
                                              models=backend, notify=w.show_notice, parent=w)
        self.library_view.refresh()
        if self.library_view.sessions.current_id():
            self.chat_panel.set_session(self.library_view.sessions.current_id())
        return tab

    def _play(self, session_id: str, seconds: float) -> None:
        """Play a recording from a cited moment (its first source)."""
        if self.library is None:
            return
        try:
            summary = next(s for s in self.library.sessions() if s.id == session_id)
            self.player.play(self.library.audio_path(session_id, summary.sources[0].id), seconds)
        except (LibraryError, PlaybackError, StopIteration, IndexError, OSError) as exc:
            self.window.show_notice(Notice(Severity.ERROR, f"The recording cannot be played: {exc}"))

    def import_file(self, path: str | Path) -> Path | None:
        """Add an audio file to the library as a session of its own; None (and a notice) when it cannot be."""
        try:
            folder = import_audio(self.data_dir, path)
        except (AudioInputError, OSError) as exc:
            self.window.show_notice(Notice(Severity.ERROR, f"{Path(path).name} could not be imported: {exc}"))
            return None
        self._refresh_library()
        self.window.tabs.setCurrentWidget(self.library_tab)
        self.window.show_notice(Notice(Severity.INFO, f"Imported {Path(path).name}. Choose “Transcribe again…” "
                                                      "in the library to transcribe it."))
        return folder

    def _refresh_library(self) -> None:
        if self.library_view is not None:
            self.library_view.refresh()

    def _choose_import(self) -> None:
        path = self._ask_audio_file("Import an audio file")
        if path:
            self.import_file(path)

    def _ask_audio_file(self, title: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self.window, title, "",
                                              "Audio files (*.wav *.flac *.ogg *.mp3);;All files (*)")
        return path

    def check_storage(self) -> None:
        """Say at once when recordings cannot be saved (a full disk, a read-only data folder): captions still run.
        Also makes what earlier versions saved private (files 0600, folders 0700)."""
        problem = storage_problem(self.data_dir)
        if problem is not None:
            self.window.show_notice(Notice(Severity.ERROR, problem))
            return
        unchanged = tighten(self.data_dir)
        if unchanged:
            self.window.show_notice(Notice(Severity.WARNING, f"{len(unchanged)} of your saved files could not be "
                                                             f"made private (readable only by you): {unchanged[0]}"))

    def recover_recordings(self) -> None:
        """Repair sessions a crash interrupted, and say what was found."""
        for report in recover_sessions(self.data_dir):
            self.window.show_notice(Notice(Severity.WARNING if report.problem else Severity.INFO, report.message))

    # -- start-up ---------------------------------------------------------------------------------------------------
    def show(self) -> None:
        self.window.show()
        if self.settings.engine.kind == SERVER:
            self.connect_server()
        elif self.settings.model.source:
            self.load_model()
        else:
            self.open_model_setup()

    def server_address(self) -> ServerAddress:
        """The configured vLLM server (with its saved key); ServerError when the address is unusable."""
        return parse_address(self.settings.engine.server_url, self.api_keys.load())

    def connect_server(self) -> bool:
        """Caption through the configured vLLM server from the next start on; False (and a notice) when it cannot
        be used as configured. Nothing is sent until captions start."""
        engine = self.settings.engine
        try:
            address = self.server_address()
        except ServerError as exc:
            self.window.show_notice(Notice(Severity.ERROR, f"{exc} Live captions need it."))
            return False
        if not engine.realtime_model:
            self.window.show_notice(Notice(Severity.ERROR, "No model for live captions is chosen for the server: "
                                                           "choose one in Settings → Engine (Test connection lists "
                                                           "them)."))
            return False
        self._warn_unencrypted(address)
        self._use_engine(ServerEngine(address, engine.realtime_model), engine.realtime_model)
        return True

    def _warn_unencrypted(self, address: ServerAddress) -> None:
        """Say once per address that audio will travel unencrypted (http:// to another computer)."""
        warning = unencrypted_warning(address)
        if warning is None or address.base_url in self.settings.engine.warned_unencrypted:
            return
        self.window.show_notice(Notice(Severity.WARNING, warning))
        warned = (*self.settings.engine.warned_unencrypted, address.base_url)
        self._update(engine=dataclasses.replace(self.settings.engine, warned_unencrypted=warned))

    def _chat_models(self) -> ChatModels:
        """Where questions are answered: the server's Voxtral Mini 3B when one is chosen, else this computer."""
        engine = self.settings.engine
        if engine.kind == SERVER and engine.chat_model:
            try:
                address = parse_address(engine.chat_server_url or engine.server_url, self.api_keys.load())
                self._warn_unencrypted(address)
                return ServerChatModels(address, engine.chat_model)
            except ServerError:
                pass  # connect_server says what is wrong with the address
        return self.models

    def load_model(self) -> None:
        """Load the configured model in the background; the status bar says what is happening."""
        if self._loader is not None:
            return
        model = self.settings.model
        self._loader = ModelLoader(model.source, offline=model.offline, device=model.device,
                                   measure_seconds=self._measure_seconds, precision=model.precision)
        self._loader.stage.connect(self.window.model_label.setText)
        self._loader.progress.connect(lambda s: self.window.model_label.setText(f"Downloading the model: {s.text()}"))
        self._loader.measured.connect(self._measured)
        self._loader.loaded.connect(self._model_loaded)
        self._loader.failed.connect(self._model_failed)
        self._loader.cancelled.connect(self._model_failed)
        self._loader.finished.connect(self._loader_done)
        self._loader.start()

    def _loader_done(self) -> None:
        loader, self._loader = self._loader, None
        if loader is not None:
            loader.deleteLater()

    def _model_loaded(self, model: RealtimeModel) -> None:
        self._model = model
        if devices.is_accelerator(model.device):  # live captions first: the chat model stays off this memory
            self.models.reserve_live(devices.allocated_bytes(model.device))
        self._use_engine(LocalEngine(model), short_model_name(self.settings.model.source))

    def _use_engine(self, engine: Engine, name: str) -> None:
        self.live.set_engine(engine)
        if self.live.running:  # a new engine while captions run: a new session (and recording) on it
            self.live.stop(then=self.start_captions)
        self.window.model_label.setText(f"{name} on {engine.device_name}")
        if self._start_when_loaded:
            self._start_when_loaded = False
            self.start_captions()

    def _model_failed(self, message: str = "Loading the model was cancelled.") -> None:
        self._start_when_loaded = False
        self.window.model_label.setText("No model loaded")
        self.window.set_running(False)
        self.window.remove_notice(WAITING_FOR_MODEL)
        self._passing_notice(Notice(Severity.ERROR, f"{message} Open Tools → Model… to choose another."))

    def _measured(self, report: SpeedReport) -> None:
        if not report.keeps_up:
            self._estimate = report.message()
            self.window.show_notice(Notice(Severity.WARNING, self._estimate))

    # -- captions ---------------------------------------------------------------------------------------------------
    def toggle_captions(self) -> None:
        if self.live.running:
            self.live.stop()
        else:
            self.start_captions()
        self.window.set_running(self.live.running)

    def set_paused(self, paused: bool) -> None:
        """Pause the running session, or resume it: it stays one session with one recording, which holds silence
        (and a marked stretch in its transcript) for the time paused; nothing said meanwhile is kept."""
        self.live.set_paused(paused)
        paused = self.live.paused
        self.window.set_paused(paused)
        self.overlay.set_paused(paused)
        self._show_recording(self.recorder is not None, paused=paused)

    def start_captions(self) -> None:
        sources = self.window.sources.selected()
        if self.live.engine is None:
            if self.settings.engine.kind == SERVER:
                if self.connect_server():
                    self.start_captions()
                return
            self._start_when_loaded = True
            self._passing_notice(Notice(Severity.INFO, WAITING_FOR_MODEL))
            if self._loader is None and self.settings.model.source:
                self.load_model()
            elif not self.settings.model.source:
                self.open_model_setup()
            return
        if self.live.running:  # switching: the running session ends (and its recording closes) first
            self.live.stop(then=self.start_captions)
            return
        if not sources:
            self._passing_notice(Notice(Severity.ERROR, "Choose at least one audio source to caption."))
            return
        for message in self._passing:
            self.window.remove_notice(message)
        self._passing.clear()
        self.overlay.clear()  # a new session: the last one's words are not continued
        self.window.transcript.start_session(datetime.now())
        if not self.overlay.isVisible():
            self.window.overlay_action.setChecked(True)
        self.recorder, listeners = None, []
        if self.settings.audio.record:
            try:  # the recording comes first: audio reaches the disk before the model
                self.recorder = SessionRecorder.start(self.data_dir, sources, on_error=self.recordingFailed.emit)
                listeners = [self.recorder.listener]
            except RecordingError as exc:  # captions still help the reader; the missing recording is said loudly
                self.window.show_notice(Notice(Severity.ERROR, f"{exc} Captions run without a recording."))
        self._show_recording(self.recorder is not None)
        model = self.settings.model
        echo = self.settings.audio.echo_suppression  # acts only with a microphone and the computer's sound together
        self.live.start(sources, delay_ms=model.delay_ms, lag_ceiling_s=model.lag_ceiling_s, listeners=listeners,
                        echo_cancellation=echo, echo_suppression=echo)

    def _passing_notice(self, notice: Notice) -> None:
        self._passing.add(notice.message)
        self.window.show_notice(notice)

    def _show_recording(self, recording: bool, *, paused: bool = False) -> None:
        """Whether this session is kept must be plain to see: people in a meeting may not have agreed to it."""
        label = self.recording_label
        if recording and paused:
            label.setText("Recording paused")
            label.setStyleSheet("")
            label.setToolTip("Nothing is saved until captions resume; the recording then goes on")
        elif recording:
            label.setText("● Recording")
            label.setStyleSheet("QLabel{color:#b71c1c;font-weight:bold;}")
            label.setToolTip("Audio and captions are being saved to the library")
        else:
            label.setText("Not recording")
            label.setStyleSheet("")
            label.setToolTip("Captions only: nothing of this session is saved (Settings → Audio)")
        label.setAccessibleDescription(label.toolTip())
        label.show()
        self.tray.setToolTip(f"Captionist — {label.text().lstrip('● ').lower()}")
        self.tray.setIcon(self._recording_icon if recording and not paused else self.window.windowIcon())

    def _stopped(self) -> None:
        self.window.set_running(False)
        self.overlay.set_lag(None)
        self.overlay.set_paused(False)
        self.recording_label.hide()
        self.tray.setToolTip("Captionist")
        self.tray.setIcon(self.window.windowIcon())
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            info = recorder.close()
            self.window.statusBar().showMessage(f"Saved the recording '{info.title}' ({info.duration_s:.0f} s).",
                                                10000)
            self._refresh_library()

    def _label(self, source_id: str) -> str:
        if len(self.live.sources) < 2:
            return ""
        source = next((s for s in self.live.sources if s.id == source_id), None)
        return self.settings.audio.labels.get(source_id) or (source.label if source else "")

    def _caption(self, event: CaptionEvent) -> None:
        if self.recorder is not None:
            self.recorder.add_caption(event)
        label = self._label(event.source_id)
        self.overlay.add_caption(event, label)
        self.window.transcript.add_caption(event, label)

    def _gap(self, gap: CaptionGap) -> None:
        if self.recorder is not None:
            self.recorder.add_gap(gap)
        self.window.transcript.add_gap(gap, self._label(gap.source_id))

    def _status(self, status: WorkerStatus) -> None:
        if self._estimate:  # measured live now: the status line's step times replace the estimate made at loading
            self.window.remove_notice(self._estimate)
            self._estimate = ""
        engine = self.settings.engine
        name = engine.realtime_model if engine.kind == SERVER else short_model_name(self.settings.model.source)
        if not self.live.paused:  # the status line says it is paused until captions resume
            self.window.live_label.setText(status_line(status, name, self._label(status.source_id)))
        self.overlay.set_lag(status.lag_s if is_behind(status) else None)

    def _level(self, reading: LevelReading) -> None:
        self.window.sources.set_level(reading)

    # -- sources ----------------------------------------------------------------------------------------------------
    def refresh_sources(self) -> None:
        try:
            self._available = list_sources()
        except CaptureError as exc:
            self._available = []
            self.window.show_notice(Notice(Severity.ERROR, str(exc)))
        sources = [*self._available, *self._file_sources]
        selected = [i for i in self.settings.audio.source_ids if any(s.id == i for s in sources)]
        if not selected and self._available:
            selected = [self._available[0].id]
        self.window.sources.set_sources(sources, selected)

    def add_file_source(self, path: str | Path) -> AudioSource:
        path = Path(path)
        source = AudioSource(f"file:{path}", SourceKind.FILE, path.name, str(path), label="File")
        self._file_sources = [s for s in self._file_sources if s.id != source.id] + [source]
        self._update(audio=dataclasses.replace(self.settings.audio, source_ids=(source.id,)))
        self.refresh_sources()
        return source

    def _choose_file(self) -> None:
        path = self._ask_audio_file("Play a file as a live source")
        if path:
            self.add_file_source(path)

    def _selection_changed(self, ids: tuple[str, ...]) -> None:
        self._update(audio=dataclasses.replace(self.settings.audio, source_ids=ids))
        if self.live.running:  # switch sources without stopping captions for long
            self.start_captions()

    # -- overlay ----------------------------------------------------------------------------------------------------
    def set_click_through(self, on: bool) -> None:
        self.overlay.set_click_through(on)
        self.window.click_through_action.setChecked(on)
        self._update(overlay=dataclasses.replace(self.settings.overlay, click_through=on))

    def _overlay_buttons(self) -> None:
        if not self.overlay.isVisible():
            self.window.overlay_action.setChecked(True)
        self.overlay.focus_controls()

    def set_dock(self, dock: str) -> None:
        """Dock the overlay to the top or bottom of the screen, or let it float where it was put."""
        self.overlay.set_dock(dock)
        self.window.dock_actions[dock].setChecked(True)
        self._update(overlay=dataclasses.replace(self.settings.overlay, dock=dock))

    def _placement_changed(self, screen: str, rect: tuple[int, int, int, int]) -> None:
        placements = {**self.settings.overlay.placements, screen: tuple(rect)}
        self._update(overlay=dataclasses.replace(self.settings.overlay, placements=placements))

    # -- dialogs ----------------------------------------------------------------------------------------------------
    def open_settings(self, *, engine_page: bool = False) -> None:
        self.shortcuts.register({})  # while the dialog is open, its key fields get the keys pressed, not the grabs
        dialog = SettingsDialog(self.settings, [*self._available, *self._file_sources], self.window,
                                api_key=self.api_keys.load(), shortcut_availability=self.shortcuts.availability,
                                shortcut_problems=self._shortcut_problems)
        dialog.modelSetupRequested.connect(self.open_model_setup)
        if engine_page:
            dialog.tabs.setCurrentWidget(dialog.engine_page)
        overlay_shown = self.overlay.isVisible()
        dialog.captions_page.styleEdited.connect(self._preview_style)
        dialog.tabs.currentChanged.connect(lambda _i: self._preview_while(dialog, overlay_shown))
        self._preview_while(dialog, overlay_shown)
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        self.overlay.end_preview()
        self.overlay.set_style(self.settings.captions)  # what is saved, until the new settings are applied
        self.overlay.setVisible(overlay_shown)
        if not accepted:
            self._register_shortcuts()
            return
        key = dialog.result_api_key()
        self._key_changed = key != self.api_keys.load()
        if self._key_changed:
            try:
                self.api_keys.save(key)
            except OSError as exc:
                self.window.show_notice(Notice(Severity.ERROR, f"The API key could not be saved to "
                                                               f"{self.api_keys.path}: {exc.strerror or exc}."))
        self.apply_settings(dialog.result_settings())
        self._key_changed = False

    def _preview_while(self, dialog: SettingsDialog, overlay_shown: bool) -> None:
        """On the Captions page the overlay previews the style being edited, at its real size."""
        if dialog.tabs.currentWidget() is dialog.captions_page:
            self.overlay.preview(dialog.captions_page.value())
            self.overlay.show()
        else:
            self.overlay.end_preview()
            self.overlay.setVisible(overlay_shown)

    def _preview_style(self, style: CaptionStyle) -> None:
        if self.overlay.previewing():
            self.overlay.preview(style)

    def apply_settings(self, new: Settings) -> None:
        old = self.settings
        self._save(new)
        self._register_shortcuts()
        if new.shortcuts.start_with_session != autostart.enabled():
            self._start_with_session(new.shortcuts.start_with_session)
        self.overlay.set_style(new.captions)
        self.overlay.set_dock(new.overlay.dock)
        self.window.dock_actions[new.overlay.dock].setChecked(True)
        if new.audio.source_ids != old.audio.source_ids:
            self.refresh_sources()
            if self.live.running:
                self.start_captions()
        elif new.audio.echo_suppression != old.audio.echo_suppression and self.live.running:
            self.start_captions()
        if new.model.delay_ms != old.model.delay_ms:
            self.live.set_delay(new.model.delay_ms)
        if new.model.offline_source != old.model.offline_source:
            self.models.set_source(new.model.offline_source)
        self.models.set_offline(new.model.offline)  # offline mode covers the chat model too, from its next load
        self.models.set_precision(new.model.precision)
        if self.chat is not None and self.library_actions is not None and not self.chat.busy:
            backend = self._chat_models()
            self.chat.manager = backend
            self.library_actions.set_models(backend)
        if new.engine.kind == SERVER:
            if new.engine != old.engine or old.engine.kind != SERVER or self._key_changed:
                self.live.stop()
                self.live.set_engine(None)
                self.connect_server()
        elif old.engine.kind == SERVER or (new.model.source, new.model.device, new.model.offline,
                                           new.model.precision) != (old.model.source, old.model.device,
                                                                    old.model.offline, old.model.precision):
            self.live.stop()
            self.live.set_engine(None)
            if new.model.source:
                self.load_model()

    def show_about(self) -> None:
        AboutDialog(data_places(self.store.path, self.data_dir), self.window).exec()

    def _start_with_session(self, on: bool) -> None:
        try:
            autostart.apply(on)
        except (autostart.AutostartError, OSError) as exc:
            self.window.show_notice(Notice(Severity.ERROR, f"Starting with the desktop session could not be turned "
                                                           f"{'on' if on else 'off'}: {exc}."))

    def open_model_setup(self) -> None:
        loaded = self.window.model_label.text() if self.live.engine is not None else ""
        dialog = ModelSetupDialog(self.settings.model, self.window, measure_seconds=self._measure_seconds,
                                  loaded=loaded)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        if dialog.use_server():
            self.open_settings(engine_page=True)
            return
        if dialog.loaded_model() is None:
            return
        self._update(model=dataclasses.replace(self.settings.model, source=dialog.chosen_source(),
                                               offline=dialog.offline()),
                     engine=dataclasses.replace(self.settings.engine, kind=LOCAL))  # the model loaded here
        self.models.set_offline(dialog.offline())
        self._model_loaded(dialog.loaded_model())

    # -- system-wide shortcuts ------------------------------------------------------------------------------------
    def _register_shortcuts(self) -> None:
        """Grab the saved shortcuts; a problem is shown when it is new, and always on the Shortcuts page."""
        bindings = {action: getattr(self.settings.shortcuts, action) for action in ACTIONS}  # not start_with_session
        self._show_shortcut_problems(self.shortcuts.register(bindings))

    def _show_shortcut_problems(self, problems: list[str]) -> None:
        known = set(self._shortcut_problems)
        self._shortcut_problems = list(problems)
        for problem in self._shortcut_problems:
            if problem not in known:
                self.window.show_notice(Notice(Severity.WARNING, f"System-wide shortcuts — {problem}."))

    def _shortcut_pressed(self, action: str) -> None:
        """As if the menu item were chosen, so that the menus, the tray and the settings follow."""
        w = self.window
        {"toggle_overlay": w.overlay_action.toggle, "click_through": w.click_through_action.toggle,
         "toggle_captions": w.start_action.trigger}[action]()

    # -- settings and lifetime --------------------------------------------------------------------------------------
    def _update(self, **sections: object) -> None:
        self._save(dataclasses.replace(self.settings, **sections))

    def _save(self, settings: Settings) -> None:
        self.settings = settings
        try:
            self.store.save(settings)
        except OSError as exc:
            self.window.show_notice(Notice(Severity.ERROR, f"Settings could not be saved to {self.store.path}: "
                                                           f"{exc.strerror or exc}. They apply until you quit."))

    def _show_window(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        if self._loader is not None:
            self._loader.cancel()
            self._loader.wait()
        self.live.shutdown()
        self._stopped()  # closes the recording, if one is open
        if self.library_actions is not None:
            self.library_actions.cancel()
        if self.chat is not None:
            self.chat.shutdown()
        self.models.close()
        self.player.stop()
        if self.library is not None:
            self.library.close()
        self.shortcuts.close()
        self.overlay.close()
        self.tray.hide()
        app = QApplication.instance()
        if app is not None:
            app.quit()


