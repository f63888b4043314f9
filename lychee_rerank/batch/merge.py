"""The parts of a job into one output (Parquet, or CSV by extension) with ``rank`` per group.

Ranks are computed over the whole job, so a group whose rows were scored in several chunks (or on
several Ray actors) is ranked as one: 1 = best; rows the model did not score (unreadable images,
empty queries) after every scored row; ties in manifest order. Only the key columns of every part
are held in memory (a few dozen bytes a row); the rows themselves stream from the parts to the
output. An id found in two parts (a part rewritten by a retried Ray task) is written once; a
manifest id found in none is an IncompleteJobError naming how many, and ``--resume`` finishes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..safe_text import csv_cell
from ..settings import NOT_SCORED
from .columns import HIDDEN, ID, KEY, PARSE_METHOD, RANK, RESULT_COLUMNS, ROW, SCORE, WARNING
from .errors import IncompleteJobError, ManifestError
from .manifest import Manifest
from .parts import PartStore, atomic_write

logger = logging.getLogger(__name__)

KEY_COLUMNS = [ID, KEY, ROW, SCORE, PARSE_METHOD, WARNING]


@dataclass(frozen=True)
class MergeReport:
    """What the output holds: rows, groups, rows with a warning, rows the model did not score."""

    rows: int
    groups: int
    warned: int
    not_scored: int


def merge_parts(store: PartStore, manifest: Manifest, out: Path) -> MergeReport:
    """Write ``out`` from the parts; raise IncompleteJobError when a manifest row has no result."""
    files = store.result_files()
    keys = _read_keys(files)
    keep = _first_of_each_id(keys.column(ID).to_pylist(), manifest)
    kept = keys.filter(pa.array(keep))
    ranks = np.zeros(len(keep), np.int64)
    ranks[np.flatnonzero(keep)] = group_ranks(kept)
    schema = _output_schema(files, manifest)
    writer = _write_csv if out.suffix.lower() == ".csv" else _write_parquet
    atomic_write(out, lambda tmp: writer(tmp, schema, _output_tables(files, schema, keep, ranks)))
    failed = pc.is_in(kept.column(PARSE_METHOD), pa.array(NOT_SCORED))
    return MergeReport(kept.num_rows, len(pc.unique(kept.column(KEY))), kept.num_rows - kept.column(WARNING).null_count,
                       pc.sum(failed).as_py() or 0)


def group_ranks(keys: pa.Table) -> np.ndarray:
    """1-based ranks within each ranking key: scored rows by score, best first, then the rest; ties by row."""
    codes = keys.column(KEY).combine_chunks().dictionary_encode().indices.to_numpy(zero_copy_only=False)
    failed = pc.is_in(keys.column(PARSE_METHOD), pa.array(NOT_SCORED)).to_numpy(zero_copy_only=False)
    scores = keys.column(SCORE).to_numpy()
    rows = keys.column(ROW).to_numpy()
    order = np.lexsort((rows, -scores, failed, codes))
    ordered = codes[order]
    position = np.arange(len(order))
    starts = np.ones(len(order), bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    first = np.maximum.accumulate(np.where(starts, position, 0))
    ranks = np.empty(len(order), np.int64)
    ranks[order] = position - first + 1
    return ranks


def _read_keys(files: list[Path]) -> pa.Table:
    tables = [pq.read_table(path, columns=KEY_COLUMNS) for path in files]
    if not tables:
        return pa.table({name: pa.array([], pa.string()) for name in KEY_COLUMNS})
    return pa.concat_tables(tables, promote_options="permissive")


def _first_of_each_id(ids: list[Any], manifest: Manifest) -> list[bool]:
    seen: set[Any] = set()
    keep = []
    for value in ids:
        keep.append(value in manifest.ids and value not in seen)
        seen.add(value)
    extra = len(seen - manifest.ids)
    if extra:
        logger.warning("the parts hold %d id(s) not in the manifest (was it edited?); they are left out", extra)
    missing = manifest.rows - sum(keep)
    if missing:
        example = ", ".join(repr(v) for v in sorted(manifest.ids - seen, key=str)[:3])
        raise IncompleteJobError(f"{missing} of {manifest.rows} manifest rows have no result (e.g. id {example}); "
                                 "run the same command again with --resume to score them")
    return keep


def _output_schema(files: list[Path], manifest: Manifest) -> pa.Schema:
    try:
        unified = pa.unify_schemas([pq.read_schema(path) for path in files], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ManifestError(f"{manifest.path.name}: a column changes type between rows ({exc}); give each "
                            "column one type") from exc
    names = [*manifest.output_names, SCORE, RANK, *RESULT_COLUMNS[1:]]
    fields = [pa.field(RANK, pa.int64()) if name == RANK else unified.field(name) for name in names]
    # A column that is empty in every row has no type; text suits every writer.
    return pa.schema([field.with_type(pa.string()) if pa.types.is_null(field.type) else field for field in fields])


def _output_tables(files: list[Path], schema: pa.Schema, keep: list[bool], ranks: np.ndarray):
    offset = 0
    for path in files:
        table = pq.read_table(path)
        rows = slice(offset, offset + table.num_rows)
        offset += table.num_rows
        table = table.append_column(RANK, pa.array(ranks[rows])).filter(pa.array(keep[rows]))
        table = table.drop_columns([name for name in HIDDEN if name in table.column_names])
        yield pa.table([table.column(field.name).cast(field.type) for field in schema], schema=schema)


def _write_parquet(path: Path, schema: pa.Schema, tables) -> None:
    with pq.ParquetWriter(str(path), schema) as writer:
        for table in tables:
            writer.write_table(table)


def _write_csv(path: Path, schema: pa.Schema, tables) -> None:
    with pa_csv.CSVWriter(str(path), schema) as writer:
        for table in tables:
            writer.write_table(_inert_text(table))


def _inert_text(table: pa.Table) -> pa.Table:
    """Text cells a spreadsheet would run as formulas start with ``'``; other types are left as they are."""
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            cells = [csv_cell(value) for value in table.column(index).to_pylist()]
            table = table.set_column(index, field, pa.array(cells, field.type))
    return table
