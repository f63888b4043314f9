"""Prompt adherence: each generated image scored against the prompt it was made from.

The prompt comes from the image's own file (:mod:`.intake.generation`). The model scores one query
per call, so images are grouped by their normalised prompt (identical prompts share a call, and its
batches), each group is ranked by :meth:`Reranker.rank`, and the groups' results are merged into
one :class:`~.results.Ranking` (scores are absolute, 0-10, so they compare across groups).

* An image without a readable prompt is scored against the typed query when there is one, and
  otherwise kept as an unscored row whose warning says why (never dropped).
* ``mix``: the typed text is appended to every prompt ("the prompt, and also: no watermark").
* A prompt over the token limit is cut like any query; the images it belongs to carry the warning.
* Each result records the text it was scored against in ``query``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import InvalidQueryError, InvalidSettingError, ScoringFailedError
from .intake import DocumentInput, GenerationInfo, as_documents, check_image_count, generation_of
from .results import Ranking, RankResult, generation_fields, join_warnings, rank_results
from .scoring.query import normalize_query, validate_query
from .settings import PARSE_NO_PROMPT, PARSE_SKIPPED

if TYPE_CHECKING:  # both import torch; this module stays light for the CLI's argument checks
    from .reranker import Reranker
    from .run import ProgressCallback

logger = logging.getLogger(__name__)

OWN_PROMPT_INSTRUCTION = "generated"  # the instruction preset for generated art
MIX_TEMPLATE = "{prompt}, and also: {extra}"
NO_PROMPT_WARNING = ("no prompt in this image's metadata and no query typed: not scored (type a query to score "
                     "images without a prompt against it)")
TYPED_QUERY_NOTE = "no prompt in this image's metadata: scored against the typed query"
STOPPED_WARNING = "not scored: the run was stopped before this image"


@dataclass
class _Group:
    """Images scored against one query text."""

    query: str
    indices: list[int]
    own: bool  # the query is the images' own prompt (else the typed query, for images without one)


def query_for(prompt: str | None, typed: str | None, *, mix: bool) -> tuple[str | None, bool]:
    """The text an image is scored against, and whether it is its own prompt (possibly mixed with the typed text)."""
    prompt = normalize_query(prompt or "") or None
    typed = normalize_query(typed or "") or None
    if prompt is None:
        return typed, False
    if mix and typed:
        return MIX_TEMPLATE.format(prompt=prompt, extra=typed), True
    return prompt, True


def check_own_prompt_request(query: str | None, mix: bool, query_image: Any = None, texts: Any = None) -> None:
    """Refuse what does not go with own-prompt ranking, before any model work.

    Raises InvalidSettingError (a mix without a query; a query image or texts), InvalidQueryError.
    """
    if mix and not normalize_query(query or ""):
        raise InvalidSettingError("appending the query to each prompt needs a query: type one (--query TEXT)")
    if query_image is not None or texts is not None:
        raise InvalidSettingError("ranking by each image's own prompt takes images only: leave out the query image "
                                  "and the texts (--query-image, --texts)")
    if normalize_query(query or ""):
        validate_query(query)


def read_prompts(documents: list[DocumentInput]) -> list[GenerationInfo | None]:
    """Each document's generation info, read from its file before it is decoded."""
    return [generation_of(document.source) if document.source is not None else None for document in documents]


def rank_by_own_prompts(
    reranker: Reranker, images: Iterable[Any], *, query: str | None = None, mix: bool = False,
    instruction: str | None = None, on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None, on_wait: Callable[[], None] | None = None,
) -> Ranking:
    """Score every image against the prompt embedded in it, best first.

    Args:
        reranker: the loaded :class:`~lychee_rerank.reranker.Reranker`.
        images: what :meth:`Reranker.rank` takes (paths, bytes, ``(name, bytes)`` pairs, PIL images).
        query: a typed query: scores images that carry no prompt; with ``mix`` it is appended to
            every prompt as well.
        mix: score against "``prompt``, and also: ``query``" instead of the prompt alone.
        instruction: an instruction preset or text; None means the preset for generated art.
        on_progress, should_stop, on_wait: as for :meth:`Reranker.rank` (progress counts the whole run).

    Returns:
        One Ranking with a result per image; ``query`` on each result is the text it was scored
        against. Raises TooManyImagesError, ScoringFailedError (its ``ranking`` has every image).
    """
    documents = as_documents(images)
    check_image_count(len(documents), reranker.max_images, "the documents given")
    run = _OwnPromptRun(reranker, documents, read_prompts(documents), instruction or OWN_PROMPT_INSTRUCTION,
                        on_progress, should_stop, on_wait)
    groups, unscored = _groups(run.infos, query, mix)
    run.stats["groups"] = len(groups)
    for index in unscored:  # reported first, so progress still counts to the total
        run.put(run.unscored(index, NO_PROMPT_WARNING), report=True)
    for number, group in enumerate(groups):
        if run.stopped or (should_stop is not None and should_stop()):
            run.stopped = True
            run.skip(group)
            continue
        try:
            run.score(group)
        except ScoringFailedError as exc:
            for rest in groups[number + 1:]:
                run.skip(rest)
            raise ScoringFailedError(str(exc), run.ranking(query, stopped=True)) from exc
    return run.ranking(query)


