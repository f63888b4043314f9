"""Find, check and load a Qwen2.5-VL style model and its processor."""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor, BitsAndBytesConfig

from ..errors import (
    DemoModelMissingError,
    IncompleteModelError,
    InvalidSettingError,
    ModelLoadError,
    ModelNotFoundError,
)
from ..settings import (
    ATTENTION_IMPLEMENTATIONS,
    DEFAULT_MAX_PIXELS,
    DEMO_ALIAS,
    DEMO_MODEL_DIR,
    GPU_MEMORY_RESERVE_GIB,
    QUANTIZATIONS,
)
from . import devices
from .adapters import adapter_base, adapter_folder, attach_adapter

logger = logging.getLogger(__name__)

WEIGHT_FILES = (
    "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
)
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json")


@dataclass
class LoadedModel:
    """A model and processor ready to score, with where and how they run."""

    model: Any
    processor: Any
    name: str
    path: str
    device: str
    dtype: torch.dtype
    notes: list[str] = field(default_factory=list)
    vision_cache: Any = None  # made by the first Reranker that uses one; shared by every Reranker over these weights


def looks_like_path(name: str) -> bool:
    """A name that can only be a folder (absolute, relative with ./, ~, or a Windows drive)."""
    return name.startswith(("/", ".", "~", "\\")) or (len(name) > 1 and name[1] == ":") or name.count("/") > 1


def check_model_folder(folder: Path) -> None:
    """Raise a typed error naming what is missing from a model folder."""
    if not folder.exists():
        raise ModelNotFoundError(
            f"model folder {folder} does not exist; pass a folder holding config.json, or --model demo"
        )
    if not folder.is_dir():
        raise ModelNotFoundError(f"{folder} is a file, not a model folder; pass the folder that holds config.json")
    missing = ["config.json"] if not (folder / "config.json").exists() else []
    for group in (WEIGHT_FILES, PROCESSOR_FILES, TOKENIZER_FILES):
        if not any((folder / name).exists() for name in group):
            missing.append(" or ".join(group))
    if missing:
        raise IncompleteModelError(
            f"model folder {folder} is incomplete: missing {', '.join(missing)}; "
            "re-download it completely (e.g. `hf download vec-ai/lychee-rerank-mm --local-dir DIR`)"
        )


def _hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", endpoint.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _offline_error(repo_id: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"model {repo_id!r} is not in the local Hugging Face cache and this machine is offline "
        "(the hub cannot be reached). Download it on a connected machine with "
        f"`hf download {repo_id} --local-dir DIR`, copy DIR here and pass --model DIR "
        "(or try --model demo)"
    )


def resolve_model_path(name_or_path: str) -> tuple[str, bool]:
    """Map 'demo', a folder or a hub id to what from_pretrained takes; return (source, local_files_only)."""
    if name_or_path == DEMO_ALIAS:
        if not (DEMO_MODEL_DIR / "config.json").exists():
            raise DemoModelMissingError(
                f"the bundled demo model is not installed ({DEMO_MODEL_DIR} is missing); "
                "reinstall lychee-rerank from a full checkout, or pass a model folder or hub id"
            )
        check_model_folder(DEMO_MODEL_DIR)
        return str(DEMO_MODEL_DIR), True
    folder = Path(name_or_path).expanduser()
    if folder.exists() or looks_like_path(name_or_path):
        check_model_folder(folder)
        return str(folder), True
    try:  # a hub id: a cached copy is used without touching the network
        AutoConfig.from_pretrained(name_or_path, local_files_only=True)
        return name_or_path, True
    except OSError:
        pass
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "TRUE", "yes") or not _hub_reachable():
        raise _offline_error(name_or_path)
    return name_or_path, False


def load_config(source: str, local_only: bool) -> Any:
    """The model's config (``check_config`` in :func:`load_model` then refuses what it cannot rank with)."""
    try:
        return AutoConfig.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot read the model config at {source}: {exc}") from exc


def resolve_attention(attn_implementation: str) -> str:
    """sdpa unless flash_attention_2 is asked for and installed."""
    if attn_implementation not in ATTENTION_IMPLEMENTATIONS:
        raise InvalidSettingError(f"attn_implementation must be one of {', '.join(ATTENTION_IMPLEMENTATIONS)}")
    if attn_implementation == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        logger.warning("flash_attention_2 asked for but flash-attn is not installed; using sdpa")
        return "sdpa"
    return attn_implementation


def quantization_config(quantization: str | None, device: str, dtype: torch.dtype) -> Any:
    """A bitsandbytes config for 'int8'/'nf4' on CUDA; None when not asked for."""
    if quantization is None:
        return None
    if quantization not in QUANTIZATIONS:
        raise InvalidSettingError(f"quantization must be one of {', '.join(QUANTIZATIONS)} (got {quantization!r})")
    if not device.startswith("cuda"):
        raise InvalidSettingError(f"{quantization} quantization needs a CUDA GPU; on the CPU leave quantization off")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelLoadError(f"{quantization} quantization needs bitsandbytes: pip install 'lychee-rerank[quant]'")
    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)


def _placement(device: str, device_map: Any, reserve_gib: float, max_gpu_gib: float | None) -> dict[str, Any]:
    if not device.startswith("cuda"):
        return {"device_map": "cpu"}
    if device_map == "auto":
        return {"device_map": "auto", "max_memory": devices.gpu_max_memory(reserve_gib, max_gpu_gib)}
    return {"device_map": device_map or device}


