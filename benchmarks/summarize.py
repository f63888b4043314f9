"""Combine benchmark JSON files (throughput.py / memory.py output) into one Markdown table.

python benchmarks/summarize.py benchmarks/out/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lychee_rerank.export import format_table
from lychee_rerank.runtime.machine import describe_machine, mib


def main(paths: list[str]) -> int:
    throughput, memory = [], []
    for path in paths:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        (
            throughput
            if report.get("benchmark") == "throughput"
            else memory
            if report.get("benchmark") == "memory"
            else []
        ).append(report)
    for report in throughput:
        print(
            f"## throughput: {report['model']} ({report['parameters'] / 1e9:.2f}B params), {report['dtype']} on "
            f"{describe_machine(report['machine'])}\n"
        )
        ratios = {(r["image_size"], r["batch_size"]): r["yesno_over_generate"] for r in report["ratios"]}
        rows = []
        for size, batch in sorted({(r["image_size"], r["batch_size"]) for r in report["runs"]}):
            by_mode = {r["mode"]: r for r in report["runs"] if (r["image_size"], r["batch_size"]) == (size, batch)}
            yes, gen = by_mode.get("yesno"), by_mode.get("generate")
            rows.append(
                [
                    size,
                    batch,
                    yes and yes["images_per_s"],
                    yes and yes["latency_per_image_s"]["median"],
                    yes and yes["latency_per_image_s"]["p90"],
                    gen and gen["images_per_s"],
                    gen and gen["latency_per_image_s"]["median"],
                    gen and gen["latency_per_image_s"]["p90"],
                    ratios.get((size, batch)),
                ]
            )
        print(
            format_table(
                [
                    "size",
                    "batch",
                    "yes/no img/s",
                    "yes/no med s",
                    "yes/no p90 s",
                    "gen img/s",
                    "gen med s",
                    "gen p90 s",
                    "ratio",
                ],
                rows,
            )
        )
        print()
    for report in memory:
        print(
            f"## memory: {report['model']}, {report['mode']}, {report['images']} images on "
            f"{describe_machine(report['machine'])}\n"
        )
        early, late = (report["checkpoints"][k] for k in sorted(report["checkpoints"], key=int))
        rows = [["host RSS MiB", mib(early["rss"]), mib(late["rss"]), report["growth"]["rss_pct"]]]
        for key in ("cuda_max_allocated", "cuda_reserved"):
            if key in early:
                rows.append(
                    [
                        key.replace("cuda_", "GPU ") + " MiB",
                        mib(early[key]),
                        mib(late[key]),
                        report["growth"].get(f"{key}_pct"),
                    ]
                )
        print(format_table(["measure", f"after {early['images']}", f"after {late['images']}", "growth %"], rows))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
