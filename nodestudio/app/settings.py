"""Settings the GUI and the CLI share: model roots, input/output folders, device, cache budgets.

Stored as JSON in the user's config folder. Environment variables override the file, and
command-line options override both: NODESTUDIO_HOME (base folder for data, handy for portable
installs and tests), NODESTUDIO_MODELS (model roots, separated by os.pathsep),
NODESTUDIO_OUTPUT, NODESTUDIO_INPUT, NODESTUDIO_DEVICE, NODESTUDIO_WARM_START (0 switches the
window's warm start off).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from nodestudio.graph.files import write_atomic

APP_NAME = "NodeStudio"


def data_dir() -> Path:
    home = os.environ.get("NODESTUDIO_HOME")
    return Path(home) if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    home = os.environ.get("NODESTUDIO_HOME")
    if home:
        return Path(home) / "config"
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / "settings.json"


@dataclass
class Settings:
    #: Model roots laid out like ComfyUI's models folder (checkpoints/, vae/, loras/ …).
    models_dirs: list[Path] = field(default_factory=lambda: [data_dir() / "models"])
    #: ComfyUI ``extra_model_paths.yaml`` files to read more model folders from.
    extra_model_paths: list[Path] = field(default_factory=list)
    output_dir: Path = field(default_factory=lambda: data_dir() / "output")
    input_dir: Path = field(default_factory=lambda: data_dir() / "input")
    user_packs_dir: Path = field(default_factory=lambda: data_dir() / "packs")
    device: str = "auto"
    #: Cache budgets in GiB; None picks a share of the machine's memory.
    ram_cache_gib: float | None = None
    vram_cache_gib: float | None = None
    #: The window imports the model libraries and loads the shown graph's models in the
    #: background once it is up, so the first run does not wait for them.
    warm_start: bool = True
    #: How models are held on the GPU: auto, keep, offload, sequential, fp8
    #: (runtime/memory_manager.py).
    memory_mode: str = "auto"
    #: Fast mode: the denoiser compiled with torch.compile (runtime/fast_mode.py).
    fast: bool = False
    #: The render farm (app/farm): the Ray address the window's "Farm" target and
    #: `nodestudio run --farm` without an address use ("auto": the local `farm start` one),
    #: how often a job whose worker died is retried, and the models root the workers read
    #: (empty: the same roots as here, which suits a shared network folder).
    farm_address: str = "auto"
    #: Send this machine's Ray token (~/.ray/auth_token, or RAY_AUTH_TOKEN) to an explicit
    #: farm_address, as a farm with token authentication (`nodestudio farm start`'s) asks;
    #: Ray sends it to the cluster it finds by itself ("auto") in any case.
    farm_send_token: bool = False
    farm_max_retries: int = 2
    farm_models_dirs: list[Path] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path | None = None, *, environment: bool = True) -> Settings:
        """Settings from ``path`` (default: the user's settings file), then the environment.

        A broken settings file is not fatal: the defaults are used and the file is left alone.
        """
        settings = cls()
        path = path or settings_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict):
            settings._update(data)
        if environment:
            settings._apply_environment()
        return settings

    def save(self, path: Path | None = None) -> Path:
        data = {key: _plain(value) for key, value in asdict(self).items()}
        return write_atomic(path or settings_path(),
                            (json.dumps(data, indent=2) + "\n").encode("utf-8"))

    def _update(self, data: dict[str, Any]) -> None:
        for key in ("models_dirs", "extra_model_paths"):
            value = data.get(key)
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                setattr(self, key, [Path(item).expanduser() for item in value])
        for key in ("output_dir", "input_dir", "user_packs_dir"):
            value = data.get(key)
            if isinstance(value, str) and value:
                setattr(self, key, Path(value).expanduser())
        if isinstance(data.get("device"), str):
            self.device = data["device"]
        if isinstance(data.get("warm_start"), bool):
            self.warm_start = data["warm_start"]
        for key in ("fast", "farm_send_token"):
            if isinstance(data.get(key), bool):
                setattr(self, key, data[key])
        if isinstance(data.get("farm_address"), str):
            self.farm_address = data["farm_address"]
        retries = data.get("farm_max_retries")
        if isinstance(retries, int) and not isinstance(retries, bool) and 0 <= retries <= 100:
            self.farm_max_retries = retries
        farm_dirs = data.get("farm_models_dirs")
        if isinstance(farm_dirs, list) and all(isinstance(item, str) for item in farm_dirs):
            self.farm_models_dirs = [Path(item).expanduser() for item in farm_dirs]
        if data.get("memory_mode") in ("auto", "keep", "offload", "sequential", "fp8"):
            self.memory_mode = data["memory_mode"]
        for key in ("ram_cache_gib", "vram_cache_gib"):
            value = data.get(key)
            if value is None or (isinstance(value, int | float) and value > 0):
                setattr(self, key, value)

    def _apply_environment(self) -> None:
        models = os.environ.get("NODESTUDIO_MODELS")
        if models:
            self.models_dirs = [Path(p).expanduser() for p in models.split(os.pathsep) if p]
        folders = (("NODESTUDIO_OUTPUT", "output_dir"), ("NODESTUDIO_INPUT", "input_dir"))
        for variable, key in folders:
            value = os.environ.get(variable)
            if value:
                setattr(self, key, Path(value).expanduser())
        if os.environ.get("NODESTUDIO_DEVICE"):
            self.device = os.environ["NODESTUDIO_DEVICE"]
        warm = os.environ.get("NODESTUDIO_WARM_START", "").strip().lower()
        if warm:
            self.warm_start = warm not in ("0", "false", "no", "off")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
