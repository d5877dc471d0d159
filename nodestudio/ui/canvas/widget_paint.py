"""Painting the widgets inside nodes: value boxes, sliders, switches, text, the Browse button.

Painted, not QWidgets, so a graph with thousands of values stays cheap to draw and to pan.
Everything here draws from a :class:`WidgetSlot` and a value; nothing reads the node item.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen

from nodestudio.app.choices import INPUT_IMAGES_SOURCE
from nodestudio.ui.canvas.geometry import WidgetSlot, label_font, text_width
from nodestudio.ui.canvas.widget_values import elide_value, format_value
from nodestudio.ui.theme import NO_PEN, Theme

ARROW_ZONE = 16.0
#: The Browse… button at the right end of a picture input's dropdown (Load Image).
BROWSE_WIDTH = 26.0
FILE_SOURCE = INPUT_IMAGES_SOURCE

# -- painting ----------------------------------------------------------------------------------


def browse_rect(slot: WidgetSlot) -> QRectF | None:
    """Where a picture input's Browse… button is (None for other widgets)."""
    if slot.kind != "combo" or slot.spec is None or slot.spec.choices_source != FILE_SOURCE:
        return None
    rect = slot.rect
    return QRectF(rect.right() - BROWSE_WIDTH, rect.top(), BROWSE_WIDTH, rect.height())


def _paint_browse_button(painter: QPainter, rect: QRectF, theme: Theme) -> None:
    """A small folder on an accent-tinted end cap: painted, as fonts may lack a folder."""
    radius = rect.height() / 2
    painter.save()
    clip = QPainterPath()
    clip.addRoundedRect(rect.adjusted(-radius, 0.0, 0.0, 0.0), radius, radius)
    painter.setClipPath(clip)
    painter.setPen(NO_PEN)
    painter.setBrush(theme.color("accent", 90))
    painter.drawRect(rect)
    painter.restore()
    center = rect.center() - QPointF(2.0, 0.0)
    folder = QPainterPath()
    folder.moveTo(center + QPointF(-6.0, -4.0))
    folder.lineTo(center + QPointF(-2.0, -4.0))
    folder.lineTo(center + QPointF(-0.5, -2.5))
    folder.lineTo(center + QPointF(6.0, -2.5))
    folder.lineTo(center + QPointF(6.0, 4.5))
    folder.lineTo(center + QPointF(-6.0, 4.5))
    folder.closeSubpath()
    painter.setBrush(theme.color("widget_text"))
    painter.drawPath(folder)


def paint_widget(painter: QPainter, slot: WidgetSlot, value: Any, theme: Theme,
                 hovered: bool, choices_ok: bool = True, control: str = "") -> None:
    rect = slot.rect
    radius = min(rect.height() / 2, 8.0) if slot.kind == "multiline" else rect.height() / 2
    painter.setPen(NO_PEN)
    painter.setBrush(theme.color("widget_hover" if hovered else "widget_fill"))
    painter.drawRoundedRect(rect, radius, radius)
    painter.setFont(label_font())
    if slot.spec is not None and slot.spec.display == "drawing":
        # PNG data (the Paint node's layers): a summary and Edit…, never the text itself.
        from nodestudio.ui.paint.summary import paint_drawing_row

        paint_drawing_row(painter, rect, slot.name, value, theme.color("widget_text"),
                          theme.color("accent"))
        return
    browse = browse_rect(slot)
    if browse is not None:  # the rest of the row lays out left of the button
        _paint_browse_button(painter, browse, theme)
        rect = rect.adjusted(0.0, 0.0, -BROWSE_WIDTH, 0.0)
    kind = slot.kind
    if kind == "multiline":
        _paint_multiline(painter, slot, value, theme)
        return
    if kind == "slider" and slot.spec is not None:
        _paint_slider_fill(painter, slot, value, theme, radius)
    # Every kind keeps the arrows' margin, so that labels and values line up down a node.
    inner = rect.adjusted(ARROW_ZONE + 2, 0.0, -ARROW_ZONE - 2, 0.0)
    if hovered and kind in ("number", "combo"):
        _paint_arrows(painter, rect, theme)
    if kind == "toggle":
        _paint_switch(painter, rect, bool(value), theme)
        inner = inner.adjusted(0.0, 0.0, -24.0, 0.0)
    metrics = painter.fontMetrics()
    text = ""
    if kind != "toggle":
        text = control if kind == "control" else format_value(slot.spec, value)
        if kind == "combo" and len(text) > 28:
            text = text.rsplit("/", 1)[-1]
    empty = kind == "combo" and text == ""
    if empty:
        text = "(none)"
    # The value keeps what it needs, up to 60 % or all a short label leaves (file names are
    # long, their labels short); the label takes the rest, elided if short.
    label_needs = metrics.horizontalAdvance(slot.label) + 8.0
    value_width = min(metrics.horizontalAdvance(text) + 10.0,
                      max(inner.width() * 0.6, inner.width() - label_needs))
    label_width = min(label_needs, inner.width() - value_width)
    label_rect = QRectF(inner.left(), inner.top(), label_width, inner.height())
    value_rect = QRectF(inner.right() - value_width, inner.top(), value_width, inner.height())
    align_v = Qt.AlignmentFlag.AlignVCenter
    painter.setPen(theme.color("widget_label"))
    painter.drawText(label_rect, align_v | Qt.AlignmentFlag.AlignLeft,
                     metrics.elidedText(slot.label, Qt.TextElideMode.ElideRight,
                                        int(label_rect.width())))
    if kind == "toggle":
        return
    painter.setPen(theme.color("node_text_dim") if empty else
                   theme.color("widget_text") if choices_ok else theme.color("warning"))
    painter.drawText(value_rect, align_v | Qt.AlignmentFlag.AlignRight,
                     elide_value(text, value_rect.width(), metrics.horizontalAdvance))


