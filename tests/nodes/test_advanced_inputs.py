"""Which built-in inputs fold away as advanced: a deliberate, short list."""

from __future__ import annotations

#: Inputs most graphs never change; everything else stays on the node. A single input is
#: folded only where it means nothing most of the time (tile_size while not tiled).
ADVANCED = {
    "diffusion.text_encode": ["text_2", "original_width", "original_height", "crop_left",
                              "crop_top", "target_width", "target_height"],
    "diffusion.load_diffusion_model": ["weight_dtype"],
    "image.upscale_with_model": ["tile_size"],
    "diffusion.sampler": ["add_noise", "start_step", "end_step", "return_with_leftover_noise",
                          "compatibility"],
    "diffusion.vae_decode": ["tile_size"],
    "image.save": ["to_8_bit"],
    # Encoder settings few change; the Paint node's drawing is edited in its editor, not typed.
    "video.save_webp": ["method"],
    "video.save_apng": ["compress_level"],
    "audio.save": ["quality"],
    "image.paint": ["mask_png", "sketch_png"],
    "diffusion.shap_e_latent_to_mesh": ["index"],
}


def test_only_rarely_changed_inputs_are_advanced(registry):
    found = {node_type.id: [spec.name for spec in node_type.inputs if spec.advanced]
             for node_type in registry}
    assert {type_id: names for type_id, names in found.items() if names} == ADVANCED


def test_advanced_inputs_default_to_leaving_the_feature_off(node):
    # Folded means "left at the default", so the default must be the everyday behaviour:
    # SDXL sizes 0 (= the generated size), one stage over the whole schedule.
    encode = node("diffusion.text_encode").default_values()
    assert encode["text_2"] == "" and all(encode[name] == 0 for name in ADVANCED[
        "diffusion.text_encode"][1:])
    sampler = node("diffusion.sampler")
    defaults = sampler.default_values()
    assert defaults["add_noise"] is True and defaults["start_step"] == 0
    assert defaults["end_step"] == sampler.input("end_step").max
    assert defaults["return_with_leftover_noise"] is False
    assert defaults["compatibility"] == "diffusers"  # the pipelines' image, the fidelity contract
    assert node("image.save").default_values()["to_8_bit"] == "round"
    decode = node("diffusion.vae_decode")
    assert decode.default_values()["tiled"] is False and not decode.input("tiled").advanced
    lora = node("diffusion.load_lora")
    assert not lora.input("strength_clip").advanced  # changed often enough to stay in view
