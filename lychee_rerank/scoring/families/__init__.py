"""The model families we score with, and which one a loaded model belongs to.

``choose_family`` reads the family from (first that applies): the caller's ``family=``, the
``lychee_reranker.family`` entry of the model folder's config.json, the model's name
(``MonoQwen`` → monoqwen2-vl) and its architecture (a reranker of model type
``qwen3_vl`` → qwen3-vl-reranker, of ``qwen2_5_vl``/``qwen2_vl`` → lychee); any other
supported architecture is a plain Instruct model.
"""

from __future__ import annotations

from typing import Any

from ...errors import InvalidSettingError, UnsupportedModelError
from .base import Checkpoint, Family
from .instruct import FAMILY as INSTRUCT
from .lychee import FAMILY as LYCHEE
from .monoqwen import FAMILY as MONOQWEN
from .qwen3_vl_reranker import FAMILY as QWEN3_VL_RERANKER

FAMILIES: dict[str, Family] = {f.name: f for f in (LYCHEE, QWEN3_VL_RERANKER, MONOQWEN, INSTRUCT)}
FAMILY_AUTO = "auto"
SUPPORTED_MODEL_TYPES = tuple(dict.fromkeys(t for f in FAMILIES.values() for t in f.model_types))

__all__ = ["FAMILIES", "FAMILY_AUTO", "Checkpoint", "Family", "choose_family", "unsupported_message"]


def unsupported_message(source: str, model_type: str) -> str:
    """One line naming what we can rank with."""
    names = ", ".join(f"{f.title} ({f.name})" for f in FAMILIES.values())
    return (f"{source} is a {model_type!r} model, which lychee-rerank cannot score with; supported families: {names} "
            "(see `lychee-rerank models`)")


def choose_family(config: Any, name: str, family: str | None = None) -> Family:
    """The family of a loaded model; ``family`` (a name or "auto"/None) overrides what the model says."""
    wanted = family if family not in (None, "", FAMILY_AUTO) else _declared(config)
    model_type = getattr(config, "model_type", "")
    if wanted:
        chosen = FAMILIES.get(wanted)
        if chosen is None:
            raise InvalidSettingError(f"unknown model family {wanted!r}; choose one of {', '.join(FAMILIES)} or auto")
        if model_type not in chosen.model_types:
            raise InvalidSettingError(
                f"{chosen.title} ({chosen.name}) runs on {', '.join(chosen.model_types)} models, and {name} is a "
                f"{model_type!r} model; leave the family on auto or pick one of its families"
            )
        return chosen
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UnsupportedModelError(unsupported_message(name, model_type))
    names = f"{name} {getattr(config, '_name_or_path', '')}".lower()
    if "monoqwen" in names and model_type in MONOQWEN.model_types:
        return MONOQWEN
    if not _is_reranker(config, names):
        return INSTRUCT
    return QWEN3_VL_RERANKER if model_type in QWEN3_VL_RERANKER.model_types else LYCHEE


def _declared(config: Any) -> str | None:
    declared = getattr(config, "lychee_reranker", None)
    return declared.get("family") if isinstance(declared, dict) else None


def _is_reranker(config: Any, names: str) -> bool:
    """A reranker says so in its config (ours) or its name (lychee-rerank-mm, *-Reranker)."""
    return bool(getattr(config, "lychee_reranker", None)) or "rerank" in names
