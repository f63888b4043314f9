"""The CLI against the library on the same work: ``lychee-rerank rank`` and ``batch`` vs ``Reranker.rank``.

    python benchmarks/cli_overhead.py --model demo --images 500 --rows 2000

1. ``lychee-rerank rank FOLDER`` on ``--images`` distinct synthetic JPEGs, in a subprocess, against
   ``rank()`` in this process on the same files (model loaded and warmed up first). The CLI's
   start-up (Python, imports, loading the model) is measured on its own as the same command on a
   folder of one image, and reported apart: "work" is the run minus that start-up.
2. ``lychee-rerank batch`` (local engine) on a ``--rows`` manifest (groups of 8 distinct images per
   query, a catalog's shape) against ``rank()`` over the same (query, images) groups.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from batch_scaling import QUERIES, write_images, write_manifest

from lychee_rerank import Reranker
from lychee_rerank.export import format_table
from lychee_rerank.runtime.machine import describe_machine, load_average, machine_info

from bench_support import script_main

QUERY = "a red circle"
GROUP = 8


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--images", type=int, default=500, help="images for `rank` (default 500)")
    parser.add_argument("--rows", type=int, default=2000, help="manifest rows for `batch` (default 2000)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/cli_overhead.json)")
    return parser.parse_args(argv)


def cli_seconds(*arguments: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lychee_rerank.cli", "-q", *arguments], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def library_seconds(reranker: Reranker, groups: list[tuple[str, list[Path]]]) -> float:
    start = time.perf_counter()
    for query, paths in groups:
        reranker.rank(query, [str(path) for path in paths])  # as the CLI gives them: files read when scored
    return time.perf_counter() - start


def rank_figures(args: argparse.Namespace, reranker: Reranker, root: Path) -> dict[str, float]:
    folder, one = root / "rank", root / "one"
    write_images(folder, args.images, args.size, start=100_000)
    write_images(one, 1, args.size, start=99_999)
    common = ("rank", "--model", args.model, "--query", QUERY, "--format", "json")
    startup = cli_seconds(*common, str(one))
    cli = cli_seconds(*common, str(folder))
    library = library_seconds(reranker, [(QUERY, sorted(folder.glob("*.jpg")))])
    return {"cli_s": cli, "startup_s": startup, "work_s": cli - startup, "library_s": library,
            "ratio": (cli - startup) / library}


def batch_figures(args: argparse.Namespace, reranker: Reranker, root: Path) -> dict[str, float]:
    folder = root / "batch"
    names = write_images(folder / "images", args.rows, args.size, start=200_000)
    manifest = write_manifest(folder, args.rows, GROUP, names)
    (folder / "small").mkdir()
    small = write_manifest(folder / "small", 1, GROUP, [str(folder / names[0])])
    common = ("batch", "--model", args.model, "--engine", "local")
    startup = cli_seconds(*common, str(small), "--out", str(folder / "small.parquet"))
    cli = cli_seconds(*common, str(manifest), "--out", str(folder / "out.parquet"))
    groups = [(QUERIES[g % len(QUERIES)], [folder / name for name in names[g * GROUP : (g + 1) * GROUP]])
              for g in range((args.rows + GROUP - 1) // GROUP)]
    library = library_seconds(reranker, groups)
    return {"cli_s": cli, "startup_s": startup, "work_s": cli - startup, "library_s": library,
            "ratio": (cli - startup) / library}


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine_info()
    reranker = Reranker.from_pretrained(args.model)
    info["torch_threads"] = reranker.describe()["cpu_threads"]  # what the runs use (the CLI picks the same)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_images(root / "warm", 4, args.size, start=99_990)
        library_seconds(reranker, [(QUERY, sorted((root / "warm").glob("*.jpg")))])
        figures = {"rank": rank_figures(args, reranker, root), "batch": batch_figures(args, reranker, root)}
    info["load_average_end"] = load_average()
    return {"benchmark": "cli_overhead", "model": args.model, "images": args.images, "rows": args.rows,
            **figures, "machine": info}


def print_table(report: dict[str, Any], path: Any) -> None:
    print(f"# CLI vs library: {report['model']}; {describe_machine(report['machine'])}; full: {path}")
    rows = [[f"rank, {report['images']} images", *_cells(report["rank"])],
            [f"batch (local), {report['rows']} rows", *_cells(report["batch"])]]
    print(format_table(["command", "CLI total", "CLI start-up", "CLI work", "library rank()", "ratio (work)"], rows))


def _cells(figures: dict[str, float]) -> list[str]:
    return [f"{figures['cli_s']:.1f} s", f"{figures['startup_s']:.1f} s", f"{figures['work_s']:.1f} s",
            f"{figures['library_s']:.1f} s", f"{figures['ratio']:.2f}"]


def main(argv: list[str] | None = None) -> int:
    return script_main("cli_overhead", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
