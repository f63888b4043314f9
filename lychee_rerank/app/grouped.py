"""The results page's grouped view and near-duplicate stacks: which choices apply and what each row shows.

* **Group by** ``subfolder`` (a folder run whose images sit in subfolders: a product each) or
  ``prompt`` (results that carry generation prompts): one row per group, best group first, the
  group's best image large with its score and margin to the second, the others behind it.
  Groups are made with :func:`lychee_rerank.groups.group_results`, as the CLI makes them.
* **Stack near-duplicates**: each stack (:mod:`lychee_rerank.stacks`) shows its best with a "+N"
  badge and folds the others behind it. Only images with a file or bytes are hashed; the hashes
  are kept in the session for the run, so moving a slider does not hash again.
* Exports carry ``group``/``rank_in_group`` and ``stack``/``stack_size`` for the whole run,
  whatever the grid's filters show.

The page (``app.py``) only draws what these functions return.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..groups import GROUP_KEYS, NO_PROMPT, TOP_LEVEL, group_fields, group_results, subfolder_key
from ..results import RankResult
from ..stacks import Stack, find_stacks, hash_results, stack_fields
from .jobs import Job
from .page import sorted_for_grid

NONE = "none"
GROUP_BY_CHOICES = (NONE, *GROUP_KEYS)
_HASHES = "lr_stack_hashes"  # session key: (the job hashed, its hashes), so one run is hashed once


@dataclass
class Tile:
    """One card: a result, and the near-duplicates folded behind it (empty when stacking is off)."""

    result: RankResult
    folded: list[RankResult] = field(default_factory=list)

    @property
    def results(self) -> list[RankResult]:
        return [self.result, *self.folded]


@dataclass(frozen=True)
class GroupRow:
    """One group as the grouped view draws it: the best tile large, the others behind it."""

    key: str
    best: Tile
    others: tuple[Tile, ...]
    margin: float | None  # best score minus the second's; None with one image or nothing scored
    count: int

    @property
    def results(self) -> list[RankResult]:
        """Every result of the row, in the order the view shows them (for the full-size view's steps)."""
        return [r for tile in (self.best, *self.others) for r in tile.results]


def group_choices(job: Job) -> tuple[str, ...]:
    """What "Group by" offers for a run: always none; subfolder for a folder run whose images sit in
    subfolders; prompt when results carry generation prompts."""
    results = job.results or []
    offered = [NONE]
    if job.texts is None and job.folder and any(subfolder_key(r) != TOP_LEVEL for r in results):
        offered.append("subfolder")
    if any(r.prompt for r in results):
        offered.append("prompt")
    return tuple(offered)


def settle_choice(state: MutableMapping[str, Any], key: str, offered: Sequence[str]) -> str:
    """The choice under ``key`` if this run offers it, else (and then also in ``state``) the first offered."""
    if state.get(key) not in offered:
        state[key] = offered[0]
    return state[key]


def stacks_offered(job: Job) -> bool:
    """Stacking needs pixels: an image run with at least one input that has a file or bytes."""
    return job.texts is None and any(item.data is not None or item.opener is not None for item in job.inputs)


def run_stacks(state: MutableMapping[str, Any], job: Job) -> list[Stack]:
    """The run's near-duplicate stacks (over all its results); hashing happens once per run and session."""
    kept = state.get(_HASHES)
    if kept is None or kept[0] is not job:
        kept = (job, hash_results(job.results or [], lambda result: _bytes_of(job, result.index)))
        state[_HASHES] = kept
    return find_stacks(job.results or [], kept[1])


def _bytes_of(job: Job, index: int) -> bytes | None:
    item = job.inputs[index]
    return item.read_bytes() if item.data is not None or item.opener is not None else None


def tiles(results: Sequence[RankResult], stacks: Sequence[Stack] | None) -> list[Tile]:
    """One tile per result, or with stacks one per stack: the first of its results here leads, the rest fold."""
    if stacks is None:
        return [Tile(r) for r in results]
    stack_of = {r.index: stack.number for stack in stacks for r in stack.results}
    leaders: dict[int, Tile] = {}
    out = []
    for result in results:
        number = stack_of.get(result.index, -1 - result.index)  # a result in no stack is a stack of its own
        if number in leaders:
            leaders[number].folded.append(result)
        else:
            leaders[number] = Tile(result)
            out.append(leaders[number])
    return out


def sort_tiles(found: Sequence[Tile], order: str) -> list[Tile]:
    """Tiles in the grid's order (by score as ranked, or by name), each placed by its leading result."""
    by_index = {tile.result.index: tile for tile in found}
    return [by_index[r.index] for r in sorted_for_grid([tile.result for tile in found], order)]


def group_rows(results: Sequence[RankResult], how: str, stacks: Sequence[Stack] | None) -> list[GroupRow]:
    """The shown results grouped ``how`` (subfolder or prompt), best group first; stacks folded within each."""
    rows = []
    for group in group_results(results, GROUP_KEYS[how]):
        found = tiles(group.results, stacks)
        rows.append(GroupRow(group.key, found[0], tuple(found[1:]), group.margin, len(group.results)))
    return rows


def group_label_key(key: str) -> str | None:
    """The UI text key for a group without a name of its own (the folder's top, no prompt), else None."""
    return {TOP_LEVEL: "group_top_folder", NO_PROMPT: "group_no_prompt"}.get(key)


def export_fields(job: Job, how: str, stacks: Sequence[Stack] | None) -> dict[int, dict[str, Any]]:
    """Per input index, the columns the downloads add: ``group``, ``rank_in_group`` (grouped over the whole
    run) and ``stack``, ``stack_size`` (with stacking on)."""
    fields: dict[int, dict[str, Any]] = {r.index: {} for r in job.results or []}
    if how != NONE:
        for index, values in group_fields(group_results(job.results or [], GROUP_KEYS[how])).items():
            fields[index].update(values)
    if stacks is not None:
        for index, values in stack_fields(stacks).items():
            fields[index].update(values)
    return fields
