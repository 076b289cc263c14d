"""Caption overlay behaviour, rendered offscreen: lines, wrapping, styling in pixels, placement, click-through, fade."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QEnterEvent, QFont, QFontMetricsF, QGuiApplication, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.captions.overlay import CaptionOverlay
from app.captions.style import MAX_FONT_SIZE, CaptionStyle
from app.events import CaptionEvent

SPEECH = (
    "Live captions should be easy to read at a glance, so they wrap at a comfortable line length and roll up "
    "line by line while the speaker keeps going for a while longer than one line can hold."
)


def event(text: str, source: str = "mic") -> CaptionEvent:
    return CaptionEvent(source_id=source, text=text, token_ids=(), start_s=0.0, end_s=0.08)


def speak(overlay: CaptionOverlay, text: str, source: str = "mic", label: str = "") -> None:
    for word in text.split(" "):
        overlay.add_caption(event(" " + word, source), label)


def make(qtbot, style: CaptionStyle | None = None, **kwargs) -> CaptionOverlay:
    overlay = CaptionOverlay(style or CaptionStyle(fade_after_s=0), **kwargs)
    qtbot.addWidget(overlay)
    overlay.show()
    qtbot.waitExposed(overlay)
    return overlay


def close(a: QColor, b: QColor, tolerance: int = 3) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a.getRgb(), b.getRgb(), strict=True))


def count_pixels(image: QImage, rect, predicate) -> int:
    return sum(
        1
        for y in range(rect.top(), rect.bottom() + 1, 2)
        for x in range(rect.left(), rect.right() + 1, 2)
        if predicate(image.pixelColor(x, y))
    )


def _caption_font(overlay: CaptionOverlay) -> QFont:
    style = overlay.caption_style()
    return QFont(style.font_family, style.font_size)


def text_in_right_padding(overlay: CaptionOverlay) -> int:
    """Text pixels in the right 4 px of the box, where wrapped text must never reach."""
    box = overlay.box_rect()
    edge = QRect(box.right() - 4, box.top(), 5, box.height() - 20)  # above the corner grip
    return count_pixels(overlay.grab().toImage(), edge, lambda c: c.lightness() > 128)


def test_window_kind(qtbot) -> None:
    overlay = make(qtbot)
    flags = overlay.windowFlags()
    for flag in (
        Qt.WindowType.FramelessWindowHint,
        Qt.WindowType.WindowStaysOnTopHint,
        Qt.WindowType.Tool,
        Qt.WindowType.WindowDoesNotAcceptFocus,
    ):
        assert flags & flag
    assert overlay.testAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
    assert overlay.accessibleName() == "Live captions"


@pytest.mark.parametrize("lines", [1, 2, 3])
def test_shows_the_configured_number_of_lines_and_the_box_fits_them(qtbot, lines: int) -> None:
    overlay = make(qtbot, CaptionStyle(lines=lines, fade_after_s=0))
    speak(overlay, SPEECH)
    shown = overlay.visible_lines()
    assert len(shown) == lines
    assert " ".join(shown) == " ".join(SPEECH.split()[-len(" ".join(shown).split()) :])
    spacing = QFontMetricsF(_caption_font(overlay)).lineSpacing()
    box = overlay.box_rect()
    assert lines * spacing < box.height() < lines * spacing + 1.2 * spacing


def test_box_grows_by_one_line_height_per_line(qtbot) -> None:
    heights = [make(qtbot, CaptionStyle(lines=n, fade_after_s=0)).box_rect().height() for n in (1, 2, 3)]
    spacing = QFontMetricsF(_caption_font(make(qtbot))).lineSpacing()
    assert heights[1] - heights[0] == pytest.approx(spacing, abs=1)
    assert heights[2] - heights[1] == pytest.approx(spacing, abs=1)


def test_wraps_at_the_style_line_length(qtbot) -> None:
    overlay = make(qtbot, CaptionStyle(font_size=12, max_line_chars=20, lines=3, fade_after_s=0))
    overlay.resize(700, overlay.height())
    speak(overlay, SPEECH)
    shown = overlay.visible_lines()
    assert max(len(line) for line in shown) <= 20
    assert max(len(line) for line in shown) >= 15  # greedy wrapping fills the lines


def test_a_narrow_window_wraps_sooner_and_the_text_fits(qtbot) -> None:
    overlay = make(qtbot, CaptionStyle(max_line_chars=42, lines=3, fade_after_s=0))
    speak(overlay, SPEECH)
    wide = max(len(line) for line in overlay.visible_lines())
    overlay.resize(overlay.minimumWidth() + 40, overlay.height())
    narrow = max(len(line) for line in overlay.visible_lines())
    assert narrow < wide
    assert text_in_right_padding(overlay) == 0


def test_wide_glyphs_wrap_inside_the_box(qtbot) -> None:
    overlay = make(qtbot, CaptionStyle(max_line_chars=42, lines=3, fade_after_s=0))
    overlay.resize(overlay.minimumWidth() + 200, overlay.height())
    speak(overlay, "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW MMMM WWWWWWWW")  # far wider than average letters
    metrics = QFontMetricsF(_caption_font(overlay))
    assert len(overlay.visible_lines()) == 3
    assert all(metrics.horizontalAdvance(line) <= overlay.box_rect().width() for line in overlay.visible_lines())
    assert text_in_right_padding(overlay) == 0


def test_very_large_font(qtbot) -> None:
    overlay = make(qtbot, CaptionStyle(font_size=MAX_FONT_SIZE, lines=2, fade_after_s=0))
    speak(overlay, "big letters for anyone who needs them")
    screen = QGuiApplication.primaryScreen().availableGeometry()
    assert screen.contains(overlay.geometry())
    assert overlay.box_rect().height() > 2 * MAX_FONT_SIZE  # 160 pt is more than 160 px
    assert len(overlay.visible_lines()) == 2
    assert text_in_right_padding(overlay) == 0
    image = overlay.grab().toImage()
    assert count_pixels(image, overlay.box_rect(), lambda c: c.lightness() > 230 and c.alpha() > 230) > 500


def test_speakers_are_labelled(qtbot) -> None:
    overlay = make(qtbot, CaptionStyle(lines=3, fade_after_s=0))
    overlay.add_caption(event("Good morning", "mic"), "You")
    overlay.add_caption(event(" Hi", "system"), "Others")
    assert overlay.visible_lines() == ["You: Good morning", "Others: Hi"]
    assert overlay.full_text("system") == " Hi"
    assert overlay.full_text() == "Good morning Hi"
    assert overlay.accessibleDescription() == "Others: Hi"
    assert overlay.accessibleName() == "Live captions"
    overlay.clear()
    assert overlay.visible_lines() == [] and overlay.full_text() == ""


def test_styling_shows_in_the_pixels(qtbot) -> None:
    style = CaptionStyle(
        text_color="#ffff00", background_color="#203040", background_opacity=0.5, outline=False, fade_after_s=0
    )
    overlay = make(qtbot, style)
    speak(overlay, "Yellow words on a half transparent blue box")
    image = overlay.grab().toImage()
    box = overlay.box_rect()
    inside = image.pixelColor(box.left() + 4, box.center().y())  # in the padding, clear of text and corners
    assert close(inside, QColor(0x20, 0x30, 0x40, 128), tolerance=2)
    yellow = QColor("#ffff00")
    assert count_pixels(image, box, lambda c: close(c, yellow, 10)) > 100
    assert count_pixels(image, box, lambda c: c.alpha() == 255 and c.lightness() < 20) == 0
    above = image.pixelColor(box.center().x(), box.top() - 3)
    assert above.alpha() == 0  # outside the box the window is fully transparent


def test_outline_draws_a_dark_rim(qtbot) -> None:
    style = CaptionStyle(background_color="#2050c0", background_opacity=1.0, outline=True, fade_after_s=0)
    overlay = make(qtbot, style)
    speak(overlay, "Outlined words")
    image = overlay.grab().toImage()
    dark = count_pixels(image, overlay.box_rect(), lambda c: c.alpha() == 255 and c.lightness() < 25)
    overlay.set_style(dataclasses.replace(style, outline=False))
    plain = count_pixels(
        overlay.grab().toImage(), overlay.box_rect(), lambda c: c.alpha() == 255 and c.lightness() < 25
    )
    assert dark > 100 and plain == 0


def test_set_style_changes_the_look(qtbot) -> None:
    overlay = make(qtbot)
    speak(overlay, "hello")
    before = overlay.geometry()
    overlay.set_style(CaptionStyle(font_size=48, background_color="#ff0000", background_opacity=1.0, fade_after_s=0))
    assert overlay.height() > before.height()
    assert overlay.geometry().bottom() == before.bottom()  # grows upwards, keeping the newest line in place
    box = overlay.box_rect()
    assert close(overlay.grab().toImage().pixelColor(box.left() + 4, box.center().y()), QColor("#ff0000"))


def test_contrast_warning(qtbot) -> None:
    assert make(qtbot).contrast_warning() is None
    grey = CaptionStyle(text_color="#777777", background_color="#ffffff", background_opacity=1.0)
    overlay = make(qtbot, grey)
    assert "4.5:1" in overlay.contrast_warning()
    overlay.set_style(dataclasses.replace(grey, text_color="#000000"))
    assert overlay.contrast_warning() is None


def test_default_placement_is_bottom_centre_of_the_primary_screen(qtbot) -> None:
    overlay = make(qtbot, placements={"some other screen": (0, 0, 300, 100)})
    area = QGuiApplication.primaryScreen().availableGeometry()
    geometry = overlay.geometry()
    assert geometry.width() == pytest.approx(area.width() * 0.6, abs=2)
    assert abs(geometry.center().x() - area.center().x()) <= 2
    assert geometry.bottom() > area.top() + area.height() * 0.8
    assert area.contains(geometry)


def test_drag_and_resize_are_remembered_per_screen(qtbot) -> None:
    screen_name = QGuiApplication.primaryScreen().name()
    overlay = make(qtbot)
    start = overlay.geometry()
    with qtbot.waitSignal(overlay.placementChanged, timeout=3000) as moved:
        QTest.mousePress(overlay, Qt.MouseButton.LeftButton, pos=QPoint(start.width() // 2, 40))
        QTest.mouseMove(overlay, QPoint(start.width() // 2 - 70, 40 - 50))
        QTest.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=QPoint(start.width() // 2 - 70, 40 - 50))
    assert overlay.geometry().topLeft() == start.topLeft() + QPoint(-70, -50)
    assert moved.args == [screen_name, (start.x() - 70, start.y() - 50, start.width(), start.height())]

    with qtbot.waitSignal(overlay.placementChanged, timeout=3000) as resized:
        grip = QPoint(overlay.width() - 3, overlay.height() - 3)
        QTest.mousePress(overlay, Qt.MouseButton.LeftButton, pos=grip)
        QTest.mouseMove(overlay, grip + QPoint(-100, 30))
        QTest.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=grip + QPoint(-100, 30))
    name, placement = resized.args
    assert name == screen_name
    assert placement == (start.x() - 70, start.y() - 50, start.width() - 100, start.height())  # height is fixed

    with qtbot.waitSignal(overlay.placementChanged, timeout=3000) as from_left:
        QTest.mousePress(overlay, Qt.MouseButton.LeftButton, pos=QPoint(2, 40))
        QTest.mouseMove(overlay, QPoint(2 + 40, 40))
        QTest.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=QPoint(2 + 40, 40))
    x, y, w, h = from_left.args[1]
    assert (x, w) == (placement[0] + 40, placement[2] - 40)  # the right edge stays put

    again = make(qtbot, placements={screen_name: (x, y, w, h), "elsewhere": (0, 0, 10, 10)})
    assert (again.x(), again.y(), again.width(), again.height()) == (x, y, w, h)


def test_saved_placement_is_clamped_onto_the_screen(qtbot) -> None:
    screen = QGuiApplication.primaryScreen()
    overlay = make(qtbot, placements={screen.name(): (5000, -300, 99999, 7)})
    area = screen.availableGeometry()
    assert area.contains(overlay.geometry())
    assert overlay.width() == area.width()
    assert overlay.height() == overlay.box_rect().bottom() + 1  # the saved height does not squash the lines


def test_click_through_sets_the_real_window_flag(qtbot) -> None:
    overlay = make(qtbot)
    assert not overlay.click_through()
    overlay.set_click_through(True)
    assert overlay.click_through()
    assert overlay.windowFlags() & Qt.WindowType.WindowTransparentForInput
    assert overlay.windowHandle().flags() & Qt.WindowType.WindowTransparentForInput
    assert overlay.isVisible()  # changing flags hid the window; it is shown again
    assert overlay.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    overlay.set_click_through(False)
    assert not overlay.windowHandle().flags() & Qt.WindowType.WindowTransparentForInput
    assert overlay.isVisible()


def test_click_through_from_the_start_and_while_hidden(qtbot) -> None:
    overlay = CaptionOverlay(CaptionStyle(), click_through=True)
    qtbot.addWidget(overlay)
    assert overlay.click_through()
    overlay.set_click_through(False)
    assert not overlay.click_through() and not overlay.isVisible()


def test_fades_after_silence_and_comes_back_with_new_text(qtbot) -> None:
    overlay = make(qtbot, CaptionStyle(fade_after_s=0.2))
    speak(overlay, "something said")
    assert not overlay.faded()
    qtbot.waitUntil(overlay.faded, timeout=3000)
    assert not overlay.isVisible()
    overlay.add_caption(event(""))  # an empty step is still silence
    assert overlay.faded() and not overlay.isVisible()
    overlay.add_caption(event(" more"))
    assert not overlay.faded() and overlay.isVisible()
    box = overlay.box_rect()
    assert overlay.grab().toImage().pixelColor(box.left() + 4, box.center().y()).alpha() == round(0.8 * 255)


def test_fading_is_gradual(qtbot) -> None:
    overlay = make(qtbot, CaptionStyle(fade_after_s=0.05))
    speak(overlay, "fading")
    box = overlay.box_rect()
    seen: set[int] = set()

    def partly_faded() -> bool:
        seen.add(overlay.grab().toImage().pixelColor(box.left() + 4, box.center().y()).alpha())
        return any(0 < a < round(0.8 * 255) for a in seen)

    qtbot.waitUntil(partly_faded, timeout=3000)


def test_no_fade_when_disabled_and_a_hidden_overlay_stays_hidden(qtbot) -> None:
    overlay = make(qtbot, CaptionStyle(fade_after_s=0))
    speak(overlay, "still here")
    qtbot.wait(400)
    assert not overlay.faded() and overlay.isVisible()
    overlay.hide()
    speak(overlay, "more words")
    assert not overlay.isVisible()


def test_lag_indicator(qtbot) -> None:
    overlay = make(qtbot)
    strip = overlay.rect().adjusted(0, 0, 0, -overlay.box_rect().height() - 1)

    def badge_pixels() -> int:
        return count_pixels(overlay.grab().toImage(), strip, lambda c: c.alpha() > 0)

    assert overlay.lag_text() == "" and badge_pixels() == 0
    overlay.set_lag(2.44)
    assert overlay.lag_text() == "2.4 s behind"
    assert badge_pixels() > 50
    overlay.set_lag(1.2)
    assert overlay.lag_text() == "" and badge_pixels() == 0
    overlay.set_lag(1.5)
    assert overlay.lag_text() == "1.5 s behind"
    overlay.set_lag(None)
    assert overlay.lag_text() == ""


def test_resize_grip_shows_while_hovered(qtbot) -> None:
    overlay = make(qtbot)
    box = overlay.box_rect()
    corner = QRect(box.right() - 20, box.bottom() - 20, 20, 20)

    def grip_pixels() -> int:
        return count_pixels(overlay.grab().toImage(), corner, lambda c: c.lightness() > 100)

    assert grip_pixels() == 0
    position = QPointF(corner.center())
    QApplication.sendEvent(overlay, QEnterEvent(position, position, overlay.mapToGlobal(position)))
    assert grip_pixels() > 5
    overlay.set_click_through(True)  # nothing to grab then
    assert grip_pixels() == 0
    overlay.set_click_through(False)
    QApplication.sendEvent(overlay, QEvent(QEvent.Type.Leave))
    assert grip_pixels() == 0


def drag(overlay: CaptionOverlay, start: QPoint, by: QPoint) -> None:
    QTest.mousePress(overlay, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(overlay, start + by)
    QTest.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=start + by)


def test_dragging_or_resizing_never_leaves_it_off_the_screen(qtbot) -> None:
    overlay = make(qtbot)
    area = QGuiApplication.primaryScreen().availableGeometry()
    for by in (QPoint(-5000, 0), QPoint(5000, 0), QPoint(0, -5000), QPoint(0, 5000), QPoint(4000, 4000)):
        drag(overlay, QPoint(overlay.width() // 2, 40), by)
        assert area.contains(overlay.geometry()), by
    drag(overlay, QPoint(overlay.width() - 3, overlay.height() - 3), QPoint(9000, 0))  # the corner grip
    assert area.contains(overlay.geometry())
    drag(overlay, QPoint(2, 40), QPoint(-9000, 0))  # the left edge
    assert area.contains(overlay.geometry())
    with qtbot.waitSignal(overlay.placementChanged, timeout=3000) as saved:
        drag(overlay, QPoint(overlay.width() // 2, 40), QPoint(-9000, 9000))
    x, y, w, h = saved.args[1]
    assert area.contains(QRect(x, y, w, h))  # what is remembered is on the screen too


@pytest.mark.parametrize("dock", ["floating", "bottom"])
def test_an_overlay_taller_than_the_screen_keeps_its_handle_on_it(qtbot, dock: str) -> None:
    overlay = make(qtbot, CaptionStyle(font_size=160, lines=3, fade_after_s=0), dock=dock)
    area = QGuiApplication.primaryScreen().availableGeometry()
    assert overlay.height() > area.height()  # 160 pt in three lines
    for by in (QPoint(0, 5000), QPoint(0, -5000), QPoint(0, 5000)):
        drag(overlay, QPoint(overlay.width() // 2, 10), by)
        assert overlay.y() == area.top(), by  # the strip with the handle and the buttons is on the screen
    overlay.reset_position()
    assert overlay.y() == area.top()


def test_a_screen_that_changes_brings_it_back(qtbot) -> None:
    overlay = make(qtbot)
    screen = QGuiApplication.primaryScreen()
    area = screen.availableGeometry()
    overlay.move(area.right() + 500, area.bottom() + 500)  # where a screen that went away or shrank left it
    assert not area.contains(overlay.geometry())
    screen.availableGeometryChanged.emit(area)
    qtbot.waitUntil(lambda: area.contains(overlay.geometry()), timeout=2000)


def test_reset_position_brings_back_the_default_place(qtbot) -> None:
    screen = QGuiApplication.primaryScreen()
    overlay = make(qtbot, placements={screen.name(): (3, 4, 300, 100)})
    assert overlay.pos() == QPoint(3, 4)
    with qtbot.waitSignal(overlay.placementChanged, timeout=3000) as reset:
        overlay.reset_position()
    area = screen.availableGeometry()
    assert overlay.width() == pytest.approx(area.width() * 0.6, abs=2)
    assert abs(overlay.geometry().center().x() - area.center().x()) <= 2
    assert reset.args == [screen.name(), (overlay.x(), overlay.y(), overlay.width(), overlay.height())]


@pytest.mark.parametrize("dock", ["top", "bottom"])
def test_docked_at_full_width_and_it_stays_there(qtbot, dock: str) -> None:
    screen = QGuiApplication.primaryScreen()
    area = screen.availableGeometry()
    overlay = make(qtbot, placements={screen.name(): (30, 40, 300, 100)}, dock=dock)
    assert (overlay.x(), overlay.width()) == (area.x(), area.width())
    if dock == "top":
        assert overlay.y() == area.top()
    else:
        assert overlay.geometry().bottom() == area.bottom()
    assert overlay.height() == overlay.box_rect().bottom() + 1  # the box fits its lines exactly
    docked = overlay.geometry()
    drag(overlay, QPoint(overlay.width() // 2, 40), QPoint(-100, -100))
    drag(overlay, QPoint(overlay.width() - 3, overlay.height() - 3), QPoint(-300, 0))
    assert overlay.geometry() == docked
    overlay.set_style(dataclasses.replace(overlay.caption_style(), font_size=60, lines=3))  # taller: still docked
    assert overlay.width() == area.width() and area.contains(overlay.geometry())
    edge = overlay.geometry().top() == area.top() if dock == "top" else overlay.geometry().bottom() == area.bottom()
    assert edge
    overlay.set_dock("floating")  # the floating place is kept while docked
    assert overlay.geometry() == QRect(30, 40, max(300, overlay.minimumWidth()), overlay.height())


def test_the_control_strip_shows_while_the_pointer_rests_on_it(qtbot) -> None:
    from PySide6.QtGui import QAction

    overlay = make(qtbot)
    pressed = []
    actions = [QAction(text, overlay) for text in ("&Stop captions", "Show &window", "Se&ttings…", "&Click-through")]
    actions[0].triggered.connect(lambda: pressed.append("stop"))
    overlay.set_controls(actions)
    assert not overlay.controls_shown()
    position = QPointF(overlay.width() / 2, overlay.height() / 2)
    QApplication.sendEvent(overlay, QEnterEvent(position, position, overlay.mapToGlobal(position)))
    assert overlay.controls_shown()
    buttons = overlay.controls()
    assert [b.accessibleName() for b in buttons] == ["Stop captions", "Show window", "Settings…", "Click-through"]
    for button in buttons:  # inside the strip above the box, big enough to hit
        assert button.height() >= 24
        geometry = QRect(button.mapTo(overlay, QPoint(0, 0)), button.size())
        assert overlay.rect().contains(geometry) and not geometry.intersects(overlay.box_rect())
    QTest.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert pressed == ["stop"]
    actions[0].setText("&Start captions")
    assert buttons[0].accessibleName() == "Start captions"
    QApplication.sendEvent(overlay, QEvent(QEvent.Type.Leave))
    assert not overlay.controls_shown()
    overlay.set_click_through(True)  # it could not be clicked: no controls
    QApplication.sendEvent(overlay, QEnterEvent(position, position, overlay.mapToGlobal(position)))
    assert not overlay.controls_shown()


def test_the_control_strip_can_be_used_from_the_keyboard(qtbot) -> None:
    from PySide6.QtGui import QAction

    overlay = make(qtbot)
    pressed = []
    actions = [QAction(text, overlay) for text in ("&Stop captions", "Show &window", "Se&ttings…", "&Click-through")]
    for action in actions:
        action.triggered.connect(lambda _checked=False, a=action: pressed.append(a.text()))
    overlay.set_controls(actions)
    assert overlay.windowFlags() & Qt.WindowType.WindowDoesNotAcceptFocus  # captions never take the keyboard
    overlay.focus_controls()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is overlay.controls()[0], timeout=3000)
    assert overlay.controls_shown()
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is overlay.controls()[1]
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
    assert pressed == ["Show &window"]
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    assert not overlay.controls_shown() and overlay.isVisible()
    assert overlay.windowFlags() & Qt.WindowType.WindowDoesNotAcceptFocus  # the keyboard is given back


def test_two_voices_at_once_read_as_two_lines_on_the_overlay(qtbot) -> None:
    overlay = make(qtbot, CaptionStyle(fade_after_s=0, lines=3))
    at = 0.0
    for mine, theirs in zip(["can", "you", "hear", "me"], ["yes", "we", "hear", "you"], strict=True):
        overlay.add_caption(CaptionEvent("mic", " " + mine, (), at, at + 0.08), "You")
        overlay.add_caption(CaptionEvent("sys", " " + theirs, (), at + 0.04, at + 0.12), "Others")
        at += 0.24
    assert overlay.visible_lines() == ["You: can you hear me", "Others: yes we hear you"]
    overlay.add_caption(CaptionEvent("mic", " Great", (), at + 1.0, at + 1.08), "You")  # after a pause: below
    assert overlay.visible_lines()[-1] == "You: Great"
