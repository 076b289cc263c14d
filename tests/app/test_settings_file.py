"""settings.json on disk: every value checked against the ranges the dialog allows, a bad one reset alone with a
message, the damaged file kept as .bad, unknown keys kept through a save, and the file written privately and
atomically."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

from app.captions.style import FADE_S, FONT_SIZE, LINE_CHARS, LINES, OPACITY, CaptionStyle
from app.settings import (
    DELAY_MS,
    LAG_CEILING_S,
    MAX_FILE_BYTES,
    MAX_LISTED_PROBLEMS,
    AudioSettings,
    ModelSettings,
    OverlaySettings,
    Settings,
    SettingsStore,
)

CUSTOM = Settings(  # every value differs from its default, so a reset shows
    audio=AudioSettings(("mic", "sys"), {"mic": "You", "sys": "Them"}),
    captions=CaptionStyle("DejaVu Serif", 44, "#ffff00", "#102030", 0.5, False, 3, 60, 12.5),
    model=ModelSettings("/models/realtime", True, "cpu", 960, 10.0, "/models/voxtral"),
    overlay=OverlaySettings(True, {"Screen-1": (10, 20, 600, 120)}),
)


def custom_json() -> dict:
    return json.loads(json.dumps(dataclasses.asdict(CUSTOM)))


def write(path: Path, text: str) -> SettingsStore:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return SettingsStore(path)


def with_value(section: str, key: str, literal: str) -> str:
    """The custom settings as JSON text with one value replaced by ``literal`` (any JSON text, NaN and 1e999 too)."""
    data = custom_json()
    data[section][key] = "@@"
    return json.dumps(data).replace('"@@"', literal)


NUMBERS = [
    ("captions", "font_size", FONT_SIZE), ("captions", "background_opacity", OPACITY), ("captions", "lines", LINES),
    ("captions", "max_line_chars", LINE_CHARS), ("captions", "fade_after_s", FADE_S),
    ("model", "delay_ms", DELAY_MS), ("model", "lag_ceiling_s", LAG_CEILING_S),
]
BAD_NUMBERS = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "123456789012345678901234567890", "-5", "1e6",
               '"28"', "true", "null", "[28]", '{"value": 28}']


@pytest.mark.parametrize(("section", "key", "allowed"), NUMBERS)
@pytest.mark.parametrize("literal", BAD_NUMBERS)
def test_a_bad_number_is_reset_alone_with_a_message_naming_it_and_its_range(tmp_path, section, key, allowed,
                                                                              literal) -> None:
    text = with_value(section, key, literal)
    store = write(tmp_path / "settings.json", text)
    settings, problems = store.load()
    default = getattr(getattr(Settings(), section), key)
    expected = dataclasses.replace(CUSTOM, **{section: dataclasses.replace(getattr(CUSTOM, section), **{key: default})})
    assert settings == expected  # only that value went back to its default
    assert len(problems) == 2 and "were invalid and were reset" in problems[0]
    assert problems[1].startswith(f"{section}.{key}: ") and allowed.describe() in problems[1]
    assert (tmp_path / "settings.json.bad").read_text(encoding="utf-8") == text


@pytest.mark.parametrize(("section", "key", "allowed"), NUMBERS)
def test_the_ends_of_every_range_are_allowed_and_just_beyond_is_not(tmp_path, section, key, allowed) -> None:
    for value in (allowed.low, allowed.high):
        settings, problems = write(tmp_path / "ok.json", with_value(section, key, json.dumps(value))).load()
        assert problems == [] and getattr(getattr(settings, section), key) == value
    beyond = allowed.step or (1 if allowed.whole else 0.5)
    for value in (allowed.low - beyond, allowed.high + beyond):
        _, problems = write(tmp_path / "bad.json", with_value(section, key, json.dumps(value))).load()
        assert len(problems) == 2


def test_whole_numbers_written_as_floats_are_read_and_fractions_are_not(tmp_path) -> None:
    settings, problems = write(tmp_path / "a.json", with_value("captions", "font_size", "40.0")).load()
    assert problems == [] and settings.captions.font_size == 40 and type(settings.captions.font_size) is int
    settings, problems = write(tmp_path / "b.json", with_value("captions", "font_size", "40.5")).load()
    assert settings.captions.font_size == CaptionStyle().font_size and "whole number" in problems[1]
    _, problems = write(tmp_path / "c.json", with_value("model", "delay_ms", "500")).load()
    assert "multiple of 80" in problems[1]


@pytest.mark.parametrize(
    ("section", "key", "literal", "words"),
    [
        ("captions", "text_color", '"#fff"', "#rrggbb"),
        ("captions", "font_family", json.dumps("x" * 100_000), "at most 256 characters"),
        ("captions", "font_family", '"\\ud800"', "broken characters"),
        ("captions", "outline", "1", "true or false"),
        ("model", "source", json.dumps("/" + "x" * 5000), "at most 4096 characters"),
        ("model", "offline", '"yes"', "true or false"),
        ("audio", "source_ids", '["a", "b", "c"]', "at most 2 source ids"),
        ("audio", "source_ids", '"mic"', "at most 2 source ids"),
        ("audio", "source_ids", "[[[[]]]]", "at most 2 source ids"),
        ("audio", "labels", '["mic", "You"]', "group"),
        ("overlay", "placements", "[[1, 2, 3, 4]]", "group"),
        ("overlay", "click_through", "null", "true or false"),
    ],
)
def test_wrong_types_and_huge_texts_are_reset_alone(tmp_path, section, key, literal, words) -> None:
    settings, problems = write(tmp_path / "settings.json", with_value(section, key, literal)).load()
    default = getattr(getattr(Settings(), section), key)
    assert getattr(getattr(settings, section), key) == default
    assert settings.model.delay_ms == 960 or section == "model"  # the rest of the file is kept
    assert settings.captions.font_size == 44 or section == "captions"
    assert len(problems) == 2 and problems[1].startswith(f"{section}.{key}: ") and words in problems[1]
    assert len(problems[1]) < 300  # a 100 000 character value is not repeated back


def test_bad_entries_of_placements_and_labels_are_dropped_one_by_one(tmp_path) -> None:
    data = custom_json()
    data["overlay"]["placements"] = {"good": [1, 2, 300, 40], "short": [1, 2, 3], "inf": [0, 0, 1e999, 10],
                                     "far": [10**9, 0, 100, 10], "empty": [0, 0, 0, 10]}
    settings, problems = write(tmp_path / "a.json", json.dumps(data)).load()
    assert settings == dataclasses.replace(CUSTOM, overlay=dataclasses.replace(CUSTOM.overlay,
                                                                              placements={"good": (1, 2, 300, 40)}))
    assert [p.split(" (")[0] for p in problems[1:]] == [
        f'overlay.placements: the entry "{name}"' for name in ("short", "inf", "far", "empty")]
    data = custom_json()
    data["audio"]["labels"] = {"mic": "You", "sys": 7, "usb": ["x"], "long": "y" * 101}
    settings, problems = write(tmp_path / "b.json", json.dumps(data)).load()
    assert settings.audio.labels == {"mic": "You"} and len(problems) == 4
    assert all(f'"{name}"' in problem for name, problem in zip(("sys", "usb", "long"), problems[1:], strict=True))


def test_many_problems_are_named_up_to_a_few_and_the_rest_counted(tmp_path) -> None:
    data = custom_json()
    data["captions"] = {key: [0] for key in data["captions"]}  # nine bad values
    settings, problems = write(tmp_path / "settings.json", json.dumps(data)).load()
    assert settings.captions == CaptionStyle() and settings.model == CUSTOM.model
    assert len(problems) == 1 + MAX_LISTED_PROBLEMS
    assert problems[-1] == f"… and {9 - MAX_LISTED_PROBLEMS + 1} more: those values were reset to their defaults too."


def test_a_section_that_is_not_a_group_gets_its_defaults_and_the_others_are_kept(tmp_path) -> None:
    data = custom_json()
    data["captions"] = [44, 3]
    settings, problems = write(tmp_path / "settings.json", json.dumps(data)).load()
    assert settings == dataclasses.replace(CUSTOM, captions=CaptionStyle())
    assert problems[1].startswith("captions: ")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "could not be read"),
        ("[1, 2, 3]", "instead of settings"),
        ('"settings"', "instead of settings"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"captions": {"font_size": ' + "9" * 5000 + "}}", "could not be read"),  # past Python's int digit limit
        ("\udcff", "could not be read"),
    ],
)
def test_an_unreadable_file_gives_the_defaults_and_is_kept(tmp_path, text, words) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))  # "\udcff" is the byte 0xff: not UTF-8
    settings, problems = SettingsStore(path).load()
    assert settings == Settings() and words in " ".join(problems)
    assert (tmp_path / "settings.json.bad").read_bytes() == path.read_bytes()


def test_a_file_too_large_to_be_settings_is_not_read(tmp_path) -> None:
    data = custom_json()
    data["padding"] = "x" * MAX_FILE_BYTES
    store = write(tmp_path / "settings.json", json.dumps(data))
    settings, problems = store.load()
    assert settings == Settings() and "larger than" in problems[0]
    assert (tmp_path / "settings.json.bad").stat().st_size > MAX_FILE_BYTES


def test_a_byte_order_mark_is_read(tmp_path) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(custom_json()).encode())
    assert SettingsStore(path).load() == (CUSTOM, [])


def test_unknown_keys_survive_a_save_and_the_new_values_are_written(tmp_path) -> None:
    """A newer version's file, opened and saved by this one: what this one does not know is written back as is."""
    data = custom_json()
    data["future"] = {"mode": "stereo", "levels": [1, 2.5, None, {"deep": [True]}]}
    data["version"] = 7
    data["captions"]["shadow"] = {"blur": 3, "colour": "#000000"}
    data["model"]["quantize"] = "int8"
    path = tmp_path / "config" / "settings.json"
    store = write(path, json.dumps(data))
    settings, problems = store.load()
    assert (settings, problems) == (CUSTOM, [])  # unknown keys are not problems
    store.save(dataclasses.replace(settings, captions=dataclasses.replace(settings.captions, font_size=50)))
    saved = json.loads(path.read_text(encoding="utf-8"))
    data["captions"]["font_size"] = 50
    assert saved == data
    assert not (tmp_path / "config" / "settings.json.bad").exists()
    again, problems = SettingsStore(path).load()
    assert again.captions.font_size == 50 and problems == []


