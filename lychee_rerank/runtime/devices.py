"""Which device and dtype to run on, and how much GPU memory device_map may use."""

from __future__ import annotations

import logging

import torch

from ..errors import InvalidSettingError
from ..settings import DEVICES, DTYPE_ALIASES, DTYPE_NAMES, GPU_MEMORY_RESERVE_GIB

logger = logging.getLogger(__name__)

TORCH_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
GIB = 1024**3


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; 'cuda' without one is an error."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise InvalidSettingError(f"device must be one of {', '.join(DEVICES)} (got {device!r})")
    has_cuda = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    if device.startswith("cuda") and not has_cuda:
        raise InvalidSettingError(
            "device 'cuda' was asked for but PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}); use --device cpu or install a CUDA build of torch"
        )
    return device


def resolve_dtype(dtype: str, device: str) -> tuple[torch.dtype, list[str]]:
    """Pick the torch dtype: BF16 on a GPU (FP16 where BF16 is unsupported), FP32 on the CPU.

    Returns the dtype and notes for the user about any fallback.
    """
    name = DTYPE_ALIASES.get(dtype, dtype)
    if name not in DTYPE_NAMES:
        raise InvalidSettingError(f"dtype must be one of {', '.join(DTYPE_NAMES)} (got {dtype!r})")
    notes: list[str] = []
    on_gpu = device.startswith("cuda")
    if name == "auto":
        name = "bfloat16" if on_gpu else "float32"
    if name == "bfloat16" and on_gpu and not torch.cuda.is_bf16_supported():
        notes.append("this GPU does not support bfloat16; using float16 (may overflow: watch for NaN warnings)")
        name = "float16"
    if name == "float16" and not on_gpu:
        notes.append("float16 on the CPU is slow and unsupported by some kernels; float32 or bfloat16 is better")
    return TORCH_DTYPES[name], notes


def gpu_max_memory(reserve_gib: float = GPU_MEMORY_RESERVE_GIB, max_gpu_gib: float | None = None) -> dict:
    """max_memory for device_map='auto': each GPU's total minus a reserve for image tensors, optionally capped."""
    limits: dict = {}
    for index in range(torch.cuda.device_count()):
        total = torch.cuda.get_device_properties(index).total_memory / GIB
        usable = max(total - reserve_gib, 0.5)
        if max_gpu_gib is not None:
            usable = min(usable, max_gpu_gib)
        limits[index] = f"{usable:.2f}GiB"
    limits["cpu"] = "1024GiB"
    return limits


def offloaded_modules(device_map: dict | None) -> dict[str, list[str]]:
    """Modules device_map put on the CPU or disk instead of a GPU."""
    spilled: dict[str, list[str]] = {}
    for module, where in (device_map or {}).items():
        if where in ("cpu", "disk"):
            spilled.setdefault(str(where), []).append(module)
    return spilled


def vram_in_use_gib() -> float | None:
    """GPU memory held by this process's tensors, or None on the CPU."""
    if not torch.cuda.is_available():
        return None
    return torch.cuda.memory_allocated() / GIB
