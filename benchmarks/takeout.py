"""Writing star-rating sidecars and stacking near-duplicates, for N images.

    python benchmarks/takeout.py --images 1000

Builds N distinct JPEGs (640x480 by default) in a temporary folder, then times: writing a new
XMP sidecar beside each (``write_sidecars``, every write to a temporary name then renamed), the
same again merged into the existing sidecars, and stacking all N (perceptual hash of each file,
then the stacks). Not a test: nothing asserts on a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lychee_rerank.export import format_table, write_sidecars
from lychee_rerank.results import RankResult
from lychee_rerank.runtime.machine import describe_machine, machine_info
from lychee_rerank.stacks import find_stacks, hash_results

from bench_support import script_main, synthetic_image


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="images (default 1000)")
    parser.add_argument("--width", type=int, default=640, help="image width in pixels (default 640; height 3/4)")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/takeout.json)")
    return parser.parse_args(argv)


def build(folder: Path, count: int, width: int) -> list[RankResult]:
    """``count`` JPEGs in ``folder`` and a ranking of them (scores spread over 0-10)."""
    results = []
    for index in range(count):
        path = folder / f"img{index:06d}.jpg"
        path.write_bytes(synthetic_image(index, (width, width * 3 // 4)))
        results.append(RankResult(rank=index + 1, index=index, name=path.name, score=10 * (1 - index / count),
                                  raw_output="", parse_method="yesno", path=str(path)))
    return results


def timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        results = build(Path(tmp), args.images, args.width)
        write = {"query": "benchmark", "model": "benchmark"}
        new_s, new = timed(lambda: write_sidecars(results, **write))
        merge_s, merged = timed(lambda: write_sidecars(results, **write))
        hash_s, hashes = timed(lambda: hash_results(results, lambda r: Path(r.path).read_bytes()))
        stack_s, stacks = timed(lambda: find_stacks(results, hashes))
    return {"benchmark": "takeout", "images": args.images, "width": args.width, "machine": info,
            "sidecars_new_s": new_s, "sidecars_written": len(new.written), "sidecars_merge_s": merge_s,
            "sidecars_merged": len(merged.written), "hash_s": hash_s, "stack_s": stack_s, "stacks": len(stacks)}


def print_table(report: dict[str, Any], path: Any) -> None:
    n = report["images"]
    size = f"{report['width']}x{report['width'] * 3 // 4}"
    print(f"# takeout: {n} JPEGs of {size}; {describe_machine(report['machine'])}; full figures: {path}")
    rows = [["write new sidecars", report["sidecars_written"], report["sidecars_new_s"]],
            ["merge into existing sidecars", report["sidecars_merged"], report["sidecars_merge_s"]],
            ["stack: perceptual hashes", n, report["hash_s"]],
            [f"stack: group ({report['stacks']} stacks)", n, report["stack_s"]],
            ["stack: total", n, report["hash_s"] + report["stack_s"]]]
    per_image = [[*row, 1000 * row[2] / max(row[1], 1)] for row in rows]
    print(format_table(["step", "images", "seconds", "ms/image"], per_image))


def main(argv: list[str] | None = None) -> int:
    return script_main("takeout", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
