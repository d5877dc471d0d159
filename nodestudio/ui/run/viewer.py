"""A full-size image view: wheel to zoom at the cursor, drag to pan, F to fit, 1 for 100 %."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QImage,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPixmap,
    QResizeEvent,
    QShortcut,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QVBoxLayout,
    QWidget,
)

MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
WHEEL_STEP = 1.25


class ImageView(QGraphicsView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.scene().addItem(self.item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(Qt.GlobalColor.black)
        self.fitted = True
        self._sync_smoothing()

    def _sync_smoothing(self) -> None:
        """Smooth while the image is shown at or below its size; magnified, each pixel is a
        sharp block (a 64 × 64 output's pixels are what the artist zooms in to see)."""
        smooth = self.zoom <= 1.0 + 1e-6
        mode = (Qt.TransformationMode.SmoothTransformation if smooth
                else Qt.TransformationMode.FastTransformation)
        self.item.setTransformationMode(mode)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)

    def set_image(self, image: QImage) -> None:
        self.item.setPixmap(QPixmap.fromImage(image))
        self.scene().setSceneRect(self.item.boundingRect())
        self.fit()

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float) -> None:
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        self.fitted = False
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._sync_smoothing()

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom * factor)

    def fit(self) -> None:
        self.fitted = True
        if not self.item.pixmap().isNull():
            self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)
        self._sync_smoothing()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(WHEEL_STEP ** steps)
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.fitted:
            self.fit()


class ImageViewer(QDialog):
    """Non-modal: the artist can keep working while it is open."""

    def __init__(self, image: QImage, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setModal(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.view = ImageView(self)
        self.info = QLabel(f"{image.width()} × {image.height()}   ·   wheel: zoom   drag: pan"
                           "   F: fit   1: actual size", self)
        self.info.setObjectName("dim")
        self.info.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.info)
        for key, handler in (("F", self.view.fit), ("1", lambda: self.view.set_zoom(1.0)),
                             ("Ctrl+0", lambda: self.view.set_zoom(1.0)),
                             ("+", lambda: self.view.zoom_by(WHEEL_STEP)),
                             ("-", lambda: self.view.zoom_by(1 / WHEEL_STEP))):
            QShortcut(QKeySequence(key), self, handler)
        self.resize(min(1200, max(480, image.width() + 40)),
                    min(900, max(360, image.height() + 60)))
        self.view.set_image(image)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            return
        super().keyPressEvent(event)