def load_model(
    name_or_path: str,
    *,
    dtype: str = "auto",
    device: str = "auto",
    device_map: Any = "auto",
    attn_implementation: str = "sdpa",
    quantization: str | None = None,
    reserve_gib: float = GPU_MEMORY_RESERVE_GIB,
    max_gpu_memory_gib: float | None = None,
    base_model: str | None = None,
    check_config: Callable[[Any], None] | None = None,
) -> LoadedModel:
    """Load model + processor the way users run them; raise typed errors that say the fix.

    A LoRA adapter (a folder or cached hub id with ``adapter_config.json``) loads its base model
    (``base_model``, else the one the adapter names) with the base's processor, then the adapter.
    ``check_config`` sees the config before any weights load (the Reranker refuses unsupported families there).
    """
    adapter, source, local_only = _source(name_or_path, base_model)
    if check_config is not None:
        check_config(load_config(source, local_only))
    resolved_device = devices.resolve_device(device)
    torch_dtype, notes = devices.resolve_dtype(dtype, resolved_device)
    kwargs: dict[str, Any] = {
        "dtype": torch_dtype,
        "attn_implementation": resolve_attention(attn_implementation),
        "local_files_only": local_only,
        **_placement(resolved_device, device_map, reserve_gib, max_gpu_memory_gib),
    }
    quant = quantization_config(quantization, resolved_device, torch_dtype)
    if quant is not None:
        kwargs["quantization_config"] = quant
    processor, model = _load(name_or_path, source, local_only, kwargs)
    if adapter is not None:
        model = attach_adapter(model, adapter)
    processor.tokenizer.padding_side = "left"  # the last position must be real for every row
    offloaded = devices.offloaded_modules(getattr(model, "hf_device_map", None))
    if offloaded:
        notes.append(_offload_note(offloaded))
    for note in notes:
        logger.warning(note)
    return LoadedModel(model, processor, name_or_path, source, resolved_device, torch_dtype, notes)


def _source(name_or_path: str, base_model: str | None) -> tuple[Path | None, str, bool]:
    """(the adapter's folder or None, what from_pretrained loads, local_files_only)."""
    adapter = adapter_folder(name_or_path)
    if adapter is None and base_model:
        raise InvalidSettingError(f"--base-model is for LoRA adapters, and {name_or_path} is not one; leave it out")
    source, local_only = resolve_model_path(adapter_base(adapter, base_model) if adapter else name_or_path)
    return adapter, source, local_only


def _load(name_or_path: str, source: str, local_only: bool, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """The processor and the model in eval mode; what can go wrong as a ModelLoadError saying the fix."""
    try:
        processor = AutoProcessor.from_pretrained(source, local_files_only=local_only)
        return processor, AutoModelForImageTextToText.from_pretrained(source, **kwargs).eval()
    except torch.OutOfMemoryError as exc:
        raise ModelLoadError(
            f"out of GPU memory loading {name_or_path}: try quantization='nf4', max_gpu_memory, or a smaller model"
        ) from exc
    except SafetensorError as exc:
        raise ModelLoadError(_damaged(name_or_path, source, exc)) from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load {name_or_path}: {exc}") from exc


def _damaged(name_or_path: str, source: str, exc: BaseException) -> str:
    """A truncated or corrupt weights file: say so, and how to get a whole one."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if name_or_path == DEMO_ALIAS:
        again = "reinstall lychee-rerank: the demo model ships with it"
    elif looks_like_path(name_or_path) or os.path.isdir(name_or_path):
        again = "copy or download the folder again"
    else:
        again = f"huggingface-cli download {name_or_path} --force-download"
    return (f"the model's weights file (*.safetensors) in {source} is damaged, truncated or corrupt ({detail}); "
            f"get a whole copy: {again}")


def _offload_note(offloaded: dict[str, list[str]]) -> str:
    counts = ", ".join(f"{len(mods)} on the {where}" for where, mods in offloaded.items())
    return (
        f"the model does not fit in GPU memory: {counts} (of the model's modules); scoring will be "
        "much slower. Free GPU memory, lower max_gpu_memory's reserve, or use quantization='nf4'"
    )


def pixel_budget(
    config: Any, max_pixels: int | None = None, min_pixels: int | None = None, *,
    defaults: tuple[int, int] = (4 * 28 * 28, DEFAULT_MAX_PIXELS), factor: int = 28,
) -> tuple[int, int]:
    """(min_pixels, max_pixels) for scoring: the user's if given, else the model's declared ones, else ``defaults``
    (the family's recipe: 4·28² and 1280·28² for lychee).

    A model folder declares its own scale in the ``lychee_reranker`` block of ``config.json``
    (``{"max_pixels": ..., "min_pixels": ...}``).
    """
    declared = getattr(config, "lychee_reranker", None) or {}
    maximum = max_pixels or declared.get("max_pixels") or defaults[1]
    # a declared minimum never exceeds the user's maximum: asking for fewer pixels must not be an error
    minimum = min_pixels or min(declared.get("min_pixels") or defaults[0], maximum)
    if minimum < factor**2 or maximum < minimum:
        raise InvalidSettingError(
            f"pixel budget min_pixels={minimum}, max_pixels={maximum} is not valid: both must be at least "
            f"{factor**2} (one {factor}x{factor} patch) and max_pixels at least min_pixels"
        )
    return int(minimum), int(maximum)