@dataclass
class _OwnPromptRun:
    """The bookkeeping of one own-prompt run: every image's result, recorded once, in input indices."""

    reranker: Reranker
    documents: list[DocumentInput]
    infos: list[GenerationInfo | None]
    instruction: str
    on_progress: ProgressCallback | None
    should_stop: Callable[[], bool] | None
    on_wait: Callable[[], None] | None
    results: dict[int, RankResult] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False

    def put(self, result: RankResult, *, report: bool = False) -> None:
        self.results[result.index] = result
        if report and self.on_progress is not None:
            self.on_progress(len(self.results), len(self.documents), result)

    def unscored(self, index: int, warning: str, method: str = PARSE_NO_PROMPT) -> RankResult:
        document, info = self.documents[index], self.infos[index]
        return RankResult(rank=0, index=index, name=document.name, score=0.0, raw_output="", parse_method=method,
                          warning=warning, path=document.path, mode=self.reranker.mode,
                          notes=tuple(info.notes) if info else (), **generation_fields(info))

    def skip(self, group: _Group) -> None:
        for index in group.indices:
            self.put(self.unscored(index, STOPPED_WARNING, PARSE_SKIPPED))

    def score(self, group: _Group) -> None:
        """One call of the model for the group's images; ScoringFailedError after recording what it scored."""
        before = len(self.results)

        def progress(done: int, _total: int, result: RankResult) -> None:
            if self.on_progress is not None:
                self.on_progress(before + done, len(self.documents), _remap(result, group))

        try:
            ranking = self.reranker.rank(group.query, [self.documents[i] for i in group.indices],
                                         instruction=self.instruction, on_progress=progress,
                                         should_stop=self.should_stop, on_wait=self.on_wait)
        except ScoringFailedError as exc:
            if isinstance(exc.ranking, Ranking):
                _merge(self.results, exc.ranking, group, [])
            for index in group.indices:
                self.results.setdefault(index, self.unscored(index, STOPPED_WARNING, PARSE_SKIPPED))
            raise
        except InvalidQueryError as exc:  # a prompt that normalises to nothing usable: its images say so
            for index in group.indices:
                self.put(self.unscored(index, f"its prompt cannot be used as a query ({exc})"))
            return
        _merge(self.results, ranking, group, self.warnings)
        self.stopped = self.stopped or ranking.stopped

    def ranking(self, query: str | None, *, stopped: bool = False) -> Ranking:
        return Ranking(rank_results(self.results.values()), mode=self.reranker.mode,
                       query=normalize_query(query or ""), warnings=self.warnings, stopped=stopped or self.stopped,
                       stats=self.stats)


def _groups(infos: list[GenerationInfo | None], typed: str | None, mix: bool) -> tuple[list[_Group], list[int]]:
    groups: dict[str, _Group] = {}
    unscored: list[int] = []
    for index, info in enumerate(infos):
        text, own = query_for(info.prompt if info is not None else None, typed, mix=mix)
        if text is None:
            unscored.append(index)
            continue
        key = f"{own}\0{text}"
        groups.setdefault(key, _Group(text, [], own)).indices.append(index)
    return list(groups.values()), unscored


def _remap(result: RankResult, group: _Group) -> RankResult:
    """A group's result as a result of the whole run: its input index, the text it was scored against."""
    duplicate = group.indices[result.duplicate_of] if result.duplicate_of is not None else None
    notes = result.notes if group.own else (*result.notes, TYPED_QUERY_NOTE)
    return replace(result, index=group.indices[result.index], duplicate_of=duplicate, query=group.query, notes=notes)


def _merge(results: dict[int, RankResult], ranking: Ranking, group: _Group, warnings: list[str]) -> None:
    cut = [warning for warning in ranking.warnings if warning]
    for result in ranking:
        merged = _remap(result, group)
        if cut and group.own:  # the prompt was cut at the token limit: a fact about these images' scores
            merged = replace(merged, warning=join_warnings(merged.warning, *(f"prompt: {w}" for w in cut)))
        results[merged.index] = merged
    if cut and not group.own:
        warnings.extend(cut)
