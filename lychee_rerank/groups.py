"""Results ranked within groups (a product's subfolder, a prompt, a manifest's ``group``): the best of each.

:func:`group_results` takes any results and a key per result, so every front end groups the same
way: within a group results are ordered as a whole ranking is (scored first, best score, then
input order), and groups are ordered by their best result (groups with nothing scored last, then by key).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from .results import RankResult, rank_results
from .safe_text import csv_cell
from .scoring.query import normalize_query

TOP_LEVEL = "."  # the group of images directly in a ranked folder (not in a subfolder)
NO_PROMPT = "(no prompt)"  # the group of images whose file carries no generation prompt
MAIN_IMAGE_COLUMNS = ("group", "best", "score", "second", "second_score", "margin", "count")


@dataclass(frozen=True)
class Group:
    """One group's results, best first (``results[i]`` has rank ``i + 1`` in the group)."""

    key: str
    results: tuple[RankResult, ...]

    @property
    def best(self) -> RankResult:
        return self.results[0]

    @property
    def second(self) -> RankResult | None:
        return self.results[1] if len(self.results) > 1 else None

    @property
    def margin(self) -> float | None:
        """Best score minus the second's, when both were scored: how clear the choice of main image is."""
        second = self.second
        return self.best.score - second.score if second is not None and second.ok and self.best.ok else None

    def row(self) -> dict[str, Any]:
        """The main-image table's row: group, best, score, second, second_score, margin, count."""
        second = self.second
        margin = self.margin
        return {"group": self.key, "best": self.best.name, "score": round(self.best.score, 4),
                "second": second.name if second else None, "second_score": round(second.score, 4) if second else None,
                "margin": round(margin, 4) if margin is not None else None, "count": len(self.results)}


def subfolder_key(result: RankResult) -> str:
    """The immediate subfolder a folder run's result came from (``"sku1/a.jpg"`` -> ``"sku1"``), else ``"."``."""
    parts = PurePosixPath(result.name.replace("\\", "/")).parts
    return parts[0] if len(parts) > 1 else TOP_LEVEL


def prompt_key(result: RankResult) -> str:
    """The image's own generation prompt, normalised as a query is (identical prompts form one group),
    else ``"(no prompt)"``."""
    return normalize_query(result.prompt or "") or NO_PROMPT


GROUP_KEYS: dict[str, Callable[[RankResult], str]] = {"subfolder": subfolder_key, "prompt": prompt_key}


def group_results(
    results: Iterable[RankResult], key: Callable[[RankResult], str] | Mapping[int, str] = subfolder_key
) -> list[Group]:
    """Results grouped by ``key`` (a function of the result, or input index -> key) and ranked within each group.

    Example::

        >>> from lychee_rerank.results import RankResult
        >>> r = [RankResult(rank=i + 1, index=i, name=n, score=s, raw_output="", parse_method="yesno")
        ...      for i, (n, s) in enumerate([("a/1.jpg", 9.0), ("b/1.jpg", 8.0), ("a/2.jpg", 7.5)])]
        >>> [(g.key, [x.name for x in g.results], g.margin) for g in group_results(r)]
        [('a', ['a/1.jpg', 'a/2.jpg'], 1.5), ('b', ['b/1.jpg'], None)]
    """
    key_of = key if callable(key) else (lambda result: key[result.index])
    members: dict[str, list[RankResult]] = {}
    for result in results:
        members.setdefault(key_of(result), []).append(result)
    groups = [Group(name, tuple(rank_results(items))) for name, items in members.items()]
    return sorted(groups, key=lambda g: (not g.best.ok, -g.best.score, g.key))


def group_fields(groups: Iterable[Group]) -> dict[int, dict[str, Any]]:
    """Input index -> ``{"group", "rank_in_group"}``: the columns every export adds for a grouped run."""
    return {result.index: {"group": group.key, "rank_in_group": position}
            for group in groups for position, result in enumerate(group.results, start=1)}


def main_images(groups: Iterable[Group]) -> list[dict[str, Any]]:
    """The main-image table: one row per group (see :data:`MAIN_IMAGE_COLUMNS`), best group first."""
    return [group.row() for group in groups]


def main_images_csv(groups: Iterable[Group]) -> str:
    """The main-image table as CSV (cells a spreadsheet would run as formulas start with ``'``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MAIN_IMAGE_COLUMNS)
    writer.writeheader()
    for row in main_images(groups):
        writer.writerow({key: csv_cell(value) for key, value in row.items()})
    return buffer.getvalue()


def main_image_choice(groups: Iterable[Group], by: str) -> tuple[list[RankResult], dict[int, str], dict[int, str]]:
    """What copying "one main image per group" copies: (each scored group's best, file names by input index,
    group keys by input index). A product's main image is named after its subfolder (``SKU123.jpg``); a
    prompt is no file name and the folder's top level no product, so those keep their own names."""
    groups = list(groups)
    best = [group.best for group in groups if group.best.ok]
    keys = {result.index: group.key for group in groups for result in group.results}
    names = {result.index: keys[result.index] + PurePosixPath(result.name.replace("\\", "/")).suffix.lower()
             for result in best if by == "subfolder" and keys[result.index] != TOP_LEVEL}
    return best, names, keys
