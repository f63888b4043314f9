"""lychee-rerank: rank images against a text query with a Qwen2.5-VL based reranker.

    from lychee_rerank import Reranker
    reranker = Reranker.from_pretrained("vec-ai/lychee-rerank-mm")
    results = reranker.rank("红色连衣裙 on a beach", ["a.jpg", "b.png"])

Heavy modules (torch, transformers) are imported on first use, so
``from lychee_rerank import parse_score`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Reranker": "reranker",
    "Ranking": "results",
    "Document": "intake.documents",
    "RankResult": "results",
    "parse_score": "scoring.score_parser",
    "ParsedScore": "scoring.score_parser",
    "normalize_query": "scoring.query",
    "INSTRUCTION_PRESETS": "scoring.prompts",
    "LycheeRerankError": "errors",
    "ModelNotFoundError": "errors",
    "IncompleteModelError": "errors",
    "DemoModelMissingError": "errors",
    "UnsupportedModelError": "errors",
    "UnsupportedTaskError": "errors",
    "FAMILIES": "scoring.families",
    "ModelLoadError": "errors",
    "InvalidQueryError": "errors",
    "QueryImageError": "errors",
    "NoImagesError": "errors",
    "TooManyImagesError": "errors",
    "InvalidSettingError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lychee_rerank' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
