"""Issue 13, item 2: the shipped examples (the first-run graph too) open as untitled copies.
Ctrl+S asks where instead of overwriting them, and Save As starts in the user's documents
folder (or the last folder used), never in NodeStudio's resources."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QApplication
from ui_helpers import Canvas

from nodestudio.app.packs import create_registry
from nodestudio.graph import files
from nodestudio.paths import resources_dir, workflows_dir
from nodestudio.ui import main_window as main_window_module


def _builtin_window(make_window):
    return make_window(create_registry(entry_points=False))


def test_ctrl_s_on_the_first_run_graph_asks_where_and_leaves_the_example(qtbot, tmp_path):
    from nodestudio.ui.application import create_main_window, default_workflow

    shipped = default_workflow()
    assert shipped is not None
    before = shipped.read_bytes()
    window = create_main_window(autosave=False)  # what `nodestudio` opens on first run
    qtbot.addWidget(window)
    window.ask_save_changes = lambda _name: "discard"
    try:
        window.resize(1280, 820)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        QApplication.processEvents()  # (activation arrives as an event; shortcuts need it)
        window.view.setFocus()
        assert window.document.path is None  # an untitled copy of the example
        assert window.windowTitle().startswith("text_to_image")
        node = next(node for node in window.editor.graph if "steps" in node.values)
        window.editor.set_value(node.id, *_some_value(window, node))
        asked: list[str] = []
        chosen = tmp_path / "mine.json"
        window.choose_save_path = lambda suggested: asked.append(suggested) or chosen
        Canvas(window).shortcut("Ctrl+S")
        assert asked == ["text_to_image.json"], "Ctrl+S must ask where"
        assert shipped.read_bytes() == before
        assert chosen.is_file() and window.document.path == chosen
        # From now on Ctrl+S saves the user's copy, without asking again.
        window.editor.set_value(node.id, *_some_value(window, node, 2))
        Canvas(window).shortcut("Ctrl+S")
        assert len(asked) == 1 and shipped.read_bytes() == before
        assert files.load(chosen, window.editor.registry) == window.editor.graph
    finally:
        window.close()
        QApplication.processEvents()


def _some_value(window, node, bump: int = 1):
    """An input of ``node`` whose value can change: (input name, new value)."""
    node_type = window.editor.registry.get(node.type)
    for spec in node_type.inputs:
        if spec.has_widget and isinstance(node.values.get(spec.name), int | float) \
                and not isinstance(node.values.get(spec.name), bool):
            value = node.values[spec.name]
            return spec.name, (value + bump if spec.max is None or value + bump <= spec.max
                               else value - bump)
    for spec in node_type.inputs:
        if spec.has_widget and isinstance(node.values.get(spec.name), str) and not spec.choices \
                and not spec.choices_source:
            return spec.name, node.values[spec.name] + " edited" * bump
    raise AssertionError(f"no editable value on {node.type}")


def test_every_shipped_example_opens_untitled(make_window):
    window = _builtin_window(make_window)
    for example in sorted(workflows_dir().glob("*.json")):
        assert window.open_file(example, ask=False)
        assert window.document.path is None, example
        assert window.document.suggested_name == example.name
        assert not window.document.dirty


def test_a_recovered_example_does_not_point_at_the_shipped_file(make_window):
    window = _builtin_window(make_window)
    shipped = workflows_dir() / "controlnet.json"
    graph = files.load(shipped, window.editor.registry)
    window.document.restore(graph, shipped)  # an autosave made while the example was open
    assert window.document.path is None and window.document.dirty


def test_save_as_starts_in_documents_then_in_the_last_folder_used(make_window, tmp_path,
                                                                   monkeypatch):
    starts: list[str] = []

    def dialog(_parent, _caption, start, _filter):
        starts.append(start)
        return "", ""  # cancelled

    monkeypatch.setattr(main_window_module.QFileDialog, "getSaveFileName", dialog)
    window = _builtin_window(make_window)
    assert window.open_file(workflows_dir() / "controlnet.json", ask=False)
    assert not window.save_as()
    documents = QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.DocumentsLocation)
    # (home where the system's documents folder does not exist)
    expected = Path(documents) if Path(documents).is_dir() else Path.home()
    assert Path(starts[-1]) == expected / "controlnet.json"
    assert not Path(starts[-1]).resolve().is_relative_to(resources_dir().resolve())

    mine = tmp_path / "projects" / "mine.json"
    assert window.save_as(mine)
    assert window.open_file(workflows_dir() / "text_to_image.json", ask=False)
    assert not window.save_as()
    assert Path(starts[-1]) == mine.parent / "text_to_image.json"
    # Opening a shipped example does not make resources/ the last folder used.
    assert window.open_file(workflows_dir() / "controlnet.json", ask=False)
    assert not window.save()
    assert Path(starts[-1]).parent == mine.parent
