"""Test-wide setup: headless Qt, and a private NodeStudio home so tests never touch the user's."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Without a display Qt aborts; the offscreen platform renders for real, just not to a screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Settings, autosaves, packs, output: all under a throw-away folder for this test session.
_HOME = Path(tempfile.mkdtemp(prefix="nodestudio-tests-"))
os.environ["NODESTUDIO_HOME"] = str(_HOME)
for _variable in ("NODESTUDIO_MODELS", "NODESTUDIO_OUTPUT", "NODESTUDIO_INPUT",
                  "NODESTUDIO_DEVICE"):
    os.environ.pop(_variable, None)
# Offline, always: a test that tries the hub must fail, not hang or download.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sys  # noqa: E402

# Shared test helpers (tests/fakes.py) importable from every test folder.
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Tiny seeded SD1.5/SDXL/ControlNet/LoRA models in a models root, built once per session.

    A ``nodestudio.runtime.tiny.TinyModels``: ``.root`` is a models root (checkpoints/,
    controlnet/, loras/, vae/, vae_approx/) to hand to a Session or ModelLibrary; its fields
    name the models (``sd_folder``, ``sd_file``, ``sdxl_folder`` …). See nodestudio/runtime/tiny.py.
    """
    from nodestudio.runtime.tiny import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))
