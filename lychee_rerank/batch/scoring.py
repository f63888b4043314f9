"""One normalised manifest chunk through one Reranker: the same code for the local engine and Ray's actors.

Rows are ranked together when they share a ranking key and a query (a group spanning chunks is
fine: the final ``rank`` is computed across the whole output when the parts are merged). Every
row gets a result: a missing or unreadable image is the Reranker's warned placeholder (score 0.0,
``parse_method`` ``failed``), and an empty query makes its rows warned ``failed`` rows too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import InvalidQueryError, ScoringFailedError
from ..intake import ImageInput, as_input, looks_like_url
from ..reranker import Reranker
from ..results import format_size
from ..settings import DEFAULT_MAX_IMAGES, PARSE_FAILED
from .columns import KEY, PARSE_METHOD, PATH, QUERY, RESULT_COLUMNS, SCORE, SCORED_SIZE, WARNING

logger = logging.getLogger(__name__)

RESULT_TYPES = {SCORE: pa.float64(), PARSE_METHOD: pa.string(), WARNING: pa.string(), SCORED_SIZE: pa.string()}


@dataclass(frozen=True)
class Outcome:
    """One row's result columns."""

    score: float
    parse_method: str
    warning: str | None
    scored_size: str | None


def load_reranker(model: str, options: dict[str, Any], chunk_rows: int) -> Reranker:
    """The job's Reranker: ``from_pretrained(model, **options)``, accepting a whole chunk in one rank() call."""
    options = {**options, "max_images": max(options.get("max_images", DEFAULT_MAX_IMAGES), chunk_rows)}
    return Reranker.from_pretrained(model, **options)


def score_table(
    reranker: Reranker, table: pa.Table, instruction: str | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> pa.Table:
    """``table`` (a normalised chunk) with the result columns appended, rows in the same order.

    ``on_rows(n)`` is called after each ranked set of ``n`` rows (for progress).
    """
    queries = [value if isinstance(value, str) else "" if value is None else str(value)
               for value in table.column(QUERY).to_pylist()]
    paths = table.column(PATH).to_pylist()
    sets: dict[tuple[str, str], list[int]] = {}
    for row, key in enumerate(table.column(KEY).to_pylist()):
        sets.setdefault((key, queries[row]), []).append(row)
    outcomes: list[Outcome | None] = [None] * table.num_rows
    for (_, query), rows in sets.items():
        for row, outcome in zip(rows, score_set(reranker, query, [paths[row] for row in rows], instruction)):
            outcomes[row] = outcome
        if on_rows is not None:
            on_rows(len(rows))
    for name in RESULT_COLUMNS:
        values = [getattr(outcome, name) for outcome in outcomes]
        table = table.append_column(name, pa.array(values, RESULT_TYPES[name]))
    return table


def score_set(reranker: Reranker, query: str, paths: list[str | None], instruction: str | None) -> list[Outcome]:
    """The outcomes of images (by resolved path, None for none given) ranked against one query, in input order."""
    try:
        ranking = reranker.rank(query, [_image(path) for path in paths], instruction=instruction)
    except InvalidQueryError as exc:
        logger.info("%d row(s) not scored: %s", len(paths), exc)
        return [Outcome(0.0, PARSE_FAILED, f"not scored: {exc}", None)] * len(paths)
    except ScoringFailedError as exc:
        error = exc.ranking.stats["error"] if exc.ranking is not None else exc
        raise ScoringFailedError(f"the model failed while scoring ({error}); the rows already written are kept: "
                                 "run the same command again with --resume to continue") from exc
    outcomes: list[Outcome | None] = [None] * len(paths)
    for result in ranking:
        outcomes[result.index] = Outcome(float(result.score), result.parse_method, result.warning,
                                         format_size(result.scored_size))
    return outcomes  # type: ignore[return-value]  # rank() returns one result per input


def _image(path: str | None) -> ImageInput:
    # A problem input (not intake.problem_input, which logs each one) becomes the Reranker's warned placeholder.
    if path is None:
        return ImageInput(name="(none)", problem="no image path in the manifest")
    if looks_like_url(path):
        return as_input(path, 0)  # a problem input saying URLs are not fetched
    if not os.path.isfile(path):
        reason = "not a file (a folder?)" if os.path.exists(path) else "no such file"
        return ImageInput(name=Path(path).name, path=path, problem=f"{reason}: {path}")
    return as_input(path, 0)