def paint_advanced_toggle(painter: QPainter, rect: QRectF, label: str, expanded: bool,
                          hovered: bool, theme: Theme) -> None:
    """The row that folds a node's advanced inputs ("▸ 7 advanced" / "▾ hide advanced"): a
    quieter widget row with its arrow and text centred. The arrow is painted like the
    header's collapse arrow rather than taken from a font that may lack the glyph."""
    radius = rect.height() / 2
    painter.setPen(NO_PEN)
    painter.setBrush(theme.color("widget_hover") if hovered else theme.color("widget_fill", 110))
    painter.drawRoundedRect(rect, radius, radius)
    font = label_font()
    painter.setFont(font)
    width = text_width(font, label)
    left = rect.center().x() - (width + 14.0) / 2
    tip = QPointF(left + 4.0, rect.center().y())
    path = QPainterPath()
    if expanded:
        path.moveTo(tip + QPointF(-4.0, -2.0))
        path.lineTo(tip + QPointF(4.0, -2.0))
        path.lineTo(tip + QPointF(0.0, 3.0))
    else:
        path.moveTo(tip + QPointF(-2.0, -4.0))
        path.lineTo(tip + QPointF(3.0, 0.0))
        path.lineTo(tip + QPointF(-2.0, 4.0))
    path.closeSubpath()
    color = theme.color("widget_text" if hovered else "widget_label")
    painter.setBrush(color)
    painter.drawPath(path)
    painter.setPen(color)
    painter.drawText(QRectF(left + 14.0, rect.top(), width + 4.0, rect.height()),
                     Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)


def _paint_arrows(painter: QPainter, rect: QRectF, theme: Theme) -> None:
    painter.setBrush(theme.color("widget_label"))
    painter.setPen(NO_PEN)
    cy = rect.center().y()
    for x, direction in ((rect.left() + 9.0, -1), (rect.right() - 9.0, 1)):
        path = QPainterPath()
        path.moveTo(x + 3.0 * direction, cy)
        path.lineTo(x - 2.5 * direction, cy - 4.0)
        path.lineTo(x - 2.5 * direction, cy + 4.0)
        path.closeSubpath()
        painter.drawPath(path)


def _paint_slider_fill(painter: QPainter, slot: WidgetSlot, value: Any, theme: Theme,
                       radius: float) -> None:
    spec = slot.spec
    assert spec is not None
    low, high = float(spec.min or 0), float(spec.max if spec.max is not None else 1)
    try:
        ratio = (float(value) - low) / (high - low) if high > low else 0.0
    except (TypeError, ValueError):
        ratio = 0.0
    ratio = min(1.0, max(0.0, ratio))
    if ratio <= 0:
        return
    fill = theme.color("accent", 110)
    painter.save()
    clip = QPainterPath()
    clip.addRoundedRect(slot.rect, radius, radius)
    painter.setClipPath(clip)
    painter.setBrush(fill)
    painter.drawRect(QRectF(slot.rect.left(), slot.rect.top(), slot.rect.width() * ratio,
                            slot.rect.height()))
    painter.restore()


def _paint_switch(painter: QPainter, rect: QRectF, on: bool, theme: Theme) -> None:
    track = QRectF(rect.right() - 36.0, rect.center().y() - 7.0, 26.0, 14.0)
    painter.setBrush(theme.color("accent") if on else theme.color("node_border"))
    painter.drawRoundedRect(track, 7.0, 7.0)
    knob_x = track.right() - 7.0 if on else track.left() + 7.0
    painter.setBrush(QColor("#ffffff"))
    painter.drawEllipse(QPointF(knob_x, track.center().y()), 5.0, 5.0)


def _paint_multiline(painter: QPainter, slot: WidgetSlot, value: Any, theme: Theme) -> None:
    inner = slot.rect.adjusted(9.0, 6.0, -9.0, -6.0)
    text = value if isinstance(value, str) else ""
    if not text:
        painter.setPen(theme.color("node_text_dim"))
        text = slot.label
    else:
        painter.setPen(theme.color("widget_text"))
    painter.drawText(inner, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                     | Qt.TextFlag.TextWordWrap, text)


def selection_pen(theme: Theme, width: float = 2.0) -> QPen:
    pen = QPen(theme.color("selection"), width)
    pen.setCosmetic(False)
    return pen
