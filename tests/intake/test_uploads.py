"""Uploads and API items become ImageInputs: zips expand, other files are kept, names are made safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from lychee_rerank.errors import NoImagesError, TooManyImagesError
from lychee_rerank.intake import as_inputs, inputs_from_uploads

import image_factory as factory
from intake_checks import PNG, names, prepare, write

# ---------------------------------------------------------------- uploads and API items


def test_uploads_expand_zips_and_keep_other_files() -> None:
    archive = factory.zip_bytes([("x/2.png", PNG), ("x/10.png", PNG), ("../bad.png", PNG)])
    uploads = [("a.png", PNG), ("photos.zip", archive), ("notes.txt", factory.text())]
    inputs = inputs_from_uploads(uploads + [("C:\\fakepath\\b.jpg", factory.jpeg())])
    assert names(inputs) == [
        "a.png", "photos.zip/../bad.png", "photos.zip/x/2.png", "photos.zip/x/10.png", "notes.txt", "fakepath/b.jpg",
    ]
    assert inputs[1].problem and all(item.path is None for item in inputs)
    prepared = [prepare(item) for item in inputs]
    assert [item.failed for item in prepared] == [False, True, False, False, True, False]


def test_uploads_are_capped_and_never_empty() -> None:
    with pytest.raises(TooManyImagesError, match="found 3 images"):
        inputs_from_uploads([(f"{i}.png", PNG) for i in range(3)], max_images=2)
    with pytest.raises(NoImagesError):
        inputs_from_uploads([])
    [big] = inputs_from_uploads([("big.png", PNG)], max_file_bytes=10)
    assert "file too large" in big.problem


def test_as_inputs_keeps_the_old_api(tmp_path: Path) -> None:
    path = write(tmp_path / "a.png")
    items = as_inputs([str(path), PNG, ("named.png", PNG), factory.solid((30, 30))])
    assert names(items) == ["a.png", "image_2", "named.png", "image_4"]
    assert all(not prepare(item).failed for item in items)
