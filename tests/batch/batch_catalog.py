"""A small catalog for the batch-job tests: images on disk (bad ones included) and manifest rows in every format.

Import it as ``from batch_catalog import ...`` (pytest puts this folder on the path); fixtures are in conftest.py.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from helpers import jpeg_bytes, png_bytes

COLOURS = {"red": (220, 20, 30), "darkred": (120, 10, 10), "blue": (20, 40, 200), "navy": (10, 20, 90),
           "green": (20, 180, 40), "white": (250, 250, 250)}


@dataclass
class Catalog:
    """Images in ``folder/images`` and manifest rows pointing at them (relative paths, one absolute)."""

    folder: Path
    rows: list[dict] = field(default_factory=list)

    def write(self, fmt: str, name: str = "manifest", rows: list[dict] | None = None) -> Path:
        rows = self.rows if rows is None else rows
        path = self.folder / f"{name}.{fmt}"
        if fmt == "csv":
            names = list(dict.fromkeys(key for row in rows for key in row))
            with open(path, "w", newline="", encoding="utf-8") as stream:
                writer = csv.DictWriter(stream, fieldnames=names)
                writer.writeheader()
                writer.writerows(rows)
        elif fmt == "jsonl":
            path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        else:
            pq.write_table(pa.Table.from_pylist(rows), path)
        return path


def build_catalog(folder: Path, copies: int = 1) -> Catalog:
    """Two SKUs' worth of rows per copy: distinct images, a missing file, a corrupt file, an empty query."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    for index, (name, colour) in enumerate(COLOURS.items()):
        (images / f"{name}.png").write_bytes(png_bytes(colour, (56 + 8 * index, 64)))
    (images / "photo.jpg").write_bytes(jpeg_bytes((200, 60, 60), (80, 60)))
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    catalog = Catalog(folder)
    plan = [
        ("red summer dress 红色连衣裙", ["images/red.png", "images/darkred.png", "images/blue.png", "images/photo.jpg",
                                     "images/missing.png", "images/corrupt.png"]),
        ("navy denim jacket", ["images/navy.png", "images/blue.png", "images/green.png", str(images / "white.png")]),
        ("", ["images/red.png"]),
    ]
    for copy in range(copies):
        for query, paths in plan:
            for path in paths:
                number = len(catalog.rows)
                catalog.rows.append({"id": f"r{number}", "query": query, "image": path,
                                     "sku": f"sku-{copy}-{query[:4]}", "price": 9.5 + number})
    return catalog
