"""Shap-E text → 3D on a tiny seeded folder: the graph's latents are ShapEPipeline's
(output_type="latent"), and its mesh comes from the SDF ShapERenderer.decode_to_mesh builds."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

import nodestudio
from nodestudio.graph.model import Graph
from nodestudio.runtime.tiny_audio_3d import save_shap_e_folder

SEED, PROMPT, GRID = 5, "a red fox", 16


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return save_shap_e_folder(tmp_path_factory.mktemp("shap-e") / "checkpoints" / "tiny-shap-e")


@pytest.fixture(scope="module")
def session(folder, new_session) -> nodestudio.Session:
    return new_session(folder.parent.parent, "shap-e-session")


def shap_e_graph(steps: int, guidance: float, grid: int = GRID) -> Graph:
    g = Graph()
    g.add_node("diffusion.load_shap_e", {"checkpoint": "tiny-shap-e"}, id="load")
    g.add_node("diffusion.shap_e_text_to_latent", {"prompt": PROMPT, "seed": SEED,
                                                   "steps": steps, "guidance": guidance},
               id="prior")
    g.connect("load", "model", "prior", "model")
    g.add_node("diffusion.shap_e_latent_to_mesh", {"grid_size": grid}, id="mesh")
    g.connect("load", "model", "mesh", "model")
    g.connect("prior", "latent", "mesh", "latent")
    return g


def pipeline_latents(folder: Path, steps: int, guidance: float) -> torch.Tensor:
    from diffusers import ShapEPipeline

    pipe = ShapEPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe(PROMPT, num_inference_steps=steps, guidance_scale=guidance, frame_size=8,
                output_type="latent", generator=torch.Generator("cpu").manual_seed(SEED)).images


@pytest.mark.parametrize("guidance", [1.0, 7.5])
def test_graph_latents_equal_the_pipeline_and_make_a_mesh(session, folder, guidance):
    result = session.run(shap_e_graph(2, guidance), outputs=["prior", "mesh"])
    latent = result.outputs["prior"]["latent"].samples
    expected = pipeline_latents(folder, 2, guidance)
    assert latent.shape == expected.shape == (1, 32, 16)
    torch.testing.assert_close(latent, expected, atol=1e-5, rtol=0)
    mesh = result.outputs["mesh"]["mesh"]
    assert len(mesh.vertices) > 0 and len(mesh.faces) > 0
    assert mesh.vertex_colors.shape == (len(mesh.vertices), 3)
    # Closed by the −1 border: every edge is shared by exactly two triangles.
    edges = np.sort(mesh.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()


class _Captured(torch.nn.Module):
    """Stands in for the renderer's marching cubes (empty tables when built from config):
    records the field decode_to_mesh hands it and answers with given vertices."""

    def __init__(self, vertices: torch.Tensor) -> None:
        super().__init__()
        self.vertices = vertices
        self.field: torch.Tensor | None = None

    def forward(self, field, min_point, size):
        from diffusers.pipelines.shap_e.renderer import MeshDecoderOutput

        self.field = field.clone()
        return MeshDecoderOutput(verts=self.vertices, faces=torch.zeros(0, 3, dtype=torch.long),
                                 vertex_channels=None)


def test_mesh_comes_from_the_renderers_sdf_and_colours(folder):
    from nodestudio.runtime.shap_e import latent_to_mesh, load_shap_e, sdf_grid

    model = load_shap_e(folder, "cpu")
    latent = pipeline_latents(folder, 2, 7.5)[0]
    ours = sdf_grid(model.renderer, latent, GRID)
    mesh = latent_to_mesh(model, latent, GRID)
    # diffusers' own decode_to_mesh, on a copy (it writes the latent's weights into its MLP).
    renderer = copy.deepcopy(model.renderer)
    captured = _Captured(torch.from_numpy(mesh.vertices))
    renderer.mesh_decoder = captured
    with torch.no_grad():
        reference = renderer.decode_to_mesh(latent[None], "cpu", grid_size=GRID)
    # Float noise of the wide tiny MLP only; the field spans −1…1.
    torch.testing.assert_close(ours, captured.field, atol=1e-4, rtol=0)
    assert (ours[1:-1, 1:-1, 1:-1] > 0).any() and (ours[1:-1, 1:-1, 1:-1] < 0).any()
    colours = torch.stack([reference.vertex_channels[c] for c in "RGB"], dim=-1)
    np.testing.assert_allclose(mesh.vertex_colors, colours.clamp(0, 1).numpy(), atol=1e-5)
    # The cached renderer keeps its own weights: another latent gives another field.
    other = sdf_grid(model.renderer, -latent, GRID)
    assert not torch.allclose(other, ours)


def test_a_checkpoint_that_is_not_shap_e_is_a_clear_error(session, folder):
    other = folder.parent / "not-shap-e"
    other.mkdir(exist_ok=True)
    (other / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    g = Graph()
    g.add_node("diffusion.load_shap_e", {"checkpoint": "not-shap-e"}, id="load")
    result = session.run(g, outputs=["load"], check=False)
    assert result.status == "failed"
    assert "not a Shap-E" in result.failed["load"]
    assert "Traceback" not in result.failed["load"]
