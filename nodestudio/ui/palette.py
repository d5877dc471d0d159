"""The node search palette (Tab, or double-click on the canvas): fuzzy, keyboard-first."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.api.schema import NodeType
from nodestudio.ui.theme import NO_PEN, category_color

TYPE_ROLE = Qt.ItemDataRole.UserRole
CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 1
DESCRIPTION_ROLE = Qt.ItemDataRole.UserRole + 2
MAX_RESULTS = 60


def fuzzy_score(query: str, text: str) -> float | None:
    """How well ``query`` matches ``text`` (higher is better); None when it does not.

    The query's characters must appear in order. Matches at the start, at word starts and in
    runs score more, so "ksa" finds "KSampler" before "Mask Save".
    """
    query, text = query.lower(), text.lower()
    if not query:
        return 0.0
    position = text.find(query)
    if position >= 0:
        starts_word = position == 0 or not text[position - 1].isalnum()
        return 100.0 + (50.0 if position == 0 else 20.0 if starts_word else 0.0) - len(text) * 0.1
    score, index, run = 0.0, 0, 0
    for char in query:
        found = text.find(char, index)
        if found < 0:
            return None
        run = run + 1 if found == index else 0
        starts_word = found == 0 or not text[found - 1].isalnum()
        score += 1.0 + run * 2.0 + (4.0 if starts_word else 0.0) - min(found - index, 10) * 0.2
        index = found + 1
    return score


#: How a query word matched, best first: the tiers keep a name match above any match in a
#: category or a description however the fuzzy scores fall (issue 13: "canny" listed Crop
#: Image from a fuzzy match in its description; "invert" ranked Invert Mask first).
NAME_WORD, NAME_WORD_START, NAME_PART, ID_PART, NAME_FUZZY, CATEGORY, DESCRIPTION = (
    100.0, 80.0, 60.0, 50.0, 10.0, 30.0, 25.0)
#: A name that starts with the word, or is the whole query.
FIRST_WORD_BONUS, WHOLE_NAME_BONUS = 5.0, 50.0


def _words(text: str) -> list[str]:
    return re.findall(r"[0-9a-z]+", text.lower())


def _word_tier(word: str, node_type: NodeType) -> float | None:
    """How well one query word matches the type: by name (whole word, word start, inside the
    name, the id), then a fuzzy name match, then its category or description's words."""
    name_words = _words(node_type.display_name)
    if word in name_words:
        return NAME_WORD + (FIRST_WORD_BONUS if name_words[0] == word else 0.0)
    if any(name_word.startswith(word) for name_word in name_words):
        return NAME_WORD_START + (FIRST_WORD_BONUS if name_words[0].startswith(word) else 0.0)
    if word in node_type.display_name.lower():
        return NAME_PART
    if word in node_type.id.lower():
        return ID_PART
    if any(name_word.startswith(word) for name_word in _words(node_type.category or "")):
        return CATEGORY
    if any(text_word.startswith(word) for text_word in _words(node_type.description or "")):
        return DESCRIPTION
    # Fuzzy matching only on the name: on descriptions nearly every short query matches
    # something. Capped below the description tier.
    fuzzy = fuzzy_score(word, node_type.display_name)
    if fuzzy is not None:
        return NAME_FUZZY + min(fuzzy, 9.0)
    return None


def score_node_type(query: str, node_type: NodeType) -> float | None:
    """The sum over the query's words of how each matches (see ``_word_tier``); None when
    some word matches nowhere. Ties are broken by name (see ``search``)."""
    words = _words(query)
    total = 0.0
    for word in words:
        tier = _word_tier(word, node_type)
        if tier is None:
            return None
        total += tier
    if words and words == _words(node_type.display_name):
        total += WHOLE_NAME_BONUS
    return total


def search(query: str, node_types: Iterable[NodeType]) -> list[NodeType]:
    """Node types matching ``query``, best first (all of them by category when empty).
    Equal matches list alphabetically: "invert" gives Invert Image, then Invert Mask."""
    types = list(node_types)
    if not query.strip():
        return sorted(types, key=lambda t: (t.category, t.display_name))
    scored = [(score, t) for t in types if (score := score_node_type(query, t)) is not None]
    scored.sort(key=lambda pair: (-pair[0], pair[1].display_name.lower()))
    return [t for _score, t in scored]


