"""The embedded demo model: a tiny text-to-image model and canny ControlNet of simple shapes.

world      the procedural shapes world (images, captions, held-out combinations, canny edges)
tokenizer  a CLIPTokenizer whose vocabulary is the caption words
models     the diffusers/transformers architectures, sized tiny
metrics    classical image analysis that reads back colour, shape, position, size
train      the staged CPU training (vae, latents, unet, controlnet, export); never imported
           by the app or the tests
export     writes resources/models/nodestudio-shapes(-canny) as diffusers folders
evaluate   generates with the diffusers pipelines and measures prompt/control adherence

docs/DEMO_MODEL.md tells how the shipped model was made and what it measures.
"""
