"""LoRA adapters (MonoQwen2-VL ships as one over Qwen2-VL-2B-Instruct): find one, name its base, attach it.

An adapter folder holds ``adapter_config.json`` and the adapter's weights; its base model is a
hub id or a local folder (``base_model=`` / ``--base-model``, else the adapter's own
``base_model_name_or_path``). The adapter is attached through transformers' PEFT integration,
unmerged, as its authors' code loads it, so the scores are theirs; ``peft`` is an optional extra.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from huggingface_hub import try_to_load_from_cache

from ..errors import ModelLoadError, ModelNotFoundError

logger = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"
INSTALL_PEFT = "pip install 'lychee-rerank[adapters]'"


def adapter_folder(name_or_path: str) -> Path | None:
    """The adapter's folder when ``name_or_path`` is one (a local folder, or a hub id in the local cache)."""
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return folder if (folder / ADAPTER_CONFIG).is_file() else None
    if name_or_path.count("/") != 1:
        return None
    cached = try_to_load_from_cache(name_or_path, ADAPTER_CONFIG)
    return Path(cached).parent if isinstance(cached, str) else None


def adapter_base(folder: Path, base_model: str | None) -> str:
    """The base model to load under the adapter: the caller's, else the one the adapter names."""
    if base_model:
        return base_model
    try:
        named = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot read {folder / ADAPTER_CONFIG}: {exc}; download the adapter again") from exc
    if not named:
        raise ModelNotFoundError(
            f"the adapter in {folder} does not name its base model; pass it with --base-model (e.g. "
            "Qwen/Qwen2-VL-2B-Instruct for MonoQwen2-VL)"
        )
    return str(named)


def attach_adapter(model: Any, folder: Path) -> Any:
    """``model`` with the adapter's LoRA layers attached (not merged)."""
    if importlib.util.find_spec("peft") is None:
        raise ModelLoadError(f"{folder} is a LoRA adapter, and loading one needs peft: {INSTALL_PEFT}")
    try:
        model.load_adapter(str(folder))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(
            f"could not attach the adapter in {folder} to its base model: {exc}; check that --base-model is the "
            "model the adapter was trained on"
        ) from exc
    logger.info("attached the LoRA adapter %s", folder)
    return model.eval()
