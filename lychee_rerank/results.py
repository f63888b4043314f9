"""What a run gives back: one RankResult per input, and the Ranking that holds them best first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, SupportsIndex, overload

from .settings import NOT_SCORED

# The keys of DESIGN.md §2's JSON contract, in order; extra keys follow them.
RECORD_KEYS = ("rank", "name", "path", "score", "raw_output", "parse_method", "warning")
# What a generated image says about itself: in a record only when some image of the run carries it.
GENERATION_KEYS = ("prompt", "negative_prompt", "seed", "generator", "generation")


def format_size(size: tuple[int, int] | None) -> str | None:
    """A (width, height) as every export writes it, ``"84x56"``; None stays None."""
    return f"{size[0]}x{size[1]}" if size else None


def join_warnings(*parts: str | None) -> str | None:
    """The non-empty parts joined with '; ' (how every warning text is combined), or None."""
    text = "; ".join(part for part in parts if part)
    return text or None


@dataclass(frozen=True)
class RankResult:
    """One input image's outcome.

    ``rank`` is 1-based (best first), ``index`` the position of the input it
    came from, ``score`` a float in 0-10. ``raw_output`` is what the model
    wrote (generate mode) or its yes/no probabilities (yes/no mode);
    ``parse_method`` says how the score was obtained: ``yesno``, the parser's
    ``primary``/``fallback``/``none``, or ``failed``/``skipped``.
    ``warning`` is None or why the image or its score is suspect; ``notes``
    are neutral facts about its intake (rotated upright, resized).
    ``prompt``, ``negative_prompt``, ``seed`` and ``generator`` are what a generated image's file
    says about how it was made (``generation``: its other settings, as (name, value) pairs);
    ``query`` is the text it was scored against when that was not the run's query (its own prompt).
    """

    rank: int
    index: int
    name: str
    score: float
    raw_output: str
    parse_method: str
    warning: str | None = None
    path: str | None = None
    mode: str = ""
    family: str = ""  # the model family whose recipe scored it (lychee, qwen3-vl-reranker, ...)
    p_yes: float | None = None
    p_no: float | None = None
    scored_size: tuple[int, int] | None = None
    original_size: tuple[int, int] | None = None
    notes: tuple[str, ...] = ()  # neutral facts (rotated upright, resized), unlike warnings
    duplicate_of: int | None = None
    text: str | None = None  # a text document's text (None for images)
    instruction: str | None = None  # the instruction text the model was given
    max_pixels: int | None = None  # the pixel budget of the run
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    generator: str | None = None
    generation: tuple[tuple[str, str], ...] = ()  # sampler, steps, CFG, model, size... in the writer's order
    query: str | None = None  # set when this image was scored against a query of its own (its prompt)
    digest: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when the model really scored this image."""
        return self.parse_method not in NOT_SCORED

    def with_rank(self, rank: int) -> RankResult:
        return replace(self, rank=rank)

    @property
    def has_generation(self) -> bool:
        """Whether the image's file carried generation metadata (a prompt, a seed, settings)."""
        return self.generator is not None

    def to_record(self) -> dict[str, Any]:
        """The JSON/CSV record: the contract keys first, then extras (sizes as ``"WxH"``, notes as a list).

        The generation keys (``prompt``, ``negative_prompt``, ``seed``, ``generator``, ``generation``)
        and ``query`` are left out for an image without them; the exports add them to every record of a
        run in which some image has them.
        """
        data = asdict(self)
        data.pop("digest")
        data["scored_size"], data["original_size"] = format_size(self.scored_size), format_size(self.original_size)
        data["notes"] = list(self.notes)
        data["generation"] = dict(self.generation)
        if not self.has_generation:
            for key in GENERATION_KEYS:
                data.pop(key)
        if self.query is None:
            data.pop("query")
        ordered = {key: data.pop(key) for key in RECORD_KEYS}
        ordered.update(data)
        return ordered


def generation_fields(info: Any) -> dict[str, Any]:
    """The RankResult fields of an image's generation info (an ``intake.GenerationInfo``; none for None)."""
    if info is None:
        return {}
    return {"prompt": info.prompt, "negative_prompt": info.negative_prompt, "seed": info.seed,
            "generator": info.generator, "generation": info.settings}


def rank_results(results: Iterable[RankResult]) -> list[RankResult]:
    """Sort best first and number ranks 1..N.

    Images the model did not score (failed or skipped) go after every scored
    one, so a genuine 0.0 still outranks an unreadable file; ties keep input order.
    """
    ordered = sorted(results, key=lambda r: (not r.ok, -r.score, r.index))
    return [r.with_rank(i) for i, r in enumerate(ordered, start=1)]


class Ranking(list):
    """The ranked results (a list, best first) plus what applies to the whole run.

    ``mode`` is the scoring mode used, ``query`` the query as the model saw it,
    ``warnings`` run-wide warnings (query truncated), ``stopped`` whether the run
    was stopped early, ``stats`` how the model was used (batches, tokens, padding), ``family`` the
    model family whose recipe scored. Slicing and :meth:`top` keep these attributes.
    """

    def __init__(
        self, results: Iterable[RankResult], *, mode: str, query: str, warnings: list[str], stopped: bool,
        stats: dict[str, Any] | None = None, family: str = "",
    ):
        super().__init__(results)
        self.mode = mode
        self.family = family
        self.query = query
        self.warnings = list(warnings)
        self.stopped = stopped
        self.stats = dict(stats or {})

    @overload
    def __getitem__(self, index: SupportsIndex) -> RankResult: ...

    @overload
    def __getitem__(self, index: slice) -> Ranking: ...

    def __getitem__(self, index: SupportsIndex | slice) -> RankResult | Ranking:
        if isinstance(index, slice):
            return self._like(super().__getitem__(index))
        return super().__getitem__(index)

    def top(self, k: int | None) -> Ranking:
        """The best ``k`` results (all of them for None), with the run's attributes."""
        return self[:k] if k is not None else self._like(self)

    def copy(self) -> Ranking:
        return self._like(self)

    def _like(self, results: Iterable[RankResult]) -> Ranking:
        return Ranking(results, mode=self.mode, query=self.query, warnings=self.warnings, stopped=self.stopped,
                       stats=self.stats, family=self.family)
