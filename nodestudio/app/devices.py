"""Resolving the device setting ("auto", "cpu", "cuda", "cuda:1", "mps") — torch only on demand."""

from __future__ import annotations

import re

from nodestudio.api.errors import NodeError

#: What a device setting may say: the choices, one card among several ("cuda:1"), and the
#: other accelerators torch drives (Intel's xpu, Gaudi's hpu …) for those who have them.
_DEVICE_NAME = re.compile(r"auto|(cpu|cuda|mps|xpu|hpu|npu|mtia|privateuseone)(:\d+)?")
_DEVICE_NAMES_TEXT = "auto, cpu, cuda (cuda:1 for a second card) or mps"


class DeviceError(NodeError, ValueError):
    """A device setting that names no device here: said as it is where a node meets it (a
    NodeError), and a ValueError to the code that checks a setting before a run."""


def device_name_problem(setting: str | None) -> str | None:
    """Why ``setting`` is not a device name NodeStudio knows (None when it is); no torch."""
    name = (setting or "auto").strip().lower()
    if _DEVICE_NAME.fullmatch(name):
        return None
    return f"{setting!r} is not a device NodeStudio knows: use {_DEVICE_NAMES_TEXT}"


def resolve_device(setting: str) -> str:
    """The concrete device for ``setting``. "auto" picks CUDA, then Apple's MPS, then the CPU.
    Raises DeviceError for a name that is not a device, or a CUDA device without CUDA."""
    problem = device_name_problem(setting)
    if problem:
        raise DeviceError(f"device {problem}")
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
        raise DeviceError(f"device {setting!r} was asked for, but CUDA is not available here")
    if setting.startswith("cuda:"):
        count = torch.cuda.device_count()
        if int(setting.partition(":")[2]) >= count:
            cards = "one CUDA card (cuda:0)" if count == 1 else (
                f"{count} CUDA cards (cuda:0 to cuda:{count - 1})")
            raise DeviceError(f"device {setting!r} was asked for, but this machine has {cards}")
    return setting
