"""File → Export: the window writes its graph for ComfyUI, and says why when it cannot."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QMessageBox

from nodestudio.app.packs import create_registry
from nodestudio.app.recipes import text_to_image
from nodestudio.ui import comfy_export


def _window_with_recipe(make_window):
    window = make_window(create_registry(entry_points=False))
    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    window.editor.set_graph(graph)
    return window, ids


def _export_action(window, name: str):
    (menu,) = [action.menu() for action in window.menuBar().actions()
               if action.text() == "&File"]
    (export,) = [action.menu() for action in menu.actions() if action.text() == "&Export"]
    (action,) = [action for action in export.actions() if action.objectName() == name]
    return action


def test_the_file_menu_writes_a_comfyui_workflow_where_the_user_chose(make_window, tmp_path,
                                                                      monkeypatch):
    window, ids = _window_with_recipe(make_window)
    asked = []

    def choose(_parent, title, start, _filter):
        asked.append((title, start))
        return str(tmp_path / "fox"), ""  # no suffix typed: .json is added

    monkeypatch.setattr(comfy_export.QFileDialog, "getSaveFileName", choose)
    _export_action(window, "action_export_comfy_workflow").trigger()
    written = json.loads((tmp_path / "fox.json").read_text(encoding="utf-8"))
    assert {node["type"] for node in written["nodes"]} >= {"KSampler", "CheckpointLoaderSimple",
                                                           "SaveImage"}
    assert asked[0][0] == "Export as ComfyUI workflow"
    assert asked[0][1].endswith("untitled-comfyui.json")
    _export_action(window, "action_export_comfy_api").trigger()  # the same chooser: fox.json
    prompt = json.loads((tmp_path / "fox.json").read_text(encoding="utf-8"))
    assert prompt[ids["sampler"]]["class_type"] == "KSampler"
    assert not window.document.dirty  # exporting changes nothing in the graph


def test_a_graph_comfyui_cannot_express_is_explained_and_nothing_is_asked(make_window,
                                                                          monkeypatch, qtbot):
    window, _ids = _window_with_recipe(make_window)
    window.editor.graph.add_node("mask.blur", {}, id="blur")  # no ComfyUI core equivalent
    window.editor.graph.add_node("mask.solid", {}, id="solid")
    window.editor.graph.connect("solid", "mask", "blur", "mask")
    monkeypatch.setattr(comfy_export.QFileDialog, "getSaveFileName",
                        lambda *args: (_ for _ in ()).throw(AssertionError("asked for a file")))
    assert comfy_export.export_for_comfyui(window, "workflow") is None
    dialog = window.findChild(QMessageBox, "comfy_export_problems")
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert "node blur" in dialog.informativeText()
    assert "cannot be written" in window.log_dock.text.toPlainText()
    assert len(window.editor.graph) == 9  # the graph is as it was


def test_the_flat_choice_writes_a_subgraph_as_its_nodes_for_an_older_comfyui(make_window,
                                                                            tmp_path,
                                                                            monkeypatch):
    from nodestudio.graph.subgraphs import make_subgraph

    window, ids = _window_with_recipe(make_window)
    packed, _definition, instance = make_subgraph(
        window.editor.graph, [ids["sampler"], ids["decode"]], name="Render",
        registry=window.editor.registry)
    window.editor.set_graph(packed)
    asked = []

    def choose(_parent, title, start, _filter):
        asked.append((title, start))
        return str(tmp_path / start.rsplit("/", 1)[-1]), ""

    monkeypatch.setattr(comfy_export.QFileDialog, "getSaveFileName", choose)
    _export_action(window, "action_export_comfy_workflow").trigger()
    _export_action(window, "action_export_comfy_flat_workflow").trigger()
    nested = json.loads((tmp_path / "untitled-comfyui.json").read_text(encoding="utf-8"))
    flat = json.loads((tmp_path / "untitled-comfyui-flat.json").read_text(encoding="utf-8"))
    assert asked[1][0] == "Export as ComfyUI workflow without subgraphs"
    (definition,) = nested["definitions"]["subgraphs"]
    assert definition["name"] == "Render"
    assert "KSampler" not in {node["type"] for node in nested["nodes"]}
    assert not flat.get("definitions", {}).get("subgraphs")
    flat_types = [node["type"] for node in flat["nodes"]]
    assert flat_types.count("KSampler") == 1 and flat_types.count("VAEDecode") == 1
    assert len(window.editor.graph) == len(packed)  # the instance is still one node
    assert window.editor.graph.node(instance).type == "subgraph"


def test_a_place_that_cannot_be_written_is_said_in_words(
        make_window, tmp_path, monkeypatch):
    window, _ids = _window_with_recipe(make_window)
    warned = []
    monkeypatch.setattr(comfy_export.QMessageBox, "warning", lambda *args: warned.append(args))
    (tmp_path / "notes").write_text("a file")
    assert comfy_export.export_for_comfyui(window, "workflow", tmp_path / "notes" / "x") is None
    assert warned[0][-1] == (f"{tmp_path / 'notes' / 'x.json'}\n\n{tmp_path / 'notes'} is a "
                             "file, not a folder")  # was "[Errno 20] Not a directory: '…'"
