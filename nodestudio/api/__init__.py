"""The public node-authoring API. Built-in nodes and plugins are written only against this.

No Qt and no torch here: a pack's module must import cheaply, so heavy imports belong inside
node functions.
"""

from nodestudio.api.context import ModelLocator, NodeContext
from nodestudio.api.errors import Cancelled, ModelNotFoundError, NodeError
from nodestudio.api.media import Audio, Mesh, Video
from nodestudio.api.pack import NodePack, collect_nodes
from nodestudio.api.registry import LoadedPack, NodeRegistry, PackFailure, registry_of
from nodestudio.api.schema import (
    MAX_SEED,
    SEED_CONTROLS,
    Boolean,
    Choice,
    Float,
    Input,
    InputSpec,
    Int,
    ModelChoice,
    NodeType,
    Output,
    OutputSpec,
    SchemaError,
    Seed,
    String,
    check_value,
    coerce_value,
    node,
)
from nodestudio.api.sockets import (
    ANY,
    AUDIO,
    BOOLEAN,
    CLIP,
    CLIP_VISION,
    CLIP_VISION_OUTPUT,
    CONDITIONING,
    CONTROL_NET,
    FLOAT,
    GLIGEN,
    IMAGE,
    INT,
    LATENT,
    LORA,
    MASK,
    MESH,
    MODEL,
    SHAP_E_MODEL,
    STRING,
    UPSCALE_MODEL,
    VAE,
    VIDEO,
    SocketType,
    SocketTypes,
)

__all__ = [
    "ANY", "AUDIO", "BOOLEAN", "CLIP", "CLIP_VISION", "CLIP_VISION_OUTPUT", "CONDITIONING",
    "CONTROL_NET", "FLOAT", "GLIGEN", "IMAGE", "INT", "LATENT",
    "LORA", "MASK", "MAX_SEED", "MESH", "MODEL", "SEED_CONTROLS", "SHAP_E_MODEL", "STRING",
    "UPSCALE_MODEL", "VAE",
    "VIDEO", "Audio", "Boolean", "Cancelled", "Choice", "Float", "Input", "InputSpec", "Int",
    "LoadedPack", "Mesh", "ModelChoice", "ModelLocator", "ModelNotFoundError", "NodeContext",
    "NodeError",
    "NodePack", "NodeRegistry", "NodeType", "Output", "OutputSpec", "PackFailure", "SchemaError",
    "Seed", "SocketType", "SocketTypes", "String", "Video", "check_value", "coerce_value",
    "collect_nodes", "node", "registry_of",
]
