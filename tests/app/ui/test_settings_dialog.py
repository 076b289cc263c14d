import dataclasses
import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QKeySequence
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QKeySequenceEdit, QLineEdit

from app.captions.style import FADE_S, FONT_SIZE, LINE_CHARS, LINES, MAX_FONT_SIZE, MIN_FONT_SIZE, OPACITY, CaptionStyle
from app.events import AudioSource, SourceKind
from app.settings import (
    DELAY_MS,
    LAG_CEILING_S,
    MAX_LABEL_CHARS,
    MAX_PATH_CHARS,
    AudioSettings,
    ModelSettings,
    Settings,
    SettingsStore,
    ShortcutSettings,
)
from app.ui.settings_dialog import SettingsDialog, device_choices
from tests.app.ui.accessibility import controls, tab_reachable, tab_through, unnamed_controls, unreachable_by_tab

SOURCES = [
    AudioSource("mic", SourceKind.MICROPHONE, "Built-in Microphone"),
    AudioSource("sys", SourceKind.SYSTEM, "Speakers (monitor)", label="Others"),
    AudioSource("usb", SourceKind.MICROPHONE, "USB Headset"),
]


@pytest.fixture
def make(qtbot):
    def make(settings: Settings | None = None, sources=SOURCES, cuda=("NVIDIA H100",)) -> SettingsDialog:
        dialog = SettingsDialog(settings or Settings(), list(sources), cuda_devices=list(cuda))
        qtbot.addWidget(dialog)
        return dialog

    return make


def test_unedited_dialog_returns_the_same_settings(make):
    settings = Settings(
        audio=AudioSettings(("sys",), {"sys": "Them", "gone": "Old"}),
        captions=CaptionStyle(font_family="A Font Nobody Has", font_size=40, lines=3),
        model=ModelSettings(source="/models/x", offline=True, device="cuda:0", delay_ms=960, lag_ceiling_s=5.0),
    )
    assert make(settings).result_settings() == settings


def test_editing_caption_fields_changes_the_result(make):
    d = make()
    page = d.captions_page
    page.font_combo.setCurrentFont(QFont("DejaVu Serif"))
    page.size_spin.setValue(36)
    page.text_color.edit.setText("#ffff00")
    page.background_color.edit.setText("#102030")
    page.opacity_slider.setValue(65)
    page.outline_box.setChecked(False)
    page.lines_spin.setValue(3)
    page.length_spin.setValue(60)
    page.fade_spin.setValue(0.0)
    style = d.result_settings().captions
    assert style.font_family == page.font_combo.currentFont().family()
    assert (style.font_size, style.text_color, style.background_color) == (36, "#ffff00", "#102030")
    assert style.background_opacity == pytest.approx(0.65)
    assert (style.outline, style.lines, style.max_line_chars, style.fade_after_s) == (False, 3, 60, 0.0)
    assert page.opacity_label.text() == "65 %"
    assert page.fade_spin.text() == "Never"
    assert (page.size_spin.minimum(), page.size_spin.maximum()) == (MIN_FONT_SIZE, MAX_FONT_SIZE)


def test_each_valid_edit_is_announced_for_the_overlays_preview(make):
    d = make()
    edited = []
    d.captions_page.styleEdited.connect(edited.append)
    d.captions_page.text_color.edit.setText("#00ff00")
    d.captions_page.size_spin.setValue(160)  # previewed as it is: the overlay shows it, not a box in the dialog
    assert [(s.text_color, s.font_size) for s in edited][-1] == ("#00ff00", 160)
    count = len(edited)
    d.captions_page.text_color.edit.setText("#00f")  # not a colour yet: nothing to preview
    assert len(edited) == count


def test_contrast_warning_appears_for_poor_colours_and_goes_for_good_ones(make):
    d = make()
    page = d.captions_page
    assert page.contrast_label.isHidden()
    page.text_color.edit.setText("#777777")
    page.background_color.edit.setText("#666666")
    assert not page.contrast_label.isHidden()
    assert "contrast" in page.contrast_label.text().lower()
    assert d.ok_button().isEnabled()  # a warning, not an error
    page.text_color.edit.setText("#ffffff")
    page.background_color.edit.setText("#000000")
    page.opacity_slider.setValue(20)  # white text over a faint box on a white desktop
    assert not page.contrast_label.isHidden()
    page.opacity_slider.setValue(100)
    assert page.contrast_label.isHidden()


