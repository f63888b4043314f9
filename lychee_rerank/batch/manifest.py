"""A manifest, checked once and then streamed in normalised chunks.

:meth:`Manifest.open` reads the file's columns, refuses one without ``query`` and ``image``
(one line naming them), counts the rows and the ranking groups (:attr:`Manifest.groups`) and
checks that ids are present (not empty, null or NaN), of a plain type and unique, reading only the
id, group and query columns. :meth:`Manifest.chunks`
then yields tables of at most ``rows`` rows holding every manifest column, ``id`` and ``group``
(added when the manifest has none) and three hidden columns the job uses and drops from the
output: the 0-based row number, the image path resolved against the manifest's folder, and the
ranking key (the group, or the query for rows without one). With ``query_from_metadata`` the
``query`` column may be missing or empty: a row without a query is scored against the prompt its
generated image carries (A1111/Forge, ComfyUI, InvokeAI), which then fills its ``query``.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..intake.generation import generation_of
from ..intake.inputs import as_input, looks_like_url
from ..scoring.query import normalize_query
from .columns import GROUP, HIDDEN, ID, IMAGE, KEY, PATH, PRODUCT_ID_COLUMNS, QUERY, REQUIRED, ROW
from .errors import ManifestError
from .readers import column_names, iter_tables, manifest_format

SCAN_ROWS = 65_536
MISSING_SHOWN = 5  # rows named in the error for missing ids


@dataclass
class Manifest:
    """A checked manifest: its file, format, columns, row count, ids and number of ranking groups
    (see the module docstring)."""

    path: Path
    fmt: str
    names: list[str]
    rows: int = 0
    ids: set[Any] = field(default_factory=set)
    groups: int = 0
    query_from_metadata: bool = False

    @classmethod
    def open(cls, path: str | os.PathLike, *, query_from_metadata: bool = False) -> Manifest:
        """Check the manifest's format, columns and ids; raise ManifestError with the fix otherwise."""
        path = Path(path)
        fmt = manifest_format(path)
        names = column_names(path, fmt)
        required = [IMAGE] if query_from_metadata else list(REQUIRED)
        missing = [name for name in required if name not in names]
        if missing:
            found = ", ".join(names) or "none"
            raise ManifestError(
                f"{path.name} lacks the required column(s) {', '.join(missing)}: a manifest needs 'query' and "
                f"'image' columns, or an 'image' column with --query-from-metadata (found: {found})"
            )
        hidden = [name for name in names if name in HIDDEN]
        if hidden:
            raise ManifestError(f"{path.name}: column name(s) {', '.join(hidden)} are reserved; rename them")
        manifest = cls(path.resolve(), fmt, names, query_from_metadata=query_from_metadata)
        manifest._scan()
        if not manifest.rows:
            raise ManifestError(f"{path.name} has no rows: nothing to score")
        return manifest

    @property
    def has_ids(self) -> bool:
        return ID in self.names

    @property
    def has_groups(self) -> bool:
        return GROUP in self.names

    @property
    def product_id_column(self) -> str | None:
        """The first column whose name looks like a product id (:data:`PRODUCT_ID_COLUMNS`), or None."""
        return next((name for name in self.names if _bare(name) in PRODUCT_ID_COLUMNS), None)

    @property
    def output_names(self) -> list[str]:
        """The manifest's columns plus ``query``, ``id`` and ``group`` where it has none."""
        return self.names + [name for name in (QUERY, ID, GROUP) if name not in self.names]

    def chunks(self, rows: int) -> Iterator[pa.Table]:
        """Normalised tables of at most ``rows`` rows, in manifest order."""
        start = 0
        for table in iter_tables(self.path, self.fmt, self.names, rows):
            yield self._normalise(table, start)
            start += table.num_rows

    def _scan(self) -> None:
        columns = [name for name in (ID, GROUP, QUERY) if name in self.names]
        if self.query_from_metadata:
            columns.append(IMAGE)  # the images' prompts decide the ranking sets
        keys: set[int] = set()  # hashes: counting the groups needs no copy of their text
        missing: list[int] = []
        for table in iter_tables(self.path, self.fmt, columns, SCAN_ROWS):
            if self.has_ids:
                self._check_id_type(table.schema.field(ID).type)
                missing.extend(self._check_ids(table.column(ID).to_pylist()))
            keys.update(map(hash, self._keys(table)))
            self.rows += table.num_rows
        if missing:
            shown = ", ".join(map(str, missing[:MISSING_SHOWN])) + (", ..." if len(missing) > MISSING_SHOWN else "")
            raise ManifestError(f"{self.path.name}: {len(missing)} row(s) have no id (empty, null or NaN): row(s) "
                                f"{shown}; give every row an id, or drop the id column (rows are then numbered)")
        if not self.has_ids:
            self.ids = set(range(self.rows))
        self.groups = len(keys)

    def _queries(self, table: pa.Table) -> list[str]:
        """Each row's query: the manifest's, else (with query_from_metadata) its image's own prompt, else ""."""
        given = table.column(QUERY).to_pylist() if QUERY in table.column_names else [None] * table.num_rows
        queries = [_text(value) for value in given]
        if self.query_from_metadata:
            images = table.column(IMAGE).to_pylist()
            queries = [query if query.strip() else self._prompt(image) for query, image in zip(queries, images)]
        return queries

    def _prompt(self, image: Any) -> str:
        path = self._resolve(image)
        if path is None or looks_like_url(path) or not os.path.isfile(path):
            return ""
        info = generation_of(as_input(path, 0))
        return normalize_query(info.prompt or "") if info is not None else ""

    def _keys(self, table: pa.Table, queries: list[str] | None = None) -> list[str]:
        """Each row's ranking key: its group, or its query when it has no group."""
        queries = self._queries(table) if queries is None else queries
        if not self.has_groups:
            return [f"q:{q}" for q in queries]
        return [f"g:{g}" if _text(g) else f"q:{q}" for g, q in zip(table.column(GROUP).to_pylist(), queries)]

    def _check_id_type(self, kind: pa.DataType) -> None:
        if pa.types.is_nested(kind):
            raise ManifestError(f"{self.path.name}: the id column holds {kind} values; ids must be text or numbers: "
                                "give the ids as a text or number column, or drop the id column (rows are then "
                                "numbered)")

    def _check_ids(self, ids: list[Any]) -> list[int]:
        """Record ``ids``; return the rows without one. A duplicate id is a ManifestError at once."""
        missing = []
        for offset, value in enumerate(ids):
            row = self.rows + offset
            if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
                missing.append(row)  # NaN never equals itself: as an id it could never be found again
                continue
            if value in self.ids:
                raise ManifestError(f"{self.path.name}: id {value!r} appears more than once (again at row {row}); "
                                    "ids must be unique, or drop the id column (rows are then numbered)")
            self.ids.add(value)
        return missing

    def _normalise(self, table: pa.Table, start: int) -> pa.Table:
        numbers = pa.array(range(start, start + table.num_rows), pa.int64())
        queries = self._queries(table)
        keys = self._keys(table, queries)
        if self.query_from_metadata:  # the query each row was scored against, its prompt where it had none
            column = pa.array(queries, pa.string())
            if QUERY in table.column_names:
                table = table.set_column(table.column_names.index(QUERY), QUERY, column)
            else:
                table = table.append_column(QUERY, column)
        if not self.has_ids:
            table = table.append_column(ID, numbers)
        if not self.has_groups:
            table = table.append_column(GROUP, pa.array(queries, pa.string()))
        paths = [self._resolve(value) for value in table.column(IMAGE).to_pylist()]
        table = table.append_column(ROW, numbers)
        table = table.append_column(PATH, pa.array(paths, pa.string()))
        return table.append_column(KEY, pa.array(keys, pa.string()))

    def _resolve(self, value: Any) -> str | None:
        text = _text(value).strip()
        if not text:
            return None
        if looks_like_url(text):
            return text  # refused with a clear warning when scored, not turned into a path that cannot exist
        return str(self.path.parent / Path(text).expanduser())


def fingerprint(path: Path) -> dict[str, Any]:
    """What identifies a manifest's content: its size and SHA-256, read in 1 MiB blocks (memory stays flat)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        while block := stream.read(2**20):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


def _text(value: Any) -> str:
    """A manifest value as text: None is empty."""
    return "" if value is None else str(value)


def _bare(name: str) -> str:
    """A column name as PRODUCT_ID_COLUMNS lists it: lower-case, letters and digits only."""
    return "".join(char for char in name.lower() if char.isalnum())
