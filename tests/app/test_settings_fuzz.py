"""Random settings.json files from a fixed seed: loading never raises and always gives valid settings that save and
load again unchanged, and the real program starts on such a file and says what was wrong."""

from __future__ import annotations

import dataclasses
import random
import typing
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.application import Captionist
from app.settings import Settings, SettingsStore

SEED = 20250314
FILES = 400
STARTED = 4  # of them, the real program is started on this many


def known_keys() -> dict[str, list[str]]:
    return {f.name: [g.name for g in dataclasses.fields(getattr(Settings(), f.name))] for f in dataclasses.fields(
        Settings)}


class Garbage:
    """JSON text of random values, with the literals json.loads accepts beyond the standard: NaN, Infinity and
    numbers too large for a float (1e999 reads as inf)."""

    NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "-0.0", "0", "1e-320", "4.9e-324",
               str(2**63), str(-(2**64)), "9" * 300, "28", "28.0", "28.5", "80", "2400", "960", "0.5", "1", "3",
               "-1", "1e6", "160", "161", "600", "600.5", "60"]
    TEXTS = ["", "#ffffff", "#12345", "#GGGGGG", "cpu", "cuda:7", "mistralai/Voxtral-Mini-3B-2507", "DejaVu Sans",
             "\\ud800", "\\u0000", "line\\nbreak", "caf\\u00e9", "Screen-1"]

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def value(self, depth: int = 0) -> str:
        r = self.rng.random()
        if r < 0.35:
            return self.rng.choice(self.NUMBERS)
        if r < 0.55:
            return self.text()
        if r < 0.65:
            return self.rng.choice(["true", "false", "null"])
        if depth > 3:
            return "[]"
        if r < 0.8:
            return "[" + ", ".join(self.value(depth + 1) for _ in range(self.rng.randrange(6))) + "]"
        return self.group({self.key(): self.value(depth + 1) for _ in range(self.rng.randrange(5))})

    def text(self) -> str:
        r = self.rng.random()
        if r < 0.1:
            return '"' + "x" * self.rng.choice([257, 4097, 100_000]) + '"'
        return '"' + self.rng.choice(self.TEXTS) + '"'

    def key(self) -> str:
        return self.rng.choice(["future", "x", "", "placements", "delay_ms", "Screen-1", "mic", "\\ud800"])

    @staticmethod
    def group(members: dict[str, str]) -> str:
        return "{" + ", ".join(f'"{k}": {v}' for k, v in members.items()) + "}"

    def placement(self) -> str:
        return "[" + ", ".join(self.rng.choice(self.NUMBERS) for _ in range(self.rng.choice([3, 4, 4, 5]))) + "]"

    def section(self, name: str, keys: list[str]) -> str:
        members = {}
        for key in keys:
            if self.rng.random() < 0.7:
                members[key] = self.value()
        if name == "overlay" and self.rng.random() < 0.7:
            members["placements"] = self.group({self.key(): self.placement() for _ in range(self.rng.randrange(4))})
        if name == "audio" and self.rng.random() < 0.5:
            members["labels"] = self.group({self.key(): self.value(3) for _ in range(self.rng.randrange(4))})
        if self.rng.random() < 0.3:
            members[self.key() + "_new"] = self.value()  # a newer version's key
        return self.group(members)

    def file(self) -> str:
        sections = {}
        for name, keys in known_keys().items():
            r = self.rng.random()
            if r < 0.75:
                sections[name] = self.section(name, keys)
            elif r < 0.85:
                sections[name] = self.value()
        if self.rng.random() < 0.3:
            sections["future"] = self.value()
        if self.rng.random() < 0.05:
            return self.value()  # not even an object
        if self.rng.random() < 0.02:
            return "[" * 50_000 + "]" * 50_000  # nested past the parser's recursion limit
        if self.rng.random() < 0.02:
            return '{"captions": {"font_size": ' + "9" * 5000 + "}}"  # past Python's limit of digits for an int
        return self.group(sections)


def files() -> list[str]:
    rng = random.Random(SEED)
    return [Garbage(rng).file() for _ in range(FILES)]


def assert_well_typed(settings: Settings) -> None:
    """Every field holds its declared type: an int is not a bool or a float, a tuple holds texts."""
    for section in dataclasses.fields(Settings):
        value = getattr(settings, section.name)
        hints = typing.get_type_hints(type(value))
        for f in dataclasses.fields(value):
            got, hint = getattr(value, f.name), hints[f.name]
            origin = typing.get_origin(hint) or hint
            assert type(got) is origin, (section.name, f.name, got)
            if origin is tuple:
                assert all(type(v) is str for v in got)
            if origin is dict:
                assert all(type(k) is str for k in got)
                assert all(type(v) is str or (type(v) is tuple and len(v) == 4 and all(type(n) is int for n in v))
                           for v in got.values())


def test_loading_random_files_never_raises_and_gives_valid_settings(tmp_path: Path) -> None:
    reset = 0
    for i, text in enumerate(files()):
        path = tmp_path / f"{i}" / "settings.json"
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        store = SettingsStore(path)
        settings, problems = store.load()
        assert settings.problems() == [], text
        assert_well_typed(settings)
        bad = path.with_name("settings.json.bad")
        assert bad.exists() == bool(problems)
        if problems:
            reset += 1
            assert bad.read_bytes() == path.read_bytes()
        store.save(settings)  # what was loaded (unknown keys too) can be written back, as strict JSON
        again = SettingsStore(path)
        assert again.load() == (settings, [])
    assert FILES // 2 < reset < FILES  # the files are mostly damaged, and not all of them


def test_the_program_starts_on_damaged_files_and_says_what_was_reset(qtbot, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(QApplication, "quit", lambda *a: None)  # the test's application outlives the program
    started = 0
    for i, text in enumerate(files()):
        path = tmp_path / f"{i}" / "settings.json"
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        expected, problems = SettingsStore(path).load()
        if not problems:
            continue
        app = Captionist(SettingsStore(path), measure_seconds=None, data_dir=tmp_path / f"data-{i}")
        qtbot.addWidget(app.window)
        try:
            assert app.settings == expected
            shown = app.window.notice_label.text()
            assert all(problem in shown for problem in problems), (shown, problems)
            app.window.show()
            app.overlay.show()  # the style and placement that were kept, applied for real
            qtbot.waitExposed(app.overlay)
            assert app.overlay.caption_style() == expected.captions
        finally:
            app.quit()
        started += 1
        if started == STARTED:
            break
    assert started == STARTED
