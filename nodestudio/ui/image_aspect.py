"""Widgets that show one picture as wide as their panel and as tall as its shape says."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QSizePolicy, QWidget

#: The tallest a panel picture grows, however narrow and tall the image.
MAX_PICTURE_HEIGHT = 640
MIN_PICTURE_SIDE = 80


class PictureAspect:
    """Mixin (before the Qt base class) for a widget holding ``image``: its height follows the
    image's aspect for the width it gets."""

    image: QImage | None

    def use_picture_aspect(self: QWidget) -> None:  # type: ignore[misc]
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumSize(MIN_PICTURE_SIDE, MIN_PICTURE_SIDE)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if self.image is None or self.image.isNull():
            return MIN_PICTURE_SIDE
        aspect = self.image.height() / max(self.image.width(), 1)
        return max(MIN_PICTURE_SIDE, min(round(width * aspect), MAX_PICTURE_HEIGHT))

    def sizeHint(self) -> QSize:
        return QSize(240, self.heightForWidth(240))
