"""The user's settings: typed, validated, saved atomically in the per-user config folder (platformdirs).

A damaged or partly invalid file never stops the program and is never silently overwritten: the readable parts are
kept, the rest falls back to defaults, the original is kept beside it as ``settings.json.bad``, and the problems are
returned so the GUI can say what happened.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.captions.style import CaptionStyle

DEFAULT_REALTIME_MODEL = "mistralai/Voxtral-Mini-4B-Realtime-2602"
DEFAULT_OFFLINE_MODEL = "mistralai/Voxtral-Mini-3B-2507"
APP_NAME = "Captionist"


@dataclass(frozen=True)
class AudioSettings:
    source_ids: tuple[str, ...] = ()  # what to listen to; empty = the default microphone
    labels: dict[str, str] = field(default_factory=dict)  # source id -> label shown when two sources run


@dataclass(frozen=True)
class ModelSettings:
    source: str = ""  # a hub repo id or a local folder; "" until the first-run setup has chosen one
    offline: bool = False  # never contact the hub; use what is on disk
    device: str = ""  # "" picks the best (CUDA if present), else "cpu" / "cuda" / "cuda:N"
    delay_ms: int = 480  # 80..2400 in steps of 80
    lag_ceiling_s: float = 3.0  # past this, live captions skip to the live edge
    offline_source: str = DEFAULT_OFFLINE_MODEL  # Voxtral Mini 3B, for re-transcription (repo id or folder)


@dataclass(frozen=True)
class OverlaySettings:
    click_through: bool = False
    placements: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # screen name -> x, y, w, h


@dataclass(frozen=True)
class Settings:
    audio: AudioSettings = field(default_factory=AudioSettings)
    captions: CaptionStyle = field(default_factory=CaptionStyle)
    model: ModelSettings = field(default_factory=ModelSettings)
    overlay: OverlaySettings = field(default_factory=OverlaySettings)

    def problems(self) -> list[str]:
        out = list(self.captions.problems())
        if self.model.delay_ms % 80 or not 80 <= self.model.delay_ms <= 2400:
            out.append("the caption delay must be a multiple of 80 ms between 80 and 2400 ms")
        if not 1.0 <= self.model.lag_ceiling_s <= 60.0:
            out.append("the lag ceiling must be between 1 and 60 seconds")
        return out


def default_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "settings.json"


def _to_json(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    return obj


def _coerce(default: Any, value: Any, where: str, problems: list[str]) -> Any:
    """``value`` converted to the type of ``default``; ``default`` (and a problem) when it does not fit."""
    if dataclasses.is_dataclass(default):
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a section, found {type(value).__name__}")
            return default
        kwargs = {}
        for f in dataclasses.fields(default):
            if f.name in value:
                kwargs[f.name] = _coerce(getattr(default, f.name), value[f.name], f"{where}.{f.name}", problems)
        return dataclasses.replace(default, **kwargs)
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
        elif isinstance(default, (int, float)) and isinstance(value, (int, float)) and not isinstance(value, bool):
            return type(default)(value)
        elif isinstance(default, str) and isinstance(value, str):
            return value
        elif isinstance(default, tuple) and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        elif isinstance(default, dict) and isinstance(value, dict):
            return {str(k): (tuple(int(x) for x in v) if isinstance(v, list) else str(v)) for k, v in value.items()}
    except (TypeError, ValueError):
        pass
    problems.append(f"{where}: {value!r} is not valid here; using {default!r}")
    return default


class SettingsStore:
    """Loads and saves ``Settings`` at one path."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()

    def load(self) -> tuple[Settings, list[str]]:
        """The saved settings and a list of problems found (empty when the file was fine or absent)."""
        if not self.path.exists():
            return Settings(), []
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._keep_bad_copy()
            return Settings(), [f"The settings file {self.path} could not be read ({exc}); defaults are used."]
        problems: list[str] = []
        settings = _coerce(Settings(), raw, "settings", problems)
        invalid = settings.problems()
        if invalid:
            problems.extend(invalid)
            settings = _repair(settings)
        if problems:
            self._keep_bad_copy()
            problems.insert(0, f"Some saved settings in {self.path} were invalid and were reset:")
        return settings, problems

    def save(self, settings: Settings) -> None:
        """Write atomically: a crash mid-write leaves the previous file intact. Raises OSError with the path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(_to_json(settings), indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _keep_bad_copy(self) -> None:
        try:
            bad = self.path.with_name(self.path.name + ".bad")
            bad.write_bytes(self.path.read_bytes())
        except OSError:
            pass


def _repair(settings: Settings) -> Settings:
    """Reset each section that fails validation to its defaults, keeping the valid sections."""
    defaults = Settings()
    captions = settings.captions if not settings.captions.problems() else defaults.captions
    model = settings.model
    if model.delay_ms % 80 or not 80 <= model.delay_ms <= 2400:
        model = dataclasses.replace(model, delay_ms=defaults.model.delay_ms)
    if not 1.0 <= model.lag_ceiling_s <= 60.0:
        model = dataclasses.replace(model, lag_ceiling_s=defaults.model.lag_ceiling_s)
    return dataclasses.replace(settings, captions=captions, model=model)
