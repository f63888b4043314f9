"""Streaming readers of the three manifest formats: CSV, JSONL and Parquet, chosen by extension.

Each yields ``pyarrow.Table`` chunks of at most ``rows`` rows, so a manifest of any size is read
in bounded memory. CSV values are kept as text (a spreadsheet's ``007`` stays ``007``); JSONL
objects and arrays in a value are carried as JSON text, so every column is a flat type; Parquet
keeps its schema. CSV and JSONL must be UTF-8: another encoding (a GBK export from Excel) is a
one-line error saying how to convert it, as is a CSV cell too long for the reader.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from .errors import ManifestError

CSV_BLOCK_BYTES = 16 * 1024 * 1024  # the longest CSV line the reader takes (pyarrow's default is 1 MiB)
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
           ".pq": "parquet"}


def manifest_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file's extension; ManifestError for anything else."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ManifestError(f"{path}: unknown manifest format {path.suffix!r}; give a .csv, .jsonl or .parquet file")
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest file")
    return fmt


def column_names(path: Path, fmt: str) -> list[str]:
    """The manifest's columns in file order (JSONL: every key, in order of first appearance)."""
    if fmt == "parquet":
        return list(_parquet_file(path).schema_arrow.names)
    if fmt == "csv":
        try:
            with open(path, encoding="utf-8-sig", newline="") as stream:
                return next(csv.reader(stream), [])
        except UnicodeDecodeError as exc:
            raise not_utf8(path, exc) from exc
        except csv.Error as exc:
            raise ManifestError(f"{path}: its first line cannot be read as CSV column names ({exc}); the first line "
                                "must name the columns (query,image,...), each name under 128 KB") from exc
    names: dict[str, None] = {}
    for _, record in _json_records(path):
        names.update(dict.fromkeys(record))
    return list(names)


def iter_tables(path: Path, fmt: str, names: list[str], rows: int) -> Iterator[pa.Table]:
    """The manifest's ``names`` columns in tables of at most ``rows`` rows, in file order."""
    if fmt == "jsonl":
        yield from _json_tables(path, names, rows)
        return
    try:
        if fmt == "parquet":
            batches: Iterable[pa.RecordBatch] = _parquet_file(path).iter_batches(batch_size=rows, columns=names)
        else:
            batches = _csv_reader(path, names)
        yield from _rechunk(batches, rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(path, fmt, exc) from exc


def not_utf8(path: Path, detail: object) -> ManifestError:
    """The error for a manifest in another encoding than UTF-8, saying how to convert it."""
    return ManifestError(
        f"{path}: not UTF-8 text ({_first_line(detail)}); manifests must be UTF-8: convert it, e.g. "
        f"`iconv -f GBK -t UTF-8 {path.name} > {path.stem}.utf8{path.suffix}` for a Chinese Excel export "
        "(or Save As 'CSV UTF-8' in Excel)"
    )


def _read_error(path: Path, fmt: str, exc: BaseException) -> ManifestError:
    message = _first_line(exc)
    if "invalid UTF8" in message:
        return not_utf8(path, message)
    if "block size" in message:
        return ManifestError(
            f"{path}: a line is too long for the CSV reader (over {CSV_BLOCK_BYTES // 2**20} MiB); shorten that "
            "cell (a query or an image path is never that long), or give the manifest as JSONL"
        )
    return ManifestError(f"{path}: cannot be read as {fmt.upper()}: {message}")


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{path}: not a Parquet file ({_first_line(exc)})") from exc


def _csv_reader(path: Path, names: list[str]) -> pa_csv.CSVStreamingReader:
    # Every column as text: type inference per block could change a column's type mid-file.
    convert = pa_csv.ConvertOptions(column_types={name: pa.string() for name in names}, include_columns=names,
                                    strings_can_be_null=False)
    return pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                           convert_options=convert)


def _rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    schema = None
    for batch in batches:
        schema = batch.schema
        pending.append(batch)
        table = pa.Table.from_batches(pending, schema=schema)
        while table.num_rows >= rows:
            yield table.slice(0, rows)
            table = table.slice(rows)
        pending = table.to_batches()
    if schema is not None and sum(batch.num_rows for batch in pending):
        yield pa.Table.from_batches(pending, schema=schema)


def _json_records(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        yield from _json_lines(path)
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from exc


def _json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    with open(path, encoding="utf-8-sig") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(
                    f"{path}: line {number} is not JSON ({exc.msg}); give one JSON object a line"
                ) from exc
            if not isinstance(record, dict):
                raise ManifestError(f"{path}: line {number} is not a JSON object; give one object a line")
            yield number, record


def _json_tables(path: Path, names: list[str], rows: int) -> Iterator[pa.Table]:
    chunk: list[dict] = []
    for _, record in _json_records(path):
        chunk.append(record)
        if len(chunk) == rows:
            yield _json_table(path, chunk, names)
            chunk = []
    if chunk:
        yield _json_table(path, chunk, names)


def _json_table(path: Path, records: list[dict], names: list[str]) -> pa.Table:
    columns = {}
    for name in names:
        values = [_flat(record.get(name)) for record in records]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ManifestError(
                f"{path}: column {name!r} mixes types ({_first_line(exc)}); give it one type in every line"
            ) from exc
    return pa.table(columns)


def _flat(value: object) -> object:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
