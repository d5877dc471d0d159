"""Run marks drawn over the canvas: a badge above each node, problems on nodes and inputs.

A :class:`RunOverlay` is a child item of a node's item, so it moves with the node and goes
away with it, and it keeps the node's own cached pixmap valid (the node does not repaint when
a badge changes). It takes no mouse buttons: clicks fall through to the node.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from nodestudio.graph.problems import Problem
from nodestudio.ui.canvas import geometry as geo
from nodestudio.ui.canvas.node_item import NodeItem
from nodestudio.ui.run.badges import Badge
from nodestudio.ui.theme import NO_BRUSH, NO_PEN, Theme

BADGE_HEIGHT = 20.0
BADGE_GAP = 6.0
BUBBLE_GAP = 8.0
BUBBLE_MIN_WIDTH = 240.0
BUBBLE_MAX_WIDTH = 380.0
BUBBLE_MAX_LINES = 6
BUBBLE_PAD = 8.0


def badge_font() -> QFont:  # a function: fonts need the QApplication
    return geo.canvas_font(11, QFont.Weight.DemiBold)


def bubble_font() -> QFont:
    return geo.canvas_font(11)


@dataclass
class OverlayState:
    badge: Badge | None = None
    #: Validation problems of this node (with or without an input name).
    problems: list[Problem] = field(default_factory=list)
    #: The message of a failure at run time.
    failure: str | None = None

    @property
    def empty(self) -> bool:
        return self.badge is None and not self.problems and self.failure is None


class RunOverlay(QGraphicsItem):
    def __init__(self, node_item: NodeItem) -> None:
        super().__init__(node_item)
        self.node_item = node_item
        self.state = OverlayState()
        self.badges_visible = True
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)
        self._badge_rect = QRectF()
        self._bubble_rect = QRectF()
        self._bubble_lines: list[str] = []
        self._marks: list[QRectF] = []
        self._bounds = QRectF()
        self._shape = QPainterPath()

    # -- state ----------------------------------------------------------------------------------

    def set_state(self, state: OverlayState, badges_visible: bool) -> None:
        self.state = state
        self.badges_visible = badges_visible
        self.sync()

    @property
    def shows_badge(self) -> bool:
        return self.badges_visible and self.state.badge is not None

    def bubble_text(self) -> list[str]:
        """The lines of the message box under the node (failure first, then problems)."""
        lines = []
        if self.state.failure:
            lines.append(self.state.failure)
        for problem in self.state.problems:
            where = f"{geo.pretty(problem.input)}: " if problem.input else ""
            lines.append(where + problem.message)
        return lines

    def problem_inputs(self) -> list[str]:
        return [p.input for p in self.state.problems if p.input]

    # -- geometry -------------------------------------------------------------------------------

    def sync(self) -> None:
        """Recompute where everything goes (after the node or the state changed)."""
        self.prepareGeometryChange()
        g = self.node_item.geometry
        self._badge_rect = QRectF()
        if self.shows_badge:
            assert self.state.badge is not None
            width = QFontMetricsF(badge_font()).horizontalAdvance(self.state.badge.text) + 30.0
            self._badge_rect = QRectF(g.width - width, -BADGE_HEIGHT - BADGE_GAP, width,
                                      BADGE_HEIGHT)
        self._marks = [rect for rect in (self._input_rect(name) for name in self.problem_inputs())
                       if rect is not None]
        self._bubble_rect, self._bubble_lines = QRectF(), []
        text = self.bubble_text()
        if text:
            width = min(max(g.width, BUBBLE_MIN_WIDTH), BUBBLE_MAX_WIDTH)
            self._bubble_lines = _wrap(text, bubble_font(), width - 2 * BUBBLE_PAD - 14.0)
            metrics = QFontMetricsF(bubble_font())
            height = len(self._bubble_lines) * metrics.lineSpacing() + 2 * BUBBLE_PAD
            self._bubble_rect = QRectF(0.0, g.height + BUBBLE_GAP, width, height)
        bounds = QRectF()
        shape = QPainterPath()
        for rect in (self._badge_rect, self._bubble_rect, *self._marks):
            if not rect.isNull():
                bounds = bounds.united(rect)
                shape.addRect(rect)
        has_content = not bounds.isEmpty()
        self._bounds = bounds.adjusted(-3.0, -3.0, 3.0, 3.0) if has_content else QRectF()
        self._shape = shape
        self.setToolTip("\n".join(text) if text else
                        (self.state.badge.tooltip if self.shows_badge and self.state.badge
                         else ""))
        self.setVisible(has_content)
        self.update()

    def _input_rect(self, name: str) -> QRectF | None:
        g = self.node_item.geometry
        if g.collapsed:
            return None
        slot = g.widget(name)
        if slot is not None and slot.kind != "control":
            return slot.rect.adjusted(-2.0, -2.0, 2.0, 2.0)
        socket = g.inputs.get(name)
        if socket is not None:
            return QRectF(socket.pos.x() - 8.0, socket.pos.y() - 10.0, g.width / 2, 20.0)
        return None

    def badge_rect(self) -> QRectF:
        return QRectF(self._badge_rect)

    def bubble_rect(self) -> QRectF:
        return QRectF(self._bubble_rect)

    def mark_rects(self) -> list[QRectF]:
        return [QRectF(rect) for rect in self._marks]

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._shape

    # -- painting -------------------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        theme: Theme = self.node_item.scene().theme  # type: ignore[attr-defined]
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        error = theme.color("error")
        for rect in self._marks:
            painter.setBrush(theme.color("error", 38))
            painter.setPen(QPen(error, 1.6))
            painter.drawRoundedRect(rect, 5.0, 5.0)
        if not self._badge_rect.isNull() and self.state.badge is not None:
            self._paint_badge(painter, theme, self.state.badge)
        if not self._bubble_rect.isNull():
            self._paint_bubble(painter, theme)

    def _paint_badge(self, painter: QPainter, theme: Theme, badge: Badge) -> None:
        rect = self._badge_rect
        mark = QColor(badge.color) if badge.color.startswith("#") else theme.color(badge.color)
        painter.setPen(QPen(QColor(mark.red(), mark.green(), mark.blue(), 150), 1.0))
        painter.setBrush(theme.color("panel"))
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        dot = QPointF(rect.left() + 11.0, rect.center().y())
        painter.setPen(NO_PEN)
        painter.setBrush(mark)
        if badge.kind == "stale":  # a ring: something to do
            painter.setPen(QPen(mark, 1.8))
            painter.setBrush(NO_BRUSH)
            painter.drawEllipse(dot, 3.2, 3.2)
        else:
            painter.drawEllipse(dot, 3.6, 3.6)
        painter.setFont(badge_font())
        painter.setPen(theme.color("text"))
        text_rect = rect.adjusted(20.0, 0.0, -8.0, 0.0)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         badge.text)

    def _paint_bubble(self, painter: QPainter, theme: Theme) -> None:
        rect = self._bubble_rect
        error = theme.color("error")
        painter.setPen(QPen(error, 1.2))
        painter.setBrush(theme.color("panel"))
        painter.drawRoundedRect(rect, 6.0, 6.0)
        painter.setPen(NO_PEN)
        painter.setBrush(error)
        painter.drawRoundedRect(QRectF(rect.left(), rect.top(), 4.0, rect.height()), 2.0, 2.0)
        painter.setFont(bubble_font())
        metrics = QFontMetricsF(bubble_font())
        painter.setPen(theme.color("text"))
        y = rect.top() + BUBBLE_PAD
        for line in self._bubble_lines:
            painter.drawText(QRectF(rect.left() + BUBBLE_PAD + 6.0, y,
                                    rect.width() - 2 * BUBBLE_PAD - 6.0, metrics.lineSpacing()),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, line)
            y += metrics.lineSpacing()


def _wrap(paragraphs: Iterable[str], font: QFont, width: float) -> list[str]:
    """Word-wrap ``paragraphs`` to ``width``, at most BUBBLE_MAX_LINES lines (… when cut)."""
    metrics = QFontMetricsF(font)
    lines: list[str] = []
    for paragraph in paragraphs:
        for raw in paragraph.splitlines() or [""]:
            current = ""
            for word in raw.split(" "):
                candidate = f"{current} {word}" if current else word
                if metrics.horizontalAdvance(candidate) <= width or not current:
                    current = candidate
                else:
                    lines.append(current)
                    current = word
            lines.append(metrics.elidedText(current, Qt.TextElideMode.ElideRight, width))
    if len(lines) > BUBBLE_MAX_LINES:
        lines = [*lines[:BUBBLE_MAX_LINES - 1], lines[BUBBLE_MAX_LINES - 1].rstrip(". ") + " …"]
    return lines


def overlay_of(item: NodeItem, create: bool = True) -> RunOverlay | None:
    for child in item.childItems():
        if isinstance(child, RunOverlay):
            return child
    return RunOverlay(item) if create else None
