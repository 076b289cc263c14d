"""The whole program, offscreen: model loading, captions of a file played as a live source, settings that persist."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile
from PySide6.QtWidgets import QApplication, QPushButton, QToolBar, QWidget

from app.application import Captionist
from app.events import MODEL_RATE, AudioBlock, AudioSource, Notice, Severity, SourceKind
from app.recording.recorder import SessionRecorder
from app.recording.session_folder import (
    SessionState,
    read_audio,
    read_session,
    read_transcript,
    sessions_dir,
    write_session,
)
from app.settings import ModelSettings, Settings, SettingsStore
from tests.app.ui.accessibility import unnamed_controls, unreachable_by_tab
from tests.fixtures.speech import espeak_speech


@pytest.fixture
def speech_file(tmp_path):
    audio, rate = espeak_speech("Captions should keep up with every word said in the meeting.")
    path = tmp_path / "meeting.wav"
    soundfile.write(path, audio, rate)
    return path, audio


@pytest.fixture
def program(qtbot, tmp_path, tiny_realtime, monkeypatch):
    monkeypatch.setattr(QApplication, "quit", lambda *a: None)  # the test's application outlives the program
    store = SettingsStore(tmp_path / "config" / "settings.json")
    store.save(Settings(model=ModelSettings(source=str(tiny_realtime.folder))))
    made = []

    def make() -> Captionist:
        made.append(Captionist(store, capture_options={"speed": 8.0}, measure_seconds=None,
                               data_dir=tmp_path / "data"))
        qtbot.addWidget(made[-1].window)
        return made[-1]

    yield make
    for p in made:
        p.quit()


def test_a_played_file_is_captioned_on_the_overlay_and_in_the_transcript(qtbot, program, speech_file,
                                                                          tiny_realtime) -> None:
    path, _ = speech_file
    app = program()
    app.show()
    qtbot.waitUntil(lambda: app.live.engine is not None, timeout=30000)
    assert "CPU" in app.window.model_label.text()
    app.add_file_source(path)
    with qtbot.waitSignal(app.live.stopped, timeout=60000):  # the file ends, the worker flushes, all threads end
        app.start_captions()
        assert app.window.start_action.isChecked()
    assert not app.window.start_action.isChecked()

    played, rate = soundfile.read(path, dtype="float32")  # what the file holds (16-bit), not the float original
    assert rate == MODEL_RATE
    offline = tiny_realtime.model.transcribe(played, MODEL_RATE)
    shown = app.overlay.full_text()
    assert shown.startswith(offline.text) and len(offline.text) > 10
    assert app.overlay.isVisible() or app.overlay.faded()
    assert app.window.transcript.transcript().lines
    header, *lines = app.window.transcript.transcript().lines
    assert header.header and header.text.startswith("— Session of ")
    assert "".join(line.text for line in lines).replace(" ", "") == \
        shown.replace(" ", "").replace("\n", "")
    assert "delay 480 ms" in app.window.live_label.text() or "stopped" in app.window.live_label.text()

    # Every captioning session is recorded: the audio as captured, and the captions as they arrived.
    (folder,) = sessions_dir(app.data_dir).iterdir()
    info = read_session(folder)
    assert info.state is SessionState.COMPLETE and info.duration_s == pytest.approx(played.size / MODEL_RATE)
    recorded = read_audio(folder / info.sources[0].audio)
    np.testing.assert_array_equal(recorded, played)  # the file is 16-bit already, so nothing is lost
    assert "".join(e.text for e in read_transcript(folder)) == shown


def test_settings_persist_across_restarts(qtbot, program, speech_file, tmp_path) -> None:
    path, _ = speech_file
    first = program()
    first.add_file_source(path)
    first.set_click_through(True)
    assert first.overlay.click_through()
    first.overlay.placementChanged.emit("Screen-1", (10, 20, 600, 120))
    styled = dataclasses.replace(first.settings.captions, font_size=44, lines=3)
    first.apply_settings(dataclasses.replace(first.settings, captions=styled))
    first.quit()

    second = program()
    assert second.settings.audio.source_ids == (f"file:{path}",)
    assert second.settings.overlay.click_through and second.overlay.click_through()
    assert second.window.click_through_action.isChecked()
    assert second.settings.overlay.placements["Screen-1"] == (10, 20, 600, 120)
    assert second.overlay.caption_style().font_size == 44 and second.overlay.caption_style().lines == 3


def test_click_through_can_be_left_from_the_tray_menu(qtbot, program) -> None:
    app = program()
    app.set_click_through(True)
    tray_action = next(a for a in app.tray.menu_actions() if "Click-through" in a.text())
    tray_action.trigger()  # the overlay itself cannot be clicked now: the tray (or Ctrl+Shift+K) is the way back
    assert not app.overlay.click_through()
    assert app.window.click_through_action.shortcut().toString() == "Ctrl+Shift+K"


def test_every_control_of_the_main_window_has_an_accessible_name(qtbot, program) -> None:
    app = program()
    app.window.show()
    assert unnamed_controls(app.window) == []


def test_a_missing_model_is_reported_and_nothing_freezes(qtbot, program, tmp_path) -> None:
    app = program()
    app._update(model=ModelSettings(source=str(tmp_path / "nowhere")))  # noqa: SLF001 — a bad saved setting
    app.load_model()
    qtbot.waitUntil(lambda: "Model…" in app.window.notice_label.text(), timeout=10000)
    assert app.live.engine is None


def test_a_broken_settings_file_is_reported_and_kept(qtbot, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(QApplication, "quit", lambda *a: None)
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    app = Captionist(SettingsStore(path), measure_seconds=None, data_dir=tmp_path / "data")
    qtbot.addWidget(app.window)
    try:
        assert "could not be read" in app.window.notice_label.text()
        assert (tmp_path / "settings.json.bad").read_text() == "{not json"
    finally:
        app.quit()



def test_the_main_window_works_from_the_keyboard(qtbot, program, speech_file) -> None:
    path, _ = speech_file
    app = program()
    app.add_file_source(path)
    app.window.show()
    qtbot.waitExposed(app.window)
    menu_actions = {a for m in app.window.menuBar().actions() if m.menu() for a in m.menu().actions()}
    # Toolbar buttons are reached through their shortcuts and the menu bar (Alt), as in other desktop programs.
    for action in app.window.findChild(QToolBar).actions():
        assert not action.shortcut().isEmpty() and action in menu_actions, action.text()
    start = app.window.sources.findChildren(QPushButton)[0]
    missing = [d for d in unreachable_by_tab(qtbot, app.window, start) if not d.startswith("QToolButton")]
    assert missing == []



def test_an_interrupted_recording_is_repaired_at_start_and_the_user_told(qtbot, program, tmp_path) -> None:
    source = AudioSource("mic:test", SourceKind.MICROPHONE, "Test microphone")
    recorder = SessionRecorder.start(tmp_path / "data", [source])
    recorder.listener(AudioBlock(source.id, np.full(16000, 0.25, np.float32), 0.0))
    info = recorder.close()
    # As a crash leaves it: still "recording", and no live writer holds its lock.
    write_session(recorder.folder, dataclasses.replace(info, state=SessionState.RECORDING, ended_at=None))
    app = program()
    assert "Recovered" in app.window.notice_label.text()
    assert read_session(recorder.folder).state is SessionState.RECOVERED


def test_a_recorded_session_is_in_the_library_can_be_transcribed_again_corrected_and_exported(
        qtbot, program, speech_file, tmp_path) -> None:
    import srt

    from app.export.session import export_session
    from app.ui.retranscribe_dialog import RetranscribeDialog

    path, _ = speech_file
    app = program()
    app.show()
    qtbot.waitUntil(lambda: app.live.engine is not None, timeout=30000)
    app.add_file_source(path)
    with qtbot.waitSignal(app.live.stopped, timeout=60000):
        app.start_captions()
    (session,) = app.library.sessions()
    assert session.duration_s > 3 and session.versions == ("live",)
    assert app.library_view.sessions.findChildren(QWidget)  # the library tab shows it

    dialog = RetranscribeDialog(session.title)
    qtbot.addWidget(dialog)
    dialog.delay.setValue(960)
    app.library_actions._start(session.id, dialog)  # noqa: SLF001 — what the dialog's Start button does
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Done"), timeout=60000)
    versions = app.library.versions(session.id)
    assert len(versions) == 2 and versions[1].startswith("realtime-960ms-")

    line = app.library.lines(session.id, "live")[0]
    app.library.correct(session.id, "live", line.index, "The budget was approved.")
    out = export_session(app.library, session.id, "live", "srt", tmp_path / "out" / "meeting.srt")
    cues = list(srt.parse(out.read_text(encoding="utf-8")))
    assert "The budget was approved." in " ".join(c.content for c in cues)
    txt = export_session(app.library, session.id, versions[1], "txt", tmp_path / "out" / "again.txt")
    assert txt.read_text(encoding="utf-8").strip()


def test_an_imported_file_becomes_a_session_and_a_bad_one_is_reported(qtbot, program, speech_file, tmp_path) -> None:
    path, _ = speech_file
    app = program()
    folder = app.import_file(path)
    (session,) = app.library.sessions()
    assert session.title == "meeting" and session.duration_s == pytest.approx(read_session(folder).duration_s)
    played, _ = soundfile.read(path, dtype="float32")
    np.testing.assert_array_equal(read_audio(folder / read_session(folder).sources[0].audio), played)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really audio")
    assert app.import_file(broken) is None
    assert "broken.wav could not be imported" in app.window.notice_label.text()
    assert len(app.library.sessions()) == 1


def test_a_question_about_a_recording_is_answered_in_the_chat_panel_and_saved(
        qtbot, tmp_path, tiny_realtime, tiny_voxtral, speech_file, monkeypatch) -> None:
    from app.chat import store

    monkeypatch.setattr(QApplication, "quit", lambda *a: None)
    settings = SettingsStore(tmp_path / "chat" / "settings.json")
    settings.save(Settings(model=ModelSettings(source=str(tiny_realtime.folder),
                                               offline_source=str(tiny_voxtral.folder))))
    app = Captionist(settings, measure_seconds=None, data_dir=tmp_path / "chat-data")
    qtbot.addWidget(app.window)
    try:
        app.import_file(speech_file[0])
        (session,) = app.library.sessions()
        assert app.chat.conversation is not None and app.chat.conversation.session_id == session.id
        app.chat.max_new_tokens = 12  # a random model never ends its answer by itself
        with qtbot.waitSignal(app.chat.busyChanged, timeout=60000, check_params_cb=lambda busy: not busy):
            app.chat_panel.ask("What was decided about the budget?")
        question, answer = app.chat.conversation.turns
        assert question.role == "user" and question.clips and answer.role == "assistant" and answer.text
        assert app.models.device == "cpu"  # no GPU here: the manager placed the chat model on the CPU
        (saved,) = store.list_conversations(app.library.folder(session.id))
        assert saved.turns == app.chat.conversation.turns
    finally:
        app.quit()


def red_dot(icon) -> bool:
    """Whether the icon carries the recording mark in its lower right corner."""
    from PySide6.QtGui import QColor

    from app.ui.icon import RECORDING_RED

    image = icon.pixmap(32, 32).toImage()
    corner = image.pixelColor(image.width() - 6, image.height() - 6)
    return corner == QColor(RECORDING_RED)


def test_a_new_session_starts_with_an_empty_overlay_and_says_whether_it_records(qtbot, program, speech_file,
                                                                                 tmp_path) -> None:
    path, _ = speech_file
    app = program()
    app.show()
    qtbot.waitUntil(lambda: app.live.engine is not None, timeout=30000)
    app.add_file_source(path)
    with qtbot.waitSignal(app.live.stopped, timeout=60000):
        app.start_captions()
        assert app.recording_label.isVisible() or not app.window.isVisible()
        assert app.recording_label.text() == "● Recording"
        assert red_dot(app.tray.icon())  # seen in the tray too, with the main window hidden
    assert not red_dot(app.tray.icon())
    first = app.overlay.full_text()
    assert first and not app.recording_label.isVisibleTo(app.window)
    with qtbot.waitSignal(app.live.stopped, timeout=60000):
        app.start_captions()
        assert app.overlay.full_text() == ""  # the previous session's words are gone, not continued
    assert app.overlay.full_text() == first  # the same file again: the same words, once
    assert len(list(sessions_dir(app.data_dir).iterdir())) == 2

    # Captions without a recording: nothing is written, and the window says so while captions run.
    app.apply_settings(dataclasses.replace(app.settings, audio=dataclasses.replace(app.settings.audio, record=False)))
    with qtbot.waitSignal(app.live.stopped, timeout=60000):
        app.start_captions()
        assert app.recording_label.text() == "Not recording"
    assert app.overlay.full_text() == first
    assert len(list(sessions_dir(app.data_dir).iterdir())) == 2
    assert SettingsStore(app.store.path).load()[0].audio.record is False


def test_pausing_keeps_one_session_whose_recording_holds_silence_while_paused(qtbot, program, tmp_path) -> None:
    from app.captions.overlay import PAUSED_TEXT
    from app.capture.capture import PAUSED
    from app.recording.session_folder import read_gaps

    speech, rate = espeak_speech("Every word of the meeting is kept, except while captions are paused.")
    long_file = tmp_path / "long.wav"
    soundfile.write(long_file, np.tile(speech, 8), rate)  # about 40 s: 5 s of wall time at the test's speed
    app = program()
    app.show()
    qtbot.waitUntil(lambda: app.live.engine is not None, timeout=30000)
    app.add_file_source(long_file)
    w = app.window
    assert not w.pause_action.isEnabled()  # nothing to pause
    captured = lambda: app.live._captures[0].captured_seconds if app.live._captures else 0.0  # noqa: E731
    with qtbot.waitSignal(app.live.stopped, timeout=90000):
        app.start_captions()
        assert w.pause_action.isEnabled()
        qtbot.waitUntil(lambda: captured() > 8.0, timeout=30000)
        w.pause_action.trigger()  # as from the menu, the tray or the overlay's strip
        assert app.live.paused and w.pause_action.isChecked() and w.pause_action.text() == "Resu&me captions"
        assert app.overlay.lag_text() == PAUSED_TEXT and app.recording_label.text() == "Recording paused"
        assert not red_dot(app.tray.icon())
        qtbot.waitUntil(lambda: captured() > 16.0, timeout=30000)
        w.pause_action.trigger()
        assert not app.live.paused and app.recording_label.text() == "● Recording" and red_dot(app.tray.icon())
        assert app.overlay.lag_text() != PAUSED_TEXT
    assert not w.pause_action.isEnabled() and not w.pause_action.isChecked()

    (folder,) = sessions_dir(app.data_dir).iterdir()  # one session, not one per start
    (gap,) = read_gaps(folder)
    assert gap.reason == PAUSED and 7.5 < gap.start_s < gap.end_s < 17.0 and gap.end_s - gap.start_s > 6.0
    (wav,) = folder.rglob("*.wav")
    audio, wav_rate = soundfile.read(wav, dtype="float32")
    a, b = round(gap.start_s * wav_rate), round(gap.end_s * wav_rate)
    assert not audio[a:b].any()  # nothing said while paused was kept
    assert np.abs(audio[:a]).max() > 0.05 and np.abs(audio[b:]).max() > 0.05  # before and after, the speech
    assert audio.size / wav_rate == pytest.approx(np.tile(speech, 8).size / rate, abs=0.5)  # one timeline
    assert "captions paused" in w.transcript.transcript().text_with_timestamps()


def test_the_overlay_controls_and_reset_position(qtbot, program) -> None:
    app = program()
    w = app.window
    names = [b.defaultAction() for b in app.overlay.controls()]
    assert names == [w.start_action, w.pause_action, w.show_window_action, w.settings_action,
                     w.click_through_action]
    assert w.reset_position_action in app.tray.menu_actions()
    app.overlay.show()
    screen = app.overlay.screen()
    app.overlay.move(screen.availableGeometry().topLeft())
    with qtbot.waitSignal(app.overlay.placementChanged, timeout=3000):
        w.reset_position_action.trigger()
    assert app.settings.overlay.placements[screen.name()] == (app.overlay.x(), app.overlay.y(), app.overlay.width(),
                                                              app.overlay.height())
    app.apply_settings(dataclasses.replace(app.settings, overlay=dataclasses.replace(app.settings.overlay,
                                                                                       dock="top")))
    assert app.overlay.dock() == "top" and app.overlay.y() == screen.availableGeometry().top()


def test_the_overlay_previews_the_style_while_the_captions_page_is_open(qtbot, program) -> None:
    from PySide6.QtCore import QTimer

    from app.ui.settings_dialog import SettingsDialog

    app = program()
    assert not app.overlay.isVisible()
    seen = {}

    def edit() -> None:
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, SettingsDialog) and w.isVisible())
        seen["before"] = app.overlay.isVisible()
        dialog.tabs.setCurrentWidget(dialog.captions_page)
        dialog.captions_page.size_spin.setValue(120)
        seen["previewed"] = (app.overlay.isVisible(), app.overlay.previewing(), app.overlay.caption_style().font_size)
        dialog.tabs.setCurrentWidget(dialog.audio_page)
        seen["left"] = (app.overlay.isVisible(), app.overlay.previewing())
        dialog.tabs.setCurrentWidget(dialog.captions_page)
        dialog.reject()

    QTimer.singleShot(0, edit)
    app.open_settings()
    assert seen == {"before": False, "previewed": (True, True, 120), "left": (False, False)}
    assert not app.overlay.isVisible() and not app.overlay.previewing()  # cancelled: as it was
    assert app.overlay.caption_style() == app.settings.captions


def test_system_wide_shortcuts_act_like_the_menu_and_the_dock_menu_is_saved(qtbot, program) -> None:
    app = program()
    w = app.window
    app.shortcuts.activated.emit("toggle_overlay")
    assert app.overlay.isVisible() and w.overlay_action.isChecked()
    app.shortcuts.activated.emit("click_through")
    assert app.overlay.click_through() and app.settings.overlay.click_through
    app.shortcuts.activated.emit("click_through")
    app.shortcuts.activated.emit("toggle_overlay")
    assert not app.overlay.isVisible()
    w.dock_actions["bottom"].trigger()
    assert app.overlay.dock() == "bottom" and app.settings.overlay.dock == "bottom"
    assert SettingsStore(app.store.path).load()[0].overlay.dock == "bottom"


def test_live_step_times_replace_the_speed_estimate(qtbot, program) -> None:
    from app.events import Notice, Severity, WorkerStatus
    from app.setup.device_info import SpeedReport

    app = program()
    w = app.window
    w.show_notice(Notice(Severity.WARNING, "Another problem that still applies."))
    estimate = SpeedReport(device="CPU", steps=25, step_s=0.2, real_time_factor=2.5, low_s=0.18, high_s=0.3)
    app._measured(estimate)  # as the loader reports it
    assert estimate.message() in w.notice_label.text()
    app.live.status.emit(WorkerStatus("mic", 2.0, 1.5, 190.0, 2.4, "CPU", 480))
    assert estimate.message() not in w.notice_label.text()
    assert "Another problem that still applies." in w.notice_label.text()
    assert "step 190 ms" in w.live_label.text()


def test_the_overlay_buttons_are_reachable_from_the_keyboard(qtbot, program) -> None:
    app = program()
    app.window.overlay_buttons_action.trigger()
    assert app.overlay.isVisible() and app.window.overlay_action.isChecked()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is app.overlay.controls()[0], timeout=3000)
    assert QApplication.focusWidget().defaultAction() is app.window.start_action


@pytest.mark.parametrize("on", [True, False])
def test_the_echo_setting_reaches_live_captions(qtbot, program, speech_file, monkeypatch, on) -> None:
    path, _ = speech_file
    app = program()
    app.show()
    qtbot.waitUntil(lambda: app.live.engine is not None, timeout=30000)
    app.add_file_source(path)
    app.apply_settings(dataclasses.replace(app.settings, audio=dataclasses.replace(app.settings.audio,
                                                                                   echo_suppression=on)))
    asked = {}
    monkeypatch.setattr(app.live, "start", lambda sources, **options: asked.update(options))
    app.start_captions()
    assert (asked["echo_cancellation"], asked["echo_suppression"]) == (on, on)


def test_the_waiting_notice_goes_once_captions_start(qtbot, program, speech_file) -> None:
    path, _ = speech_file
    app = program()
    app.add_file_source(path)
    app.show()  # loading starts; captions are asked for before the model is there
    app.start_captions()
    waiting = "Captions start as soon as the model is loaded."
    assert app.live.engine is None  # loading takes a while on its thread
    assert waiting in app.window.notice_label.text()
    with qtbot.waitSignal(app.live.stopped, timeout=60000):
        qtbot.waitUntil(lambda: app.live.running, timeout=30000)
        assert waiting not in app.window.notice_label.text() or not app.window.notice_label.isVisibleTo(app.window)
        assert waiting not in app.window.statusBar().currentMessage()


def test_shortcut_problems_the_desktop_reports_later_are_shown(qtbot, program) -> None:
    app = program()
    problem = "the desktop's request to allow the system-wide shortcuts was refused, so none are bound"
    app.shortcuts.problemsChanged.emit([problem])  # as the Wayland portal answers, after register returned
    assert problem in app.window.notice_label.text()
    assert app._shortcut_problems == [problem]  # and the Shortcuts page is given them when it opens


def test_a_failed_load_takes_the_waiting_notice_and_a_start_keeps_the_problems_that_still_apply(qtbot, program,
                                                                                              speech_file) -> None:
    from app.application import WAITING_FOR_MODEL

    path, _ = speech_file
    app = program()
    app.add_file_source(path)
    lasting = "The settings file was damaged and set aside."  # a start-up problem: a start does not answer it
    app.window.show_notice(Notice(Severity.WARNING, lasting))
    app._start_when_loaded = True
    app._passing_notice(Notice(Severity.INFO, WAITING_FOR_MODEL))
    app._model_failed("The model folder is empty.")
    text = app.window.notice_label.text()
    assert WAITING_FOR_MODEL not in text and "The model folder is empty." in text and lasting in text
    app.show()  # the model loads
    qtbot.waitUntil(lambda: app.live.engine is not None, timeout=60000)
    with qtbot.waitSignal(app.live.stopped, timeout=60000):
        app.start_captions()
        qtbot.waitUntil(lambda: app.live.running, timeout=30000)
        text = app.window.notice_label.text()
        assert "The model folder is empty." not in text  # it no longer applies
        assert lasting in text and app.window.notice_label.isVisibleTo(app.window)
