"""Outputs of runs: images on preview nodes, the gallery, full-size view, reveal, copy, drag,
and opening the graph an image carries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QUrl
from PySide6.QtGui import QColor, QGuiApplication

from nodestudio.app.queue import FINISHED


def image_graph(kit, red: float = 1.0) -> dict[str, str]:
    """gradient → save, and gradient → preview."""
    editor = kit.window.editor
    ids = {
        "gradient": editor.add_node("test.gradient", (0, 0)),
        "save": editor.add_node("image.save", (300, 0)),
        "preview": editor.add_node("image.preview", (300, 220)),
    }
    editor.set_value(ids["gradient"], "red", red)
    editor.set_value(ids["save"], "filename_prefix", "gallery")
    editor.connect(ids["gradient"], "image", ids["save"], "images")
    editor.connect(ids["gradient"], "image", ids["preview"], "images")
    return ids


def test_the_gallery_receives_the_saved_file_and_the_preview(kit, qtbot):
    ids = image_graph(kit)
    gallery = kit.controller.gallery
    assert not gallery.isVisible() and kit.window.outputs_dock.placeholder.isVisible()

    job = kit.run()
    assert job.status == FINISHED
    saved = [Path(p) for p in job.result.files]
    assert len(saved) == 1 and saved[0].is_file()
    assert saved[0].parent == kit.output_dir
    files = [entry for entry in gallery.entries if entry.path is not None]
    memory = [entry for entry in gallery.entries if entry.path is None]
    assert [entry.path for entry in files] == saved
    assert [entry.node_id for entry in memory] == [ids["preview"]]
    assert gallery.list.count() == 2
    assert all(not entry.thumb.isNull() for entry in gallery.entries)
    assert not kit.window.outputs_dock.placeholder.isVisible()
    # The file's pixels are the gradient: red everywhere, green rising to the right.
    pixels = np.asarray(Image.open(saved[0]))
    assert pixels.shape == (32, 48, 3) and pixels[0, 0, 0] == 255
    assert pixels[0, -1, 1] == 255 and pixels[0, 0, 1] == 0
    # Preview and save nodes show the image they got, inside the node.
    for node_id in (ids["save"], ids["preview"]):
        item = kit.window.node_item(node_id)
        preview = item.preview
        assert preview is not None and abs(preview.width() / preview.height() - 1.5) < 0.01
        assert preview.pixelColor(0, 0).red() == 255
        assert preview.pixelColor(preview.width() - 1, 0).green() > 240
        assert item.geometry.preview_rect is not None
    # The large view shows the newest image.
    assert gallery.preview.image is not None and not gallery.preview.pixmap().isNull()

    # Running again with nothing changed replays the cached outputs: no duplicates.
    kit.run()
    assert gallery.list.count() == 2
    kit.window.editor.set_value(ids["gradient"], "red", 0.0)
    kit.run()
    assert gallery.list.count() == 4
    newest = gallery.entries[0].full_image() if gallery.entries[0].path else \
        gallery.entries[1].full_image()
    assert newest.pixelColor(0, 0).red() == 0


def test_outputs_can_be_viewed_revealed_copied_and_dragged(kit, qtbot):
    image_graph(kit)
    job = kit.run()
    saved = Path(job.result.files[0])
    gallery = kit.controller.gallery
    entry = next(e for e in gallery.entries if e.path == saved)
    gallery.list.setCurrentRow(gallery.entries.index(entry))

    opened: list[QUrl] = []
    gallery.open_url = lambda url: opened.append(url) or True
    assert gallery.reveal()
    assert [url.toLocalFile() for url in opened] == [str(saved.parent)]

    assert gallery.copy()
    clipboard = QGuiApplication.clipboard()
    copied = clipboard.image()
    assert copied.size().width() == 48 and copied.pixelColor(0, 0).red() == 255
    assert [url.toLocalFile() for url in clipboard.mimeData().urls()] == [str(saved)]

    mime = gallery.mime_data(entry)  # what dragging the thumbnail out carries
    assert [url.toLocalFile() for url in mime.urls()] == [str(saved)]
    assert mime.hasImage()

    viewer = gallery.open_viewer()
    qtbot.waitExposed(viewer)
    view = viewer.view
    assert view.fitted
    fitted = view.zoom
    view.zoom_by(2.0)
    assert abs(view.zoom - fitted * 2.0) < 1e-6 and not view.fitted
    view.horizontalScrollBar().setValue(view.horizontalScrollBar().maximum())
    assert view.horizontalScrollBar().value() > 0  # zoomed in far enough to pan
    view.set_zoom(1.0)
    assert view.zoom == 1.0
    view.fit()
    assert abs(view.zoom - fitted) < 1e-6
    viewer.close()
    qtbot.waitUntil(lambda: not gallery.viewers, timeout=2000)

    preview = next(e for e in gallery.entries if e.path is None)
    assert not gallery.reveal(preview)  # nothing on disk to show
    assert gallery.copy(preview)
    assert QGuiApplication.clipboard().image().pixelColor(0, 0) == QColor(255, 0, 0)


def test_an_output_opens_the_graph_that_made_it(kit, qtbot):
    ids = image_graph(kit, red=0.25)
    job = kit.run()
    made = kit.window.editor.graph.copy()
    kit.window.new_graph()
    assert len(kit.window.editor.graph) == 0
    gallery = kit.controller.gallery
    entry = next(e for e in gallery.entries if e.path == Path(job.result.files[0]))
    assert gallery.open_graph(entry)
    graph = kit.window.editor.graph
    assert sorted(graph.nodes) == sorted(made.nodes)
    assert graph.node(ids["gradient"]).values["red"] == 0.25
    assert kit.window.document.path is None  # a PNG is never overwritten with JSON
    # A new graph on the canvas: the old run's marks are gone.
    assert kit.controller.board.records == {}
