"""Issue 13, item 11: the first graph a new user sees says which words the demo model knows."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFontMetricsF

from nodestudio.app.packs import create_registry
from nodestudio.demo import world
from nodestudio.paths import workflows_dir
from nodestudio.ui.canvas.geometry import label_font

EVERY_WORD = [*world.SHAPES, *world.COLOURS, *world.POSITIONS, *world.SIZES, *world.BACKGROUNDS]


def test_the_first_run_graph_shows_the_demo_models_words(make_window):
    window = make_window(create_registry())
    assert window.open_file(workflows_dir() / "text_to_image.json", ask=False)
    notes = [item for item in window.scene.node_items.values() if item.node.type == "utils.note"]
    assert len(notes) == 1
    [note] = notes
    text = note.value("text")
    assert "nodestudio-shapes" in text
    for word in EVERY_WORD:
        assert word in text, word
    # Big enough to show every line of it.
    [slot] = note.geometry.widgets
    needed = QFontMetricsF(label_font()).boundingRect(
        QRectF(slot.rect.adjusted(9.0, 6.0, -9.0, -6.0)),
        int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap),
        text)
    assert needed.height() <= slot.rect.height() - 12.0
