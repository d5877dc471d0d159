"""Mesh nodes: save a 3D mesh as GLB, PLY or OBJ (through trimesh), with the graph inside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodestudio.api import MESH, Choice, Input, Mesh, NodeContext, NodeError, String, node

from ._media_io import save_numbered
from ._saving import GRAPH_CHUNK, cannot_save, metadata_chunks, resolve_output_prefix

MESH_FORMATS = ("glb", "ply", "obj")


def as_mesh(value: Any, what: str = "mesh") -> Mesh:
    if not isinstance(value, Mesh):
        raise NodeError(f"{what}: expected a mesh (vertices and triangles), got "
                        f"{type(value).__name__}")
    return value


def mesh_bytes(mesh: Mesh, kind: str, graph_text: str | None) -> bytes:
    """The file ``kind`` of ``mesh``; ``graph_text`` (the graph as JSON) goes where the format
    keeps notes: GLB's ``asset.extras``, a PLY header comment, an OBJ comment line."""
    import trimesh

    colors = None
    if mesh.vertex_colors is not None:
        colors = (mesh.vertex_colors.clip(0.0, 1.0) * 255.0 + 0.5).astype("uint8")
    shape = trimesh.Trimesh(vertices=mesh.vertices, faces=mesh.faces, vertex_colors=colors,
                            process=False)  # keep the vertices as made: counts stay the same
    if kind == "glb":
        def add_graph(tree: dict[str, Any]) -> None:
            if graph_text is not None:
                tree.setdefault("asset", {})["extras"] = {GRAPH_CHUNK: graph_text}
        return bytes(trimesh.exchange.gltf.export_glb(shape.scene(),
                                                      tree_postprocessor=add_graph))
    if kind == "ply":
        data = bytes(trimesh.exchange.ply.export_ply(shape, encoding="binary"))
        if graph_text is None:
            return data
        # The header is text even in a binary PLY: the comment goes right after "format …".
        head, _, rest = data.partition(b"\n")
        second, _, body = rest.partition(b"\n")
        comment = f"comment {GRAPH_CHUNK} {graph_text}".encode()
        return b"\n".join((head, second, comment, body))
    text = trimesh.exchange.obj.export_obj(shape, include_color=colors is not None)
    if graph_text is not None:
        text = f"# {GRAPH_CHUNK}: {graph_text}\n{text}"
    return text.encode("utf-8")


@node(
    "mesh.save",
    display_name="Save Mesh",
    category="3d",
    description="Saves a mesh in the output folder as <prefix>_00001_.glb (glTF binary, with "
                "vertex colours), .ply or .obj, never overwriting a file. The file carries the "
                "graph: open it to get the graph back.",
    inputs=[
        Input("mesh", MESH),
        String("filename_prefix", "3d/NodeStudio",
               description="Start of the file name; may include sub-folders of the output folder"),
        Choice("format", MESH_FORMATS, "glb"),
    ],
    outputs=[],
    output_node=True,
)
def save_mesh(mesh: Any, filename_prefix: str, format: str, ctx: NodeContext) -> tuple[()]:
    shape = as_mesh(mesh)
    if format not in MESH_FORMATS:
        raise NodeError(f"unknown mesh format {format!r}; use one of {', '.join(MESH_FORMATS)}")
    if not len(shape.faces):
        raise NodeError("the mesh has no triangles: nothing to save")
    folder, stem = resolve_output_prefix(Path(ctx.output_dir), filename_prefix)
    graph_text = metadata_chunks(ctx).get(GRAPH_CHUNK)
    data = mesh_bytes(shape, format, graph_text)
    try:
        path = save_numbered(folder, stem, f".{format}", lambda target: target.write_bytes(data))
    except OSError as error:
        raise cannot_save("the mesh", folder, error) from error
    ctx.add_file(path)
    return ()
