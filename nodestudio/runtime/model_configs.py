"""Architecture configs for single-file models: shipped per family, or embedded in the file.

Shipped configs live in ``resources/model_configs/<name>/`` in the diffusers folder layout
(``model_index.json``, ``unet/config.json`` …); see the README there. A single file may instead
carry its configs in its safetensors metadata under :data:`EMBEDDED_CONFIG_KEY` (a JSON object:
``{"model_index": {...}, "unet": {...}, "vae": {...}, ...}``, or ``{"controlnet": {...}}``);
:func:`config_folder_for` writes those into a temporary folder for ``from_single_file``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nodestudio.paths import resources_dir

#: Safetensors metadata key under which a single file may carry its own diffusers configs.
EMBEDDED_CONFIG_KEY = "nodestudio.diffusers_config"

_CONFIG_FILE_NAMES = {"scheduler": "scheduler_config.json", "tokenizer": "tokenizer_config.json"}


def shipped_config_dir(name: str) -> Path:
    """``resources/model_configs/<name>`` (raises when NodeStudio's resources lack it)."""
    folder = resources_dir() / "model_configs" / name
    if not folder.is_dir():
        raise FileNotFoundError(f"the model config folder {folder} is missing (broken install)")
    return folder


def embedded_configs(metadata: Mapping[str, str] | None) -> dict[str, Any] | None:
    """The configs a single file carries in its metadata, or None."""
    if not metadata or EMBEDDED_CONFIG_KEY not in metadata:
        return None
    try:
        configs = json.loads(metadata[EMBEDDED_CONFIG_KEY])
    except json.JSONDecodeError as error:
        raise ValueError(f"the embedded model config is not valid JSON: {error}") from None
    if not isinstance(configs, dict):
        raise ValueError("the embedded model config is not a JSON object")
    return configs


def write_config_folder(configs: Mapping[str, Any], folder: Path) -> Path:
    """Lay ``configs`` out as a diffusers folder (configs only, no weights)."""
    for component, config in configs.items():
        if component == "model_index":
            (folder / "model_index.json").write_text(json.dumps(config))
        elif component == "controlnet":
            (folder / "config.json").write_text(json.dumps(config))
        else:
            (folder / component).mkdir(parents=True, exist_ok=True)
            name = _CONFIG_FILE_NAMES.get(component.rstrip("_0123456789"), "config.json")
            (folder / component / name).write_text(json.dumps(config))
    return folder


@contextmanager
def config_folder_for(configs: Mapping[str, Any] | None, shipped: str) -> Iterator[Path]:
    """A folder of configs: the embedded ones (in a temporary folder) or the shipped ``shipped``."""
    if configs is None:
        yield shipped_config_dir(shipped)
        return
    with tempfile.TemporaryDirectory(prefix="nodestudio-config-") as temporary:
        yield write_config_folder(configs, Path(temporary))


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
