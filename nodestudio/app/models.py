"""The model library: model files in ComfyUI-style folders, plus the embedded demo models."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from nodestudio.api.errors import ModelNotFoundError
from nodestudio.paths import demo_models_dir

#: The sub-folders of a models root, as ComfyUI lays them out.
MODEL_KINDS = (
    "checkpoints", "diffusion_models", "text_encoders", "tokenizers", "vae", "loras",
    "controlnet", "embeddings", "upscale_models", "vae_approx", "annotators", "clip_vision",
    "gligen", "hypernetworks", "animatediff_models",
)
#: Older ComfyUI names of a kind's folder, searched after the kind's own.
KIND_ALIASES = {"diffusion_models": ("unet",), "text_encoders": ("clip",)}
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft")
#: Embedded demo models by kind; they are always listed beside the user's own.
DEMO_MODELS = {"checkpoints": ("nodestudio-shapes",), "controlnet": ("nodestudio-shapes-canny",)}


class ModelLibrary:
    """Implements nodestudio.api.ModelLocator over model roots and extra per-kind folders."""

    def __init__(
        self,
        roots: Iterable[Path] = (),
        extra_folders: Mapping[str, Iterable[Path]] | None = None,
        *,
        include_demo: bool = True,
        allowed: Iterable[Path] = (),
    ) -> None:
        self.roots = [Path(root).expanduser() for root in roots]
        self.extra_folders = {kind: [Path(p) for p in paths]
                              for kind, paths in (extra_folders or {}).items()}
        self.include_demo = include_demo
        #: Folders outside the models roots the user allowed (--allow-path, Session's
        #: allowed_paths): a graph alone may name models only under the roots.
        self.allowed = [Path(folder).expanduser() for folder in allowed]

    def folders(self, kind: str) -> list[Path]:
        """Where models of ``kind`` are looked for, in order (the first is where to put one)."""
        names = (kind, *KIND_ALIASES.get(kind, ()))
        return ([root / name for name in names for root in self.roots]
                + [folder for name in names for folder in self.extra_folders.get(name, [])])

    def list(self, kind: str) -> list[str]:
        names: list[str] = []
        if self.include_demo:
            names.extend(name for name in DEMO_MODELS.get(kind, ())
                         if (demo_models_dir() / name).is_dir())
        for folder in self.folders(kind):
            names.extend(n for n in _models_in(folder) if n not in names)
        return names

    def find(self, kind: str, name: str) -> Path:
        if not name.strip() or os.path.normpath(name) == ".":
            # An unset picker is "none", never the kind's folder: a folder passed as a model
            # (an unset Load LoRA fingerprinted the whole loras folder on every run).
            raise ModelNotChosenError(kind, self.folders(kind))
        path = Path(name).expanduser()
        if path.is_absolute():
            # Refused before it is looked at: a graph naming /usr as a checkpoint must not get
            # every file under it checked (and hashed) on each run and cache refresh.
            if not self.permits(path):
                raise ModelOutsideFoldersError(kind, name, self.folders(kind))
            if path.exists():
                return path
            raise ModelNotFoundError(kind, name, [path.parent])
        if self.include_demo and name in DEMO_MODELS.get(kind, ()):
            demo = demo_models_dir() / name
            if demo.is_dir():
                return demo
        for folder in self.folders(kind):
            candidate = folder / name
            if candidate.exists() and _inside(candidate, folder):
                return candidate
        raise ModelNotFoundError(kind, name, self.folders(kind))


    def permits(self, path: Path) -> bool:
        """Whether a model may be read from ``path``: under a models root, an extra model
        folder, the demo models or a folder the user allowed."""
        target = Path(os.path.abspath(Path(path).expanduser()))
        folders = [*self.roots, *(f for paths in self.extra_folders.values() for f in paths),
                   *self.allowed]
        if self.include_demo:
            folders.append(demo_models_dir())
        return any(target.is_relative_to(os.path.abspath(folder)) for folder in folders)


class ModelNotChosenError(ModelNotFoundError):
    """A loader's model name is empty: nothing was picked."""

    def __init__(self, kind: str, folders: list[Path]) -> None:
        super().__init__(kind, "", folders)
        where = f" (put one in {folders[0]})" if folders else ""
        self.args = (f"no {kind} model chosen: pick one in the node{where}",)


class ModelOutsideFoldersError(ModelNotFoundError):
    """A graph named a model by an absolute path outside the models folders."""

    def __init__(self, kind: str, name: str, folders: list[Path]) -> None:
        super().__init__(kind, name, folders)
        where = " or ".join(str(folder) for folder in folders) or f"a {kind} models folder"
        self.args = (f"{kind} model {name!r} is outside the models folders, so NodeStudio will "
                     f"not read it: put it in {where} (or allow its folder with --allow-path)",)


def _models_in(folder: Path) -> list[str]:
    """Model files and diffusers folders under ``folder``, as names relative to it."""
    if not folder.is_dir():
        return []
    found: list[str] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = sorted(current.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if (entry / "model_index.json").exists() or (entry / "config.json").exists():
                    found.append(entry.relative_to(folder).as_posix())
                else:
                    stack.append(entry)
            elif entry.suffix.lower() in MODEL_SUFFIXES:
                found.append(entry.relative_to(folder).as_posix())
    return sorted(found, key=str.lower)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
