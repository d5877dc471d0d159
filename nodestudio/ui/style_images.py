"""Small pictures the style sheet needs (spin box arrows), drawn once per colour into PNGs.

Qt style sheets take images only as files (``image: url(...)``), and once a style sheet styles
a spin box's frame, Fusion no longer draws its arrows: without these the batch count's arrows
were missing in both themes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QPointF, QStandardPaths, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath

from nodestudio.ui.theme import NO_PEN

#: Drawn at twice the size the style sheet shows them, so they stay crisp on HiDPI screens.
ARROW_WIDTH, ARROW_HEIGHT = 8, 5
_SCALE = 2


def _folder() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericCacheLocation)
    return Path(base or Path.home() / ".cache") / "nodestudio" / "style"


@cache
def arrow_image(direction: str, color: str) -> str:
    """The path (with forward slashes, as url() wants) of a filled ``direction`` ("up" or
    "down") triangle in ``color``; "" when it cannot be written (the arrows then go missing,
    nothing else breaks)."""
    name = f"arrow-{direction}-{QColor(color).name()[1:]}.png"
    path = _folder() / name
    if not path.is_file():
        image = QImage(ARROW_WIDTH * _SCALE, ARROW_HEIGHT * _SCALE,
                       QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        w, h = float(image.width()), float(image.height())
        tip, base = (0.0, h) if direction == "up" else (h, 0.0)
        triangle = QPainterPath(QPointF(0.0, base))
        triangle.lineTo(w, base)
        triangle.lineTo(w / 2, tip)
        triangle.closeSubpath()
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(NO_PEN)
        painter.setBrush(QColor(color))
        painter.drawPath(triangle)
        painter.end()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{id(image)}.tmp")  # another process may write too
            if not image.save(str(partial), "PNG"):
                return ""
            partial.replace(path)
        except OSError:
            return ""
    return path.as_posix()


def spin_box_rules(text: str, dim: str, hover: str) -> str:
    """Style-sheet rules that give spin boxes visible up and down arrows in ``text`` (``dim``
    at the end of the range or when disabled)."""
    up, down = arrow_image("up", text), arrow_image("down", text)
    up_dim, down_dim = arrow_image("up", dim), arrow_image("down", dim)
    boxes = ("QSpinBox", "QDoubleSpinBox")

    def each(part: str) -> str:
        return ", ".join(f"{box}::{part}" for box in boxes)

    return f"""
{each("up-button")}, {each("down-button")} {{ subcontrol-origin: border; width: 16px;
    border: none; background: transparent; }}
{each("up-button")} {{ subcontrol-position: top right; }}
{each("down-button")} {{ subcontrol-position: bottom right; }}
{each("up-button:hover")}, {each("down-button:hover")} {{ background: {hover};
    border-radius: 3px; }}
{each("up-arrow")} {{ image: url("{up}"); width: {ARROW_WIDTH}px; height: {ARROW_HEIGHT}px; }}
{each("down-arrow")} {{ image: url("{down}"); width: {ARROW_WIDTH}px;
    height: {ARROW_HEIGHT}px; }}
{each("up-arrow:disabled")}, {each("up-arrow:off")} {{ image: url("{up_dim}"); }}
{each("down-arrow:disabled")}, {each("down-arrow:off")} {{ image: url("{down_dim}"); }}
"""
