"""A mesh in the Outputs panel, drawn in software (PySide6-Essentials has no Qt Quick 3D):
vertices turned and projected with numpy, triangles painted far to near (the painter's
algorithm) with flat shading of their vertex colours. Drag to orbit, wheel to zoom,
double-click to reset the view."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

BACKGROUND = QColor(24, 24, 28)
#: The colour of a mesh without vertex colours.
DEFAULT_COLOR = np.array([0.72, 0.74, 0.78], np.float32)
#: Where the light comes from (view space: up, left, towards the viewer).
LIGHT = np.array([-0.4, 0.6, 0.7], np.float32) / np.linalg.norm([-0.4, 0.6, 0.7])
#: Degrees of turn per pixel dragged.
ORBIT_SPEED = 0.5
MIN_ZOOM, MAX_ZOOM = 0.2, 8.0
#: More triangles than this are thinned for drawing (the view stays responsive while orbiting).
MAX_DRAWN_FACES = 40_000
START_YAW, START_PITCH = 30.0, 20.0


class MeshRenderer:
    """Turns, projects and shades a mesh; :meth:`paint` draws it into any painter."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray,
                 colors: np.ndarray | None = None) -> None:
        vertices = np.nan_to_num(np.asarray(vertices, dtype=np.float32))
        faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
        if len(faces) > MAX_DRAWN_FACES:
            faces = faces[np.linspace(0, len(faces) - 1, MAX_DRAWN_FACES).astype(np.int64)]
        # Centred in a unit sphere, so any mesh fills the view the same way.
        low, high = vertices.min(axis=0), vertices.max(axis=0)
        centre = (low + high) / 2.0
        radius = float(np.linalg.norm(vertices - centre, axis=1).max()) or 1.0
        self.vertices = (vertices - centre) / radius
        self.faces = faces
        if colors is None:
            self.face_colors = np.broadcast_to(DEFAULT_COLOR, (len(faces), 3))
        else:
            rgb = np.clip(np.asarray(colors, dtype=np.float32)[:, :3], 0.0, 1.0)
            self.face_colors = rgb[faces].mean(axis=1)

    def view_vertices(self, yaw: float, pitch: float) -> np.ndarray:
        """The vertices turned ``yaw`` degrees about the up axis, then ``pitch`` about x."""
        a, b = math.radians(yaw), math.radians(pitch)
        turn = np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0],
                         [-math.sin(a), 0.0, math.cos(a)]], np.float32)
        tilt = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(b), -math.sin(b)],
                         [0.0, math.sin(b), math.cos(b)]], np.float32)
        return self.vertices @ (tilt @ turn).T

    def paint(self, painter: QPainter, width: int, height: int, yaw: float, pitch: float,
              zoom: float) -> int:
        """Draw the mesh centred in a ``width`` × ``height`` area; returns triangles drawn."""
        if len(self.faces) == 0:
            return 0
        points = self.view_vertices(yaw, pitch)
        # A mild perspective: the camera 3 units away looks at the unit sphere.
        distance = 3.0
        depth = distance - points[:, 2]
        scale = 0.5 * min(width, height) * zoom * distance / 1.15
        screen_x = width / 2.0 + points[:, 0] * scale / np.maximum(depth, 1e-3)
        screen_y = height / 2.0 - points[:, 1] * scale / np.maximum(depth, 1e-3)
        tri = points[self.faces]
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        lengths = np.linalg.norm(normals, axis=1, keepdims=True)
        normals = normals / np.maximum(lengths, 1e-12)
        # Two-sided light: generated meshes do not always wind their triangles one way.
        light = 0.3 + 0.7 * np.abs(normals @ LIGHT)
        shades = np.clip(self.face_colors * light[:, None], 0.0, 1.0)
        rgb = (shades * 255.0 + 0.5).astype(np.int64)
        order = np.argsort(tri[:, :, 2].mean(axis=1))  # far (−z) first
        xs, ys = screen_x[self.faces], screen_y[self.faces]
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(Qt.PenStyle.NoPen)
        brush = QBrush(Qt.BrushStyle.SolidPattern)
        for face in order.tolist():
            brush.setColor(QColor(*rgb[face].tolist()))
            painter.setBrush(brush)
            x, y = xs[face].tolist(), ys[face].tolist()
            painter.drawPolygon(QPolygonF([QPointF(x[0], y[0]), QPointF(x[1], y[1]),
                                           QPointF(x[2], y[2])]))
        return len(order)

    def image(self, size: QSize, yaw: float = START_YAW, pitch: float = START_PITCH,
              zoom: float = 1.0) -> QImage:
        image = QImage(size, QImage.Format.Format_RGB32)
        image.fill(BACKGROUND)
        painter = QPainter(image)
        self.paint(painter, size.width(), size.height(), yaw, pitch, zoom)
        painter.end()
        return image


class MeshView(QWidget):
    """The orbitable view: drag turns the mesh, the wheel zooms."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.renderer: MeshRenderer | None = None
        self.yaw, self.pitch, self.zoom = START_YAW, START_PITCH, 1.0
        self._drag: QPointF | None = None
        self.setMinimumSize(120, 120)
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip("Drag to orbit · wheel to zoom · double-click to reset")

    def set_mesh(self, vertices: np.ndarray, faces: np.ndarray,
                 colors: np.ndarray | None = None) -> None:
        self.renderer = MeshRenderer(vertices, faces, colors)
        self.reset_view()

    def reset_view(self) -> None:
        self.yaw, self.pitch, self.zoom = START_YAW, START_PITCH, 1.0
        self.update()

    def orbit(self, dx: float, dy: float) -> None:
        """Turn by a drag of ``dx``, ``dy`` pixels (pitch stops short of upside down)."""
        self.yaw = (self.yaw + dx * ORBIT_SPEED) % 360.0
        self.pitch = min(89.0, max(-89.0, self.pitch + dy * ORBIT_SPEED))
        self.update()

    def zoom_by(self, factor: float) -> None:
        self.zoom = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom * factor))
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, 280)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return max(120, min(round(width * 0.85), 480))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self.renderer is not None:
            self.renderer.paint(painter, self.width(), self.height(), self.yaw, self.pitch,
                                self.zoom)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:
            delta = event.position() - self._drag
            self._drag = event.position()
            self.orbit(delta.x(), delta.y())
            event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.reset_view()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.2 ** steps)
        event.accept()
