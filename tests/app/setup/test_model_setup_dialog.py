"""The setup dialog end to end with qtbot: downloading from FakeHub with a moving progress bar, cancelling, a folder
chosen with Browse…, and what it shows when something is wrong."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.settings import DEFAULT_REALTIME_MODEL, ModelSettings
from app.setup.model_source import ON_DISK, ModelDownload, format_size
from app.ui.model_setup_dialog import CANCELLED, READY, ModelSetupDialog
from model import RealtimeModel
from tests.app.setup import KB, REPO, WEIGHTS
from tests.app.ui.layout_check import crushed, mnemonics
from tests.hub_server import FakeHub

WAIT_MS = 30_000


def _dialog(qtbot: QtBot, cache: Path, settings: ModelSettings | None = None) -> ModelSetupDialog:
    dialog = ModelSetupDialog(settings, cache_dir=cache, measure_seconds=0.16)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _find(dialog: ModelSetupDialog, kind: type[QWidget], name: str) -> QWidget:
    (widget,) = [w for w in dialog.findChildren(kind) if w.accessibleName() == name]
    return widget


def _button(dialog: ModelSetupDialog, name: str) -> QPushButton:
    return _find(dialog, QPushButton, name)  # type: ignore[return-value]


def _label(dialog: ModelSetupDialog, name: str) -> str:
    return _find(dialog, QLabel, name).text()  # type: ignore[attr-defined]


def _bar(dialog: ModelSetupDialog) -> QProgressBar:
    return _find(dialog, QProgressBar, "Download progress")  # type: ignore[return-value]


def _press_start(qtbot: QtBot, dialog: ModelSetupDialog) -> None:
    """Presses Start; for a download whose size is not known yet, a second time once the first has shown it."""
    start = _button(dialog, "Start")
    asks_first = start.text() == "&Download and load…"
    qtbot.mouseClick(start, Qt.MouseButton.LeftButton)
    if asks_first:
        qtbot.waitUntil(lambda: start.text() != "&Download and load…" and start.isEnabled(), timeout=WAIT_MS)
        qtbot.mouseClick(start, Qt.MouseButton.LeftButton)


def test_download_moves_the_bar_and_shows_sizes(qtbot: QtBot, hub: FakeHub, cache: Path, checkpoint: Path) -> None:
    hub.throttle(512 * KB)  # about 1.5 s, so the bar is seen mid-way
    dialog = _dialog(qtbot, cache, ModelSettings(source=REPO))
    values: list[int] = []
    _bar(dialog).valueChanged.connect(values.append)
    texts: list[str] = []
    assert _button(dialog, "Start").text() == "&Download and load…"

    _press_start(qtbot, dialog)
    qtbot.waitUntil(lambda: 0 < _bar(dialog).value() < 1000, timeout=WAIT_MS)
    texts += [_label(dialog, "Status"), _label(dialog, "Download size")]
    assert not _button(dialog, "Start").isEnabled() and _button(dialog, "Cancel download").isEnabled()
    qtbot.waitUntil(lambda: dialog.loaded_model() is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: _button(dialog, "Start").isEnabled(), timeout=WAIT_MS)

    assert re.fullmatch(r"\d+ of \d+ KB · .+", texts[0]), texts[0]
    assert len({v for v in values if 0 < v < 1000}) > 2 and values == sorted(values)
    assert _bar(dialog).value() == 1000
    total = sum(p.stat().st_size for p in checkpoint.iterdir())
    assert texts[1] == f"Download size: {format_size(total)}"
    assert _label(dialog, "Download size") == ON_DISK
    assert _button(dialog, "Start").text() == "Lo&ad from this computer"
    assert _label(dialog, "Loaded model") == "Loaded: Tiny-Realtime on CPU"
    assert _label(dialog, "Status") == READY
    assert _label(dialog, "Measured speed").startswith("Estimated on CPU: each 80 ms step takes ")
    assert isinstance(dialog.loaded_model(), RealtimeModel)
    assert _button(dialog, "Close").isDefault()

    qtbot.mouseClick(_button(dialog, "Close"), Qt.MouseButton.LeftButton)
    assert dialog.result() == ModelSetupDialog.DialogCode.Accepted
    assert (dialog.chosen_source(), dialog.offline()) == (REPO, False)


def test_cancel_keeps_the_partial_download_and_says_so(
    qtbot: QtBot, hub: FakeHub, cache: Path, checkpoint: Path
) -> None:
    hub.throttle(128 * KB, REPO, WEIGHTS)  # five seconds for the weights: cancelled long before
    dialog = _dialog(qtbot, cache, ModelSettings(source=REPO))

    _press_start(qtbot, dialog)
    qtbot.waitUntil(lambda: _bar(dialog).value() > 0, timeout=WAIT_MS)
    qtbot.mouseClick(_button(dialog, "Cancel download"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _label(dialog, "Status") == CANCELLED, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: _button(dialog, "Start").isEnabled(), timeout=WAIT_MS)

    assert "continues where this one stopped" in CANCELLED
    assert not _button(dialog, "Cancel download").isEnabled()
    assert dialog.loaded_model() is None
    (partial,) = cache.rglob("*.incomplete")
    assert 0 < partial.stat().st_size < (checkpoint / WEIGHTS).stat().st_size
    assert _button(dialog, "Start").isDefault()


def test_a_folder_chosen_with_browse_is_loaded(
    qtbot: QtBot, checkpoint: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialog = _dialog(qtbot, cache)
    assert _find(dialog, QRadioButton, "Download from Hugging Face").isChecked()  # type: ignore[attr-defined]
    assert _find(dialog, QLineEdit, "Repository id").text() == DEFAULT_REALTIME_MODEL  # type: ignore[attr-defined]
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(checkpoint))

    qtbot.keyClick(_find(dialog, QRadioButton, "Use a folder on this computer"), Qt.Key.Key_Space)  # by keyboard
    assert not _find(dialog, QLineEdit, "Repository id").isEnabled()
    qtbot.mouseClick(_button(dialog, "Browse for the model folder"), Qt.MouseButton.LeftButton)
    assert _find(dialog, QLineEdit, "Model folder").text() == str(checkpoint)  # type: ignore[attr-defined]
    assert _button(dialog, "Start").text() == "&Use folder"
    _press_start(qtbot, dialog)
    qtbot.waitUntil(lambda: dialog.loaded_model() is not None, timeout=WAIT_MS)

    assert dialog.chosen_source() == str(checkpoint)
    assert not _find(dialog, QLabel, "Problem").isVisible()


def test_a_folder_without_the_tokenizer_is_refused_in_the_dialog(
    qtbot: QtBot, checkpoint: Path, cache: Path, tmp_path: Path
) -> None:
    folder = shutil.copytree(checkpoint, tmp_path / "copy")
    (folder / "tekken.json").unlink()
    dialog = _dialog(qtbot, cache, ModelSettings(source=str(folder)))
    assert _find(dialog, QRadioButton, "Use a folder on this computer").isChecked()  # type: ignore[attr-defined]

    _press_start(qtbot, dialog)

    problem = _find(dialog, QLabel, "Problem")
    assert problem.isVisible() and "lacks tekken.json (the tokenizer)" in problem.text()  # type: ignore[attr-defined]
    assert dialog.loaded_model() is None and _button(dialog, "Start").isEnabled()


def test_offline_without_the_model_shows_the_message(qtbot: QtBot, hub: FakeHub, cache: Path) -> None:
    dialog = _dialog(qtbot, cache, ModelSettings(source=REPO, offline=True))
    assert dialog.offline()

    _press_start(qtbot, dialog)
    qtbot.waitUntil(lambda: _find(dialog, QLabel, "Problem").isVisible(), timeout=WAIT_MS)

    assert _label(dialog, "Problem").startswith("Offline mode is on and the model is not on this computer")
    assert hub.requests == []


def test_device_line_and_accessibility(qtbot: QtBot, cache: Path) -> None:
    dialog = _dialog(qtbot, cache, ModelSettings(device="cpu"))

    assert _label(dialog, "Device").startswith("CPU only (")
    assert "live captions will lag" in _label(dialog, "Device")
    for kind in (QAbstractButton, QLineEdit, QCheckBox, QProgressBar):
        for widget in dialog.findChildren(kind):
            assert widget.accessibleName(), widget
    for widget in dialog.findChildren(QAbstractButton):
        assert re.search(r"&\w", widget.text()), widget.text()  # every button has a mnemonic
    for label in ("&Repository id:", "Folder &path:"):
        (widget,) = [w for w in dialog.findChildren(QLabel) if w.text() == label]
        assert isinstance(widget.buddy(), QLineEdit)
    assert _button(dialog, "Start").isDefault()

    # Tab walks the controls in reading order.
    order, widget = [], _find(dialog, QRadioButton, "Download from Hugging Face")
    for _ in range(11):
        order.append(widget.accessibleName())
        widget = widget.nextInFocusChain()
        while widget.focusPolicy() == Qt.FocusPolicy.NoFocus or isinstance(widget, QLabel):
            widget = widget.nextInFocusChain()
    assert order == [
        "Download from Hugging Face", "Repository id", "Check the download size", "Use a folder on this computer",
        "Model folder",
        "Browse for the model folder", "Use a vLLM server", "Offline mode", "Start", "Cancel download", "Close",
    ]


def test_each_mnemonic_is_used_once_whatever_is_chosen(qtbot: QtBot, cache: Path) -> None:
    dialog = _dialog(qtbot, cache)
    for choice in ("Download from Hugging Face", "Use a folder on this computer", "Use a vLLM server"):
        _find(dialog, QRadioButton, choice).setChecked(True)  # type: ignore[attr-defined]
        letters = mnemonics(dialog)
        assert len(letters) == len(set(letters)), (choice, sorted(letters))


def test_a_vllm_server_is_the_third_way_in(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, tmp_path / "cache")
    server = _find(dialog, QRadioButton, "Use a vLLM server")
    start = _button(dialog, "Start")
    server.setChecked(True)
    assert start.text() == "Set up the &server…"
    assert not _find(dialog, QCheckBox, "Offline mode").isEnabled()  # nothing is downloaded either way
    assert not _find(dialog, QLineEdit, "Repository id").isEnabled()
    qtbot.mouseClick(start, Qt.MouseButton.LeftButton)
    assert dialog.result() == dialog.DialogCode.Accepted and dialog.use_server()
    assert dialog.loaded_model() is None


def test_the_button_says_what_it_does_and_the_size_is_asked_for_only_when_wanted(
    qtbot: QtBot, hub: FakeHub, cache: Path, checkpoint: Path
) -> None:
    dialog = _dialog(qtbot, cache, ModelSettings(source=REPO, offline=True))
    offline, start, check = _find(dialog, QCheckBox, "Offline mode"), _button(dialog, "Start"), _button(
        dialog, "Check the download size")
    assert start.text() == "Lo&ad from this computer"  # offline: never "Download"
    assert not check.isEnabled() and _label(dialog, "Download size").startswith("Not on this computer")

    qtbot.mouseClick(offline, Qt.MouseButton.LeftButton)
    assert start.text() == "&Download and load…"
    assert _label(dialog, "Download size") == "Download size unknown."
    assert hub.requests == []  # nothing is asked of the hub until the user asks

    qtbot.mouseClick(check, Qt.MouseButton.LeftButton)
    size = format_size(sum(p.stat().st_size for p in checkpoint.iterdir()))
    qtbot.waitUntil(lambda: _label(dialog, "Download size") == f"Download size: {size}", timeout=WAIT_MS)
    assert start.text() == f"&Download and load ({size})"
    assert not check.isEnabled()  # known now
    assert hub.files_downloaded(REPO) == set()

    _find(dialog, QLineEdit, "Repository id").setText("mistralai/Other")  # type: ignore[attr-defined]
    assert start.text() == "&Download and load…" and check.isEnabled()


def test_a_download_starts_only_once_its_size_is_shown(qtbot: QtBot, hub: FakeHub, cache: Path,
                                                      checkpoint: Path) -> None:
    dialog = _dialog(qtbot, cache, ModelSettings(source=REPO))
    start = _button(dialog, "Start")
    qtbot.mouseClick(start, Qt.MouseButton.LeftButton)  # the first press asks the hub for the size only
    size = format_size(sum(p.stat().st_size for p in checkpoint.iterdir()))
    qtbot.waitUntil(lambda: _label(dialog, "Download size") == f"Download size: {size}", timeout=WAIT_MS)
    assert start.text() == f"&Download and load ({size})"
    assert hub.files_downloaded(REPO) == set() and dialog.loaded_model() is None
    qtbot.mouseClick(start, Qt.MouseButton.LeftButton)  # the second, with the size in view, downloads
    qtbot.waitUntil(lambda: dialog.loaded_model() is not None, timeout=60000)
    assert hub.files_downloaded(REPO)


def test_a_size_the_hub_cannot_tell_says_why_and_can_be_asked_again(qtbot: QtBot, hub: FakeHub, cache: Path) -> None:
    dialog = _dialog(qtbot, cache, ModelSettings(source=REPO))
    hub.fail_with(503)
    qtbot.mouseClick(_button(dialog, "Check the download size"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _label(dialog, "Download size").startswith("Download size unknown: "), timeout=WAIT_MS)
    assert "503" in _label(dialog, "Download size")
    assert _button(dialog, "Start").text() == "&Download and load (size unknown)"
    assert _button(dialog, "Check the download size").isEnabled()


def test_a_model_on_disk_is_loaded_not_downloaded(qtbot: QtBot, hub: FakeHub, cache: Path) -> None:
    ModelDownload(REPO, cache_dir=cache).run()
    hub.reset_log()
    dialog = _dialog(qtbot, cache, ModelSettings(source=REPO))
    assert _button(dialog, "Start").text() == "Lo&ad from this computer"
    assert _label(dialog, "Download size") == ON_DISK
    assert not _button(dialog, "Check the download size").isEnabled()
    assert hub.requests == []


def test_the_dialog_names_the_model_loaded(qtbot: QtBot, cache: Path) -> None:
    assert _label(_dialog(qtbot, cache), "Loaded model") == "No model is loaded."
    dialog = ModelSetupDialog(cache_dir=cache, loaded="Voxtral-Mini-4B-Realtime-2602 on CPU")
    qtbot.addWidget(dialog)
    assert _label(dialog, "Loaded model") == "Loaded: Voxtral-Mini-4B-Realtime-2602 on CPU"


def test_an_error_is_shown_whole_and_nothing_is_squeezed(qtbot: QtBot, cache: Path, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, cache, ModelSettings(source=str(tmp_path)))  # a folder that holds no model
    qtbot.waitExposed(dialog)
    assert crushed(dialog) == []
    _press_start(qtbot, dialog)
    assert "holds no Voxtral Realtime model" in _label(dialog, "Problem")
    qtbot.waitUntil(lambda: crushed(dialog) == [])  # as soon as the layout has taken in the text


def test_the_saved_precision_is_how_the_dialog_loads_and_it_says_so(
    qtbot: QtBot, checkpoint: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialog = _dialog(qtbot, cache, ModelSettings(precision="int8"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(checkpoint))
    qtbot.keyClick(_find(dialog, QRadioButton, "Use a folder on this computer"), Qt.Key.Key_Space)
    qtbot.mouseClick(_button(dialog, "Browse for the model folder"), Qt.MouseButton.LeftButton)
    _press_start(qtbot, dialog)
    qtbot.waitUntil(lambda: dialog.loaded_model() is not None, timeout=WAIT_MS)
    assert dialog.loaded_model().precision == "int8"
    assert _label(dialog, "Loaded model").endswith(" on CPU (int8 weights)")
