"""Subgraphs in the window: make, open and edit inside, promote, rename, unpack, with undo,
redo and a save/reload round trip, through the window's own actions and real input events."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication
from ui_helpers import Canvas, snapshot

from nodestudio.graph.layout import NodeLayout
from nodestudio.graph.model import Graph
from nodestudio.graph.subgraph_flatten import flatten
from nodestudio.graph.subgraphs import is_instance
from nodestudio.ui import subgraph_editing as editing
from nodestudio.ui.document import Document
from nodestudio.ui.subgraph_window import add_definition_instance


@pytest.fixture
def chain_window(make_window):
    """source -> filter -> sink, with a reroute on the filter's input."""
    graph = Graph()
    graph.add_node("test.source", {"width": 512, "name": "pic"}, id="1",
                   layout=NodeLayout(pos=(0.0, 0.0)))
    graph.add_node("test.filter", {"strength": 0.5, "mode": "a", "enabled": True,
                                   "prompt": "hello"}, id="2", layout=NodeLayout(pos=(320.0, 0.0)))
    graph.add_node("test.sink", {}, id="3", layout=NodeLayout(pos=(640.0, 40.0)))
    graph.connect("1", "image", "2", "image")
    graph.connect("2", "image", "3", "images")
    graph.set_reroutes("3", "images", [(600.0, 200.0)])
    window = make_window()
    window.editor.set_graph(graph)
    return window


def make_with_shortcut(window, node_ids: list[str]) -> str:
    window.scene.select_nodes(node_ids)
    Canvas(window).shortcut("Ctrl+Shift+G")
    instances = [node for node in window.editor.graph if is_instance(node)]
    assert len(instances) == 1, "Ctrl+Shift+G made no subgraph"
    return instances[0].id


def instance_center(window, node_id: str) -> QPointF:
    item = window.scene.node_items[node_id]
    rect = item.sceneBoundingRect()
    return QPointF(rect.center().x(), rect.bottom() - 8.0)


def test_make_subgraph_links_crossing_become_ports_and_undo_is_exact(chain_window):
    window, editor = chain_window, chain_window.editor
    original = snapshot(editor.graph)
    instance_id = make_with_shortcut(window, ["2"])
    graph = editor.graph
    assert "2" not in graph and set(graph.nodes) == {"1", "3", instance_id}
    definition = next(iter(graph.definitions.values()))
    assert [i.name for i in definition.inputs] == ["image"]
    assert [o.name for o in definition.outputs] == ["image"]
    # The instance draws its ports and is linked where the filter was.
    item = window.scene.node_items[instance_id]
    assert item.node_type is not None and item.title() == "Subgraph"
    assert graph.link_into(instance_id, "image").source == "1"
    assert graph.link_into("3", "images").source == instance_id
    assert graph.layout.reroutes["3.images"] == [(600.0, 200.0)]
    made = snapshot(graph)
    editor.undo_stack.undo()
    assert snapshot(editor.graph) == original
    assert set(window.scene.node_items) == {"1", "2", "3"}
    editor.undo_stack.redo()
    assert snapshot(editor.graph) == made
    assert set(window.scene.node_items) == {"1", "3", instance_id}


def test_open_edit_inside_undo_and_go_back(chain_window):
    window, editor = chain_window, chain_window.editor
    instance_id = make_with_shortcut(window, ["1", "2"])
    definition = next(iter(editor.graph.definitions.values()))
    Canvas(window).double_click(instance_center(window, instance_id))
    QApplication.processEvents()
    assert editor.path == [(instance_id, definition.id)]
    assert window.breadcrumb.isVisible() and window.breadcrumb.text() == "Graph › Subgraph"
    assert set(window.scene.node_items) == {"1", "2"}  # the inner graph is on the canvas
    # An edit inside changes the definition, and undoes inside.
    editor.set_value("2", "strength", 0.9)
    assert definition.graph.node("2").values["strength"] == 0.9
    assert flatten(editor.graph).graph.node(f"{instance_id}/2").values["strength"] == 0.9
    editor.undo_stack.undo()
    assert definition.graph.node("2").values["strength"] == 0.5
    editor.undo_stack.redo()
    assert definition.graph.node("2").values["strength"] == 0.9
    Canvas(window).key(Qt.Key.Key_Escape)
    assert editor.path == [] and not window.breadcrumb.isVisible()
    assert set(window.scene.node_items) == {"3", instance_id}


def test_breadcrumb_click_and_empty_double_click_go_back(chain_window):
    window, editor = chain_window, chain_window.editor
    instance_id = make_with_shortcut(window, ["2"])
    assert editing.open_instance(editor, instance_id)
    window.breadcrumb.buttons[0].click()
    assert editor.path == []
    assert editing.open_instance(editor, instance_id)
    Canvas(window).double_click((-2000.0, -2000.0))
    assert editor.path == []


