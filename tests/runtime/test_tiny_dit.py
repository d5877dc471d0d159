"""The tiny SD3/Flux models: their files read back through diffusers' own loaders, unchanged.

Every original-layout file :func:`build_tiny_dit_models` writes goes through diffusers'
``from_single_file`` (with a config folder written from the file's embedded configs, as
NodeStudio does) and must give tensors equal to the diffusers folder's. The pipelines run on the
folders, and the shipped configs of the released models have the published sizes.
"""

from __future__ import annotations

import inspect
import json
import string
from pathlib import Path

import numpy as np
import pytest
import torch

from nodestudio.runtime import original_layout_dit as layout
from nodestudio.runtime import tiny_dit
from nodestudio.runtime.model_configs import (
    config_folder_for,
    embedded_configs,
    shipped_config_dir,
    write_config_folder,
)

RUN = {"height": 32, "width": 32, "num_inference_steps": 2, "output_type": "np"}
PROMPT = "a photo of a red fox in the snow"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tiny_dit.TinyDitModels:
    return tiny_dit.build_tiny_dit_models(tmp_path_factory.mktemp("tiny-dit"))


def _metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        return handle.metadata()


def _load(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _assert_same_weights(loaded: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]):
    assert loaded.keys() == expected.keys(), sorted(set(loaded) ^ set(expected))[:10]
    different = [k for k in expected if not torch.equal(loaded[k], expected[k])]
    assert not different, different[:10]


def _generator() -> torch.Generator:
    return torch.Generator("cpu").manual_seed(0)


@pytest.fixture
def flux_converter(monkeypatch):
    """diffusers' Flux converter, for any width.

    diffusers 0.42's ``convert_flux_transformer_checkpoint_to_diffusers`` splits the fused
    single-block matrices at ``inner_dim = 3072`` (FLUX.1's width) whatever the config says.
    Its own source with that one constant taken from the config is still diffusers' mapping.
    """
    from diffusers.loaders import single_file_model, single_file_utils

    original = single_file_utils.convert_flux_transformer_checkpoint_to_diffusers
    source = inspect.getsource(original)
    if "inner_dim = 3072" not in source:
        return  # diffusers reads the width itself now
    source = source.replace(
        "inner_dim = 3072",
        "inner_dim = kwargs['config']['num_attention_heads'] * "
        "kwargs['config']['attention_head_dim']",
    )
    namespace = dict(vars(single_file_utils))
    exec(compile(source, single_file_utils.__file__, "exec"), namespace)
    entry = dict(single_file_model.SINGLE_FILE_LOADABLE_CLASSES["FluxTransformer2DModel"])
    entry["checkpoint_mapping_fn"] = namespace[original.__name__]
    monkeypatch.setitem(
        single_file_model.SINGLE_FILE_LOADABLE_CLASSES, "FluxTransformer2DModel", entry
    )


# --- tokenizer and text encoders ----------------------------------------------------------------


def test_t5_tokenizer_spells_any_ascii_and_fits_the_encoder(models):
    from transformers import AutoTokenizer

    tokenizer = tiny_dit.tiny_t5_tokenizer()
    text = string.printable.strip() + " A photo of the red fox, blurry, dark painting!"
    ids = tokenizer(text).input_ids
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.convert_ids_to_tokens(tokenizer("a red fox").input_ids) == [
        "▁a", "▁red", "▁fox", "</s>"
    ]
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    config = json.loads((Path(models.checkpoint(models.sd3_folder)) / "text_encoder_3" /
                         "config.json").read_text())
    # the 100 <extra_id_N> tokens come on top of the pieces: the encoder must embed them all
    assert len(tokenizer) > tokenizer.vocab_size
    assert config["vocab_size"] >= len(tokenizer)
    saved = AutoTokenizer.from_pretrained(models.tokenizer(models.t5_tokenizer_folder))
    assert saved(text).input_ids == ids


