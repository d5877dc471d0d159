"""What a run draws over a node: the live preview, the progress bar and the status badge."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from nodestudio.ui.canvas import geometry as geo
from nodestudio.ui.theme import NO_PEN

STATUS_COLORS = {"queued": "text_dim", "running": "accent", "cached": "success",
                 "done": "success", "error": "error"}


def paint_preview(painter: QPainter, rect: QRectF | None, image: QImage | None) -> None:
    """``image`` fitted into ``rect``, centred."""
    if rect is None or image is None:
        return
    scale = min(rect.width() / max(image.width(), 1), rect.height() / max(image.height(), 1))
    size = QRectF(0, 0, image.width() * scale, image.height() * scale)
    size.moveCenter(rect.center())
    # Smooth only when shrinking: magnified, a small image's pixels stay sharp blocks.
    on_screen = scale * painter.worldTransform().m11()
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, on_screen <= 1.0)
    painter.drawImage(size, image)


def paint_run_state(painter: QPainter, theme: Any, width: float, status: str | None,
                    status_text: str, progress: float | None) -> None:
    """The progress bar under the header and the status badge at its right."""
    if progress is not None:
        bar = QRectF(0.0, geo.HEADER_HEIGHT - 3.0, width, 3.0)
        painter.fillRect(bar, theme.color("widget_fill"))
        painter.fillRect(QRectF(bar.left(), bar.top(), bar.width() * progress, 3.0),
                         theme.color("accent"))
    if not status:
        return
    text = status_text or status
    if status == "running" and progress is not None and not status_text:
        text = f"{progress * 100:.0f}%"
    badge = QRectF(width - geo.PAD_X - 58.0, 7.0, 58.0, 16.0)
    painter.setPen(NO_PEN)
    painter.setBrush(theme.color(STATUS_COLORS.get(status, "text_dim")))
    painter.drawRoundedRect(badge, 8.0, 8.0)
    painter.setPen(QColor("#ffffff"))
    painter.setFont(geo.canvas_font(10))
    painter.drawText(badge, Qt.AlignmentFlag.AlignCenter,
                     painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight,
                                                      int(badge.width() - 6)))
