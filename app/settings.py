"""The user's settings: typed, validated, saved atomically and privately in the per-user config folder (platformdirs).

A damaged or partly invalid file never stops the program and is never silently overwritten: every value is checked
against what the settings dialog allows (the ranges below and in ``app.captions.style``); a value that does not fit
falls back to its default alone, the original file is kept beside it as ``settings.json.bad``, and the problems are
returned so the GUI can say what happened. Keys this version does not know (a newer version's) are kept and written
back on saving.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.captions.style import FADE_S, FONT_SIZE, LINE_CHARS, LINES, OPACITY, CaptionStyle, Range, is_colour
from app.identity import APP_NAME  # names the config and data folders

DEFAULT_REALTIME_MODEL = "mistralai/Voxtral-Mini-4B-Realtime-2602"
DEFAULT_OFFLINE_MODEL = "mistralai/Voxtral-Mini-3B-2507"

DELAY_MS = Range(80, 2400, whole=True, step=80, unit=" ms")
LAG_CEILING_S = Range(1.0, 60.0, unit=" s")
PLACEMENT_XY = Range(-32768, 32767, whole=True)  # window coordinates (X11's are 16-bit)
PLACEMENT_SIZE = Range(1, 32767, whole=True)
MAX_SOURCES = 2  # captioned at once
MAX_PATH_CHARS = 4096  # model sources, source ids: paths at most PATH_MAX long
MAX_NAME_CHARS = 256  # font families, screen names
MAX_LABEL_CHARS = 100
MAX_SHORTCUT_CHARS = 64
MAX_ENTRIES = 256  # labels or placements: one per source or screen ever seen
MAX_LISTED_PROBLEMS = 4  # problems named one by one when a file is loaded; the rest are counted
MAX_FILE_BYTES = 1024 * 1024  # a real settings file is a few KB; a bigger one is not read into memory


@dataclass(frozen=True)
class AudioSettings:
    source_ids: tuple[str, ...] = ()  # what to listen to; empty = the default microphone
    labels: dict[str, str] = field(default_factory=dict)  # source id -> label shown when two sources run
    record: bool = True  # keep each session's audio and transcript; off: captions only, nothing written
    echo_suppression: bool = True  # with two sources: drop microphone captions that repeat the other source


# "auto": fp16 weights on a CPU (half the memory traffic, nothing lost), as stored on a GPU; "full": as stored;
# "int8": a quarter of the memory, at an accuracy cost not measured on real speech. Never int8 by default.
AUTO_PRECISION, FULL_PRECISION, INT8_PRECISION = "auto", "full", "int8"
PRECISION_CHOICES = (AUTO_PRECISION, FULL_PRECISION, INT8_PRECISION)


@dataclass(frozen=True)
class ModelSettings:
    source: str = ""  # a hub repo id or a local folder; "" until the first-run setup has chosen one
    offline: bool = False  # never contact the hub, for any model; use what is on disk
    device: str = ""  # "" picks the best (CUDA if present), else "cpu" / "cuda" / "cuda:N"
    delay_ms: int = 480  # DELAY_MS
    lag_ceiling_s: float = 3.0  # past this, live captions skip to the live edge
    offline_source: str = DEFAULT_OFFLINE_MODEL  # Voxtral Mini 3B, for re-transcription (repo id or folder)
    precision: str = AUTO_PRECISION  # how the weights are kept: PRECISION_CHOICES (model.precision)


FLOATING, DOCK_TOP, DOCK_BOTTOM = "floating", "top", "bottom"  # OverlaySettings.dock


@dataclass(frozen=True)
class OverlaySettings:
    click_through: bool = False
    placements: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # screen name -> x, y, w, h
    dock: str = FLOATING  # FLOATING where placed, or the full width of the screen's top or bottom edge


@dataclass(frozen=True)
class ShortcutSettings:
    """Captionist in the desktop session: system-wide key combinations, written as Qt writes them
    ("Ctrl+Alt+Shift+L"; "" = none), and whether it starts with the session, so that they work from login."""

    toggle_overlay: str = "Ctrl+Alt+Shift+L"  # show or hide the captions
    click_through: str = "Ctrl+Alt+Shift+K"
    toggle_captions: str = "Ctrl+Alt+Shift+S"  # start or stop captioning
    start_with_session: bool = False  # an autostart entry (app.autostart); opt-in


LOCAL, SERVER = "local", "server"  # EngineSettings.kind


@dataclass(frozen=True)
class EngineSettings:
    """Where speech is recognised: on this computer (the model settings apply) or by a vLLM server.

    The server's API key is not kept here but in a file of its own beside this one (``app.engine.server.api_key``).
    """

    kind: str = LOCAL  # LOCAL or SERVER
    server_url: str = ""  # http(s)://host:port as the user typed it
    realtime_model: str = ""  # the server's name for Voxtral Mini 4B Realtime (live captions)
    chat_model: str = ""  # the server's name for Voxtral Mini 3B (questions, transcribing again); "" = none
    chat_server_url: str = ""  # where that one is served when not at server_url (vLLM serves one model a process)
    warned_unencrypted: tuple[str, ...] = ()  # server addresses the user was told audio goes to unencrypted


@dataclass(frozen=True)
class Settings:
    audio: AudioSettings = field(default_factory=AudioSettings)
    captions: CaptionStyle = field(default_factory=CaptionStyle)
    model: ModelSettings = field(default_factory=ModelSettings)
    overlay: OverlaySettings = field(default_factory=OverlaySettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    shortcuts: ShortcutSettings = field(default_factory=ShortcutSettings)

    def problems(self) -> list[str]:
        out = list(self.captions.problems())
        if not DELAY_MS.allows(self.model.delay_ms):
            out.append(f"the caption delay must be {DELAY_MS.describe()}")
        if not LAG_CEILING_S.allows(self.model.lag_ceiling_s):
            out.append(f"the lag ceiling must be {LAG_CEILING_S.describe()}")
        return out


def default_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "settings.json"


# -- checking what the file holds ---------------------------------------------------------------------------------
class Invalid(ValueError):
    """A value that does not fit its setting; the message says what is allowed."""


Check = Callable[[Any, str, list[str]], Any]  # (value, where, problems) -> clean value; raises Invalid


def _whole(allowed: Range) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not allowed.allows(value):
            raise Invalid(f"it must be {allowed.describe()}")
        return int(value)  # 28.0 as some editors write it

    return check


def _number(allowed: Range) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not allowed.allows(value):
            raise Invalid(f"it must be {allowed.describe()}")
        return float(value)

    return check


def _flag(value: Any, where: str, problems: list[str]) -> bool:
    if not isinstance(value, bool):
        raise Invalid("it must be true or false")
    return value


def _text(limit: int) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> str:
        if not isinstance(value, str) or len(value) > limit:
            raise Invalid(f"it must be a text of at most {limit} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (json allows "\ud800"): Qt would silently drop it
            raise Invalid("it must be a text without broken characters") from None
        return value

    return check


def _colour(value: Any, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not is_colour(value):
        raise Invalid("it must be a colour written #rrggbb")
    return value


def _choice(*allowed: str) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> str:
        if value not in allowed:
            raise Invalid(f"it must be one of {', '.join(json.dumps(a) for a in allowed)}")
        return value

    return check


def _texts(count: int, limit: int, what: str = "texts") -> Check:
    text = _text(limit)

    def check(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
        try:
            if not isinstance(value, list) or len(value) > count:
                raise Invalid
            return tuple(text(v, where, problems) for v in value)
        except Invalid:
            raise Invalid(f"it must be a list of at most {count} {what}") from None

    return check


def _entries(key: Check, entry: Check, what: str) -> Check:
    """A JSON object of ``key`` -> ``entry``; an entry that does not fit is dropped alone."""

    def check(value: Any, where: str, problems: list[str]) -> dict:
        if not isinstance(value, dict) or len(value) > MAX_ENTRIES:
            raise Invalid(f"it must be a group of at most {MAX_ENTRIES} {what}")
        out = {}
        for k, v in value.items():
            try:
                out[key(k, where, problems)] = entry(v, where, problems)
            except Invalid as exc:
                problems.append(f"{where}: the entry {_shown(k)} ({_shown(v)}) was dropped: {exc}.")
        return out

    return check


def _rect(value: Any, where: str, problems: list[str]) -> tuple[int, int, int, int]:
    xy, size = _whole(PLACEMENT_XY), _whole(PLACEMENT_SIZE)
    if not isinstance(value, list) or len(value) != 4:
        raise Invalid("it must be four whole numbers: x, y, width, height")
    x, y, w, h = value
    return xy(x, where, problems), xy(y, where, problems), size(w, where, problems), size(h, where, problems)


_CHECKS: dict[str, dict[str, Check]] = {  # section -> field -> check; every field of every section is here
    "audio": {
        "source_ids": _texts(MAX_SOURCES, MAX_PATH_CHARS, "source ids (texts)"),
        "labels": _entries(_text(MAX_PATH_CHARS), _text(MAX_LABEL_CHARS), "source labels"),
        "record": _flag,
        "echo_suppression": _flag,
    },
    "captions": {
        "font_family": _text(MAX_NAME_CHARS),
        "font_size": _whole(FONT_SIZE),
        "text_color": _colour,
        "background_color": _colour,
        "background_opacity": _number(OPACITY),
        "outline": _flag,
        "lines": _whole(LINES),
        "max_line_chars": _whole(LINE_CHARS),
        "fade_after_s": _number(FADE_S),
    },
    "model": {
        "source": _text(MAX_PATH_CHARS),
        "offline": _flag,
        "device": _text(MAX_NAME_CHARS),
        "delay_ms": _whole(DELAY_MS),
        "lag_ceiling_s": _number(LAG_CEILING_S),
        "offline_source": _text(MAX_PATH_CHARS),
        "precision": _choice(*PRECISION_CHOICES),
    },
    "overlay": {
        "click_through": _flag,
        "placements": _entries(_text(MAX_NAME_CHARS), _rect, "screen placements"),
        "dock": _choice(FLOATING, DOCK_TOP, DOCK_BOTTOM),
    },
    "engine": {
        "kind": _choice(LOCAL, SERVER),
        "server_url": _text(MAX_PATH_CHARS),
        "realtime_model": _text(MAX_PATH_CHARS),
        "chat_model": _text(MAX_PATH_CHARS),
        "chat_server_url": _text(MAX_PATH_CHARS),
        "warned_unencrypted": _texts(MAX_ENTRIES, MAX_PATH_CHARS),
    },
    "shortcuts": {
        "toggle_overlay": _text(MAX_SHORTCUT_CHARS),
        "click_through": _text(MAX_SHORTCUT_CHARS),
        "toggle_captions": _text(MAX_SHORTCUT_CHARS),
        "start_with_session": _flag,
    },
}


def _shown(value: Any) -> str:
    """A value for a message, short whatever it is: NaN and Infinity as json reads them, true not True."""
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):
        text = ""
    if text and len(text) <= 40:
        return text
    if isinstance(value, (list, dict)):
        return f"a {'list' if isinstance(value, list) else 'group'} of {len(value)}"
    return text[:37] + "…" if text else "a value"


def _read(raw: Any, problems: list[str]) -> tuple[Settings, dict[str, Any]]:
    """The settings in a parsed file, and what in it this version does not know: unknown top-level keys as they
    are, and a known section's unknown keys under that section's name."""
    if not isinstance(raw, dict):
        problems.append(f"The file holds {_shown(raw)} instead of settings; the defaults are used.")
        return Settings(), {}
    defaults = Settings()
    unknown = {k: v for k, v in raw.items() if k not in _CHECKS}
    sections = {}
    for name, checks in _CHECKS.items():
        if name not in raw:
            continue
        given, default = raw[name], getattr(defaults, name)
        if not isinstance(given, dict):
            problems.append(f"{name}: {_shown(given)} is not a group of settings; the defaults are used for it.")
            continue
        if extra := {k: v for k, v in given.items() if k not in checks}:
            unknown[name] = extra
        values = {}
        for key, check in checks.items():
            if key not in given:
                continue
            where = f"{name}.{key}"
            try:
                values[key] = check(given[key], where, problems)
            except Invalid as exc:
                fallback = _shown(_to_json(getattr(default, key)))
                problems.append(f"{where}: {_shown(given[key])} is not allowed, {exc}; the default {fallback} is used.")
        sections[name] = dataclasses.replace(default, **values)
    for key, value in list(unknown.items()):
        try:
            _encode(value)
        except (ValueError, RecursionError):  # NaN or nesting too deep to write back: it could not be kept anyway
            problems.append(f"{key}: an unknown setting that cannot be saved again was dropped.")
            del unknown[key]
    return dataclasses.replace(defaults, **sections), unknown


# -- the file ---------------------------------------------------------------------------------------------------
def _to_json(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    return obj


def _encode(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"


class SettingsStore:
    """Loads and saves ``Settings`` at one path, keeping the keys of the loaded file that this version does not
    know."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._unknown: dict[str, Any] = {}

    def load(self) -> tuple[Settings, list[str]]:
        """The saved settings and a list of problems found (empty when the file was fine or absent). Never raises.

        A damaged file is copied aside (``settings.json.bad``) before the program may save over it."""
        self._unknown = {}
        try:
            raw = self._raw()
        except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, UTF-8, or a 5000-digit number
            self._keep_bad_copy()
            reason = "it is nested too deeply" if isinstance(exc, RecursionError) else exc
            return Settings(), [f"The settings file {self.path} could not be read ({reason}); defaults are used."]
        if raw is None:
            return Settings(), []
        problems: list[str] = []
        settings, self._unknown = _read(raw, problems)
        if not problems:
            return settings, []
        self._keep_bad_copy()
        if len(problems) > MAX_LISTED_PROBLEMS:  # each is a notice: a few say enough, the .bad copy has the rest
            more = len(problems) - MAX_LISTED_PROBLEMS + 1
            rest = f"… and {more} more: those values were reset to their defaults too."
            problems = [*problems[: MAX_LISTED_PROBLEMS - 1], rest]
        header = (f"Some saved settings in {self.path} were invalid and were reset (the file is kept as "
                  f"{self._bad_path().name}):")
        return settings, [header, *problems]

    def peek(self) -> Settings:
        """The saved settings as far as they can be read, touching nothing (for the command line, which never saves
        them): what is damaged reads as its default, and the running program reports it when it next starts."""
        try:
            raw = self._raw()
        except (OSError, ValueError, RecursionError):
            return Settings()
        return Settings() if raw is None else _read(raw, [])[0]

    def _raw(self) -> Any:
        """The parsed file, None when there is none. Raises OSError, ValueError or RecursionError."""
        if not self.path.exists():
            return None
        if self.path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"it is larger than {MAX_FILE_BYTES // 1024} KB")
        return json.loads(self.path.read_text(encoding="utf-8-sig"))  # a BOM, as some Windows editors write

    def save(self, settings: Settings) -> None:
        """Write atomically (a crash mid-write leaves the previous file intact) and privately (0600: the file names
        folders and audio sources). Raises OSError with the path."""
        data = _to_json(settings)
        for key, value in self._unknown.items():
            data[key] = {**value, **data[key]} if key in _CHECKS else value  # this version's values win
        text = _encode(data)
        from app.recording.privacy import FILE_MODE, private_dirs  # here: the app.recording package imports this one

        folder = self.path.parent
        private_dirs(folder, below=folder)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=folder)
        try:
            if os.name != "nt":  # Windows keeps the config folder private through its ACL, not mode bits
                os.fchmod(fd, FILE_MODE)  # mkstemp's 0600 would be narrowed further by an unusual umask
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _sync_folder(folder)

    def _bad_path(self) -> Path:
        return self.path.with_name(self.path.name + ".bad")

    def _keep_bad_copy(self) -> None:
        from app.recording.privacy import open_private  # here: the app.recording package imports this one

        try:
            with open(self.path, "rb") as src, open(self._bad_path(), "wb", opener=open_private) as dst:
                shutil.copyfileobj(src, dst)
        except OSError:
            pass


def _sync_folder(folder: Path) -> None:
    """Make the rename durable; a file system that cannot sync a folder still has the file."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