def test_clip_l_and_t5_are_shared_by_sd3_and_flux(models):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel

    sd3, flux = models.checkpoint(models.sd3_folder), models.checkpoint(models.flux_folder)
    clip_l = CLIPTextModelWithProjection.from_pretrained(sd3, subfolder="text_encoder")
    flux_clip = CLIPTextModel.from_pretrained(flux, subfolder="text_encoder")
    assert torch.equal(clip_l.text_projection.weight, torch.eye(tiny_dit.CLIP_L_WIDTH))
    expected = {k.removeprefix("text_model."): v for k, v in clip_l.state_dict().items()
                if not k.startswith("text_projection")}
    _assert_same_weights(
        {k.removeprefix("text_model."): v for k, v in flux_clip.state_dict().items()}, expected
    )
    _assert_same_weights(
        T5EncoderModel.from_pretrained(flux, subfolder="text_encoder_2").state_dict(),
        T5EncoderModel.from_pretrained(sd3, subfolder="text_encoder_3").state_dict(),
    )


def test_text_encoder_files_keep_transformers_names(models):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    sd3 = models.checkpoint(models.sd3_folder)
    cases = [
        (models.clip_l_file, CLIPTextConfig, CLIPTextModelWithProjection, "text_encoder"),
        (models.clip_g_file, CLIPTextConfig, CLIPTextModelWithProjection, "text_encoder_2"),
        (models.t5_file, T5Config, T5EncoderModel, "text_encoder_3"),
    ]
    for name, config_class, model_class, subfolder in cases:
        path = models.text_encoder(name)
        weights = _load(path)
        config = config_class.from_dict(embedded_configs(_metadata(path))["text_encoder"])
        model = model_class(config)
        missing, unexpected = model.load_state_dict(weights, strict=False)
        reference = model_class.from_pretrained(sd3, subfolder=subfolder).state_dict()
        if name == models.clip_l_file:
            # clip_l.safetensors carries no projection; SD3 and Flux pool CLIP-L unprojected
            assert missing == ["text_projection.weight"] and not unexpected
            reference.pop("text_projection.weight")
        else:
            assert not missing and not unexpected
        assert all(key.startswith(("text_model.", "shared.", "encoder.", "text_projection"))
                   for key in weights)
        _assert_same_weights(weights, reference)
    t5 = _load(models.text_encoder(models.t5_file))
    assert torch.equal(t5["shared.weight"], t5["encoder.embed_tokens.weight"])


# --- transformers -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["diffusion_model", "checkpoint"])
def test_sd3_transformer_files_load_through_diffusers(models, where):
    from diffusers import SD3Transformer2DModel

    path = (models.diffusion_model(models.sd3_transformer_file) if where == "diffusion_model"
            else models.checkpoint(models.sd3_file))
    folder = models.checkpoint(models.sd3_folder)
    reference = SD3Transformer2DModel.from_pretrained(folder, subfolder="transformer")
    with config_folder_for(embedded_configs(_metadata(path)), "unused") as configs:
        loaded = SD3Transformer2DModel.from_single_file(
            str(path), config=str(configs), subfolder="transformer", local_files_only=True
        )
    _assert_same_weights(loaded.state_dict(), reference.state_dict())
    back = layout.sd3_transformer_from_original(_load(path), reference.config)
    _assert_same_weights(back, reference.state_dict())


def test_sd35_shaped_transformer_round_trips(tmp_path):
    """QK norms and SD3.5 medium's second attention (MMDiT-X) map both ways too."""
    from diffusers import SD3Transformer2DModel

    model = tiny_dit.tiny_sd3_transformer(3, qk_norm="rms_norm", dual_attention_layers=(0,))
    original = layout.sd3_transformer_to_original(model.state_dict(), model.config)
    assert "joint_blocks.0.x_block.attn2.qkv.weight" in original
    assert "joint_blocks.1.context_block.attn.ln_k.weight" in original
    configs = write_config_folder({"transformer": json.loads(model.to_json_string())}, tmp_path)
    loaded = SD3Transformer2DModel.from_single_file(
        {layout.DIFFUSION_MODEL_PREFIX + k: v for k, v in original.items()},
        config=str(configs), subfolder="transformer", local_files_only=True,
    )
    _assert_same_weights(loaded.state_dict(), model.state_dict())
    _assert_same_weights(layout.sd3_transformer_from_original(original, model.config),
                         model.state_dict())


