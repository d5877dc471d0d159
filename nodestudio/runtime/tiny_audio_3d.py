"""Tiny, seeded Stable Audio Open and Shap-E models for the tests (built from config, offline).

Stable Audio: a 2-layer StableAudioDiTModel on 4 latent channels, an Oobleck VAE with a hop of
4 samples at 64 Hz (16 latent frames = 1 second), the tiny T5 of ``tiny_dit`` (its in-memory
Unigram tokenizer, 32 tokens) and a projection model. Shap-E: a one-layer PriorTransformer
over 32 × 16 latents, a small CLIP text encoder with the real CLIP tokenizer (built offline),
Heun with the released scheduler settings and a ShapERenderer whose MLP is 8 wide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodestudio.runtime.tiny import TINY_VOCAB_SIZE, _seeded

#: Stable Audio tiny sizes: latent channels, frames of the full-length latent, sample rate.
AUDIO_CHANNELS_LATENT, AUDIO_SAMPLE_SIZE, AUDIO_RATE = 4, 16, 64
AUDIO_HOP = 4  # the product of the VAE's downsampling ratios
AUDIO_T5_LENGTH = 32
#: Shap-E tiny sizes: the prior's tokens and width (the latent is tokens × width).
SHAP_E_TOKENS, SHAP_E_WIDTH, SHAP_E_RENDERER_WIDTH = 32, 16, 8

#: The released Shap-E scheduler settings (openai/shap-e scheduler_config.json).
SHAP_E_SCHEDULER_CONFIG: dict[str, Any] = {
    "beta_schedule": "exp", "num_train_timesteps": 1024, "prediction_type": "sample",
    "use_karras_sigmas": True, "clip_sample": True, "clip_sample_range": 1.0,
}
#: The released Stable Audio Open scheduler settings (its scheduler_config.json).
STABLE_AUDIO_SCHEDULER_CONFIG: dict[str, Any] = {
    "sigma_min": 0.3, "sigma_max": 500.0, "sigma_data": 1.0, "sigma_schedule": "exponential",
    "solver_order": 2, "prediction_type": "v_prediction", "rho": 7.0,
    "final_sigmas_type": "zero",
}


def tiny_stable_audio_components(seed: int = 0) -> dict[str, Any]:
    """The components of a ``StableAudioPipeline`` (seeded, random weights)."""
    from diffusers import AutoencoderOobleck, CosineDPMSolverMultistepScheduler, StableAudioDiTModel
    from diffusers.pipelines.stable_audio import StableAudioProjectionModel

    from nodestudio.runtime.tiny_dit import T5_WIDTH, t5_vocab_size, tiny_t5, tiny_t5_tokenizer

    tokenizer = tiny_t5_tokenizer()
    tokenizer.model_max_length = AUDIO_T5_LENGTH
    conditioning = 16
    with _seeded(seed + 1):
        transformer = StableAudioDiTModel(
            sample_size=AUDIO_SAMPLE_SIZE, in_channels=AUDIO_CHANNELS_LATENT, num_layers=2,
            attention_head_dim=8, num_attention_heads=2, num_key_value_attention_heads=1,
            out_channels=AUDIO_CHANNELS_LATENT, cross_attention_dim=16, time_proj_dim=8,
            global_states_input_dim=2 * conditioning, cross_attention_input_dim=conditioning,
        ).eval()
    with _seeded(seed + 2):
        vae = AutoencoderOobleck(
            encoder_hidden_size=6, downsampling_ratios=[2, 2], channel_multiples=[1, 2],
            decoder_channels=6, decoder_input_channels=AUDIO_CHANNELS_LATENT, audio_channels=2,
            sampling_rate=AUDIO_RATE,
        ).eval()
    with _seeded(seed + 3):
        projection = StableAudioProjectionModel(
            text_encoder_dim=T5_WIDTH, conditioning_dim=conditioning, min_value=0,
            max_value=AUDIO_SAMPLE_SIZE * AUDIO_HOP // AUDIO_RATE * 8,
        ).eval()
    return {
        "vae": vae,
        "text_encoder": tiny_t5(seed + 4, t5_vocab_size(tokenizer)),
        "projection_model": projection,
        "tokenizer": tokenizer,
        "transformer": transformer,
        "scheduler": CosineDPMSolverMultistepScheduler(**STABLE_AUDIO_SCHEDULER_CONFIG),
    }


def tiny_shap_e_components(seed: int = 0) -> dict[str, Any]:
    """The components of a ``ShapEPipeline`` (seeded, random weights)."""
    from diffusers import HeunDiscreteScheduler, PriorTransformer
    from diffusers.pipelines.shap_e import ShapERenderer
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from nodestudio.runtime.tokenizers import clip_tokenizer

    width, hidden = SHAP_E_WIDTH, SHAP_E_RENDERER_WIDTH
    with _seeded(seed + 1):
        prior = PriorTransformer(
            num_attention_heads=2, attention_head_dim=16, embedding_dim=width,
            num_embeddings=SHAP_E_TOKENS, embedding_proj_dim=width, time_embed_dim=64,
            num_layers=1, clip_embed_dim=2 * width, additional_embeddings=0,
            time_embed_act_fn="gelu", norm_in_type="layer", encoder_hid_proj_type=None,
            added_emb_type=None,
        ).eval()
    with _seeded(seed + 2):
        text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(
            vocab_size=TINY_VOCAB_SIZE, hidden_size=width, projection_dim=width,
            intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=77, bos_token_id=0, eos_token_id=2, pad_token_id=1,
        )).eval()
    with _seeded(seed + 3):
        renderer = ShapERenderer(
            param_shapes=((hidden, 93), (hidden, hidden), (hidden, hidden), (hidden, hidden)),
            d_latent=width, d_hidden=hidden, n_output=12, background=(0.1, 0.1, 0.1),
        ).eval()
        # Released renderers are trained; random ones (std 0.02 init) give an almost constant,
        # negative field. Wider weights (and unbiased last layers) make the tiny SDF cross
        # zero, so a mesh comes out.
        for parameter in renderer.params_proj.parameters():
            parameter.data.normal_(0.0, 0.5)
        for name, parameter in renderer.mlp.named_parameters():
            if name.startswith(("mlp.4.", "mlp.5.", "mlp.6.")):
                parameter.data.normal_(0.0, 1.0 if name.endswith("weight") else 0.0)
    return {
        "prior": prior, "text_encoder": text_encoder, "tokenizer": clip_tokenizer(),
        "shap_e_renderer": renderer,
        "scheduler": HeunDiscreteScheduler(**SHAP_E_SCHEDULER_CONFIG),
    }


def save_stable_audio_folder(folder: Path, seed: int = 0) -> Path:
    from diffusers import StableAudioPipeline

    StableAudioPipeline(**tiny_stable_audio_components(seed)).save_pretrained(folder)
    return folder


def save_shap_e_folder(folder: Path, seed: int = 0) -> Path:
    from diffusers import ShapEPipeline

    ShapEPipeline(**tiny_shap_e_components(seed)).save_pretrained(folder)
    return folder
