"""Each loader declares its models folder once (``ModelChoice(name, kind)``): the dropdown
lists that folder, the fingerprint watches the file found there and the node loads it from
there. Checked over every built-in node with a model input, with the real model library."""

from __future__ import annotations

import inspect
import re
from types import SimpleNamespace

import pytest

from nodestudio.app.models import ModelLibrary
from nodestudio.app.packs import create_registry

REGISTRY = create_registry(entry_points=False)
MODEL_INPUTS = [(node_type, spec) for node_type in REGISTRY for spec in node_type.inputs
                if spec.model_kind is not None]


def _flat(value: object) -> list[object]:
    if isinstance(value, list | tuple):
        return [item for part in value for item in _flat(part)]
    return [value]


def test_the_loaders_declare_their_kinds():
    kinds = {(node_type.id, spec.name): spec.model_kind for node_type, spec in MODEL_INPUTS}
    # A sample of what users rely on: the folders the README documents for these loaders.
    assert kinds[("diffusion.load_checkpoint", "checkpoint")] == "checkpoints"
    assert kinds[("diffusion.load_vae", "vae_name")] == "vae"
    assert kinds[("diffusion.load_lora", "lora")] == "loras"
    assert kinds[("diffusion.load_controlnet", "control_net")] == "controlnet"
    assert len(MODEL_INPUTS) >= 14


@pytest.mark.parametrize("node_type, spec", MODEL_INPUTS,
                         ids=[f"{t.id}.{s.name}" for t, s in MODEL_INPUTS])
def test_fingerprint_watches_the_file_in_the_declared_folder(node_type, spec, tmp_path):
    assert node_type.fingerprint is not None, f"{node_type.id} loads a model but never re-checks it"
    probe = tmp_path / spec.model_kind / "probe.safetensors"
    probe.parent.mkdir(parents=True)
    probe.write_bytes(b"first")
    # A file of the same name in every other folder the loaders use: only the declared one
    # may count.
    for _other_type, other in MODEL_INPUTS:
        if other.model_kind != spec.model_kind:
            decoy = tmp_path / str(other.model_kind) / "probe.safetensors"
            decoy.parent.mkdir(parents=True, exist_ok=True)
            decoy.write_bytes(b"decoy")
    ctx = SimpleNamespace(models=ModelLibrary([tmp_path], include_demo=False), device="cpu")
    values = {**node_type.default_values(), spec.name: "probe.safetensors"}
    first = node_type.fingerprint(ctx=ctx, **values)
    assert str(probe.resolve()) in _flat(first)
    probe.write_bytes(b"changed on disk")
    assert node_type.fingerprint(ctx=ctx, **values) != first


@pytest.mark.parametrize("node_type", sorted({t for t, _s in MODEL_INPUTS}, key=lambda t: t.id),
                         ids=lambda t: t.id)
def test_loaders_look_models_up_through_their_declared_input(node_type):
    # `ctx.models.find("kind", …)` with a literal kind would be a second declaration that can
    # drift from the input's; loaders go through `find_model(ctx, INPUT, name)`.
    source = inspect.getsource(node_type.function)
    kinds = {spec.model_kind for spec in node_type.inputs if spec.model_kind}
    literal = re.findall(r'models\.find\(\s*"(\w+)"', source)
    assert not kinds & set(literal), f"{node_type.id} names its models folder twice"
