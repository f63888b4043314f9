"""Folders, zips and uploads become ImageInputs: none lost, none crashing, each problem said."""

from __future__ import annotations

import errno
import io
import os
import zipfile
from pathlib import Path

import pytest

import image_factory as factory
from lychee_rerank.errors import NoImagesError, TooManyImagesError
from lychee_rerank.images import load_image
from lychee_rerank.sources import (
    ImageInput,
    ZipLimits,
    as_inputs,
    collect_inputs,
    collect_paths,
    inputs_from_uploads,
    natural_key,
    read_capped,
)

MAX_PIXELS = 200_000
PNG = factory.png((56, 56))


def write(path: Path, data: bytes = PNG) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(inputs: list[ImageInput]) -> list[str]:
    return [item.name for item in inputs]


def load(item: ImageInput):
    return load_image(item, max_pixels=MAX_PIXELS)


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
    loaded = [load(item) for item in collect_paths([photo_folder])]
    assert not any(item.failed for item in loaded)


def test_explicit_files_are_kept_whatever_their_type(tmp_path: Path) -> None:
    notes = write(tmp_path / "notes.txt", factory.text())
    photo = write(tmp_path / ".secret.png")  # hidden, but the user named it
    inputs = collect_paths([notes, photo])
    assert names(inputs) == ["notes.txt", ".secret.png"]
    assert "looks like a text file" in load(inputs[0]).warning
    assert not load(inputs[1]).failed


def test_missing_explicit_file_becomes_a_placeholder(tmp_path: Path) -> None:
    inputs = collect_paths([tmp_path / "typo.jpg", write(tmp_path / "ok.png")])
    assert names(inputs) == ["typo.jpg", "ok.png"]
    loaded = load(inputs[0])
    assert loaded.failed and loaded.warning == "file not found"


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
    loaded = load(item)
    assert loaded.failed and loaded.warning == "file disappeared before it could be read"


def test_oversized_file_is_refused_while_reading(tmp_path: Path) -> None:
    write(tmp_path / "huge.png", factory.png((400, 400)))
    [item] = collect_paths([tmp_path], max_file_bytes=100)
    loaded = load(item)
    assert loaded.failed and "file too large" in loaded.warning


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
    assert by_name["inside_link.png"].problem is None and not load(by_name["inside_link.png"]).failed
    assert any("loop" in note for note in result.notes) and any("elsewhere" in note for note in result.notes)


def test_unreadable_subfolder_is_reported_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lychee_rerank import sources

    write(tmp_path / "a.png")
    write(tmp_path / "locked" / "b.png")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(sources, "_scandir", scandir)
    inputs = collect_paths([tmp_path])
    assert names(inputs) == ["a.png", "locked/"]
    loaded = load(inputs[1])
    assert loaded.failed and "could not list this folder" in loaded.warning and "Permission denied" in loaded.warning


# ---------------------------------------------------------------- zips


def make_zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    return write(path, factory.zip_bytes(members))


def test_zip_members_are_read_in_memory_with_nested_names(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "Archive.ZIP",
        [
            ("b/img10.png", PNG), ("b/img2.png", PNG), ("a.png", factory.png((56, 56), factory.RED)),
            ("__MACOSX/._a.png", b"junk"), (".DS_Store", b"junk"), ("b/.hidden.png", PNG), ("readme.txt", b"hi"),
            ("b/", b""),
        ],
    )
    before = sorted(tmp_path.rglob("*"))
    result = collect_inputs([archive])
    assert names(result.inputs) == ["Archive.ZIP/a.png", "Archive.ZIP/b/img2.png", "Archive.ZIP/b/img10.png"]
    assert result.inputs[0].path == f"{archive}!a.png"
    assert result.inputs[0].data is None and result.inputs[0].opener is not None  # lazy
    loaded = load(result.inputs[0])
    assert not loaded.failed and loaded.image.getpixel((5, 5)) == factory.RED
    assert sorted(tmp_path.rglob("*")) == before  # nothing extracted
    assert any("skipped" in note for note in result.notes)


def test_zip_path_traversal_names_are_refused_with_a_warning(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "evil.zip",
        [("../escape.png", PNG), ("/abs.png", PNG), ("C:/win.png", PNG), ("ok/../../x.txt", b"x"), ("fine.png", PNG)],
    )
    inputs = collect_paths([archive])
    problems = [item for item in inputs if item.problem]
    assert len(problems) == 4 and all("unsafe path inside the zip" in item.problem for item in problems)
    assert [item.name for item in inputs if not item.problem] == ["evil.zip/fine.png"]
    assert all(load(item).failed for item in problems)