class _ResultDelegate(QStyledItemDelegate):
    """Name on the left, category on the right, description underneath."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(option.rect.width(), 44)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        rect = option.rect.adjusted(4, 2, -4, -2)
        if selected:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(NO_PEN)
            painter.setBrush(palette.highlight())
            painter.drawRoundedRect(rect, 6, 6)
        category = index.data(CATEGORY_ROLE) or ""
        painter.setPen(NO_PEN)
        painter.setBrush(category_color(category))
        painter.drawRoundedRect(QRect(rect.left() + 8, rect.top() + 9, 4, rect.height() - 18),
                                2, 2)
        text_color = palette.highlightedText().color() if selected else palette.text().color()
        dim = QColor(text_color)
        dim.setAlpha(150)
        name_font = QFont(option.font)
        name_font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(name_font)
        painter.setPen(text_color)
        top = QRect(rect.left() + 20, rect.top() + 3, rect.width() - 28, 20)
        painter.drawText(top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         index.data(Qt.ItemDataRole.DisplayRole))
        painter.setFont(option.font)
        painter.setPen(dim)
        painter.drawText(top, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         category)
        bottom = QRect(rect.left() + 20, rect.top() + 21, rect.width() - 28, 18)
        description = (index.data(DESCRIPTION_ROLE) or "").splitlines()
        painter.drawText(bottom, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         painter.fontMetrics().elidedText(description[0] if description else "",
                                                          Qt.TextElideMode.ElideRight,
                                                          bottom.width()))
        painter.restore()


class SearchPalette(QFrame):
    """A floating search box over the canvas. Enter adds the highlighted node type."""

    chosen = Signal(str)

    def __init__(self, node_types: Callable[[], Iterable[NodeType]], parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("searchPalette")
        self._node_types = node_types
        self._filter: Callable[[NodeType], bool] | None = None
        self._on_pick: Callable[[str], None] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        self.heading = QLabel(self)
        self.heading.setObjectName("dim")
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("Search nodes…")
        self.edit.setClearButtonEnabled(True)
        self.results = QListWidget(self)
        self.results.setItemDelegate(_ResultDelegate(self.results))
        self.results.setUniformItemSizes(True)
        self.results.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.heading)
        layout.addWidget(self.edit)
        layout.addWidget(self.results)
        self.edit.textChanged.connect(self._refresh)
        self.edit.installEventFilter(self)
        self.results.itemActivated.connect(self._activate)
        self.results.itemClicked.connect(self._activate)
        self.resize(420, 380)
        self.hide()
        QApplication.instance().focusChanged.connect(self._focus_changed)

    def open(self, at: QPoint, on_pick: Callable[[str], None],
             accepts: Callable[[NodeType], bool] | None = None, heading: str = "") -> None:
        """Show the palette with its top-left near ``at`` (parent coordinates)."""
        self._on_pick = on_pick
        self._filter = accepts
        self.heading.setText(heading)
        self.heading.setVisible(bool(heading))
        parent = self.parentWidget()
        x = min(max(at.x() - 20, 4), max(parent.width() - self.width() - 4, 4))
        y = min(max(at.y() - 20, 4), max(parent.height() - self.height() - 4, 4))
        self.move(x, y)
        self.edit.blockSignals(True)
        self.edit.clear()
        self.edit.blockSignals(False)
        self._refresh()
        self.show()
        self.raise_()
        self.edit.setFocus()

    def close_palette(self) -> None:
        if self.isVisible():
            self.hide()
            parent = self.parentWidget()
            if parent is not None:
                parent.setFocus()

    def result_ids(self) -> list[str]:
        return [self.results.item(i).data(TYPE_ROLE) for i in range(self.results.count())]

    def _refresh(self) -> None:
        types = [t for t in self._node_types() if self._filter is None or self._filter(t)]
        self.results.clear()
        for node_type in search(self.edit.text(), types)[:MAX_RESULTS]:
            item = QListWidgetItem(node_type.display_name)
            item.setData(TYPE_ROLE, node_type.id)
            item.setData(CATEGORY_ROLE, node_type.category)
            item.setData(DESCRIPTION_ROLE, node_type.description)
            item.setToolTip(f"{node_type.id}\n{node_type.description}")
            self.results.addItem(item)
        if self.results.count():
            self.results.setCurrentRow(0)

    def _activate(self, item: QListWidgetItem) -> None:
        type_id = item.data(TYPE_ROLE)
        callback = self._on_pick
        self.close_palette()
        if callback is not None:
            callback(type_id)
        self.chosen.emit(type_id)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            count = self.results.count()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
                step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 8,
                        Qt.Key.Key_PageUp: -8}[key]
                if count:
                    row = min(max(self.results.currentRow() + step, 0), count - 1)
                    self.results.setCurrentRow(row)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                current = self.results.currentItem()
                if current is not None:
                    self._activate(current)
                return True
            if key == Qt.Key.Key_Escape:
                self.close_palette()
                return True
            if key == Qt.Key.Key_Tab:
                return True
        return super().eventFilter(watched, event)

    def _focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        if self.isVisible() and new is not None and new is not self and \
                not self.isAncestorOf(new):
            self.hide()
