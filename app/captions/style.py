"""How captions look, and the WCAG contrast check for user-chosen colours."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MIN_CONTRAST = 4.5  # WCAG 2.2 1.4.3 (AA) for normal text
_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class Range:
    """The finite numbers a setting allows: one definition for the settings file's check, ``problems()`` and the
    settings dialog's controls."""

    low: float
    high: float
    whole: bool = False  # whole numbers only
    step: int = 0  # > 0: multiples of it only
    unit: str = ""  # for messages: " points"

    def allows(self, value: float) -> bool:
        # NaN and infinities (json reads 1e999 as inf) fail the comparison; an int is compared exactly, however large.
        if not self.low <= value <= self.high:
            return False
        if (self.whole or self.step) and value != int(value):
            return False
        return not self.step or int(value) % self.step == 0

    def describe(self) -> str:
        """'a whole number from 10 to 160 points', '1, 2 or 3 lines'."""
        low, high = f"{self.low:g}", f"{self.high:g}"
        if self.whole and not self.step and self.high - self.low < 4:
            values = [str(v) for v in range(int(self.low), int(self.high) + 1)]
            return f"{', '.join(values[:-1])} or {values[-1]}{self.unit}"
        if self.step:
            return f"a multiple of {self.step} from {low} to {high}{self.unit}"
        return f"{'a whole number' if self.whole else 'a number'} from {low} to {high}{self.unit}"


MIN_FONT_SIZE = 10
MAX_FONT_SIZE = 160
FONT_SIZE = Range(MIN_FONT_SIZE, MAX_FONT_SIZE, whole=True, unit=" points")
OPACITY = Range(0.0, 1.0)
LINES = Range(1, 3, whole=True, unit=" lines")
LINE_CHARS = Range(16, 80, whole=True, unit=" characters")
FADE_S = Range(0.0, 600.0, unit=" s")  # 0 = never


def is_colour(value: str) -> bool:
    """True for ``#rrggbb``."""
    return bool(_HEX.match(value))


@dataclass(frozen=True)
class CaptionStyle:
    font_family: str = "DejaVu Sans"
    font_size: int = 28  # points
    text_color: str = "#ffffff"
    background_color: str = "#000000"
    background_opacity: float = 0.8  # 0 (invisible box) .. 1 (solid)
    outline: bool = True  # a dark rim around the glyphs, readable on any background
    lines: int = 2  # roll-up lines shown at once
    max_line_chars: int = 42  # wrap width in characters (readable line length)
    fade_after_s: float = 6.0  # hide the overlay after this much silence; 0 keeps it visible

    def problems(self) -> list[str]:
        """What is invalid about this style, in words a user understands ([] when valid)."""
        out = []
        for name in ("text_color", "background_color"):
            if not is_colour(getattr(self, name)):
                out.append(f"{name.replace('_', ' ')} must look like #rrggbb, not {getattr(self, name)!r}")
        if not FONT_SIZE.allows(self.font_size):
            out.append(f"the font size must be {FONT_SIZE.describe()}")
        if not OPACITY.allows(self.background_opacity):
            out.append(f"the background opacity must be {OPACITY.describe()}")
        if not LINES.allows(self.lines):
            out.append(f"captions show {LINES.describe()}")
        if not LINE_CHARS.allows(self.max_line_chars):
            out.append(f"the line length must be {LINE_CHARS.describe()}")
        if not FADE_S.allows(self.fade_after_s):
            out.append(f"the fade time must be {FADE_S.describe()} (0 for never)")
        return out


def _channel(c: int) -> float:
    v = c / 255.0
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """WCAG relative luminance of a ``#rrggbb`` colour."""
    m = _HEX.match(color)
    if not m:
        raise ValueError(f"not a #rrggbb colour: {color!r}")
    r, g, b = (int(m.group(1)[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio between two ``#rrggbb`` colours, 1..21."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def blend(fg: str, bg: str, opacity: float) -> str:
    """``fg`` laid over ``bg`` at ``opacity``, as ``#rrggbb``."""
    f = [int(fg[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(bg[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(o * opacity + u * (1 - opacity)):02x}" for o, u in zip(f, b, strict=True))


def effective_contrast(style: CaptionStyle) -> float:
    """Contrast of the text against its box, taking the worst case of what shows through a translucent box.

    The box is drawn over an unknown desktop, so it is checked over both black and white.
    """
    over_black = blend(style.background_color, "#000000", style.background_opacity)
    over_white = blend(style.background_color, "#ffffff", style.background_opacity)
    return min(contrast_ratio(style.text_color, over_black), contrast_ratio(style.text_color, over_white))


def contrast_warning(style: CaptionStyle) -> str | None:
    """A message when the text would be hard to read (below 4.5:1), else None."""
    ratio = effective_contrast(style)
    if ratio >= MIN_CONTRAST:
        return None
    return (
        f"Text contrast is {math.floor(ratio * 100) / 100:.2f}:1, below the {MIN_CONTRAST}:1 that keeps captions "
        "readable. "
        "Choose colours further apart or make the background more opaque."
    )
