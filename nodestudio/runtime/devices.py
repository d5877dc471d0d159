"""Where models run and in which precision."""

from __future__ import annotations

import torch

#: Half precision on accelerators, full precision on the CPU (half is slow or missing there).
_ACCELERATOR_DTYPE = torch.float16
_SYSTEM_MEMORY = torch.device("cpu")


def torch_device(name: str | torch.device | None) -> torch.device:
    """The torch device for a session's device setting ("cpu", "cuda", "cuda:1", "mps" …)."""
    if isinstance(name, torch.device):
        return name
    return torch.device(name or "cpu")


def compute_dtype(device: str | torch.device) -> torch.dtype:
    """The precision models are loaded in on ``device``: fp16 on CUDA/MPS, fp32 on the CPU.

    bf16 is used instead of fp16 when the environment asks for it (NODESTUDIO_PRECISION=bf16)
    and the GPU supports it: some fine-tuned checkpoints overflow in fp16.
    """
    import os

    kind = torch_device(device).type
    if kind == "cpu":
        return torch.float32
    wanted = os.environ.get("NODESTUDIO_PRECISION", "").lower()
    if wanted in ("fp32", "float32"):
        return torch.float32
    if wanted in ("bf16", "bfloat16") and kind == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return _ACCELERATOR_DTYPE


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (CPU for a module without parameters)."""
    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")


def module_dtype(module: torch.nn.Module) -> torch.dtype:
    for parameter in module.parameters():
        return parameter.dtype
    return torch.float32


def ensure_on(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move ``module`` to ``device`` if an earlier cache eviction offloaded it (else a no-op)."""
    # Group-offloading hooks (memory mode "sequential") move each block themselves.
    if getattr(module, "_nodestudio_offload_hooks", False):
        return module
    if module_device(module) != device:
        module.to(device)
        if device != _SYSTEM_MEMORY:
            from nodestudio.runtime.memory_manager import note_brought

            note_brought(module)  # the node scope sends it back when the mode says so
    return module


def offload_to_cpu(module: torch.nn.Module) -> None:
    """Free accelerator memory held by ``module`` (its weights move to system memory)."""
    if getattr(module, "_nodestudio_offload_hooks", False):
        return  # its hooks already keep the weights in system memory between blocks
    if module_device(module) != _SYSTEM_MEMORY:
        module.to(_SYSTEM_MEMORY)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