def test_unknown_keys_next_to_bad_values_are_kept_too(tmp_path) -> None:
    data = custom_json()
    data["captions"]["shadow"] = 3
    data["captions"]["lines"] = 9
    store = write(tmp_path / "settings.json", json.dumps(data))
    settings, problems = store.load()
    assert settings.captions.lines == CaptionStyle().lines and len(problems) == 2
    store.save(settings)
    saved = json.loads((tmp_path / "settings.json").read_text(encoding="utf-8"))
    assert saved["captions"]["shadow"] == 3 and saved["captions"]["lines"] == CaptionStyle().lines


def test_an_unknown_value_that_cannot_be_written_back_is_dropped_with_a_message(tmp_path) -> None:
    text = json.dumps(custom_json())[:-1] + ', "future": {"gain": NaN}, "other": 1}'
    store = write(tmp_path / "settings.json", text)
    settings, problems = store.load()
    assert settings == CUSTOM and problems[1].startswith("future: ")
    store.save(settings)
    saved = json.loads((tmp_path / "settings.json").read_text(encoding="utf-8"))  # strict JSON again
    assert "future" not in saved and saved["other"] == 1


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_the_file_is_private_whatever_the_umask(tmp_path, umask) -> None:
    folder = tmp_path / "config" / "Captionist"
    folder.parent.mkdir()  # ours is only the program's own folder: the one above it is the desktop's
    old = os.umask(umask)
    try:
        SettingsStore(folder / "settings.json").save(CUSTOM)
        (folder / "settings.json").chmod(0o644)  # as an older version left it
        store = SettingsStore(folder / "settings.json")
        store.save(CUSTOM)
    finally:
        os.umask(old)
    assert stat.S_IMODE((folder / "settings.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert store.load() == (CUSTOM, [])
    assert [p.name for p in folder.iterdir()] == ["settings.json"]  # no temporary file left behind


def test_the_bad_copy_is_private(tmp_path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"captions": {"lines": 9}}')
    path.chmod(0o644)
    SettingsStore(path).load()
    assert stat.S_IMODE((tmp_path / "settings.json.bad").stat().st_mode) == 0o600


def test_a_failed_save_keeps_the_previous_file_and_leaves_no_temporary_file(tmp_path) -> None:
    path = tmp_path / "settings.json"
    SettingsStore(path).save(CUSTOM)
    before = path.read_bytes()
    blocked = tmp_path / "blocked.json"
    blocked.mkdir()  # a folder where the file should go: the final rename fails
    (blocked / "x").write_text("")
    with pytest.raises(OSError):
        SettingsStore(blocked).save(Settings())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked.json", "settings.json"]