@pytest.mark.parametrize("which", ["diffusion_model", "fp8", "checkpoint"])
def test_flux_transformer_files_load_through_diffusers(models, which, flux_converter):
    from diffusers import FluxTransformer2DModel

    path = {
        "diffusion_model": models.diffusion_model(models.flux_transformer_file),
        "fp8": models.diffusion_model(models.flux_fp8_transformer_file),
        "checkpoint": models.checkpoint(models.flux_file),
    }[which]
    folder = models.checkpoint(models.flux_folder)
    reference = FluxTransformer2DModel.from_pretrained(folder, subfolder="transformer")
    stored = layout.flux_transformer_from_original(_load(path), reference.config)
    # what the file holds, in float32: fp8 files keep matrices in fp8 and the rest in bf16
    expected = {k: v.to(stored[k].dtype).float() for k, v in reference.state_dict().items()}
    if which == "fp8":
        assert {v.dtype for k, v in stored.items() if v.ndim == 2} == {torch.float8_e4m3fn}
        assert {v.dtype for k, v in stored.items() if v.ndim != 2} == {torch.bfloat16}
    _assert_same_weights({k: v.float() for k, v in stored.items()}, expected)
    with config_folder_for(embedded_configs(_metadata(path)), "unused") as configs:
        loaded = FluxTransformer2DModel.from_single_file(
            str(path), config=str(configs), subfolder="transformer", local_files_only=True,
            torch_dtype=torch.float32,
        )
    _assert_same_weights(loaded.state_dict(), expected)


def test_original_keys_are_those_diffusers_detects(models):
    from diffusers.loaders.single_file_utils import (
        CHECKPOINT_KEY_NAMES,
        LDM_VAE_KEYS,
        is_clip_sd3_model,
        is_open_clip_sd3_model,
        is_t5_in_single_file,
    )

    sd3 = _load(models.checkpoint(models.sd3_file))
    flux = _load(models.checkpoint(models.flux_file))
    assert CHECKPOINT_KEY_NAMES["sd3"][1] in sd3
    assert is_clip_sd3_model(sd3) and is_open_clip_sd3_model(sd3) and is_t5_in_single_file(sd3)
    assert CHECKPOINT_KEY_NAMES["flux"][1] in flux
    assert "model.diffusion_model.guidance_in.in_layer.bias" in flux  # dev, not schnell
    assert is_clip_sd3_model(flux) and is_t5_in_single_file(flux)
    assert "text_encoders.clip_l.transformer.text_projection.weight" not in flux
    for weights, prefix in ((sd3, "first_stage_model."), (flux, "vae.")):
        assert prefix in LDM_VAE_KEYS
        assert f"{prefix}encoder.down.0.block.0.norm1.weight" in weights
        assert not any(k.startswith(prefix) and "quant_conv" in k for k in weights)
    bare = _load(models.diffusion_model(models.flux_transformer_file))
    assert CHECKPOINT_KEY_NAMES["flux"][0] in bare and "single_blocks.1.linear1.weight" in bare


# --- autoencoder --------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["flux_ae", "flux_checkpoint", "sd3_checkpoint"])
def test_vae_files_load_through_diffusers(models, which):
    from diffusers import AutoencoderKL

    path, reference_folder = {
        "flux_ae": (models.vae(models.flux_vae_file), models.checkpoint(models.flux_folder)),
        "flux_checkpoint": (models.checkpoint(models.flux_file),
                            models.checkpoint(models.flux_folder)),
        "sd3_checkpoint": (models.checkpoint(models.sd3_file), models.vae(models.sd3_vae_folder)),
    }[which]
    subfolder = None if which == "sd3_checkpoint" else "vae"
    reference = AutoencoderKL.from_pretrained(reference_folder, subfolder=subfolder)
    with config_folder_for(embedded_configs(_metadata(path)), "unused") as configs:
        loaded = AutoencoderKL.from_single_file(
            str(path), config=str(configs), subfolder="vae", local_files_only=True
        )
    _assert_same_weights(loaded.state_dict(), reference.state_dict())
    factors = (loaded.config.scaling_factor, loaded.config.shift_factor)
    assert factors == (tiny_dit.SD3_VAE_FACTORS if which == "sd3_checkpoint"
                       else tiny_dit.FLUX_VAE_FACTORS)
    if which == "flux_ae":  # BFL's ae.safetensors: no prefix, 1×1-conv attention
        weights = _load(path)
        assert weights["decoder.mid.attn_1.q.weight"].ndim == 4


