"""How the embedded demo model was made (training, export, evaluation): a project tool, run
from a checkout (`python -m tools.demo_model.train ...`), never shipped in the wheel.

data       the training dataset drawn from nodestudio.demo.world
tokenizer  a CLIPTokenizer whose vocabulary is the caption words
models     the diffusers/transformers architectures, sized tiny
metrics    classical image analysis that reads back colour, shape, position, size
train      the staged CPU training (vae, latents, unet, controlnet, export)
export     writes resources/models/nodestudio-shapes(-canny) as diffusers folders
evaluate   generates with the diffusers pipelines and measures prompt/control adherence
workflows  writes the shipped example workflows in resources/workflows/
vocabulary the words the demo model knows, as the first-run graph's note shows them

docs/DEMO_MODEL.md tells how the shipped model was made and what it measures.
"""
