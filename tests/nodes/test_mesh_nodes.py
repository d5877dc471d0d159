"""Save Mesh: GLB, PLY and OBJ written through trimesh, read back by trimesh (vertex, face
and colour counts), each carrying the graph that a Session restores from the file."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from nodestudio.api import Mesh, NodeError
from nodestudio.app.formats import read_graph
from nodestudio.graph import files
from nodestudio.graph.model import Graph


def tetrahedron(colours: bool = True) -> Mesh:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    rgb = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32)
    return Mesh(vertices, faces, rgb if colours else None)


@pytest.mark.parametrize("kind", ["glb", "ply", "obj"])
def test_saved_mesh_reads_back_with_its_graph(make_context, node, registry, kind):
    graph = Graph()
    graph.add_node("mesh.save", {"format": kind, "filename_prefix": "3d/shape"}, id="save")
    ctx = make_context(graph_document=files.to_document(graph)).context
    node("mesh.save").function(mesh=tetrahedron(), filename_prefix="3d/shape", format=kind,
                               ctx=ctx)
    [path] = ctx.files
    assert path.name == f"shape_00001_.{kind}" and path.parent.name == "3d"
    loaded = trimesh.load(path, force="mesh", process=False)
    assert (len(loaded.vertices), len(loaded.faces)) == (4, 4)
    assert np.allclose(np.sort(loaded.vertices, axis=0), np.sort(tetrahedron().vertices, axis=0))
    if kind != "obj":  # OBJ has no standard vertex colours
        colours = np.asarray(loaded.visual.vertex_colors)[:, :3]
        assert {tuple(c) for c in colours} == {(255, 0, 0), (0, 255, 0), (0, 0, 255),
                                              (255, 255, 255)}
    reopened = read_graph(path, registry)
    assert list(reopened.nodes) == ["save"] and reopened.node("save").values["format"] == kind


def test_bad_meshes_are_one_sentence(ctx, node):
    with pytest.raises(NodeError, match=r"outside 0\.\.3"):
        Mesh(np.zeros((4, 3)), [[0, 1, 4]])
    with pytest.raises(NodeError, match="one RGB or RGBA colour per vertex"):
        Mesh(np.zeros((4, 3)), [[0, 1, 2]], np.zeros((3, 3)))
    with pytest.raises(NodeError, match="no triangles"):
        node("mesh.save").function(mesh=Mesh(np.zeros((4, 3)), []), filename_prefix="m",
                                   format="glb", ctx=ctx)
    with pytest.raises(NodeError, match="expected a mesh"):
        node("mesh.save").function(mesh="cube", filename_prefix="m", format="ply", ctx=ctx)
    assert not ctx.files
