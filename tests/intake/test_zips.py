"""Zips, on disk or uploaded, are read member by member: never extracted, bombs refused, each problem said."""

from __future__ import annotations

import errno
import io
import zipfile
from pathlib import Path

import pytest

from lychee_rerank.errors import NoImagesError
from lychee_rerank.intake import (
    ZipLimits,
    collect_inputs,
    collect_paths,
    inputs_from_uploads,
    read_capped,
)

import image_factory as factory
from intake_checks import PNG, names, prepare, write

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
    prepared = prepare(result.inputs[0])
    assert not prepared.failed and prepared.image.getpixel((5, 5)) == factory.RED
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
    assert all(prepare(item).failed for item in problems)


def test_zip_bomb_by_declared_size_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", [("big.png", b"\0" * 5_000_000), ("small.png", PNG)])
    assert archive.stat().st_size < 50_000  # highly compressed
    [item] = collect_paths([archive], zip_limits=ZipLimits(max_total_bytes=1_000_000))
    assert item.name == "bomb.zip" and "possible zip bomb" in item.problem
    assert prepare(item).failed


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
    prepared = prepare(item)
    assert prepared.failed and "file too large" in prepared.warning


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
    assert inputs and all(prepare(item).failed for item in inputs)


def test_zip_member_with_bad_crc_is_reported(tmp_path: Path) -> None:
    data = bytearray(factory.zip_bytes([("a.png", PNG)], compression=zipfile.ZIP_STORED))
    data[data.find(b"IDAT") + 8] ^= 0xFF  # flip a byte of the stored member
    [item] = collect_paths([write(tmp_path / "crc.zip", bytes(data))])
    prepared = prepare(item)
    assert prepared.failed and "corrupt or unsupported zip member" in prepared.warning


def test_encrypted_zip_member_is_reported(tmp_path: Path) -> None:
    [item] = collect_paths([write(tmp_path / "secret.zip", factory.zip_encrypted_flag("a.png", PNG))])
    assert "password" in item.problem


def test_legacy_utf8_member_names_are_repaired(tmp_path: Path) -> None:
    [item] = collect_paths([write(tmp_path / "old.zip", factory.zip_legacy_utf8_name("café/日本.png", PNG))])
    assert item.name == "old.zip/café/日本.png"
    assert not prepare(item).failed


def test_zip_that_vanishes_before_loading(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("a.png", PNG)])
    [item] = collect_paths([archive])
    archive.unlink()
    assert prepare(item).warning == "file disappeared before it could be read"


def test_zip_without_images_and_nothing_else_raises(tmp_path: Path) -> None:
    with pytest.raises(NoImagesError):
        collect_paths([make_zip(tmp_path / "docs.zip", [("a.txt", b"hi")])])


class ConstructionCounter:
    """Counts ``zipfile.ZipFile`` constructions (each parses a central directory) by wrapping the class from outside."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls = 0
        counter = self

        class Counted(zipfile.ZipFile):
            def __init__(self, *args: object, **kwargs: object):
                counter.calls += 1
                super().__init__(*args, **kwargs)

        monkeypatch.setattr(zipfile, "ZipFile", Counted)


def test_the_central_directory_is_parsed_once_per_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = [(f"img{i}.png", factory.png((56, 56), (i, 0, 0))) for i in range(40)]
    archive = make_zip(tmp_path / "many.zip", members)
    counter = ConstructionCounter(monkeypatch)
    inputs = collect_paths([archive])
    assert [item.read_bytes() for item in inputs] == [data for _, data in members]
    assert [item.read_bytes() for item in inputs[:3]] == [data for _, data in members[:3]], "read twice (the app)"
    assert counter.calls == 1
    uploaded = inputs_from_uploads([("up.zip", (tmp_path / "many.zip").read_bytes())])
    assert [item.read_bytes() for item in uploaded] == [data for _, data in members]
    assert counter.calls == 2


def test_a_zip_replaced_after_listing_is_read_afresh(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("a.png", PNG), ("b.png", PNG)])
    [first, second] = collect_paths([archive])
    make_zip(archive, [("b.png", factory.png((56, 56), factory.RED)), ("pad.txt", b"x" * 999)])
    assert "no longer in the zip" in prepare(first).warning
    assert second.read_bytes() == factory.png((56, 56), factory.RED)