def test_undoing_make_while_inside_goes_back_up(chain_window):
    window, editor = chain_window, chain_window.editor
    original = snapshot(editor.graph)
    instance_id = make_with_shortcut(window, ["2"])
    editing.open_instance(editor, instance_id)
    editor.undo_stack.undo()
    assert editor.path == [] and snapshot(editor.graph) == original
    assert set(window.scene.node_items) == {"1", "2", "3"}


def test_unpack_restores_the_nodes_and_undoes(chain_window):
    window, editor = chain_window, chain_window.editor
    original = snapshot(editor.graph)
    instance_id = make_with_shortcut(window, ["1", "2"])
    made = snapshot(editor.graph)
    window.scene.select_nodes([instance_id])
    window.named_actions["unpack_subgraph"].trigger()
    assert snapshot(editor.graph) == original
    assert set(window.scene.node_items) == {"1", "2", "3"}
    editor.undo_stack.undo()
    assert snapshot(editor.graph) == made
    editor.undo_stack.redo()
    assert snapshot(editor.graph) == original


def test_two_instances_share_the_definition_but_keep_their_promoted_values(chain_window,
                                                                           tmp_path):
    window, editor = chain_window, chain_window.editor
    first = make_with_shortcut(window, ["2"])
    definition = next(iter(editor.graph.definitions.values()))
    editing.open_instance(editor, first)
    editing.set_promoted(editor, "2", "strength", True)
    assert [w.name for w in definition.widgets] == ["strength"]
    editing.leave(editor)
    second = add_definition_instance(window, definition, (320.0, 300.0))
    assert second is not None and editor.graph.definitions[definition.id] is definition
    # The promoted widget shows on the instance; each instance keeps its own value.
    assert window.scene.node_items[first].node_type.input("strength") is not None
    editor.set_value(first, "strength", 0.2)
    editor.set_value(second, "strength", 0.8)
    # An edit inside one instance's definition changes both.
    editing.open_instance(editor, second)
    editor.set_value("2", "mode", "c")
    editing.leave(editor)
    flat = flatten(editor.graph).graph
    assert flat.node(f"{first}/2").values["strength"] == 0.2
    assert flat.node(f"{second}/2").values["strength"] == 0.8
    assert flat.node(f"{first}/2").values["mode"] == "c"
    assert flat.node(f"{second}/2").values["mode"] == "c"
    # Save, reload: equal.
    path = window.document.save(tmp_path / "two.json")
    other = Document(type(editor)(editor.registry))
    reloaded = other.load(path)
    assert reloaded == editor.graph
    assert snapshot(reloaded) == snapshot(editor.graph)


def test_promote_and_unpromote_undo(chain_window):
    window, editor = chain_window, chain_window.editor
    instance_id = make_with_shortcut(window, ["2"])
    definition = next(iter(editor.graph.definitions.values()))
    editing.open_instance(editor, instance_id)
    editing.set_promoted(editor, "2", "mode", True)
    editing.leave(editor)
    editor.set_value(instance_id, "mode", "b")
    editing.open_instance(editor, instance_id)
    editing.set_promoted(editor, "2", "mode", False)
    assert definition.widgets == [] and "mode" not in editor.graph.node(instance_id).values
    editor.undo_stack.undo()
    assert [w.name for w in definition.widgets] == ["mode"]
    assert editor.graph.node(instance_id).values["mode"] == "b"


def test_rename_and_reorder_inputs_keep_links(chain_window):
    window, editor = chain_window, chain_window.editor
    editor.graph.add_node("test.mask", {}, id="5", layout=NodeLayout(pos=(0.0, 300.0)))
    editor.graph.connect("5", "mask", "2", "mask")
    instance_id = make_with_shortcut(window, ["2"])
    definition = next(iter(editor.graph.definitions.values()))
    assert [i.name for i in definition.inputs] == ["image", "mask"]
    before = snapshot(editor.graph)
    assert editing.rename_port(editor, definition, "image", "picture")
    assert [i.name for i in definition.inputs] == ["picture", "mask"]
    assert editor.graph.link_into(instance_id, "picture").source == "1"
    assert editor.graph.link_into(instance_id, "image") is None
    assert not editing.rename_port(editor, definition, "picture", "mask")  # taken
    assert editing.move_input(editor, definition, "mask", -1)
    assert [i.name for i in definition.inputs] == ["mask", "picture"]
    flat = flatten(editor.graph).graph
    assert flat.link_into(f"{instance_id}/2", "image").source == "1"
    editor.undo_stack.undo()
    editor.undo_stack.undo()
    assert snapshot(editor.graph) == before