def test_ok_is_disabled_and_problems_shown_while_values_are_invalid(make):
    d = make()
    assert d.ok_button().isEnabled() and d.problems_label.isHidden()
    d.captions_page.background_color.edit.setText("#12")
    assert not d.ok_button().isEnabled()
    assert not d.problems_label.isHidden()
    assert "background color" in d.problems_label.text()
    d.captions_page.background_color.edit.setText("#123456")
    assert d.ok_button().isEnabled() and d.problems_label.isHidden()
    d.model_page.delay_spin.setValue(500)  # typed in: not a multiple of 80
    assert not d.ok_button().isEnabled()
    assert "delay" in d.problems_label.text()


def test_audio_sources_up_to_two_with_labels(make):
    d = make()
    boxes, edits = d.audio_page.boxes, d.audio_page.label_edits
    assert edits["sys"].text() == "Others"  # the source's own label is the default
    boxes["mic"].setChecked(True)
    boxes["sys"].setChecked(True)
    assert not boxes["usb"].isEnabled()  # a third cannot be checked
    assert d.result_settings().audio == AudioSettings(("mic", "sys"), {})  # default labels are not saved
    edits["mic"].setText("You")
    edits["sys"].setText("Them")
    audio = d.result_settings().audio
    assert audio.source_ids == ("mic", "sys")
    assert audio.labels == {"mic": "You", "sys": "Them"}
    boxes["mic"].setChecked(False)
    assert boxes["usb"].isEnabled()


def test_clearing_a_saved_label_removes_it(make):
    d = make(Settings(audio=AudioSettings(("mic",), {"mic": "Me", "usb": "Spare"})))
    d.audio_page.label_edits["mic"].setText("")
    assert d.result_settings().audio.labels == {"usb": "Spare"}


def test_a_chosen_source_that_is_gone_is_listed_and_can_be_unchecked(make):
    d = make(Settings(audio=AudioSettings(("gone",), {"gone": "Old"})))
    box = d.audio_page.boxes["gone"]
    assert box.isChecked() and "not available" in box.text()
    assert d.audio_page.label_edits["gone"].text() == "Old"
    box.setChecked(False)
    assert d.result_settings().audio.source_ids == ()


def test_model_fields_and_setup_signal(make, qtbot):
    d = make(cuda=["GPU A", "GPU B"])
    page = d.model_page
    page.source_edit.setText(" org/model ")
    page.offline_box.setChecked(True)
    page.device_combo.setCurrentIndex(page.device_combo.findData("cuda:1"))
    page.delay_spin.setValue(1200)
    page.lag_spin.setValue(10.0)
    assert d.result_settings().model == ModelSettings("org/model", True, "cuda:1", 1200, 10.0)
    page.offline_edit.setText(" /opt/models/voxtral-3b ")
    assert d.result_settings().model.offline_source == "/opt/models/voxtral-3b"
    assert page.delay_spin.singleStep() == 80
    assert (page.delay_spin.minimum(), page.delay_spin.maximum()) == (80, 2400)
    with qtbot.waitSignal(d.modelSetupRequested, timeout=1000):
        qtbot.mouseClick(page.setup_button, Qt.MouseButton.LeftButton)
    d.set_model_source("/opt/models/voxtral")
    assert d.result_settings().model.source == "/opt/models/voxtral"


def test_precision_choices_are_exactly_the_settings_files(make, tmp_path):
    """The picker offers the values settings.json accepts, int8 labelled as unmeasured, and saves the choice."""
    from app.settings import PRECISION_CHOICES

    d = make()
    combo = d.model_page.precision_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(PRECISION_CHOICES)
    assert combo.currentData() == "auto" and combo.accessibleName() == "Weight precision"
    assert "accuracy not measured" in combo.itemText(combo.findData("int8"))
    combo.setCurrentIndex(combo.findData("int8"))
    assert d.result_settings().model.precision == "int8"
    path = tmp_path / "settings.json"
    for value, loads in (("int8", True), ("full", True), ("fp8", False)):
        path.write_text(json.dumps({"model": {"precision": value}}))
        settings, problems = SettingsStore(path).load()
        assert (settings.model.precision == value and not problems) is loads
    assert settings.model.precision == "auto"  # a value it does not know falls back to the default


