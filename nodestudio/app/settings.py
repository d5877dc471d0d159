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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from nodestudio.app.devices import device_name_problem
from nodestudio.graph.file_reading import read_failure_text
from nodestudio.graph.files import write_atomic
from nodestudio.graph.problems import did_you_mean, json_error_text

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
    #: What Settings.load could not take from the file, one sentence each (not saved).
    problems: list[str] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path | None = None, *, environment: bool = True) -> Settings:
        """Settings from ``path`` (default: the user's settings file), then the environment.

        A broken settings file is not fatal: the defaults are used and the file is left alone.
        """
        settings = cls()
        path = path or settings_path()
        data: Any = {}
        unusable = None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            pass
        except OSError as error:
            unusable = f"cannot be read ({read_failure_text(error)})"
        except (ValueError, RecursionError) as error:
            unusable = f"is not valid JSON ({json_error_text(error)})"
        if unusable is None and not isinstance(data, dict):
            unusable = "must hold a JSON object ({...})"
        if unusable is not None:
            settings.problems = [f"{path} {unusable}: NodeStudio uses its defaults until it is "
                                 "fixed"]
        else:
            settings.problems = [f"{path}: {problem}" for problem in settings._update(data)]
        if environment:
            settings._apply_environment()
        return settings

    def save(self, path: Path | None = None) -> Path:
        data = {key: _plain(value) for key, value in asdict(self).items() if key in _READERS}
        return write_atomic(path or settings_path(),
                            (json.dumps(data, indent=2) + "\n").encode("utf-8"))

    def _update(self, data: dict[str, Any]) -> list[str]:
        """Take every value of ``data`` this version understands; the rest, each said (an
        unknown key, with the known one it is likely a typo of, or a value of the wrong kind)."""
        problems = []
        for key, value in data.items():
            reader = _READERS.get(key)
            if reader is None:
                hint = did_you_mean(key, list(_READERS))
                problems.append(f"unknown setting {key!r} is ignored{hint}")
                continue
            read, expected = reader
            try:
                setattr(self, key, read(value))
            except (TypeError, ValueError):
                shown = json.dumps(value)
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                problems.append(f"setting {key!r} is ignored: expected {expected}, got {shown}")
        return problems

    def _apply_environment(self) -> None:
        models = os.environ.get("NODESTUDIO_MODELS")
        if models:
            self.models_dirs = [Path(p).expanduser() for p in models.split(os.pathsep) if p]
        folders = (("NODESTUDIO_OUTPUT", "output_dir"), ("NODESTUDIO_INPUT", "input_dir"))
        for variable, key in folders:
            value = os.environ.get(variable)
            if value:
                setattr(self, key, Path(value).expanduser())
        device = os.environ.get("NODESTUDIO_DEVICE")
        if device:
            problem = device_name_problem(device)
            if problem:
                self.problems.append(f"NODESTUDIO_DEVICE is ignored: {problem}")
            else:
                self.device = device
        warm = os.environ.get("NODESTUDIO_WARM_START", "").strip().lower()
        if warm:
            self.warm_start = warm not in ("0", "false", "no", "off")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _paths(value: Any) -> list[Path]:
    if isinstance(value, str) and value:  # one path written without the list around it
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError
    return [Path(item).expanduser() for item in value]


def _folder(value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise TypeError
    return Path(value).expanduser()


def _kind(*kinds: type) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise TypeError
        return value
    return read


def _one_of(*choices: str) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        if value not in choices:
            raise ValueError
        return str(value)
    return read


def _device(value: Any) -> str:
    if device_name_problem(_kind(str)(value)):
        raise ValueError
    return str(value)


def _retries(value: Any) -> int:
    if not 0 <= _kind(int)(value) <= 100:
        raise ValueError
    return int(value)


def _gib(value: Any) -> float | None:
    if value is not None and not _kind(int, float)(value) > 0:
        raise ValueError
    return value


MEMORY_MODES = ("auto", "keep", "offload", "sequential", "fp8")
#: Each key settings.json may hold: how its value is read, and what it must be (for the
#: message when it is not).
_READERS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "models_dirs": (_paths, "a list of folder paths"),
    "extra_model_paths": (_paths, "a list of file paths"),
    "output_dir": (_folder, "a folder path"),
    "input_dir": (_folder, "a folder path"),
    "user_packs_dir": (_folder, "a folder path"),
    "device": (_device, 'a device name ("auto", "cpu", "cuda", "cuda:1", "mps")'),
    "ram_cache_gib": (_gib, "a number of GiB above 0, or null"),
    "vram_cache_gib": (_gib, "a number of GiB above 0, or null"),
    "warm_start": (_kind(bool), "true or false"),
    "memory_mode": (_one_of(*MEMORY_MODES), "one of " + ", ".join(MEMORY_MODES)),
    "fast": (_kind(bool), "true or false"),
    "farm_address": (_kind(str), 'a Ray address ("auto", "ray://HOST:PORT")'),
    "farm_send_token": (_kind(bool), "true or false"),
    "farm_max_retries": (_retries, "a whole number from 0 to 100"),
    "farm_models_dirs": (_paths, "a list of folder paths"),
}