def test_zip_bomb_by_declared_size_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", [("big.png", b"\0" * 5_000_000), ("small.png", PNG)])
    assert archive.stat().st_size < 50_000  # highly compressed
    [item] = collect_paths([archive], zip_limits=ZipLimits(max_total_bytes=1_000_000))
    assert item.name == "bomb.zip" and "possible zip bomb" in item.problem
    assert load(item).failed


def test_zip_with_too_many_members_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", [(f"{i}.png", PNG) for i in range(20)])
    [item] = collect_paths([archive], zip_limits=ZipLimits(max_members=10))
    assert "20 entries" in item.problem


def test_zip_member_over_the_per_file_cap_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "mixed.zip", [("big.png", b"\0" * 5000), ("small.png", PNG)])
    inputs = collect_paths([archive], zip_limits=ZipLimits(max_member_bytes=1000))
    assert names(inputs) == ["mixed.zip/big.png", "mixed.zip/small.png"]
    assert "per-file limit" in inputs[0].problem and inputs[1].problem is None


def test_zip_reading_is_capped_even_if_the_zip_changes_after_listing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("a.png", PNG)])
    [item] = collect_paths([archive], zip_limits=ZipLimits(max_member_bytes=len(PNG) + 10))
    make_zip(archive, [("a.png", factory.encode(factory.noise_image(), "PNG"))])  # grows after listing
    loaded = load(item)
    assert loaded.failed and "file too large" in loaded.warning


def test_read_capped_stops_an_endless_stream() -> None:
    class Endless(io.RawIOBase):
        reads = 0

        def read(self, size: int = -1) -> bytes:
            self.reads += 1
            return b"\0" * size

    stream = Endless()
    with pytest.raises(OSError) as raised:
        read_capped(stream, 3 * 1024 * 1024)
    assert raised.value.errno == errno.EFBIG and stream.reads <= 4
    assert read_capped(io.BytesIO(b"abc"), 3) == b"abc"


def test_corrupt_zip_is_a_clear_warning(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.zip", b"PK\x03\x04 this is not really a zip")
    [item] = collect_paths([broken])
    assert item.name == "broken.zip" and "corrupt zip file" in item.problem


def test_truncated_zip_never_raises(tmp_path: Path) -> None:
    data = factory.zip_bytes([(f"{i}.png", factory.encode(factory.noise_image((64, 64)), "PNG")) for i in range(3)])
    archive = write(tmp_path / "cut.zip", data[: len(data) * 2 // 3])
    inputs = collect_paths([archive])
    assert inputs and all(load(item).failed for item in inputs)


def test_zip_member_with_bad_crc_is_reported(tmp_path: Path) -> None:
    data = bytearray(factory.zip_bytes([("a.png", PNG)], compression=zipfile.ZIP_STORED))
    data[data.find(b"IDAT") + 8] ^= 0xFF  # flip a byte of the stored member
    [item] = collect_paths([write(tmp_path / "crc.zip", bytes(data))])
    loaded = load(item)
    assert loaded.failed and "corrupt or unsupported zip member" in loaded.warning


def test_encrypted_zip_member_is_reported(tmp_path: Path) -> None:
    [item] = collect_paths([write(tmp_path / "secret.zip", factory.zip_encrypted_flag("a.png", PNG))])
    assert "password" in item.problem


def test_legacy_utf8_member_names_are_repaired(tmp_path: Path) -> None:
    [item] = collect_paths([write(tmp_path / "old.zip", factory.zip_legacy_utf8_name("café/日本.png", PNG))])
    assert item.name == "old.zip/café/日本.png"
    assert not load(item).failed


def test_zip_that_vanishes_before_loading(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("a.png", PNG)])
    [item] = collect_paths([archive])
    archive.unlink()
    assert load(item).warning == "file disappeared before it could be read"


def test_zip_without_images_and_nothing_else_raises(tmp_path: Path) -> None:
    with pytest.raises(NoImagesError):
        collect_paths([make_zip(tmp_path / "docs.zip", [("a.txt", b"hi")])])


# ---------------------------------------------------------------- uploads and API items


def test_uploads_expand_zips_and_keep_other_files() -> None:
    archive = factory.zip_bytes([("x/2.png", PNG), ("x/10.png", PNG), ("../bad.png", PNG)])
    uploads = [("a.png", PNG), ("photos.zip", archive), ("notes.txt", factory.text())]
    inputs = inputs_from_uploads(uploads + [("C:\\fakepath\\b.jpg", factory.jpeg())])
    assert names(inputs) == [
        "a.png", "photos.zip/../bad.png", "photos.zip/x/2.png", "photos.zip/x/10.png", "notes.txt", "fakepath/b.jpg",
    ]
    assert inputs[1].problem and all(item.path is None for item in inputs)
    loaded = [load(item) for item in inputs]
    assert [item.failed for item in loaded] == [False, True, False, False, True, False]


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
    assert all(not load(item).failed for item in items)
