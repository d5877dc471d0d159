"""The generic built-in nodes as a whole: ids, schemas artists read, cheap imports."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from nodestudio.api import check_value
from nodestudio.paths import builtin_nodes_dir

GENERIC_NODE_IDS = {
    "primitive.int", "primitive.float", "primitive.string", "primitive.boolean", "primitive.seed",
    "math.int", "math.float", "math.compare", "math.round",
    "text.join", "text.format",
    "image.load", "image.save", "image.preview", "image.resize", "image.scale_by", "image.crop",
    "image.blend", "image.invert", "image.to_mask",
    "mask.from_color", "mask.invert", "mask.grow", "mask.blur", "mask.solid", "mask.to_image",
    "preprocess.canny", "preprocess.shuffle", "preprocess.lineart_standard",
    "preprocess.mediapipe_face", "preprocess.hed", "preprocess.pidinet", "preprocess.lineart",
    "preprocess.lineart_anime", "preprocess.mlsd", "preprocess.depth_midas",
    "preprocess.depth_zoe", "preprocess.normal_bae", "preprocess.openpose",
}
CATEGORY_OF_PREFIX = {"primitive": "primitives", "preprocess": "preprocessors"}


def test_every_generic_node_is_registered_with_a_readable_schema(registry):
    by_id = {node_type.id: node_type for node_type in registry}
    assert not GENERIC_NODE_IDS - set(by_id), sorted(GENERIC_NODE_IDS - set(by_id))
    for type_id in GENERIC_NODE_IDS:
        node_type = by_id[type_id]
        prefix = type_id.split(".")[0]
        assert node_type.category == CATEGORY_OF_PREFIX.get(prefix, prefix), type_id
        assert node_type.display_name and len(node_type.description) > 20, type_id
        assert node_type.outputs or node_type.output_node, type_id
        for spec in node_type.inputs:
            if spec.has_widget and spec.choices_source is None:
                assert check_value(spec, spec.default) is None, (type_id, spec.name)
    assert [t.id for t in registry if t.output_node and t.id in GENERIC_NODE_IDS] == \
        ["image.save", "image.preview"]
    assert [t.id for t in registry if not t.deterministic and t.id in GENERIC_NODE_IDS] == \
        ["image.load"]


def test_node_modules_import_without_heavy_libraries():
    # The pack is imported when the app starts: torch, opencv and controlnet-aux must wait
    # until a node that needs them runs. The package is set up without running its
    # __init__, so that only these modules (not the diffusion nodes) are measured.
    script = textwrap.dedent(f"""
        import importlib, sys, types
        package = types.ModuleType("probe")
        package.__path__ = [{str(builtin_nodes_dir())!r}]
        sys.modules["probe"] = package
        for name in ("primitives", "math_nodes", "text", "image", "mask", "preprocessors",
                     "notes"):
            importlib.import_module("probe." + name)
        heavy = ("torch", "cv2", "controlnet_aux", "diffusers", "transformers", "timm")
        print(",".join(sorted(m for m in heavy if m in sys.modules)))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
