"""An empty model name is "none", never the kind's folder (ModelLibrary.find)."""

from __future__ import annotations

import os
import types

import pytest

from nodestudio.api.errors import ModelNotFoundError
from nodestudio.app.models import ModelLibrary, ModelNotChosenError


@pytest.fixture
def library(tmp_path):
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "style.safetensors").write_bytes(b"x" * 16)
    return ModelLibrary([tmp_path], include_demo=False)


@pytest.mark.parametrize("name", ["", "   ", ".", "./"])
def test_an_unset_name_is_none_with_a_message_naming_the_folder(library, tmp_path, name):
    with pytest.raises(ModelNotChosenError) as raised:
        library.find("loras", name)
    assert isinstance(raised.value, ModelNotFoundError)  # loaders already report these
    folder = tmp_path / "loras"
    assert str(raised.value) == f"no loras model chosen: pick one in the node (put one in {folder})"


def test_a_chosen_name_is_still_found(library, tmp_path):
    assert library.find("loras", "style.safetensors") == tmp_path / "loras" / "style.safetensors"


def test_an_unset_load_lora_does_not_fingerprint_the_loras_folder(library, tmp_path):
    """Adding a file to the loras folder must not make an unset Load LoRA stale."""
    from nodestudio.app.packs import create_registry

    # The built-in pack as the app loads it (never a top-level ``nodes`` package).
    fingerprint = create_registry(entry_points=False).get("diffusion.load_lora").fingerprint
    ctx = types.SimpleNamespace(models=library, device="cpu")
    before = fingerprint(ctx, lora="")
    (tmp_path / "loras" / "new.safetensors").write_bytes(b"y" * 8)
    os.utime(tmp_path / "loras", (1, 1))  # the folder's mtime moves whatever the clock says
    assert fingerprint(ctx, lora="") == before == ("missing", "loras", "")
