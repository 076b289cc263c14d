"""The caption overlay: a frameless, always-on-top, translucent window showing roll-up captions."""

from __future__ import annotations

import math

from PySide6.QtCore import QEasingCurve, QEvent, QPoint, QPointF, QRect, QRectF, Qt, QTimer, QVariantAnimation, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QEnterEvent,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QScreen,
)
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QWidget

from app.captions import style as caption_style
from app.captions.layout import RollUp, wrap
from app.captions.style import CaptionStyle
from app.events import CaptionEvent
from app.settings import DOCK_TOP, FLOATING
from app.transcript import SENTENCE_PAUSE_S

PREVIEW_TEXT = ("This is how your captions will look, at their real size, while you change the settings. Every "
                "line of the box is filled so that you can judge the lines shown at once.")
LAG_SHOWN_FROM_S = 1.5  # captions this far behind get a visible "behind" badge
PLACED_CHECK_MS = 300  # after this, an overlay that the window manager put elsewhere when first shown goes back
PAUSED_TEXT = "Captions paused"  # the badge while captions are paused
FADE_DURATION_MS = 600
PLACEMENT_DEBOUNCE_MS = 400
_EDGE_PX = 8  # width of the left/right resize edges
_GRIP_PX = 18  # the bottom-right resize grip
_MIN_WIDTH_CHARS = 12
_CONTROLS_PX = 30  # height of the control strip's buttons: big enough to hit
_CONTROL_STYLE = ("QToolButton{background:rgba(0,0,0,210);color:#ffffff;border:1px solid #9e9e9e;"
                  "border-radius:4px;padding:2px 8px;}"
                  "QToolButton:checked{background:#0d47a1;}QToolButton:hover{border-color:#ffffff;}")


def _rect_tuple(rect: QRect) -> tuple[int, int, int, int]:
    return rect.x(), rect.y(), rect.width(), rect.height()