def test_nodes_panel_lists_templates_and_saved_subgraphs(chain_window, tmp_path, monkeypatch):
    from nodestudio.app.subgraph_library import SubgraphLibrary
    from nodestudio.ui.subgraph_window import save_selection_as_template

    window, editor = chain_window, chain_window.editor
    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path / "home"))
    window.scene.select_nodes(["2"])
    saved = save_selection_as_template(window, name="Soft look")
    assert saved is not None
    [entry] = SubgraphLibrary().entries()
    assert entry.name == "Soft look"
    dock = window.library_dock
    dock.refresh_subgraphs()
    dock.apply_filter("soft look")
    panel_ids = [i for i in dock.visible_type_ids() if i.startswith("subgraph:")]
    assert len(panel_ids) == 1
    dock.apply_filter("")
    shipped = {dock.tree.topLevelItem(i).child(j).text(0)
               for i in range(dock.tree.topLevelItemCount())
               if dock.tree.topLevelItem(i).text(0) == "Subgraphs"
               for j in range(dock.tree.topLevelItem(i).childCount())}
    assert {"Hires fix", "Img2img", "Inpaint", "Soft look"} <= shipped
    # Double-click (activate) in the panel adds an instance; undo removes it.
    before = snapshot(editor.graph)
    node_id = window.add_node_at(panel_ids[0], QPointF(100.0, 400.0))
    assert node_id is not None and is_instance(editor.graph.node(node_id))
    assert window.scene.node_items[node_id].title() == "Soft look"
    editor.undo_stack.undo()
    assert snapshot(editor.graph) == before


def test_ports_dialog_renames_and_reorders_with_undo(chain_window):
    from nodestudio.ui.subgraph_window import edit_ports

    window, editor = chain_window, chain_window.editor
    editor.graph.add_node("test.mask", {}, id="5", layout=NodeLayout(pos=(0.0, 300.0)))
    editor.graph.connect("5", "mask", "2", "mask")
    instance_id = make_with_shortcut(window, ["2"])
    definition = next(iter(editor.graph.definitions.values()))
    window.scene.select_nodes([instance_id])
    dialog = edit_ports(window)
    rows = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert rows == ["Inputs", "image", "mask", "Outputs", "image"]  # headed by kind
    dialog.list.item(2).setText("matte")  # what an edit in the list does
    assert [i.name for i in definition.inputs] == ["image", "matte"]
    assert editor.graph.link_into(instance_id, "matte").source == "5"
    dialog.list.setCurrentRow(2)
    dialog.down.click()
    assert [i.name for i in definition.inputs] == ["image", "matte"]  # already last
    dialog.up.click()
    assert [i.name for i in definition.inputs] == ["matte", "image"]
    item = window.scene.node_items[instance_id]
    assert [s.name for s in item.node_type.inputs][:2] == ["matte", "image"]
    editor.undo_stack.undo()
    editor.undo_stack.undo()
    assert [i.name for i in definition.inputs] == ["image", "mask"]
    assert editor.graph.link_into(instance_id, "mask").source == "5"
    dialog.close()


def test_copy_paste_of_an_instance_keeps_its_definition(chain_window, make_window):
    window, editor = chain_window, chain_window.editor
    instance_id = make_with_shortcut(window, ["2"])
    window.scene.select_nodes([instance_id])
    window.copy()
    other = make_window()
    [pasted] = other.paste()
    assert is_instance(other.editor.graph.node(pasted))
    assert other.editor.graph.definitions.keys() == editor.graph.definitions.keys()
    assert other.scene.node_items[pasted].title() == "Subgraph"
    assert not other.scene.node_items[pasted].is_placeholder


def test_run_state_shows_on_inner_nodes_when_open(chain_window):
    from nodestudio.ui.run.badges import FAILED, RUNNING, RunBoard, RunRecord
    from nodestudio.ui.run.canvas_marks import CanvasMarks

    window, editor = chain_window, chain_window.editor
    instance_id = make_with_shortcut(window, ["1", "2"])
    board = RunBoard()
    marks = CanvasMarks(window.scene, board)
    board.live[f"{instance_id}/2"] = RUNNING
    board.progress[f"{instance_id}/2"] = (3, 10)
    marks.refresh([f"{instance_id}/2"])  # events name the flattened path
    # At the top level the instance shows its running inner node.
    assert window.scene.node_items[instance_id].status == "running"
    editing.open_instance(editor, instance_id)
    item = window.scene.node_items["2"]
    assert (item.status, item.status_text) == ("running", "3/10")
    assert window.scene.node_items["1"].status is None
    board.live.clear()
    board.records[f"{instance_id}/1"] = RunRecord(FAILED, message="bad input")
    marks.refresh([f"{instance_id}/1"])
    assert window.scene.node_items["1"].status == "error"
    marks.stop()


def test_a_library_folder_that_cannot_be_written_is_said_in_words(chain_window, tmp_path):
    from nodestudio.app.subgraph_library import SubgraphLibrary
    from nodestudio.ui.subgraph_window import save_selection_as_template

    window = chain_window
    (tmp_path / "library").write_text("a file where the library folder goes")
    window.scene.select_nodes(["2"])
    assert save_selection_as_template(window, name="Soft look",
                                      library=SubgraphLibrary(tmp_path / "library")) is None
    assert window.log_dock.messages("error")[-1] == (
        f"Could not save the template 'Soft look': {tmp_path / 'library'} is a file, not a "
        "folder")  # was "[Errno 20] Not a directory: '…'"
