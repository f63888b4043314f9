"""Results as JSON, CSV, a terminal table and a zip of the top images: shared by the CLI and the app."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from .results import GENERATION_KEYS, RECORD_KEYS, RankResult
from .safe_text import csv_cell, file_name, terminal_text
from .sidecars import write_sidecars as write_sidecars  # the library's sidecar writer, beside the other exports

if TYPE_CHECKING:  # intake pulls in the image stack (torch via qwen_vl_utils); only its type is needed here
    from .intake import ImageInput

# The CSV keeps the contract's columns plus the few extras a spreadsheet user wants.
CSV_COLUMNS = (
    *RECORD_KEYS, "text", "index", "mode", "family", "p_yes", "duplicate_of", "scored_size", "max_pixels",
    "instruction", "notes",
)
NOTE_SEPARATOR = "; "  # how a CSV cell holds a result's list of notes


def generation_columns(results: Iterable[RankResult]) -> tuple[str, ...]:
    """The generation columns a run's exports carry: all of them when any image has them, else none
    (plus ``query`` when images were scored against their own prompts)."""
    results = list(results)
    columns = GENERATION_KEYS if any(result.has_generation for result in results) else ()
    return (*columns, "query") if any(result.query is not None for result in results) else columns


def to_records(
    results: Iterable[RankResult], extra: dict[str, Any] | None = None, marks: Mapping[int, str] | None = None,
    fields: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[dict]:
    """Plain dicts in rank order, with the JSON contract's keys first; ``extra`` (run-wide fields
    such as the query) is added to every record, ``fields`` (per input index, such as ``group`` and
    ``rank_in_group``) to its own, and ``marks`` (the app's pick/reject per input index)
    as a ``mark`` field ("" for none)."""
    results = list(results)
    columns = generation_columns(results)
    records = [{**result.to_record(), **(extra or {}), **(fields or {}).get(result.index, {})} for result in results]
    for record in records:
        for key in columns:
            record.setdefault(key, {} if key == "generation" else None)
    if marks is not None:
        for record in records:
            record["mark"] = marks.get(record["index"], "")
    return records


def to_json(
    results: Iterable[RankResult], *, indent: int | None = 2, extra: dict[str, Any] | None = None,
    marks: Mapping[int, str] | None = None, fields: Mapping[int, Mapping[str, Any]] | None = None,
) -> str:
    """One JSON array, best first (DESIGN.md §2)."""
    return json.dumps(to_records(results, extra, marks, fields), ensure_ascii=False, indent=indent)


def to_csv(
    results: Iterable[RankResult], *, extra: dict[str, Any] | None = None, marks: Mapping[int, str] | None = None,
    fields: Mapping[int, Mapping[str, Any]] | None = None,
) -> str:
    """CSV with a header row; Excel-friendly when written with a UTF-8 BOM by the caller.

    Text cells that a spreadsheet would run as a formula (``=...``, ``+...``, ``-...``, ``@...``) start with ``'``.
    """
    buffer = io.StringIO()
    results = list(results)
    per_result = dict.fromkeys(key for values in (fields or {}).values() for key in values)
    columns = (*CSV_COLUMNS, *generation_columns(results), *(extra or {}), *per_result,
               *(("mark",) if marks is not None else ()))
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for record in to_records(results, extra, marks, fields):
        row = {**record, "notes": NOTE_SEPARATOR.join(record["notes"])}
        if "generation" in row:  # the settings mapping as one JSON cell
            row["generation"] = json.dumps(row["generation"], ensure_ascii=False) if row["generation"] else ""
        writer.writerow({key: csv_cell(value) for key, value in row.items()})
    return buffer.getvalue()


def to_table(results: Sequence[RankResult]) -> str:
    """A fixed-width text table for terminals; control and bidi characters in names and warnings are escaped."""
    lines = [f"{'rank':>4}  {'score':>5}  {'method':<8}  name"]
    for result in results:
        warning = f"  ⚠ {terminal_text(result.warning)}" if result.warning else ""
        lines.append(f"{result.rank:>4}  {result.score:>5.2f}  {result.parse_method:<8}  {terminal_text(result.name)}"
                     f"{warning}")
    return "\n".join(lines)


def zippable(results: Sequence[RankResult], inputs: Sequence[ImageInput]) -> list[RankResult]:
    """The results whose original file goes into the zip: scored, not a duplicate, with a file behind it
    (a PIL image given through the API has none). A download's label counts these."""
    return [r for r in results if r.ok and r.duplicate_of is None
            and (inputs[r.index].data is not None or inputs[r.index].opener is not None)]


def top_k_zip(results: Sequence[RankResult], inputs: Sequence[ImageInput], k: int) -> bytes:
    """The original files of the best ``k`` zippable results, named ``01_<name>`` by rank."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for result in zippable(results, inputs)[:k]:
            name = file_name(PurePosixPath(result.name.replace("\\", "/")).name)
            archive.writestr(f"{result.rank:02d}_{name}", inputs[result.index].read_bytes())
    return buffer.getvalue()


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain fixed-width table with Markdown-compatible pipes (None and NaN print as n/a), for terminals."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return terminal_text(value)
