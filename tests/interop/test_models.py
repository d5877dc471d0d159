"""A ComfyUI models folder and extra_model_paths.yaml, as NodeStudio finds models in them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodestudio.app.formats import graph_from_data, read_extra_model_paths
from nodestudio.app.models import MODEL_KINDS
from nodestudio.app.session import Session
from nodestudio.app.settings import Settings
from nodestudio.cli import main
from nodestudio.paths import resources_dir

EXAMPLES = resources_dir() / "examples" / "comfy"


@pytest.fixture
def comfy_models(tmp_path: Path) -> Path:
    """A ComfyUI-style models folder with a model of most kinds."""
    root = tmp_path / "ComfyUI" / "models"
    for kind in ("checkpoints", "vae", "loras", "controlnet", "embeddings", "upscale_models",
                 "vae_approx"):
        (root / kind).mkdir(parents=True)
    (root / "checkpoints" / "v1-5-pruned-emaonly.safetensors").write_bytes(b"weights")
    (root / "loras" / "styles").mkdir()
    (root / "loras" / "styles" / "ink.safetensors").write_bytes(b"lora")
    (root / "controlnet" / "canny-diffusers").mkdir()
    (root / "controlnet" / "canny-diffusers" / "config.json").write_text("{}")
    (root / "vae_approx" / "taesd_decoder.pth").write_bytes(b"taesd")
    return root


def test_comfyui_subfolders_are_nodestudios_model_kinds():
    assert {"checkpoints", "vae", "loras", "controlnet", "embeddings", "upscale_models",
            "vae_approx"} <= set(MODEL_KINDS)


def test_models_root_from_the_models_option(comfy_models):
    models = Session(device="cpu", models_dir=comfy_models).models
    assert "v1-5-pruned-emaonly.safetensors" in models.list("checkpoints")
    assert models.list("loras") == ["styles/ink.safetensors"]
    assert "canny-diffusers" in models.list("controlnet")
    assert models.list("vae_approx") == ["taesd_decoder.pth"]
    assert models.find("checkpoints", "v1-5-pruned-emaonly.safetensors") == \
        comfy_models / "checkpoints" / "v1-5-pruned-emaonly.safetensors"


def test_older_comfyui_folder_names_hold_diffusion_models_and_text_encoders(comfy_models,
                                                                             tmp_path):
    (comfy_models / "unet").mkdir()
    (comfy_models / "unet" / "flux1-dev-fp8.safetensors").write_bytes(b"x")
    (comfy_models / "clip").mkdir()
    (comfy_models / "clip" / "t5xxl_fp16.safetensors").write_bytes(b"x")
    (comfy_models / "text_encoders").mkdir()
    (comfy_models / "text_encoders" / "clip_l.safetensors").write_bytes(b"x")
    yaml = tmp_path / "extra_model_paths.yaml"
    (tmp_path / "elsewhere" / "unet").mkdir(parents=True)
    (tmp_path / "elsewhere" / "unet" / "sd3.5_large.safetensors").write_bytes(b"x")
    yaml.write_text(f"other:\n  base_path: {tmp_path / 'elsewhere'}\n  unet: unet\n")
    settings = Settings(models_dirs=[comfy_models], extra_model_paths=[yaml])
    models = Session(device="cpu", settings=settings).models
    assert models.list("diffusion_models") == ["flux1-dev-fp8.safetensors",
                                               "sd3.5_large.safetensors"]
    assert models.list("text_encoders") == ["clip_l.safetensors", "t5xxl_fp16.safetensors"]
    assert models.find("text_encoders", "t5xxl_fp16.safetensors") == (
        comfy_models / "clip" / "t5xxl_fp16.safetensors")
    # A new model goes into the kind's own folder: the first one listed.
    assert models.folders("diffusion_models")[0] == comfy_models / "diffusion_models"


def test_models_root_from_the_environment_and_from_the_settings(comfy_models, tmp_path,
                                                                 monkeypatch):
    other = tmp_path / "more-models"
    (other / "checkpoints").mkdir(parents=True)
    (other / "checkpoints" / "sdxl.safetensors").write_bytes(b"x")
    monkeypatch.setenv("NODESTUDIO_MODELS", f"{comfy_models}:{other}")
    models = Session(device="cpu").models
    assert {"v1-5-pruned-emaonly.safetensors", "sdxl.safetensors"} <= \
        set(models.list("checkpoints"))

    monkeypatch.delenv("NODESTUDIO_MODELS")
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"models_dirs": [str(other)]}))
    models = Session(device="cpu", settings=Settings.load(settings_file)).models
    assert "sdxl.safetensors" in models.list("checkpoints")
    assert "v1-5-pruned-emaonly.safetensors" not in models.list("checkpoints")


def _write_yaml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_extra_model_paths_yaml_is_read_as_comfyui_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SHARED_MODELS", str(tmp_path / "shared"))
    (tmp_path / "comfy").mkdir()
    config = _write_yaml(tmp_path / "comfy" / "extra_model_paths.yaml", """\
        a1111:
            base_path: ../stable-diffusion-webui/

            checkpoints: models/Stable-diffusion
            vae: models/VAE
            loras: |
                 models/Lora
                 models/LyCORIS
            controlnet: models/ControlNet

        shared:
            base_path: $SHARED_MODELS
            is_default: true
            checkpoints: checkpoints
            loras: /absolute/loras

        #comfyui:
        #     base_path: path/to/comfyui/
        no_base:
            embeddings: embeddings

        empty_section:
        """)
    folders = read_extra_model_paths(config)
    webui = tmp_path / "comfy" / ".." / "stable-diffusion-webui"
    assert folders["checkpoints"] == [tmp_path / "shared" / "checkpoints",
                                      webui / "models" / "Stable-diffusion"]
    assert folders["loras"] == [Path("/absolute/loras"), webui / "models" / "Lora",
                                webui / "models" / "LyCORIS"]
    assert folders["controlnet"] == [webui / "models" / "ControlNet"]
    assert folders["embeddings"] == [tmp_path / "comfy" / "embeddings"]


def test_unreadable_extra_model_paths(tmp_path):
    broken = _write_yaml(tmp_path / "broken.yaml", "a1111: [unclosed\n")
    assert read_extra_model_paths(broken) == {}
    assert read_extra_model_paths(tmp_path / "missing.yaml") == {}
    with pytest.raises(ValueError, match=r"missing\.yaml"):
        read_extra_model_paths(tmp_path / "missing.yaml", strict=True)
    with pytest.raises(ValueError, match=r"broken\.yaml"):
        read_extra_model_paths(broken, strict=True)


def test_session_finds_models_through_extra_model_paths(comfy_models, tmp_path):
    config = _write_yaml(tmp_path / "extra_model_paths.yaml", f"""\
        comfyui:
            base_path: {comfy_models.parent}
            checkpoints: models/checkpoints/
            loras: models/loras/
        """)
    settings = Settings.load(tmp_path / "no-settings.json")
    settings.models_dirs = [tmp_path / "empty-root"]
    settings.extra_model_paths = [config]
    models = Session(device="cpu", settings=settings).models
    assert models.find("loras", "styles/ink.safetensors") == \
        comfy_models / "loras" / "styles" / "ink.safetensors"
    assert "v1-5-pruned-emaonly.safetensors" in models.list("checkpoints")


def test_cli_extra_model_paths_option(tmp_path, capsys):
    workflow = str(EXAMPLES / "text_to_image.json")
    config = _write_yaml(tmp_path / "extra.yaml", "comfyui:\n    checkpoints: ckpts\n")
    # Validation checks that the named checkpoint is there: in the folder the YAML adds.
    assert main(["validate", workflow]) == 2
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "ckpts" / "v1-5-pruned-emaonly.safetensors").write_bytes(b"weights")
    assert main(["validate", workflow, "--extra-model-paths", str(config)]) == 0
    assert main(["validate", workflow, "--extra-model-paths", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err
    assert main(["run", workflow, "--extra-model-paths", str(tmp_path / "nope.yaml")]) == 2


def test_load_image_takes_input_folder_names_and_absolute_paths(registry, tmp_path):
    inputs, elsewhere = tmp_path / "input", tmp_path / "elsewhere"
    inputs.mkdir()
    elsewhere.mkdir()
    Image.fromarray(np.full((6, 10, 3), 30, np.uint8)).save(inputs / "near.png")
    Image.fromarray(np.full((4, 8, 3), 220, np.uint8)).save(elsewhere / "far.png")
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "near.png [input]"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        "3": {"class_type": "LoadImage", "inputs": {"image": str(elsewhere / "far.png")}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }
    graph = graph_from_data(prompt, registry)
    # A picture outside the input folder needs the user's consent (issue 14, item 11).
    session = Session(device="cpu", input_dir=inputs, output_dir=tmp_path / "out",
                      registry=registry, allowed_paths=[elsewhere])
    result = session.run(graph)
    assert result.outputs["1"]["image"].shape == (1, 6, 10, 3)
    assert result.outputs["3"]["image"].shape == (1, 4, 8, 3)
    assert result.outputs["3"]["image"].min() > 0.8
