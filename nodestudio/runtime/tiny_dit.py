"""Tiny, seeded SD3 and Flux models built from config: for tests and benchmarks, no downloads.

The diffusion-transformer counterpart of :mod:`tiny`: the real architectures (SD3's MMDiT with
CLIP-L, CLIP-G and T5; Flux' double/single-stream transformer with CLIP-L and T5, guidance-
distilled "dev" and plain "schnell"; Flux Fill; SD3 and Flux ControlNets; the 16-channel
autoencoder) at toy widths, so a whole pipeline runs on a CPU in a fraction of a second. The
weights are random but seeded; CLIP-L and T5 are the same weights in the SD3 and the Flux
models, as one ``clip_l.safetensors`` and one ``t5xxl.safetensors`` serve both in real life.

:func:`build_tiny_dit_models` fills a ComfyUI-style models root with diffusers folders and with
single files in the original layouts (:mod:`original_layout_dit`) that carry their diffusers
configs in their metadata under :data:`~nodestudio.runtime.model_configs.EMBEDDED_CONFIG_KEY`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nodestudio.runtime import original_layout_dit as layout
from nodestudio.runtime.model_configs import EMBEDDED_CONFIG_KEY
from nodestudio.runtime.tiny import TINY_VOCAB_SIZE, _seeded
from nodestudio.runtime.tokenizers import OPEN_CLIP_PAD_TOKEN, clip_tokenizer

if TYPE_CHECKING:
    from diffusers import (
        AutoencoderKL,
        FluxControlNetModel,
        FluxTransformer2DModel,
        SD3ControlNetModel,
        SD3Transformer2DModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        PreTrainedModel,
        T5EncoderModel,
        T5Tokenizer,
    )

#: Latent scaling of the released autoencoders (their vae/config.json).
SD3_VAE_FACTORS = (1.5305, 0.0609)
FLUX_VAE_FACTORS = (0.3611, 0.1159)
#: SD3's and Flux' released flow-matching scheduler configs (scheduler_config.json).
SD3_SCHEDULER_CONFIG: dict[str, Any] = {"num_train_timesteps": 1000, "shift": 3.0}
FLUX_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
    "base_shift": 0.5,
    "max_shift": 1.15,
    "base_image_seq_len": 256,
    "max_image_seq_len": 4096,
}
#: Tiny widths. SD3 pads the CLIP features (clip_l + clip_g wide) to the T5 width, so T5 must be
#: the widest; the pooled vector SD3 conditions on is both CLIP projections side by side.
CLIP_L_WIDTH, CLIP_G_WIDTH, T5_WIDTH = 32, 64, 128
T5_MAX_LENGTH = 512

# Seed offsets: CLIP-L and T5 use the same ones in every family (shared weights).
_CLIP_L, _CLIP_G, _T5, _SD3_VAE, _FLUX_VAE, _TRANSFORMER = 1, 2, 3, 4, 5, 6

#: Words the tiny T5 vocabulary holds whole (split on whitespace).
_T5_WORDS = """
a an the of in on at with and or by to from for over under near behind above below into is are
photo photograph picture painting drawing sketch illustration portrait landscape render art
style oil watercolor digital anime cartoon realistic detailed cinematic lighting light dark
bright shadow sunset sunrise night day morning evening sky cloud clouds sun moon star stars
red blue green yellow orange purple pink black white gray grey brown gold silver colorful
fox cat dog bird horse cow fish lion tiger bear wolf rabbit mouse owl dragon animal animals
man woman boy girl child person people face eyes hair hand hands smile
house home building city street road bridge tower castle village room window door wall table
chair car train boat ship plane tree trees forest flower flowers garden grass field mountain
mountains river lake sea ocean beach water snow rain fire stone rock sand desert island
blurry bad ugly low quality worst best high resolution sharp focus masterpiece beautiful
small big large tiny huge old new young happy sad cute fluffy wooden metal glass
standing sitting running walking flying sleeping looking holding wearing
background foreground close up view wide shot top side front back left right center
one two three four five many some very
"""


def tiny_t5_tokenizer() -> T5Tokenizer:
    """A T5 (Unigram) tokenizer over a few hundred pieces, built in memory.

    Whole English words score better than spelling them out, and every ASCII letter, digit and
    punctuation mark is a piece of its own (with and without the word-start marker "▁"), so
    any ASCII prompt tokenizes without unknowns. transformers 5 builds it with the tokenizers
    library from ``vocab=[(piece, score), …]``; it appends T5's 100 ``<extra_id_N>`` tokens.
    """
    from transformers import T5Tokenizer

    pieces: dict[str, float] = {"<pad>": 0.0, "</s>": 0.0, "<unk>": 0.0, "▁": -4.0}
    for rank, word in enumerate(dict.fromkeys(_T5_WORDS.split())):
        pieces.setdefault("▁" + word, -5.0 - rank * 0.001)
    characters = [chr(code) for code in range(33, 127)]
    for character in characters:
        pieces.setdefault("▁" + character, -9.0)
        pieces.setdefault(character, -10.0)
    tokenizer = T5Tokenizer(vocab=list(pieces.items()))
    tokenizer.model_max_length = T5_MAX_LENGTH
    return tokenizer


def t5_vocab_size(tokenizer: T5Tokenizer) -> int:
    """The embedding rows a T5 encoder needs for ``tokenizer``: all ids, rounded up to 8."""
    return -(-len(tokenizer) // 8) * 8


def _clip_config(hidden: int, act: str) -> CLIPTextConfig:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=TINY_VOCAB_SIZE,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act=act,
        projection_dim=hidden,
        # eos 2 makes transformers pool at the highest id, <|endoftext|>, as for OpenAI CLIP.
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )


def tiny_clip_l(seed: int = 0) -> CLIPTextModelWithProjection:
    """CLIP-L-shaped CLIPTextModelWithProjection whose projection is the identity.

    SD3 pools CLIP-L without a projection (SAI's code: ``return_projected_pooled=False``);
    diffusers' single-file loader puts ``torch.eye`` in its place, and so does the tiny one, so
    that folder, all-in-one file and Flux (which uses the unprojected pooled output) agree.
    """
    from transformers import CLIPTextModelWithProjection

    with _seeded(seed):
        model = CLIPTextModelWithProjection(_clip_config(CLIP_L_WIDTH, "quick_gelu"))
    with torch.no_grad():
        model.text_projection.weight.copy_(torch.eye(CLIP_L_WIDTH))
    return model.eval()


def tiny_clip_g(seed: int = 0) -> CLIPTextModelWithProjection:
    """OpenCLIP-bigG-shaped CLIPTextModelWithProjection (gelu, its own projection)."""
    from transformers import CLIPTextModelWithProjection

    with _seeded(seed):
        return CLIPTextModelWithProjection(_clip_config(CLIP_G_WIDTH, "gelu")).eval()


def tiny_t5(seed: int = 0, vocab_size: int | None = None) -> T5EncoderModel:
    """A T5 v1.1-shaped encoder (gated GELU, relative attention) covering the tiny tokenizer."""
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size or t5_vocab_size(tiny_t5_tokenizer()),
        d_model=T5_WIDTH,
        d_kv=16,
        num_heads=4,
        d_ff=64,
        num_layers=2,
        feed_forward_proj="gated-gelu",
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        dropout_rate=0.0,
        is_encoder_decoder=False,
        use_cache=False,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    with _seeded(seed):
        return T5EncoderModel(config).eval()


def tiny_vae16(seed: int, scaling_factor: float, shift_factor: float) -> AutoencoderKL:
    """The SD3/Flux autoencoder shape: 16 latent channels, 8×, no quant convolutions."""
    from diffusers import AutoencoderKL

    with _seeded(seed):
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(16, 32, 32, 32),
            layers_per_block=1,
            norm_num_groups=8,
            latent_channels=16,
            sample_size=32,
            scaling_factor=scaling_factor,
            shift_factor=shift_factor,
            use_quant_conv=False,
            use_post_quant_conv=False,
            force_upcast=True,
        )
    # A trained VAE's posterior is narrow; a random one's is not. Make its log-variance the
    # floor diffusers clamps to (std e^-15), so that the pipelines that *sample* the posterior
    # (the SD3/Flux ControlNet pipelines encode their hints so) agree with NodeStudio, which
    # takes its mode, to 1e-6.
    with torch.no_grad():
        log_variance = slice(16, 32)
        vae.encoder.conv_out.weight[log_variance] = 0.0
        vae.encoder.conv_out.bias[log_variance] = -30.0
    return vae


def tiny_sd3_transformer(
    seed: int = 0, qk_norm: str | None = None, dual_attention_layers: tuple[int, ...] = ()
) -> SD3Transformer2DModel:
    """An SD3Transformer2DModel; ``qk_norm="rms_norm"`` and dual attention make it SD3.5-shaped."""
    from diffusers import SD3Transformer2DModel

    heads, head_dim = 2, 16
    with _seeded(seed):
        return SD3Transformer2DModel(
            sample_size=32,
            patch_size=2,
            in_channels=16,
            out_channels=16,
            num_layers=2,
            attention_head_dim=head_dim,
            num_attention_heads=heads,
            joint_attention_dim=T5_WIDTH,
            caption_projection_dim=heads * head_dim,
            pooled_projection_dim=CLIP_L_WIDTH + CLIP_G_WIDTH,
            pos_embed_max_size=96,
            qk_norm=qk_norm,
            dual_attention_layers=dual_attention_layers,
        )


def _shared_text_encoders(
    seed: int,
) -> tuple[CLIPTextModelWithProjection, T5EncoderModel, T5Tokenizer]:
    """CLIP-L, T5 and the T5 tokenizer: the same for every family at one seed."""
    t5_tokenizer = tiny_t5_tokenizer()
    clip_l = tiny_clip_l(seed + _CLIP_L)
    t5 = tiny_t5(seed + _T5, t5_vocab_size(t5_tokenizer))
    return clip_l, t5, t5_tokenizer


def tiny_sd3_components(seed: int = 0) -> dict[str, Any]:
    """Everything ``StableDiffusion3Pipeline(**components)`` takes."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    clip_l, t5, t5_tokenizer = _shared_text_encoders(seed)
    return {
        "transformer": tiny_sd3_transformer(seed + _TRANSFORMER),
        "vae": tiny_vae16(seed + _SD3_VAE, *SD3_VAE_FACTORS),
        "text_encoder": clip_l,
        "text_encoder_2": tiny_clip_g(seed + _CLIP_G),
        "text_encoder_3": t5,
        "tokenizer": clip_tokenizer(),
        "tokenizer_2": clip_tokenizer(pad_token=OPEN_CLIP_PAD_TOKEN),
        "tokenizer_3": t5_tokenizer,
        "scheduler": FlowMatchEulerDiscreteScheduler.from_config(SD3_SCHEDULER_CONFIG),
    }


def tiny_flux_transformer(
    seed: int = 0, guidance: bool = True, in_channels: int = 64, out_channels: int | None = None
) -> FluxTransformer2DModel:
    """A FluxTransformer2DModel; ``guidance`` embeds the guidance scale as FLUX.1-dev does."""
    from diffusers import FluxTransformer2DModel

    with _seeded(seed):
        return FluxTransformer2DModel(
            patch_size=1,
            in_channels=in_channels,
            out_channels=out_channels,
            num_layers=1,
            num_single_layers=2,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=T5_WIDTH,
            pooled_projection_dim=CLIP_L_WIDTH,  # Flux pools CLIP-L without projection
            guidance_embeds=guidance,
            axes_dims_rope=(4, 6, 6),  # sums to the head width
        )


def clip_l_without_projection(clip_l: CLIPTextModelWithProjection) -> CLIPTextModel:
    """The CLIPTextModel Flux uses, with the weights of a CLIPTextModelWithProjection."""
    from transformers import CLIPTextModel

    model = CLIPTextModel(clip_l.config)
    weights = {
        key.removeprefix("text_model."): value
        for key, value in clip_l.state_dict().items()
        if not key.startswith("text_projection")
    }
    # transformers ≥ 5.6 flattened CLIPTextModel; older ones keep the text_model level.
    if hasattr(model, "text_model"):
        weights = {"text_model." + key: value for key, value in weights.items()}
    model.load_state_dict(weights, strict=True)
    return model.eval()


def _flux_text_and_rest(seed: int) -> dict[str, Any]:
    from diffusers import FlowMatchEulerDiscreteScheduler

    clip_l, t5, t5_tokenizer = _shared_text_encoders(seed)
    return {
        "vae": tiny_vae16(seed + _FLUX_VAE, *FLUX_VAE_FACTORS),
        "text_encoder": clip_l_without_projection(clip_l),
        "text_encoder_2": t5,
        "tokenizer": clip_tokenizer(),
        "tokenizer_2": t5_tokenizer,
        "scheduler": FlowMatchEulerDiscreteScheduler.from_config(FLUX_SCHEDULER_CONFIG),
    }


def tiny_flux_components(seed: int = 0, guidance: bool = True) -> dict[str, Any]:
    """Everything ``FluxPipeline(**components)`` takes ("dev" with guidance, else "schnell")."""
    return {
        "transformer": tiny_flux_transformer(seed + _TRANSFORMER, guidance),
        **_flux_text_and_rest(seed),
    }


def flux_fill_available() -> bool:
    import diffusers

    return hasattr(diffusers, "FluxFillPipeline")


def tiny_flux_fill_components(seed: int = 0) -> dict[str, Any]:
    """Everything ``FluxFillPipeline`` takes: the transformer also reads the masked image
    latents (64 packed channels) and the 8×8 mask (256 more), 384 inputs in all."""
    return {
        "transformer": tiny_flux_transformer(seed + _TRANSFORMER, True, 384, 64),
        **_flux_text_and_rest(seed),
    }


def _randomise(model: torch.nn.Module, names: tuple[str, ...]) -> None:
    # Released ControlNets start from zero projections; trained ones are not zero, and a tiny
    # one must act for tests to see the control.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(names):
                torch.nn.init.normal_(parameter, std=0.2)


def tiny_sd3_controlnet(transformer: SD3Transformer2DModel, seed: int) -> SD3ControlNetModel:
    """A one-block SD3ControlNetModel for ``transformer`` (random, zero projections included)."""
    from diffusers import SD3ControlNetModel

    # What SD3ControlNetModel.from_transformer(..., load_weights_from_transformer=False) does,
    # without writing num_layers into the transformer's own config as it would.
    config = {**transformer.config, "num_layers": 1, "extra_conditioning_channels": 0}
    with _seeded(seed):
        controlnet = SD3ControlNetModel.from_config(config)
        _randomise(controlnet, ("controlnet_blocks", "pos_embed_input"))
    return controlnet


def tiny_flux_controlnet(
    transformer: FluxTransformer2DModel, seed: int
) -> FluxControlNetModel:
    """A FluxControlNetModel (one double, one single block) for ``transformer``, acting."""
    from diffusers import FluxControlNetModel

    config = transformer.config
    with _seeded(seed):
        controlnet = FluxControlNetModel.from_transformer(
            transformer,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=config.attention_head_dim,
            num_attention_heads=config.num_attention_heads,
            load_weights_from_transformer=False,
        )
        _randomise(
            controlnet, ("controlnet_blocks", "controlnet_single_blocks", "controlnet_x_embedder")
        )
    return controlnet


# --- files --------------------------------------------------------------------------------------


def save_pipeline_folder(pipeline_class: str, components: dict[str, Any], folder: Path) -> Path:
    """``diffusers.<pipeline_class>(**components).save_pretrained(folder)``."""
    import diffusers

    getattr(diffusers, pipeline_class)(**components).save_pretrained(folder)
    return folder


def folder_configs(folder: Path) -> dict[str, Any]:
    """model_index.json and every component's config (tokenizers' too) as one dict."""
    configs: dict[str, Any] = {"model_index": json.loads((folder / "model_index.json").read_text())}
    for component in sorted(folder.iterdir()):
        for name in ("config.json", "scheduler_config.json", "tokenizer_config.json"):
            if (component / name).is_file():
                configs[component.name] = json.loads((component / name).read_text())
                break
    return configs


def _save(weights: dict[str, torch.Tensor], path: Path, configs: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(path), metadata={EMBEDDED_CONFIG_KEY: json.dumps(configs)})
    return path


def save_sd3_checkpoint(components: dict[str, Any], folder: Path, path: Path) -> Path:
    """The SD3 components (saved as ``folder``) as one all-in-one file, ComfyUI's layout."""
    weights = layout.sd3_checkpoint_to_original(
        components["transformer"],
        components["vae"],
        components["text_encoder"],
        components["text_encoder_2"],
        components["text_encoder_3"],
    )
    return _save(weights, path, folder_configs(folder))


def save_flux_checkpoint(components: dict[str, Any], folder: Path, path: Path) -> Path:
    """The Flux components (saved as ``folder``) as one all-in-one file, ComfyUI's layout."""
    weights = layout.flux_checkpoint_to_original(
        components["transformer"],
        components["vae"],
        components["text_encoder"],
        components["text_encoder_2"],
    )
    return _save(weights, path, folder_configs(folder))


def save_diffusion_model(
    transformer: SD3Transformer2DModel | FluxTransformer2DModel, path: Path, fp8: bool = False
) -> Path:
    """An SD3 or Flux transformer alone, in its original layout (fp8: as fp8 files keep it)."""
    config = dict(transformer.config)
    if type(transformer).__name__ == "SD3Transformer2DModel":
        weights = layout.sd3_transformer_to_original(transformer.state_dict(), config)
    else:
        weights = layout.flux_transformer_to_original(transformer.state_dict(), config)
    weights = {k: v.detach().contiguous().clone() for k, v in weights.items()}
    if fp8:
        weights = layout.stored_as_fp8(weights)
    return _save(weights, path, {"transformer": json.loads(transformer.to_json_string())})


def save_text_encoder(model: PreTrainedModel, path: Path, clip_projection: bool = True) -> Path:
    """A transformers text encoder as ComfyUI keeps one (transformers names, one file)."""
    state = model.state_dict()
    if type(model).__name__ == "T5EncoderModel":
        weights = layout.t5_to_original(state)
    else:  # a CLIP-L file has no projection (see clip_text_to_original)
        weights = layout.clip_text_to_original(state, projection=clip_projection)
    weights = {k: v.detach().contiguous().clone() for k, v in weights.items()}
    return _save(weights, path, {"text_encoder": model.config.to_dict()})


def save_vae_file(vae: AutoencoderKL, path: Path) -> Path:
    """An autoencoder in the LDM layout without prefix, like BFL's ``ae.safetensors``."""
    weights = layout.vae_to_original(vae.state_dict(), vae.config)
    weights = {k: v.detach().contiguous().clone() for k, v in weights.items()}
    return _save(weights, path, {"vae": json.loads(vae.to_json_string())})


def save_tiny_flux_lora(transformer, text_encoder, path: Path, seed: int, rank: int = 4) -> Path:
    """A Flux LoRA (diffusers/peft format) for the transformer's attention and CLIP-L."""
    import copy

    from diffusers import FluxPipeline
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model

    transformer, text_encoder = copy.deepcopy(transformer), copy.deepcopy(text_encoder)
    with _seeded(seed):
        transformer.add_adapter(LoraConfig(
            r=rank, lora_alpha=rank, init_lora_weights=False,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
        inject_adapter_in_model(LoraConfig(
            r=rank, lora_alpha=rank, init_lora_weights=False,
            target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]), text_encoder)
    path.parent.mkdir(parents=True, exist_ok=True)
    FluxPipeline.save_lora_weights(
        path.parent, transformer_lora_layers=get_peft_model_state_dict(transformer),
        text_encoder_lora_layers=get_peft_model_state_dict(text_encoder), weight_name=path.name,
    )
    return path


@dataclass(frozen=True)
class TinyDitModels:
    """Where :func:`build_tiny_dit_models` put everything, and the names to pick them by."""

    root: Path
    sd3_folder: str = "tiny-sd3"
    sd3_file: str = "tiny-sd3.safetensors"
    flux_folder: str = "tiny-flux"
    flux_schnell_folder: str = "tiny-flux-schnell"
    flux_file: str = "tiny-flux.safetensors"
    #: None where the installed diffusers has no FluxFillPipeline.
    flux_fill_folder: str | None = "tiny-flux-fill"
    flux_transformer_file: str = "tiny-flux.safetensors"
    flux_fp8_transformer_file: str = "tiny-flux-fp8.safetensors"
    sd3_transformer_file: str = "tiny-sd3.safetensors"
    clip_l_file: str = "tiny-clip-l.safetensors"
    clip_g_file: str = "tiny-clip-g.safetensors"
    t5_file: str = "tiny-t5.safetensors"
    t5_tokenizer_folder: str = "t5"
    flux_vae_file: str = "tiny-flux-ae.safetensors"
    sd3_vae_folder: str = "tiny-sd3-vae"
    sd3_controlnet_folder: str = "tiny-sd3-controlnet"
    flux_controlnet_folder: str = "tiny-flux-controlnet"
    flux_lora_file: str = "tiny-flux-lora.safetensors"

    def checkpoint(self, name: str) -> Path:
        return self.root / "checkpoints" / name

    def diffusion_model(self, name: str) -> Path:
        return self.root / "diffusion_models" / name

    def text_encoder(self, name: str) -> Path:
        return self.root / "text_encoders" / name

    def tokenizer(self, name: str) -> Path:
        return self.root / "tokenizers" / name

    def vae(self, name: str) -> Path:
        return self.root / "vae" / name

    def controlnet(self, name: str) -> Path:
        return self.root / "controlnet" / name

    def lora(self, name: str) -> Path:
        return self.root / "loras" / name


def build_tiny_dit_models(root: Path, seed: int = 0) -> TinyDitModels:
    """Fill ``root`` with the tiny SD3/Flux models in the ComfyUI-style folder layout."""
    fill = flux_fill_available()
    models = TinyDitModels(root, flux_fill_folder="tiny-flux-fill" if fill else None)
    for kind in ("checkpoints", "diffusion_models", "text_encoders", "tokenizers", "vae",
                 "controlnet", "loras"):
        (root / kind).mkdir(parents=True, exist_ok=True)

    sd3 = tiny_sd3_components(seed)
    sd3_folder = save_pipeline_folder(
        "StableDiffusion3Pipeline", sd3, models.checkpoint(models.sd3_folder)
    )
    save_sd3_checkpoint(sd3, sd3_folder, models.checkpoint(models.sd3_file))
    save_diffusion_model(sd3["transformer"], models.diffusion_model(models.sd3_transformer_file))
    sd3["vae"].save_pretrained(models.vae(models.sd3_vae_folder))

    flux = tiny_flux_components(seed)
    flux_folder = save_pipeline_folder("FluxPipeline", flux, models.checkpoint(models.flux_folder))
    save_flux_checkpoint(flux, flux_folder, models.checkpoint(models.flux_file))
    transformer = flux["transformer"]
    save_diffusion_model(transformer, models.diffusion_model(models.flux_transformer_file))
    save_diffusion_model(
        transformer, models.diffusion_model(models.flux_fp8_transformer_file), fp8=True
    )
    save_vae_file(flux["vae"], models.vae(models.flux_vae_file))
    save_tiny_flux_lora(transformer, flux["text_encoder"], models.lora(models.flux_lora_file),
                        seed + 40)
    schnell = {**flux, "transformer": tiny_flux_transformer(seed + _TRANSFORMER, guidance=False)}
    save_pipeline_folder("FluxPipeline", schnell, models.checkpoint(models.flux_schnell_folder))
    if models.flux_fill_folder is not None:
        save_pipeline_folder("FluxFillPipeline", tiny_flux_fill_components(seed),
                             models.checkpoint(models.flux_fill_folder))

    save_text_encoder(sd3["text_encoder"], models.text_encoder(models.clip_l_file), False)
    save_text_encoder(sd3["text_encoder_2"], models.text_encoder(models.clip_g_file))
    save_text_encoder(sd3["text_encoder_3"], models.text_encoder(models.t5_file))
    sd3["tokenizer_3"].save_pretrained(models.tokenizer(models.t5_tokenizer_folder))

    tiny_sd3_controlnet(sd3["transformer"], seed + 20).save_pretrained(
        models.controlnet(models.sd3_controlnet_folder)
    )
    tiny_flux_controlnet(transformer, seed + 21).save_pretrained(
        models.controlnet(models.flux_controlnet_folder)
    )
    return models
