"""Socket types: the small, extensible vocabulary of what flows along a link.

A socket type is a name plus a colour the canvas draws and a rule for which outputs may feed
which inputs. The registry is an object (never a module-level dict) so a plugin can add types
without touching anyone else's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ANY = "*"
INT = "INT"
FLOAT = "FLOAT"
STRING = "STRING"
BOOLEAN = "BOOLEAN"
MODEL = "MODEL"
CLIP = "CLIP"
VAE = "VAE"
CONDITIONING = "CONDITIONING"
LATENT = "LATENT"
IMAGE = "IMAGE"
MASK = "MASK"
CONTROL_NET = "CONTROL_NET"
LORA = "LORA"
UPSCALE_MODEL = "UPSCALE_MODEL"
CLIP_VISION = "CLIP_VISION"
CLIP_VISION_OUTPUT = "CLIP_VISION_OUTPUT"
GLIGEN = "GLIGEN"
VIDEO = "VIDEO"
AUDIO = "AUDIO"
MESH = "MESH"
SHAP_E_MODEL = "SHAP_E_MODEL"
MOTION_MODEL = "MOTION_MODEL"

#: Types whose values are edited with a widget on the node (and may also be linked).
WIDGET_TYPES = frozenset({INT, FLOAT, STRING, BOOLEAN})


@dataclass(frozen=True)
class SocketType:
    name: str
    color: str
    description: str = ""


BUILTIN_SOCKET_TYPES: tuple[SocketType, ...] = (
    SocketType(ANY, "#b0b0b0", "Accepts or produces any value"),
    SocketType(INT, "#6fb1a0", "Whole number"),
    SocketType(FLOAT, "#a3c86d", "Decimal number"),
    SocketType(STRING, "#d4a373", "Text"),
    SocketType(BOOLEAN, "#c98bd9", "True or false"),
    SocketType(MODEL, "#b39ddb", "Denoising model (UNet or transformer) with its scheduler config"),
    SocketType(CLIP, "#ffd54f", "Text encoder(s) with tokenizer(s)"),
    SocketType(VAE, "#ef5350", "Variational autoencoder: pixels <-> latents"),
    SocketType(CONDITIONING, "#ffa726", "Encoded prompt, optionally carrying ControlNets"),
    SocketType(LATENT, "#f48fb1", "Latent image batch"),
    SocketType(IMAGE, "#64b5f6", "Image batch, float RGB in [0, 1]"),
    SocketType(MASK, "#81c784", "Mask batch, float in [0, 1]"),
    SocketType(CONTROL_NET, "#26a69a", "ControlNet model"),
    SocketType(LORA, "#9575cd", "LoRA weights"),
    SocketType(UPSCALE_MODEL, "#8d6e63", "Image upscaling model"),
    SocketType(CLIP_VISION, "#a1887f", "CLIP vision (image) encoder"),
    SocketType(CLIP_VISION_OUTPUT, "#ad7fa8", "An image encoded by CLIP vision (image prompt)"),
    SocketType(GLIGEN, "#4db6ac", "GLIGEN model: places prompt phrases in boxes"),
    SocketType(VIDEO, "#5c6bc0", "Video: frames (an image batch), frames per second, sound"),
    SocketType(AUDIO, "#26c6da", "Sound: waveform [channels, samples] and sample rate"),
    SocketType(MESH, "#8bc34a", "3D mesh: vertices, triangles, vertex colours"),
    SocketType(SHAP_E_MODEL, "#9ccc65", "Shap-E text-to-3D model (prior, text encoder, renderer)"),
    SocketType(MOTION_MODEL, "#7986cb", "AnimateDiff motion module, for Apply AnimateDiff"),
)


class SocketTypes:
    """Registry of socket types and of the implicit conversions between them."""

    def __init__(self, types: Iterable[SocketType] = BUILTIN_SOCKET_TYPES) -> None:
        self._types: dict[str, SocketType] = {}
        # (output type, input type) pairs that may be linked although the names differ.
        self._conversions: set[tuple[str, str]] = {(INT, FLOAT)}
        for socket_type in types:
            self.add(socket_type)

    def add(self, socket_type: SocketType) -> None:
        existing = self._types.get(socket_type.name)
        if existing is not None and existing != socket_type:
            # First registration wins: a plugin cannot recolour a core type under our feet.
            return
        self._types[socket_type.name] = socket_type

    def allow_conversion(self, output_type: str, input_type: str) -> None:
        self._conversions.add((output_type, input_type))

    def get(self, name: str) -> SocketType:
        """The socket type called ``name``; unknown names get a neutral grey, never an error."""
        return self._types.get(name) or SocketType(name, "#9e9e9e")

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        return sorted(self._types)

    def compatible(self, output_type: str, input_type: str) -> bool:
        """Whether an output of ``output_type`` may be linked into an input of ``input_type``."""
        if ANY in (output_type, input_type):
            return True
        return output_type == input_type or (output_type, input_type) in self._conversions