class CaptionOverlay(QWidget):
    """Live captions over every other window. Drag to move, drag the sides or the corner grip to resize.

    The box height always fits exactly ``style.lines`` lines; the user chooses the width. A strip above the box holds
    the lag badge and, while the pointer rests on the overlay, its control buttons; it is transparent otherwise.
    Docked at the top or bottom of the screen it spans the screen's width and cannot be dragged. However it is moved,
    resized, or its screen changes, the overlay stays inside a screen's available area.
    """

    placementChanged = Signal(str, object)  # screen name, (x, y, w, h) after the user moved or resized the overlay

    def __init__(
        self,
        style: CaptionStyle,
        placements: dict[str, tuple[int, int, int, int]] | None = None,
        click_through: bool = False,
        parent: QWidget | None = None,
        *,
        dock: str = FLOATING,
    ) -> None:
        flags = Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.Tool
        flags |= Qt.WindowType.WindowDoesNotAcceptFocus
        if click_through:
            flags |= Qt.WindowType.WindowTransparentForInput
        super().__init__(parent, flags)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMouseTracking(True)  # to show resize cursors over the edges
        self.setAccessibleName("Live captions")
        self.setAccessibleDescription("")

        self._placements = dict(placements or {})
        self._placed = False
        self._dock = dock
        self._controls = QWidget(self)
        self._controls.setAccessibleName("Caption controls")
        self._controls.setStyleSheet(_CONTROL_STYLE)
        QHBoxLayout(self._controls).setContentsMargins(0, 0, 0, 0)
        self._controls.hide()
        self._rollup = RollUp(style.max_line_chars, style.lines)
        self._text_ends: dict[str, float] = {}  # source id -> where its last words ended (a pause ends its line)
        self._lag_text = ""
        self._paused = False  # captions are paused: the badge says so instead of the lag
        self._previewing = False  # sample text fills an empty box while a style is being edited
        self._opacity = 1.0  # painted fade level, so grab() and every platform see the same result
        self._faded = False
        self._hidden_by_fade = False
        self._hover = False
        self._keyboard = False  # the control strip has the keyboard (focus_controls)
        self._press: tuple[str, QPoint, QRect] | None = None  # (what: move/left/right, global press point, geometry)

        self._first_place = QRect()
        self._placed_check = QTimer(self, singleShot=True, interval=PLACED_CHECK_MS)
        self._placed_check.timeout.connect(self._back_to_first_place)
        self._fade_timer = QTimer(self, singleShot=True)
        self._fade = QVariantAnimation(self, startValue=1.0, endValue=0.0, duration=FADE_DURATION_MS)
        self._fade.setEasingCurve(QEasingCurve.Type.InQuad)
        self._fade.valueChanged.connect(self._set_opacity)
        self._fade.finished.connect(self._fade_finished)
        self._fade_timer.timeout.connect(self._fade.start)
        self._placement_timer = QTimer(self, singleShot=True, interval=PLACEMENT_DEBOUNCE_MS)
        self._placement_timer.timeout.connect(self._emit_placement)
        # Screens come and go (a laptop leaves its dock) and change size; the overlay must never be left off-screen.
        self._screen_timer = QTimer(self, singleShot=True, interval=0)
        self._screen_timer.timeout.connect(self._keep_on_screen)
        app = QGuiApplication.instance()
        app.screenAdded.connect(self._watch_screen)
        app.screenRemoved.connect(self._screens_changed)
        for screen in QGuiApplication.screens():
            self._watch_screen(screen)

        self.set_style(style)

    # --- public API -------------------------------------------------------------------------------------------

    def caption_style(self) -> CaptionStyle:
        """The style in use."""
        return self._style

    def set_style(self, style: CaptionStyle) -> None:
        """Apply a new look; the box height follows the font and the number of lines."""
        self._style = style
        self._font = QFont(style.font_family, style.font_size)
        self._metrics = QFontMetricsF(self._font)
        self._badge_font = QFont(style.font_family, max(9, min(16, style.font_size // 2)))
        self._pad = max(6.0, self._metrics.height() * 0.3)
        self._strip = max(int(QFontMetricsF(self._badge_font).height()) + 6, _CONTROLS_PX + 4)
        narrowest = int(self._metrics.averageCharWidth() * _MIN_WIDTH_CHARS + 2 * self._pad)
        # Very large fonts must still fit on the screen, even if fewer characters fit on a line then.
        self.setMinimumWidth(min(narrowest, QGuiApplication.primaryScreen().availableGeometry().width()))
        bottom = self.geometry().bottom()
        self.setFixedHeight(self._box_height() + self._strip)
        if self._placed and self._dock != FLOATING:
            self._place()
        elif self._placed:
            # The box keeps its bottom edge, where the newest line is read, and stays on the screen.
            self.setGeometry(self._clamped(self._screen(), (self.x(), bottom + 1 - self.height(), self.width(), 0)))
        self._update_wrap()
        if style.fade_after_s <= 0:
            self._fade_timer.stop()
            self._unfade()
        elif self._fade_timer.isActive():
            self._fade_timer.start(int(style.fade_after_s * 1000))
        self.update()

    def preview(self, style: CaptionStyle) -> None:
        """Show ``style`` at its real size while it is being edited: sample text fills the box when no caption
        does. ``end_preview`` takes the sample away; the style stays until the next ``set_style``."""
        self._previewing = True
        self.set_style(style)
        self._unfade()
        self._fade_timer.stop()

    def end_preview(self) -> None:
        self._previewing = False
        self.update()

    def previewing(self) -> bool:
        return self._previewing

    def contrast_warning(self) -> str | None:
        """Why the current colours may be hard to read (below 4.5:1), or None."""
        return caption_style.contrast_warning(self._style)

    def add_caption(self, event: CaptionEvent, label: str = "") -> None:
        """Show new text from ``event.source_id``, labelled with ``label`` when the speaker changes."""
        last_end = self._text_ends.get(event.source_id)
        paused = last_end is not None and event.start_s - last_end >= SENTENCE_PAUSE_S
        if event.text.strip():
            self._text_ends[event.source_id] = event.end_s
        self._rollup.add(event.source_id, event.text, label, paused=paused)
        # Steps that only carry control tokens arrive during silence too; they must not keep the overlay awake.
        if not event.text.strip():
            return
        self._unfade()
        if self._style.fade_after_s > 0:
            self._fade_timer.start(int(self._style.fade_after_s * 1000))
        lines = self._rollup.lines()
        self.setAccessibleDescription(lines[-1] if lines else "")
        self.update()

    def set_lag(self, lag_s: float | None) -> None:
        """Show how far captions run behind, when that is at least ``LAG_SHOWN_FROM_S``; None hides the badge."""
        text = f"{lag_s:.1f} s behind" if lag_s is not None and lag_s >= LAG_SHOWN_FROM_S else ""
        if text != self._lag_text:
            self._lag_text = text
            self.update()

    def set_paused(self, paused: bool) -> None:
        """Say on the overlay that captions are paused (nothing new will come until they are resumed); the
        overlay stays in view meanwhile rather than fading as after silence."""
        self._paused = paused
        if paused:
            self._fade_timer.stop()
            self._unfade()
        elif self._style.fade_after_s > 0:
            self._fade_timer.start(int(self._style.fade_after_s * 1000))
        self.update()

    def lag_text(self) -> str:
        """The badge text, "" when hidden."""
        return PAUSED_TEXT if self._paused else self._lag_text

    def set_click_through(self, on: bool) -> None:
        """Let mouse clicks pass to the windows below (the real ``WindowTransparentForInput`` flag)."""
        if on == self.click_through():
            return
        visible = self.isVisible()
        if on:  # the buttons could not be clicked any more
            self._controls.hide()
        self.setWindowFlag(Qt.WindowType.WindowTransparentForInput, on)
        if visible:  # changing window flags hides the window
            self.show()

    def click_through(self) -> bool:
        """Whether clicks pass through."""
        return bool(self.windowFlags() & Qt.WindowType.WindowTransparentForInput)

    def set_controls(self, actions: list[QAction]) -> None:
        """The buttons of the control strip, shown while the pointer rests on the overlay; they follow the
        actions' text and checked state."""
        layout = self._controls.layout()
        while layout.count():
            layout.takeAt(0).widget().deleteLater()
        for action in actions:
            button = QToolButton(self._controls)
            button.setDefaultAction(action)
            button.setAccessibleName(action.text().replace("&", ""))
            action.changed.connect(lambda b=button, a=action: b.setAccessibleName(a.text().replace("&", "")))
            button.setFixedHeight(_CONTROLS_PX)
            layout.addWidget(button)
        self._controls.adjustSize()

    def controls(self) -> list[QToolButton]:
        """The control strip's buttons."""
        return self._controls.findChildren(QToolButton)

    def controls_shown(self) -> bool:
        """Whether the control strip is showing."""
        return self._controls.isVisible()

    def focus_controls(self) -> None:
        """Give the control strip the keyboard: Tab moves between its buttons, Space presses one, Escape (or
        activating another window) gives the keyboard back. The overlay takes no focus otherwise, so that showing
        captions never takes the keyboard from the program being typed into."""
        if self.click_through() or not self.controls():
            return
        self._keyboard = True
        self._set_takes_focus(True)
        self._show_controls()
        self.activateWindow()
        self.controls()[0].setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _release_keyboard(self) -> None:
        if not self._keyboard:
            return
        self._keyboard = False
        if not self._hover:
            self._controls.hide()
        self._set_takes_focus(False)

    def _set_takes_focus(self, on: bool) -> None:
        visible = self.isVisible()
        self.setWindowFlag(Qt.WindowType.WindowDoesNotAcceptFocus, not on)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, not on)
        if visible or on:  # changing window flags hides the window
            self.show()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape and self._keyboard:
            self._release_keyboard()
            event.accept()
            return
        super().keyPressEvent(event)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ActivationChange and not self.isActiveWindow():
            self._release_keyboard()
        super().changeEvent(event)

    def dock(self) -> str:
        """FLOATING, DOCK_TOP or DOCK_BOTTOM."""
        return self._dock

    def set_dock(self, dock: str) -> None:
        """Dock to the top or bottom edge of the screen at full width, or float where the user last put it."""
        if dock == self._dock:
            return
        self._dock = dock
        self.update()
        if self._placed:
            self._place()

    def reset_position(self) -> None:
        """Forget where the user put the overlay on its screen: back to the default place, floating or docked."""
        self._placements.pop(self._screen().name(), None)
        self._place()
        if self._dock == FLOATING:
            self._emit_placement()

    def clear(self) -> None:
        """Remove all text."""
        self._rollup.clear()
        self._text_ends.clear()
        self.setAccessibleDescription("")
        self.update()

    def visible_lines(self) -> list[str]:
        """The lines currently laid out in the box."""
        return self._rollup.lines()

    def full_text(self, source_id: str | None = None) -> str:
        """All caption text received (for one source, or all), exactly as it arrived."""
        return self._rollup.full_text(source_id)

    def faded(self) -> bool:
        """Whether the overlay has faded out after silence."""
        return self._faded

    def box_rect(self) -> QRect:
        """Where the caption box lies inside the window."""
        return QRect(0, self._strip, self.width(), self._box_height())

    def setVisible(self, visible: bool) -> None:  # noqa: N802 - Qt override
        # Whoever shows or hides the overlay decides; new text must not bring back an overlay the user hid.
        self._hidden_by_fade = False
        first = visible and not self._placed
        if first:
            self._placed = True
            self._place()
        super().setVisible(visible)
        if first:  # a window manager may map a new window where it chooses (openbox: the top left, at times)
            self._first_place = self.geometry()
            self._placed_check.start()

    # --- layout ----------------------------------------------------------------------------------------------

    def _box_height(self) -> int:
        return math.ceil(self._style.lines * self._metrics.lineSpacing() + 2 * self._pad)

    def _update_wrap(self) -> None:
        room = self.width() - 2 * self._pad
        # Measured widths, not character counts alone: wide glyphs would otherwise run past the box.
        metrics = self._metrics
        self._rollup.set_geometry(self._style.max_line_chars, self._style.lines,
                                  lambda line: metrics.horizontalAdvance(line) <= room)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        self._update_wrap()
        super().resizeEvent(event)

    def _back_to_first_place(self) -> None:
        if self.isVisible() and self.geometry() != self._first_place:
            self.setGeometry(self._first_place)

    def _screen(self) -> QScreen:
        return self.screen() or QGuiApplication.primaryScreen()

    def _place(self) -> None:
        self._placed_check.stop()
        screen = self._screen()
        if self._dock != FLOATING:
            area = screen.availableGeometry()
            y = area.top() if self._dock == DOCK_TOP else max(area.top(), area.bottom() + 1 - self.height())
            self.setGeometry(area.x(), y, area.width(), self.height())
            return
        saved = self._placements.get(screen.name())
        if saved is None:
            screen = QGuiApplication.primaryScreen()
            area = screen.availableGeometry()
            width = int(area.width() * 0.6)
            x = area.x() + (area.width() - width) // 2
            y = area.bottom() + 1 - self.height() - int(area.height() * 0.05)
            saved = (x, y, width, self.height())
        self.setGeometry(self._clamped(screen, saved))

    def _watch_screen(self, screen: QScreen) -> None:
        screen.availableGeometryChanged.connect(self._screens_changed)

    def _screens_changed(self, *_: object) -> None:
        # Later, once Qt has moved the windows of a removed screen to another one.
        self._screen_timer.start()

    def _keep_on_screen(self) -> None:
        if not self._placed:
            return
        if self._dock != FLOATING:
            self._place()
            return
        screen = QGuiApplication.screenAt(self.geometry().center()) or self._screen()
        clamped = self._clamped(screen, _rect_tuple(self.geometry()))
        if clamped != self.geometry():
            self.setGeometry(clamped)

    def _clamped(self, screen: QScreen, rect: tuple[int, int, int, int]) -> QRect:
        area = screen.availableGeometry()
        x, y, w, _ = rect  # the height is not the user's: it follows from the font and the number of lines
        w = max(self.minimumWidth(), min(w, area.width()))
        h = self.height()
        x = min(max(x, area.left()), area.right() + 1 - w)
        y = max(min(y, area.bottom() + 1 - h), area.top())  # taller than the screen: the handle on top stays on it
        return QRect(x, y, w, h)

    # --- fading ----------------------------------------------------------------------------------------------

    def _set_opacity(self, value: float) -> None:
        self._opacity = float(value)
        self.update()

    def _fade_finished(self) -> None:
        self._faded = True
        if self.isVisible():
            # Hidden rather than left fully transparent, so the invisible window does not catch clicks.
            super().setVisible(False)
            self._hidden_by_fade = True

    def _unfade(self) -> None:
        self._fade.stop()
        self._faded = False
        self._set_opacity(1.0)
        if self._hidden_by_fade:
            self.show()

    # --- moving and resizing ------------------------------------------------------------------------------------

    def _zone(self, pos: QPointF) -> str:
        in_grip_rows = pos.y() >= self.height() - _GRIP_PX  # the height is fixed, so the grip resizes the width
        if pos.x() >= self.width() - (_GRIP_PX if in_grip_rows else _EDGE_PX):
            return "right"
        return "left" if pos.x() < _EDGE_PX else "move"

    def enterEvent(self, event: QEnterEvent) -> None:  # noqa: N802 - Qt override
        self._hover = True  # the resize grip and the controls show only while the pointer is over the overlay
        self._show_controls()
        self.update()
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        self._hover = False
        if not self._keyboard:
            self._controls.hide()
        self.update()
        super().leaveEvent(event)

    def _show_controls(self) -> None:
        if self.click_through() or not self.controls():
            return
        self._controls.adjustSize()
        self._controls.move(2, max(0, (self._strip - self._controls.height()) // 2))
        self._controls.show()
        self._controls.raise_()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() != Qt.MouseButton.LeftButton or self._dock != FLOATING:
            return super().mousePressEvent(event)
        self._placed_check.stop()  # where the user puts it now counts
        self._press = (self._zone(event.position()), event.globalPosition().toPoint(), self.geometry())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._dock != FLOATING:
            self.unsetCursor()
            return
        if self._press is None:
            moving = self._zone(event.position()) == "move"
            self.setCursor(Qt.CursorShape.SizeAllCursor if moving else Qt.CursorShape.SizeHorCursor)
            return
        what, start, geometry = self._press
        pointer = event.globalPosition().toPoint()
        delta = pointer - start
        if what == "move":
            wanted = (geometry.x() + delta.x(), geometry.y() + delta.y(), geometry.width(), 0)
        elif what == "right":
            wanted = (geometry.x(), geometry.y(), geometry.width() + delta.x(), 0)
        else:
            width = max(self.minimumWidth(), geometry.width() - delta.x())
            wanted = (geometry.right() + 1 - width, geometry.y(), width, 0)
        # Clamped to the screen under the pointer, so it can be dragged to another screen but never off all of them.
        screen = QGuiApplication.screenAt(pointer) or self._screen()
        self.setGeometry(self._clamped(screen, wanted))
        self._placement_timer.start()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton and self._press is not None:
            self._press = None
            self._placement_timer.start()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def _emit_placement(self) -> None:
        screen = self.screen() or QGuiApplication.primaryScreen()
        if self._dock != FLOATING:  # a docked overlay's place follows from its screen; the floating one is kept
            return
        placement = _rect_tuple(self.geometry())
        self._placements[screen.name()] = placement
        self.placementChanged.emit(screen.name(), placement)

    # --- painting --------------------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        style = self._style
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setOpacity(self._opacity)
        box = QRectF(self.box_rect())
        background = QColor(style.background_color)
        background.setAlphaF(style.background_opacity)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(background)
        radius = min(self._pad, 12.0)
        painter.drawRoundedRect(box, radius, radius)
        painter.setClipRect(box)
        self._paint_lines(painter, box)
        painter.setClipping(False)
        if self.lag_text():
            self._paint_badge(painter)
        if self._hover and not self.click_through() and self._dock == FLOATING:
            self._paint_grip(painter, box)
        painter.end()

    def _paint_lines(self, painter: QPainter, box: QRectF) -> None:
        style = self._style
        text_color = QColor(style.text_color)
        x = box.left() + self._pad
        baseline = box.top() + self._pad + self._metrics.ascent()
        painter.setFont(self._font)
        lines = self._rollup.lines()
        if not lines and self._previewing:
            room = box.width() - 2 * self._pad
            lines = wrap(PREVIEW_TEXT, style.max_line_chars, lambda t: self._metrics.horizontalAdvance(t) <= room)
            lines = lines[: style.lines]
        if not style.outline:
            painter.setPen(text_color)
            for i, line in enumerate(lines):
                painter.drawText(QPointF(x, baseline + i * self._metrics.lineSpacing()), line)
            return
        path = QPainterPath()
        for i, line in enumerate(lines):
            path.addText(QPointF(x, baseline + i * self._metrics.lineSpacing()), self._font, line)
        # The rim contrasts with the glyphs (dark for light text, light for dark text) so it reads on any backdrop.
        rim = QColor("#000000") if caption_style.relative_luminance(style.text_color) > 0.18 else QColor("#ffffff")
        pen = QPen(rim, max(2.0, self._metrics.height() / 12))
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.strokePath(path, pen)
        painter.fillPath(path, text_color)

    def _paint_badge(self, painter: QPainter) -> None:
        metrics = QFontMetricsF(self._badge_font)
        width = metrics.horizontalAdvance(self.lag_text()) + 12
        badge = QRectF(self.width() - width, 0, width, self._strip - 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 200))
        painter.drawRoundedRect(badge, 4, 4)
        painter.setPen(QColor("#ffd54f"))
        painter.setFont(self._badge_font)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, self.lag_text())

    def _paint_grip(self, painter: QPainter, box: QRectF) -> None:
        grip = QColor(self._style.text_color)
        grip.setAlphaF(0.6)
        painter.setPen(QPen(grip, 1.5))
        corner = box.bottomRight() - QPointF(3, 3)
        for offset in (5, 10, 15):
            painter.drawLine(corner - QPointF(offset, 0), corner - QPointF(0, offset))