def test_single_files_embed_their_configs(models):
    whole = embedded_configs(_metadata(models.checkpoint(models.sd3_file)))
    assert whole["model_index"]["_class_name"] == "StableDiffusion3Pipeline"
    assert {"transformer", "vae", "scheduler", "text_encoder", "text_encoder_3",
            "tokenizer", "tokenizer_3"} <= set(whole)
    flux = embedded_configs(_metadata(models.checkpoint(models.flux_file)))
    assert flux["transformer"]["guidance_embeds"] is True
    fp8 = models.diffusion_model(models.flux_fp8_transformer_file)
    assert set(embedded_configs(_metadata(fp8))) == {"transformer"}
    assert set(embedded_configs(_metadata(models.vae(models.flux_vae_file)))) == {"vae"}


# --- pipelines on the folders -------------------------------------------------------------------


def test_sd3_pipeline_runs_and_single_file_matches_the_folder(models):
    from diffusers import StableDiffusion3Pipeline

    folder = models.checkpoint(models.sd3_folder)
    pipeline = StableDiffusion3Pipeline.from_pretrained(folder)
    image = pipeline(PROMPT, guidance_scale=4.0, generator=_generator(), **RUN).images
    assert image.shape == (1, 32, 32, 3) and np.isfinite(image).all() and image.std() > 0.01
    # the all-in-one file, every component through diffusers' single-file loaders
    single = StableDiffusion3Pipeline.from_single_file(
        str(models.checkpoint(models.sd3_file)), config=str(folder), local_files_only=True
    )
    for name in ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3"):
        _assert_same_weights(getattr(single, name).state_dict(),
                             getattr(pipeline, name).state_dict())
    again = single(PROMPT, guidance_scale=4.0, generator=_generator(), **RUN).images
    np.testing.assert_allclose(again, image, atol=1e-5)


@pytest.mark.parametrize("variant", ["dev", "schnell"])
def test_flux_pipeline_runs(models, variant):
    from diffusers import FluxPipeline

    name = models.flux_folder if variant == "dev" else models.flux_schnell_folder
    pipeline = FluxPipeline.from_pretrained(models.checkpoint(name))
    assert pipeline.transformer.config.guidance_embeds is (variant == "dev")
    images = [
        pipeline(PROMPT, guidance_scale=scale, max_sequence_length=32, generator=_generator(),
                 **RUN).images
        for scale in (3.5, 7.0)
    ]
    assert images[0].shape == (1, 32, 32, 3) and images[0].std() > 0.01
    # dev embeds the guidance scale; schnell has nothing to put it in
    assert (not np.array_equal(*images)) is (variant == "dev")


def test_flux_all_in_one_matches_the_folder(models, flux_converter):
    from diffusers import FluxPipeline

    folder = models.checkpoint(models.flux_folder)
    pipeline = FluxPipeline.from_pretrained(folder)
    single = FluxPipeline.from_single_file(
        str(models.checkpoint(models.flux_file)), config=str(folder), local_files_only=True
    )
    for name in ("transformer", "vae", "text_encoder", "text_encoder_2"):
        _assert_same_weights(getattr(single, name).state_dict(),
                             getattr(pipeline, name).state_dict())


def test_flux_fill_pipeline_runs(models):
    import diffusers
    from PIL import Image

    if models.flux_fill_folder is None:
        pytest.skip("this diffusers has no FluxFillPipeline")
    pipeline = diffusers.FluxFillPipeline.from_pretrained(
        models.checkpoint(models.flux_fill_folder)
    )
    assert pipeline.transformer.config.in_channels == 384
    image = Image.fromarray(np.full((32, 32, 3), 200, np.uint8))
    mask = Image.fromarray(np.pad(np.full((16, 16), 255, np.uint8), 8))
    result = pipeline(PROMPT, image=image, mask_image=mask, guidance_scale=30.0,
                      max_sequence_length=32, generator=_generator(), **RUN).images
    assert result.shape == (1, 32, 32, 3) and np.isfinite(result).all()


