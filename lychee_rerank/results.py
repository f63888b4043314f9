"""The result of ranking one image, and its plain-record form for JSON/CSV."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

# How a score was obtained. The generate-mode values come from parse_score.
PARSE_YESNO = "yesno"
PARSE_FAILED = "failed"  # image unreadable, OOM twice, NaN logits: lowest score
PARSE_SKIPPED = "skipped"  # the run was stopped before this image

# The keys of DESIGN.md §2's JSON contract, in order; extra keys follow them.
RECORD_KEYS = ("rank", "name", "path", "score", "raw_output", "parse_method", "warning")


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
    p_yes: float | None = None
    p_no: float | None = None
    scored_size: tuple[int, int] | None = None
    original_size: tuple[int, int] | None = None
    notes: tuple[str, ...] = ()  # neutral facts (rotated upright, resized), unlike warnings
    duplicate_of: int | None = None
    digest: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when the model really scored this image."""
        return self.parse_method not in (PARSE_FAILED, PARSE_SKIPPED)

    def with_rank(self, rank: int) -> "RankResult":
        return replace(self, rank=rank)

    def to_record(self) -> dict[str, Any]:
        """The JSON/CSV record: the contract keys first, then extras."""
        data = asdict(self)
        data.pop("digest")
        for key in ("scored_size", "original_size", "notes"):
            if data[key] is not None:
                data[key] = list(data[key])
        ordered = {key: data.pop(key) for key in RECORD_KEYS}
        ordered.update(data)
        return ordered


def rank_results(results: list[RankResult]) -> list[RankResult]:
    """Sort best first and number ranks 1..N.

    Images the model did not score (failed or skipped) go after every scored
    one, so a genuine 0.0 still outranks an unreadable file; ties keep input order.
    """
    ordered = sorted(results, key=lambda r: (not r.ok, -r.score, r.index))
    return [r.with_rank(i) for i, r in enumerate(ordered, start=1)]
