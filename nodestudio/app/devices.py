"""Resolving the device setting ("auto", "cpu", "cuda", "cuda:1", "mps") — torch only on demand."""

from __future__ import annotations

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(setting: str) -> str:
    """The concrete device for ``setting``. "auto" picks CUDA, then Apple's MPS, then the CPU."""
    setting = (setting or "auto").strip().lower()
    if setting == "cpu":
        return "cpu"
    import torch  # only here: a run that needs no model never pays for importing torch

    if setting == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {setting!r} was asked for, but CUDA is not available here")
    return setting