def _control_image():
    from PIL import Image

    pattern = np.zeros((32, 32, 3), np.uint8)
    pattern[8:24, 8:24] = 255
    return Image.fromarray(pattern)


@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_controlnet_pipelines_run_and_the_control_acts(models, family):
    import diffusers

    if family == "sd3":
        pipeline_class, controlnet_class = (diffusers.StableDiffusion3ControlNetPipeline,
                                            diffusers.SD3ControlNetModel)
        folder, controlnet = models.sd3_folder, models.sd3_controlnet_folder
        extra = {"guidance_scale": 4.0}
    else:
        pipeline_class, controlnet_class = (diffusers.FluxControlNetPipeline,
                                            diffusers.FluxControlNetModel)
        folder, controlnet = models.flux_folder, models.flux_controlnet_folder
        extra = {"guidance_scale": 3.5, "max_sequence_length": 32}
    pipeline = pipeline_class.from_pretrained(
        models.checkpoint(folder),
        controlnet=controlnet_class.from_pretrained(models.controlnet(controlnet)),
    )
    images = [
        pipeline(PROMPT, control_image=_control_image(), controlnet_conditioning_scale=scale,
                 generator=_generator(), **extra, **RUN).images
        for scale in (0.0, 1.0)
    ]
    assert images[1].shape == (1, 32, 32, 3) and np.isfinite(images[1]).all()
    assert np.abs(images[1] - images[0]).max() > 1e-3


# --- the released architectures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "published", "detected"),
    [
        ("sd3_medium", 2.03e9, "sd3"),
        ("sd35_medium", 2.24e9, "sd35_medium"),
        ("sd35_large", 8.05e9, "sd35_large"),
        ("flux_dev", 11.90e9, "flux-dev"),
        ("flux_schnell", 11.89e9, "flux-schnell"),
    ],
)
def test_released_transformer_configs(name, published, detected):
    """Published sizes, and diffusers recognises the original keys these configs give."""
    from diffusers import FluxTransformer2DModel, SD3Transformer2DModel
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    folder = shipped_config_dir(name)
    config = json.loads((folder / "transformer" / "config.json").read_text())
    sd3 = config["_class_name"] == "SD3Transformer2DModel"
    with torch.device("meta"):
        model = (SD3Transformer2DModel if sd3 else FluxTransformer2DModel).from_config(config)
    count = sum(parameter.numel() for parameter in model.parameters())
    assert abs(count - published) / published < 0.005, count
    convert = layout.sd3_transformer_to_original if sd3 else layout.flux_transformer_to_original
    original = convert(model.state_dict(), model.config)
    checkpoint = {layout.DIFFUSION_MODEL_PREFIX + key: value for key, value in original.items()}
    assert infer_diffusers_model_type(checkpoint) == detected
    vae = json.loads((folder / "vae" / "config.json").read_text())
    assert (vae["scaling_factor"], vae["shift_factor"]) == (
        tiny_dit.SD3_VAE_FACTORS if sd3 else tiny_dit.FLUX_VAE_FACTORS
    )


@pytest.mark.parametrize(
    ("name", "published"),
    [("clip_l", 123.65e6), ("clip_g", 694.66e6), ("t5xxl", 4.762e9)],
)
def test_released_text_encoder_configs(name, published):
    from transformers import AutoConfig, CLIPTextModelWithProjection, T5EncoderModel

    config = AutoConfig.from_pretrained(shipped_config_dir("text_encoders") / name)
    model_class = T5EncoderModel if name == "t5xxl" else CLIPTextModelWithProjection
    with torch.device("meta"):
        model = model_class(config)
    count = sum(parameter.numel() for parameter in model.parameters())
    assert abs(count - published) / published < 0.001, count