def test_device_choices():
    assert device_choices([], "") == [("Automatic (GPU when available)", ""), ("CPU", "cpu")]
    assert device_choices(["H100"], "cpu")[2] == ("CUDA 0: H100", "cuda:0")
    assert device_choices([], "cuda:3")[-1] == ("cuda:3 (not found)", "cuda:3")
    assert device_choices(["H100"], "cuda")[-1] == ("CUDA (first GPU)", "cuda")


def test_ok_accepts_with_the_edited_settings_and_cancel_rejects(make, qtbot):
    d = make()
    d.captions_page.size_spin.setValue(50)
    with qtbot.waitSignal(d.accepted, timeout=1000):
        qtbot.mouseClick(d.ok_button(), Qt.MouseButton.LeftButton)
    assert d.result() == QDialog.DialogCode.Accepted
    assert d.result_settings() == dataclasses.replace(Settings(), captions=CaptionStyle(font_size=50))
    d = make()
    with qtbot.waitSignal(d.rejected, timeout=1000):
        qtbot.mouseClick(d.buttons.button(QDialogButtonBox.StandardButton.Cancel), Qt.MouseButton.LeftButton)


def test_every_control_has_an_accessible_name(make):
    d = make(Settings(audio=AudioSettings(("gone",))))
    assert len(controls(d)) > 20
    assert unnamed_controls(d) == []


def test_the_helper_reports_unnamed_controls(make):
    d = make()
    QLineEdit(d.audio_page)  # no name, no buddy label
    QComboBox(d.audio_page).addItem("a value is not a name")
    assert sorted(unnamed_controls(d)) == ["QComboBox ''", "QLineEdit ''"]


@pytest.mark.parametrize("tab", [0, 1, 2])
def test_tab_reaches_every_control(make, qtbot, tab):
    d = make()
    d.show()
    qtbot.waitExposed(d)
    d.activateWindow()
    qtbot.waitUntil(d.isActiveWindow)
    d.tabs.setCurrentIndex(tab)
    assert unreachable_by_tab(qtbot, d, d.tabs.tabBar()) == []


def test_the_controls_allow_exactly_what_the_settings_file_allows(make, tmp_path):
    """One set of ranges: a value at either end of a control loads from settings.json, one step beyond does not."""
    d = make()
    page, model = d.captions_page, d.model_page
    controls = [("captions", "font_size", page.size_spin, FONT_SIZE), ("captions", "lines", page.lines_spin, LINES),
                ("captions", "max_line_chars", page.length_spin, LINE_CHARS),
                ("captions", "fade_after_s", page.fade_spin, FADE_S),
                ("model", "delay_ms", model.delay_spin, DELAY_MS), ("model", "lag_ceiling_s", model.lag_spin,
                                                                    LAG_CEILING_S)]
    for section, key, control, allowed in controls:
        assert (control.minimum(), control.maximum()) == (allowed.low, allowed.high)
        beyond = allowed.step or 1
        for value, loads in ((allowed.low, True), (allowed.high, True), (allowed.low - beyond, False),
                             (allowed.high + beyond, False)):
            path = tmp_path / "settings.json"
            path.write_text(json.dumps({section: {key: value}}))
            settings, problems = SettingsStore(path).load()
            assert (problems == [] and getattr(getattr(settings, section), key) == value) is loads, (key, value)
    assert model.delay_spin.singleStep() == DELAY_MS.step == 80
    assert (page.opacity_slider.minimum() / 100, page.opacity_slider.maximum() / 100) == (OPACITY.low, OPACITY.high)
    assert d.audio_page.label_edits["mic"].maxLength() == MAX_LABEL_CHARS
    assert model.source_edit.maxLength() == model.offline_edit.maxLength() == MAX_PATH_CHARS


# -- the Shortcuts page ------------------------------------------------------------------------------------------------
def test_unedited_shortcuts_are_returned_exactly_even_one_qt_cannot_show(make):
    shortcuts = ShortcutSettings(toggle_overlay="Meta+F9", click_through="", toggle_captions="Hyper+S")
    d = make(Settings(shortcuts=shortcuts))
    assert d.result_settings().shortcuts == shortcuts
    assert d.shortcuts_page.edits["toggle_overlay"].keySequence().toString() == "Meta+F9"


