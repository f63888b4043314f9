"""Files and folders become ImageInputs: none lost, none crashing, each problem said."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from lychee_rerank.errors import NoImagesError, TooManyImagesError
from lychee_rerank.intake import (
    collect_inputs,
    collect_paths,
    folders,
    natural_key,
)

import image_factory as factory
from intake_checks import names, prepare, write

# ---------------------------------------------------------------- natural order


def test_natural_key_orders_numbers_as_numbers() -> None:
    words = ["img10.png", "img2.png", "IMG1.jpg", "img02b.png", "a.png", "img2.png"]
    assert sorted(words, key=natural_key) == ["a.png", "IMG1.jpg", "img2.png", "img2.png", "img02b.png", "img10.png"]


# ---------------------------------------------------------------- folders


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for name in ["img10.png", "img2.png", "IMG1.JPG", "sub/a.png", "sub/img3.jpeg", "sub/deeper/z.WebP"]:
        write(root / name)
    for name in ["notes.txt", ".hidden.png", ".cache/x.png", "__MACOSX/._a.png", "sub/Thumbs.db", "sub/inner.zip"]:
        write(root / name)
    return root


def test_folder_is_walked_recursively_in_natural_order(photo_folder: Path) -> None:
    result = collect_inputs([photo_folder])
    assert names(result.inputs) == [
        "IMG1.JPG", "img2.png", "img10.png", "sub/a.png", "sub/deeper/z.WebP", "sub/img3.jpeg",
    ]
    assert result.inputs[1].path == str(photo_folder / "img2.png")
    assert not result.problems
    joined = " | ".join(result.notes)
    assert "skipped 2 non-image" in joined and "skipped 3 hidden" in joined and "did not open 1 zip" in joined
    assert names(collect_paths([photo_folder])) == names(result.inputs)  # stable, same through the old API


def test_folder_inputs_load(photo_folder: Path) -> None:
    prepared = [prepare(item) for item in collect_paths([photo_folder])]
    assert not any(item.failed for item in prepared)


def test_explicit_files_are_kept_whatever_their_type(tmp_path: Path) -> None:
    notes = write(tmp_path / "notes.txt", factory.text())
    photo = write(tmp_path / ".secret.png")  # hidden, but the user named it
    inputs = collect_paths([notes, photo])
    assert names(inputs) == ["notes.txt", ".secret.png"]
    assert "looks like a text file" in prepare(inputs[0]).warning
    assert not prepare(inputs[1]).failed


def test_missing_explicit_file_becomes_a_placeholder(tmp_path: Path) -> None:
    inputs = collect_paths([tmp_path / "typo.jpg", write(tmp_path / "ok.png")])
    assert names(inputs) == ["typo.jpg", "ok.png"]
    prepared = prepare(inputs[0])
    assert prepared.failed and prepared.warning == "file not found"


def test_empty_folder_raises_no_images(tmp_path: Path) -> None:
    write(tmp_path / "readme.md", b"# nothing")
    with pytest.raises(NoImagesError, match="no images found"):
        collect_paths([tmp_path])


def test_too_many_images_says_how_many_and_how_to_raise_the_cap(tmp_path: Path) -> None:
    for i in range(5):
        write(tmp_path / f"{i}.png")
    with pytest.raises(TooManyImagesError) as raised:
        collect_paths([tmp_path], max_images=3)
    assert "found 5 images" in str(raised.value) and "max_images" in str(raised.value)
    assert len(collect_paths([tmp_path], max_images=5)) == 5


def test_file_deleted_after_listing_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "a.png")
    [item] = collect_paths([tmp_path])
    path.unlink()
    prepared = prepare(item)
    assert prepared.failed and prepared.warning == "file disappeared before it could be read"


def test_oversized_file_is_refused_while_reading(tmp_path: Path) -> None:
    write(tmp_path / "huge.png", factory.png((400, 400)))
    [item] = collect_paths([tmp_path], max_file_bytes=100)
    prepared = prepare(item)
    assert prepared.failed and "file too large" in prepared.warning


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlinks_stay_inside_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "real.png")
    outside = write(tmp_path / "outside.png")
    (root / "inside_link.png").symlink_to(root / "real.png")
    (root / "escape.png").symlink_to(outside)
    (root / "broken.png").symlink_to(root / "missing.png")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    result = collect_inputs([root])
    by_name = {item.name: item for item in result.inputs}
    assert sorted(by_name) == ["broken.png", "escape.png", "inside_link.png", "real.png"]
    assert "outside the folder" in by_name["escape.png"].problem
    assert "broken symlink" in by_name["broken.png"].problem
    assert by_name["inside_link.png"].problem is None and not prepare(by_name["inside_link.png"]).failed
    assert any("loop" in note for note in result.notes) and any("elsewhere" in note for note in result.notes)


def test_unreadable_subfolder_is_reported_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "a.png")
    write(tmp_path / "locked" / "b.png")
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]) -> Any:  # os.scandir's iterator is a private type
        if Path(path).name == "locked":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(folders, "_scandir", scandir)
    inputs = collect_paths([tmp_path])
    assert names(inputs) == ["a.png", "locked/"]
    prepared = prepare(inputs[1])
    assert prepared.failed and "could not list this folder" in prepared.warning
    assert "Permission denied" in prepared.warning
