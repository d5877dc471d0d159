"""Out of GPU memory: one sentence that says what to change, and the cache set free.

torch raises ``torch.OutOfMemoryError`` (``torch.cuda.OutOfMemoryError``) from inside a
kernel launch, typically in the denoiser's call; its own text is allocator statistics that
tell an artist nothing. The executor asks :func:`recover` about every failure: for an OOM it
frees what the cache holds on the GPU (models offload to system memory, other GPU values are
dropped, the allocator's cached blocks are returned) so that the next run, with smaller
settings, works without restarting the app. No torch import here: the engine stays light.
"""

from __future__ import annotations

import sys

from nodestudio.engine.cache import OutputCache

MESSAGE = (
    "the GPU ran out of memory: lower the resolution or the batch size, set the memory mode "
    "to \"offload\" or \"sequential\" (--memory-mode), or close other programs using the GPU"
)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is torch's out-of-memory error (CUDA's, MPS's or the CPU allocator's
    OutOfMemoryError), or a RuntimeError carrying CUDA's out-of-memory text."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(error, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and "CUDA out of memory" in text


def recover(error: BaseException, cache: OutputCache) -> str | None:
    """The message for an out-of-memory ``error`` after freeing GPU memory; None otherwise."""
    if not is_out_of_memory(error):
        return None
    cache.free_accelerator_memory()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    return MESSAGE