def test_pressing_keys_into_a_field_sets_that_shortcut(make, qtbot):
    d = make()
    edit = d.shortcuts_page.edits["click_through"]
    qtbot.keyClick(edit, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    assert d.result_settings().shortcuts == dataclasses.replace(ShortcutSettings(), click_through="Ctrl+Alt+O")
    assert d.ok_button().isEnabled()


def test_clear_removes_a_shortcut_even_one_qt_could_not_show(make, qtbot):
    d = make(Settings(shortcuts=ShortcutSettings(toggle_captions="Hyper+S")))
    assert not d.ok_button().isEnabled() and "Hyper" in d.problems_label.text()
    qtbot.mouseClick(d.shortcuts_page.clear_buttons["toggle_captions"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(d.shortcuts_page.clear_buttons["toggle_overlay"], Qt.MouseButton.LeftButton)
    assert d.result_settings().shortcuts == ShortcutSettings(toggle_overlay="", toggle_captions="")
    assert d.ok_button().isEnabled() and d.problems_label.isHidden()


def test_a_shortcut_without_ctrl_alt_or_meta_or_used_twice_keeps_ok_disabled(make, qtbot):
    d = make()
    page = d.shortcuts_page
    qtbot.keyClick(page.edits["toggle_overlay"], Qt.Key.Key_L, Qt.KeyboardModifier.ShiftModifier)
    assert not d.ok_button().isEnabled()
    assert "Shift+L: a system-wide shortcut needs Ctrl, Alt or Meta" in d.problems_label.text()
    page.edits["toggle_overlay"].setKeySequence(QKeySequence(page.edits["click_through"].keySequence()))
    assert not d.ok_button().isEnabled()
    assert "Ctrl+Alt+Shift+K is already the shortcut for" in d.problems_label.text()
    qtbot.keyClick(page.edits["toggle_overlay"], Qt.Key.Key_F8, Qt.KeyboardModifier.MetaModifier)
    assert d.ok_button().isEnabled()
    assert d.result_settings().shortcuts.toggle_overlay == "Meta+F8"


def test_the_page_shows_what_the_desktop_offers_and_what_was_not_registered(make, qtbot):
    d = make()
    page = d.shortcuts_page
    assert page.availability_label.isHidden() and page.registration_label.isHidden()
    d = SettingsDialog(Settings(), SOURCES, cuda_devices=[], shortcut_availability="This desktop offers none.",
                       shortcut_problems=["Turn click-through on or off: Ctrl+Alt+Shift+K is taken by another program"])
    qtbot.addWidget(d)
    page = d.shortcuts_page
    assert page.availability_label.text() == "This desktop offers none."
    assert not page.availability_label.isHidden()
    assert "Ctrl+Alt+Shift+K is taken by another program" in page.registration_label.text()
    assert not page.registration_label.isHidden()
    assert d.ok_button().isEnabled()  # a key taken elsewhere is news, not an error in the settings


def test_tab_reaches_every_control_of_the_shortcuts_page_and_is_not_taken_as_a_shortcut(make, qtbot):
    d = make()
    d.show()
    qtbot.waitExposed(d)
    d.activateWindow()
    qtbot.waitUntil(d.isActiveWindow)
    page = d.shortcuts_page
    d.tabs.setCurrentWidget(page)
    seen = tab_through(qtbot, d, d.tabs.tabBar())
    for action, edit in page.edits.items():
        assert edit in seen and page.clear_buttons[action] in seen
    # The text field inside a key sequence field is reached through it (it is the field's focus proxy).
    missed = [w for w in tab_reachable(d) if w not in seen and not isinstance(w.parentWidget(), QKeySequenceEdit)]
    assert missed == []
    assert d.result_settings() == Settings()


def test_recording_and_echo_choices_are_kept(make):
    d = make()
    page = d.audio_page
    assert page.record_box.isChecked() and page.echo_box.isChecked()  # the defaults: record, drop repeats
    page.record_box.setChecked(False)
    page.echo_box.setChecked(False)
    audio = d.result_settings().audio
    assert (audio.record, audio.echo_suppression) == (False, False)
