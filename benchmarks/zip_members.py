"""Reading every image of a zip, per member, against the same files in a folder.

    python benchmarks/zip_members.py --members 2000

Builds a zip of N small PNGs (and the same files in a folder) in a temporary folder, collects
both as a run does (``collect_inputs``) and reads every input's bytes once, in order. Prints the
time per member for each, and how many times a ``zipfile.ZipFile`` was constructed (each one
parses the zip's central directory: before issue 22 it was once per member, so reading N members
cost N parses and grew quadratically with N).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from lychee_rerank.export import format_table
from lychee_rerank.intake import collect_inputs
from lychee_rerank.intake.zips import ZipLimits
from lychee_rerank.runtime.machine import describe_machine, machine_info

from bench_support import script_main, synthetic_image


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=2000, help="images in the zip (default 2000)")
    parser.add_argument("--size", type=int, default=32, help="side of each PNG in pixels (default 32)")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/zip_members.json)")
    return parser.parse_args(argv)


class CountingZipFile(zipfile.ZipFile):
    """zipfile.ZipFile, counting its constructions (each one parses the central directory)."""

    constructed = 0

    def __init__(self, *args: Any, **kwargs: Any):
        type(self).constructed += 1
        super().__init__(*args, **kwargs)


def build(folder: Path, members: int, side: int) -> Path:
    """``folder/images/`` with ``members`` PNGs and ``folder/images.zip`` holding the same files."""
    images = folder / "images"
    images.mkdir()
    archive = folder / "images.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for index in range(members):
            data = synthetic_image(index, (side, side), fmt="PNG")
            (images / f"img{index:06d}.png").write_bytes(data)
            out.writestr(f"img{index:06d}.png", data)
    return archive


def read_all(path: Path) -> dict[str, float]:
    """Collect ``path`` as a run does and read every input once: seconds to list, seconds per input."""
    limits = ZipLimits(max_members=10**7)
    started = time.perf_counter()
    inputs = collect_inputs([path], max_images=10**7, zip_limits=limits).inputs
    listed = time.perf_counter()
    total = sum(len(item.read_bytes()) for item in inputs)
    read = time.perf_counter() - listed
    return {"inputs": len(inputs), "bytes": total, "list_s": listed - started, "read_s": read,
            "ms_per_input": 1000 * read / max(len(inputs), 1)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine_info()
    original = zipfile.ZipFile
    with tempfile.TemporaryDirectory() as tmp:
        archive = build(Path(tmp), args.members, args.size)
        zipfile.ZipFile = CountingZipFile  # type: ignore[misc]  # count what the library constructs
        try:
            from_zip = read_all(archive)
            constructed = CountingZipFile.constructed
            from_folder = read_all(Path(tmp) / "images")
        finally:
            zipfile.ZipFile = original  # type: ignore[misc]
    return {"benchmark": "zip_members", "members": args.members, "side": args.size, "zip": from_zip,
            "folder": from_folder, "zipfile_constructions": constructed, "machine": info}


def print_table(report: dict[str, Any], path: Any) -> None:
    print(f"# zip members: {report['members']} PNGs of {report['side']}x{report['side']}, read once each; "
          f"{describe_machine(report['machine'])}; full figures: {path}")
    rows = [[source, report[source]["inputs"], report[source]["list_s"], report[source]["read_s"],
             report[source]["ms_per_input"]] for source in ("zip", "folder")]
    print(format_table(["source", "inputs", "list s", "read s", "ms/input"], rows))
    print(f"zipfile.ZipFile constructed {report['zipfile_constructions']} time(s) for the zip "
          "(each parses its central directory)")


def main(argv: list[str] | None = None) -> int:
    return script_main("zip_members", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
