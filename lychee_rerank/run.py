"""The bookkeeping of one ranking run: what was asked, what each document became, and its result.

``Run`` holds the query (text and/or prepared image), the documents and the
results recorded so far; it builds every :class:`~lychee_rerank.results.RankResult`
so the Reranker only orchestrates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import InvalidQueryError, QueryImageError
from .intake import DocumentInput, ImageInput, PreparedImage, as_input
from .results import RankResult, generation_fields, join_warnings
from .scoring.base import Score
from .scoring.prompts import Content
from .scoring.query import normalize_query, validate_query
from .settings import PARSE_SKIPPED

STOPPED_WARNING = "not scored: the run was stopped before this {kind}"
QUERY_IMAGE_NOTE = "this is the query image"

ProgressCallback = Callable[[int, int, RankResult], None]


def prepare_query(
    text: str | None, image: Any, count_tokens: Callable[[str], int], prepare: Callable[[ImageInput], PreparedImage]
) -> tuple[Content, list[str]]:
    """The query as Content (text cut to 512 tokens, image prepared, its digest as ``key``) and warnings.

    Raises InvalidQueryError for neither text nor image, QueryImageError for an unreadable image.
    """
    if image is None:
        clean, warning = validate_query(text or "", count_tokens=count_tokens)
        return Content(text=clean), [warning] if warning else []
    if not isinstance(text, (str, type(None))):
        raise InvalidQueryError(f"the query text must be a string (got {type(text).__name__})")
    clean, warning = validate_query(text, count_tokens=count_tokens) if normalize_query(text or "") else (None, None)
    prepared = prepare(as_input(image, 0))
    if prepared.failed:
        raise QueryImageError(
            f"the query image {prepared.source.name} cannot be read ({prepared.warning}); "
            "give an image file that opens in an image viewer"
        )
    return Content(text=clean, image=prepared.image, key=prepared.digest), [warning] if warning else []


@dataclass
class Prepared:
    """A document ready to score: its decoded image (None for text documents) and identity.

    ``problem`` says why preparing it failed in a way intake did not foresee (it is then not scored).
    """

    document: DocumentInput
    image: PreparedImage | None
    problem: str | None = None

    @property
    def failed(self) -> bool:
        return self.problem is not None or (self.image is not None and self.image.failed)

    @property
    def digest(self) -> str | None:
        """Same bytes and same text -> same digest (scored once)."""
        if self.problem is not None:
            return None
        parts = [self.image.digest if self.image is not None else None, self.document.text_digest()]
        if self.image is not None and self.image.digest is None:
            return None  # an image we could not identify is never a duplicate
        return "/".join(part or "" for part in parts)

    def content(self) -> Content:
        if self.image is None:
            return Content(text=self.document.text)
        return Content(text=self.document.text, image=self.image.image, key=self.image.digest)


@dataclass
class Run:
    """Mutable bookkeeping of one rank() call."""

    query: Content
    instruction: str
    documents: list[DocumentInput]
    on_progress: ProgressCallback | None
    mode: str
    max_pixels: int
    family: str = ""
    results: dict[int, RankResult] = field(default_factory=dict)
    first_by_digest: dict[str, int] = field(default_factory=dict)

    def record(self, result: RankResult) -> None:
        self.results[result.index] = result
        if self.on_progress is not None:
            self.on_progress(len(self.results), len(self.documents), result)

    def result(self, index: int, prepared: Prepared, score: Score) -> RankResult:
        """The RankResult of a scored (or failed) document."""
        image = prepared.image
        notes = tuple(image.notes) if image is not None else ()
        generation = image.generation if image is not None else None
        if image is not None and image.digest and image.digest == self.query.key:
            notes += (QUERY_IMAGE_NOTE,)
        return RankResult(
            rank=0, index=index, name=prepared.document.name, score=score.score, raw_output=score.raw_output,
            parse_method=score.parse_method,
            warning=join_warnings(image and image.warning, prepared.problem, score.warning),
            path=prepared.document.path, mode=self.mode, family=self.family, p_yes=score.p_yes, p_no=score.p_no,
            scored_size=score.scored_size, original_size=image.original_size if image is not None else None,
            notes=notes, text=prepared.document.text, instruction=self.instruction, max_pixels=self.max_pixels,
            digest=prepared.digest, **generation_fields(generation),
        )

    def duplicate(self, index: int, prepared: Prepared, first: RankResult) -> RankResult:
        """A document identical to an earlier one: its score, marked, never scored twice."""
        note = f"duplicate of {first.name} (same bytes): scored once"
        score = Score(first.score, first.raw_output, first.parse_method, first.p_yes, first.p_no,
                      scored_size=first.scored_size)
        base = self.result(index, prepared, score)
        return replace(base, warning=join_warnings(base.warning, note), duplicate_of=first.index)

    def skipped(self, index: int) -> RankResult:
        document = self.documents[index]
        return RankResult(
            rank=0, index=index, name=document.name, score=0.0, raw_output="", parse_method=PARSE_SKIPPED,
            warning=STOPPED_WARNING.format(kind="text" if document.kind == "text" else "image"),
            path=document.path, mode=self.mode, family=self.family, text=document.text,
            instruction=self.instruction, max_pixels=self.max_pixels,
        )
