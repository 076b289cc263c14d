"""The server engine's settings: the Engine section of settings.json, the API key's own private file, and the
Engine page of the settings dialog."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from app.engine.server.api_key import ApiKeyStore, read_key_file
from app.engine.server.connection_test import ConnectionReport
from app.settings import LOCAL, SERVER, EngineSettings, Settings, SettingsStore
from app.ui.settings_dialog import SettingsDialog


def test_the_engine_section_round_trips_and_bad_values_fall_back(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    engine = EngineSettings(kind=SERVER, server_url="http://gpu-box:8000", realtime_model="rt", chat_model="vx")
    store.save(Settings(engine=engine))
    loaded, problems = SettingsStore(store.path).load()
    assert problems == [] and loaded.engine == engine
    raw = json.loads(store.path.read_text())
    raw["engine"]["kind"] = "cloud"
    raw["engine"]["warned_unencrypted"] = "not a list"
    store.path.write_text(json.dumps(raw))
    loaded, problems = SettingsStore(store.path).load()
    assert loaded.engine.kind == LOCAL and loaded.engine.warned_unencrypted == ()
    assert loaded.engine.server_url == "http://gpu-box:8000"  # the good values stay
    assert any("engine.kind" in p for p in problems) and any("engine.warned_unencrypted" in p for p in problems)


def test_the_api_key_lives_in_its_own_private_file_never_in_the_settings(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "config" / "settings.json")
    store.save(Settings(engine=EngineSettings(kind=SERVER, server_url="http://gpu-box:8000")))
    keys = ApiKeyStore(store.path.parent)
    keys.save("s3cret-key")
    assert keys.load() == "s3cret-key"
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert "s3cret" not in store.path.read_text()
    keys.save("")
    assert keys.load() is None and not keys.path.exists()


def test_a_key_file_must_hold_one_key(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("abc def\n")
    with pytest.raises(ValueError, match="does not hold an API key"):
        read_key_file(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="not text"):
        read_key_file(path)
    path.write_text("good-key\n")
    assert read_key_file(path) == "good-key"
    with pytest.raises(FileNotFoundError):
        read_key_file(tmp_path / "missing")


def _report(address, key, live, chat, chat_address) -> ConnectionReport:
    return ConnectionReport(True, f"asked {address} with {'a key' if key else 'no key'}", ("rt-model", "vx-model"),
                            "rt-model", "vx-model", 480.0, 3.0)


def test_the_engine_page_edits_the_server_and_fills_in_the_served_models(qtbot) -> None:
    dialog = SettingsDialog(Settings(), [], cuda_devices=[], api_key=None, tester=_report)
    qtbot.addWidget(dialog)
    page = dialog.engine_page
    assert page.local_radio.isChecked() and not page.server_box.isEnabled() and dialog.ok_button().isEnabled()
    page.server_radio.setChecked(True)
    assert not dialog.ok_button().isEnabled()  # no address, no model yet
    assert "No server address" in dialog.problems_label.text()
    page.address_edit.setText("gpu-box:8000")
    page.key_edit.setText("k")
    page.test()
    qtbot.waitUntil(lambda: page.result_label.text().startswith("asked"), timeout=5000)
    assert page.result_label.text() == "asked gpu-box:8000 with a key"
    assert page.live_combo.currentText() == "rt-model" and page.chat_combo.currentText() == "vx-model"
    assert dialog.ok_button().isEnabled()
    engine = dialog.result_settings().engine
    assert (engine.kind, engine.server_url, engine.realtime_model, engine.chat_model) == (
        SERVER, "gpu-box:8000", "rt-model", "vx-model")
    assert dialog.result_api_key() == "k"
    assert page.key_edit.echoMode() == page.key_edit.EchoMode.Password
