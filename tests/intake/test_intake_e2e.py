"""Issue 3's acceptance: every hostile case, in a folder and zipped, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import image_factory as make

# name -> (bytes, words the warning must contain; None = must have no warning)
GOOD = {
    **{f"exif_{o}.jpg": (lambda o=o: make.oriented_jpeg(o), None) for o in range(1, 9)},
    "palette_transparent.png": (make.palette_png_transparent, None),
    "rgba.png": (make.rgba_png, None),
    "la.png": (make.la_png, None),
    "cmyk.jpg": (lambda: make.cmyk_jpeg((0, 255, 255, 0)), None),
    "ycck.jpg": (lambda: make.ycck_jpeg((0, 255, 255, 0)), None),
    "icc.jpg": (lambda: make.jpeg_with_icc((200, 30, 30), make.swapped_icc_profile()), None),
    "gray16.png": (lambda: make.gray16_png(32768), None),
    "gray16.tiff": (lambda: make.gray16_tiff(32768), None),
    "photo.heic": (make.heif, None),
    "photo.avif": (make.avif, None),
    "tiny_1x1.png": (lambda: make.png((1, 1)), "very small image"),
    "strip_20x300.png": (lambda: make.png((20, 300)), "very small image"),
    "wide_10000x50.png": (lambda: make.png((10000, 50)), "padded"),
    "tall_50x10000.png": (lambda: make.png((50, 10000)), "padded"),
    "normal.jpg": (lambda: make.jpeg((640, 480), make.RED), None),
    "normal.png": (lambda: make.png((300, 200), make.BLUE), None),
}
ANIMATED = {
    "anim.gif": (lambda: make.animated("GIF"), "first frame"),
    "anim.webp": (lambda: make.animated("WEBP"), "first frame"),
    "anim.png": (lambda: make.animated("PNG"), "first frame"),
}
BAD = {
    "bomb.png": (lambda: make.png_claiming(30000, 30000), "decompression bomb"),
    "truncated.jpg": (lambda: make.truncated(make.jpeg((200, 200), make.RED)), "truncated"),
    "truncated.png": (lambda: make.truncated(make.png((200, 200), make.RED)), "truncated"),
    "empty.jpg": (lambda: b"", "empty"),
    "document.jpg": (make.pdf, "PDF"),
    "notes.jpg": (make.text, "text"),
    "normal_copy.jpg": (lambda: make.jpeg((640, 480), make.RED), "normal.jpg (same bytes)"),
}
CASES = {**GOOD, **ANIMATED, **BAD}


def run_rank(model: Path, target: Path) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "lychee_rerank.cli", "rank", "--model", str(model), "--query", "一只red cat",
         "--format", "json", "--batch-size", "4", str(target)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, (build, _) in CASES.items():
        (folder / name).write_bytes(build())
    return folder


def check(records: list[dict], names: set[str]) -> None:
    assert sorted(r["name"] for r in records) == sorted(names), "every file exactly once"
    by_name = {r["name"]: r for r in records}
    for name, (_, expected) in CASES.items():
        record = by_name[next(n for n in names if n.endswith(name))]
        if expected is None:
            assert record["warning"] is None, (name, record["warning"])
        else:
            assert record["warning"] and expected.lower() in record["warning"].lower(), (name, record["warning"])
        assert 0 <= record["score"] <= 10
    for name in BAD:
        if name != "normal_copy.jpg":
            assert by_name[next(n for n in names if n.endswith(name))]["parse_method"] == "failed"


@pytest.mark.slow
def test_hostile_folder_through_cli(tiny_reranker_dir: Path, hostile_folder: Path) -> None:
    check(run_rank(tiny_reranker_dir, hostile_folder), set(CASES))


@pytest.mark.slow
def test_hostile_zip_through_cli(tiny_reranker_dir: Path, hostile_folder: Path, tmp_path: Path) -> None:
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(hostile_folder.iterdir()):
            zf.write(path, f"batch/{path.name}")
    records = run_rank(tiny_reranker_dir, archive)
    check(records, {f"hostile.zip/batch/{name}" for name in CASES})
