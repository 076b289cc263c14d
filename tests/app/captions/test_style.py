"""Caption style validation and the WCAG contrast check."""

import dataclasses

import pytest

from app.captions.style import (
    MAX_FONT_SIZE,
    MIN_FONT_SIZE,
    CaptionStyle,
    blend,
    contrast_ratio,
    contrast_warning,
    effective_contrast,
    relative_luminance,
)


@pytest.mark.parametrize(
    ("a", "b", "ratio"),
    [
        ("#ffffff", "#000000", 21.0),
        ("#000000", "#ffffff", 21.0),
        ("#777777", "#ffffff", 4.48),
        ("#767676", "#ffffff", 4.54),
        ("#ff0000", "#ffffff", 4.0),
        ("#0000ff", "#ffffff", 8.59),
        ("#123456", "#123456", 1.0),
    ],
)
def test_contrast_ratio_known_pairs(a: str, b: str, ratio: float) -> None:
    assert contrast_ratio(a, b) == pytest.approx(ratio, abs=0.01)


def test_relative_luminance_rejects_non_hex_colours() -> None:
    assert relative_luminance("#FFFFFF") == pytest.approx(1.0)
    for bad in ("white", "#fff", "#gggggg", "ffffff"):
        with pytest.raises(ValueError):
            relative_luminance(bad)


def test_blend() -> None:
    assert blend("#000000", "#00c000", 0.6) == "#004d00"
    assert blend("#ffffff", "#000000", 0.0) == "#000000"
    assert blend("#ffffff", "#000000", 1.0) == "#ffffff"


def test_default_style_is_valid_and_readable() -> None:
    style = CaptionStyle()
    assert style.problems() == []
    assert contrast_warning(style) is None
    # White on an 80 % black box: the worst case is the box over a white desktop (#333333).
    assert effective_contrast(style) == pytest.approx(contrast_ratio("#ffffff", "#333333"))


def test_warning_below_4_5() -> None:
    just_below = CaptionStyle(text_color="#777777", background_color="#ffffff", background_opacity=1.0)
    just_above = CaptionStyle(text_color="#767676", background_color="#ffffff", background_opacity=1.0)
    warning = contrast_warning(just_below)
    assert warning is not None and "below the 4.5:1" in warning
    assert contrast_warning(just_above) is None


def test_a_translucent_box_is_judged_over_the_worst_desktop() -> None:
    # White text on a faint black box is unreadable over a white page, however good it looks over black.
    faint = CaptionStyle(text_color="#ffffff", background_color="#000000", background_opacity=0.1)
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21)
    assert effective_contrast(faint) < 1.5
    assert contrast_warning(faint) is not None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"text_color": "white"}, "text color must look like #rrggbb"),
        ({"background_color": "#12345"}, "background color must look like #rrggbb"),
        ({"font_size": MIN_FONT_SIZE - 1}, "font size"),
        ({"font_size": MAX_FONT_SIZE + 1}, "font size"),
        ({"background_opacity": 1.5}, "opacity"),
        ({"background_opacity": -0.1}, "opacity"),
        ({"lines": 0}, "1, 2 or 3 lines"),
        ({"lines": 4}, "1, 2 or 3 lines"),
        ({"max_line_chars": 15}, "line length"),
        ({"max_line_chars": 81}, "line length"),
        ({"fade_after_s": -1.0}, "fade time"),
    ],
)
def test_problems(change: dict, words: str) -> None:
    problems = dataclasses.replace(CaptionStyle(), **change).problems()
    assert len(problems) == 1 and words in problems[0]


def test_limits_are_valid() -> None:
    for change in (
        {"font_size": MIN_FONT_SIZE},
        {"font_size": MAX_FONT_SIZE},
        {"lines": 1},
        {"lines": 3},
        {"max_line_chars": 16},
        {"max_line_chars": 80},
        {"fade_after_s": 0.0},
    ):
        assert dataclasses.replace(CaptionStyle(), **change).problems() == []
