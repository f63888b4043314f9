"""``lychee-rerank rank``'s outputs that leave the terminal: XMP sidecars, copies of the picks, groups.

The options are added to the rank parser here and acted on after the ranking is printed, so the
ranking itself (stdout) is the same with or without them; what was written goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from .copyout import HOWS, copy_out
from .errors import InvalidSettingError
from .export import format_table, to_csv, to_json, to_table
from .groups import GROUP_KEYS, MAIN_IMAGE_COLUMNS, group_fields, group_results, main_image_choice, main_images
from .intake.inputs import file_opener
from .safe_text import terminal_text
from .sidecars import NAMINGS, RATING_SOURCES, write_sidecars
from .stacks import STACK_THRESHOLD, find_stacks, hash_results, stack_fields

FORMATTERS = {"json": to_json, "csv": to_csv}
GROUP_BY = tuple(GROUP_KEYS)  # subfolder, prompt


def add_takeout_options(parser: argparse.ArgumentParser) -> None:
    """The rank subcommand's sidecar, copy-out and grouping options."""
    group = parser.add_argument_group("taking picks to other tools")
    group.add_argument("--write-xmp", action="store_true",
                       help="write an XMP sidecar with a star rating beside each ranked local image")
    group.add_argument("--xmp-naming", choices=NAMINGS, default="ext",
                       help="ext: NAME.EXT.xmp (digiKam, darktable, Immich; default); stem: NAME.xmp (Lightroom raw)")
    group.add_argument("--rating-from", choices=RATING_SOURCES, default="score",
                       help="score: stars from score bands (default); marks: picks 5, rejects -1 (needs --marks)")
    group.add_argument("--marks", default=None, metavar="FILE",
                       help="the CSV or JSON the app downloads (its path and mark columns), for --rating-from marks")
    group.add_argument("--xmp-label", default=None, metavar="TEXT", help="also set xmp:Label on each sidecar written")
    group.add_argument("--overwrite-ratings", action="store_true",
                       help="replace ratings a person set in existing sidecars (kept by default)")
    group.add_argument("--min-score", type=float, default=None, metavar="S",
                       help="print (and copy) only results scoring at least S")
    group.add_argument("--copy-to", default=None, metavar="DIR",
                       help="copy the results shown (--top-k, --min-score) into DIR, never overwriting, + manifest")
    group.add_argument("--copy-how", choices=HOWS, default="copy",
                       help="copy (default) or link: hard links, same filesystem only, no extra space")
    group.add_argument("--group-by", choices=GROUP_BY, default=None,
                       help="subfolder: rank within each immediate subfolder (a product each); prompt: within each"
                            " generation prompt (identical normalised prompts); prints the main-image table, adds"
                            " group and rank_in_group to JSON/CSV, and --copy-to copies each group's best")
    group.add_argument("--stack", action="store_true",
                       help=f"fold near-duplicates (perceptual hash within {STACK_THRESHOLD} of 64 bits) into stacks:"
                            " adds stack and stack_size to JSON/CSV")
    group.add_argument("--dry-run", action="store_true", help="list what --write-xmp / --copy-to would write")


def check_takeout_options(args: argparse.Namespace) -> None:
    """Option mistakes that need no model, reported before it loads."""
    if args.rating_from == "marks" and not args.marks:
        raise InvalidSettingError("--rating-from marks needs --marks FILE (the CSV or JSON the app downloads)")
    if args.marks and not Path(args.marks).is_file():
        raise InvalidSettingError(f"--marks {args.marks}: no such file")
    if (args.write_xmp or args.copy_to or args.group_by) and args.texts is not None:
        raise InvalidSettingError("--write-xmp, --copy-to and --group-by work on image files, not --texts")
    if args.dry_run and not (args.write_xmp or args.copy_to):
        raise InvalidSettingError("--dry-run lists what --write-xmp or --copy-to would write: give one of them")


def shown(args: argparse.Namespace, ranking: Any) -> Any:
    """The results printed and copied: the best --top-k, then those scoring at least --min-score."""
    top = ranking.top(args.top_k)
    if args.min_score is None:
        return top
    kept = top.copy()  # a Ranking: keeps the run's mode, query and warnings
    kept[:] = [r for r in top if r.ok and r.score >= args.min_score]
    return kept


def grouping(args: argparse.Namespace) -> str | None:
    """How records are grouped: ``--group-by``, else by prompt when each image was scored against its own."""
    if args.group_by:
        return args.group_by
    return "prompt" if getattr(args, "query_from_metadata", False) or getattr(args, "append_query", False) else None


def format_ranking(args: argparse.Namespace, ranking: Any) -> str:
    """What ``rank`` prints: the results shown, as a table, JSON or CSV; grouped, the main-image table
    (table format, with ``--group-by``) or every record with its ``group`` and ``rank_in_group``."""
    results = shown(args, ranking)
    if args.group_by and args.format == "table":
        rows = main_images(group_results(ranking, GROUP_KEYS[args.group_by]))
        return format_table(MAIN_IMAGE_COLUMNS, [[row[c] for c in MAIN_IMAGE_COLUMNS] for row in rows])
    if args.format == "table":
        return to_table(results)
    fields: dict[int, dict[str, Any]] = {r.index: {} for r in ranking}
    if (how := grouping(args)) is not None:
        for index, values in group_fields(group_results(ranking, GROUP_KEYS[how])).items():
            fields[index].update(values)
    if args.stack:
        for index, values in stack_fields(find_stacks(ranking, hash_results(ranking, _read_local))).items():
            fields[index].update(values)
    return FORMATTERS[args.format](results, fields=fields)


def _read_local(result: Any) -> bytes | None:
    """A local file's bytes (regular files only, capped as intake caps them); None for anything else."""
    if not result.path or not Path(result.path).is_file():
        return None
    return file_opener(Path(result.path))()


def run_takeout(args: argparse.Namespace, ranking: Any) -> None:
    """Write what the options ask for; report it on stderr."""
    if args.write_xmp:
        marks = read_marks(Path(args.marks), ranking) if args.marks else None
        report = write_sidecars(ranking, query=ranking.query, model=args.model, rating_from=args.rating_from,
                                marks=marks, naming=args.xmp_naming, label=args.xmp_label,
                                overwrite_ratings=args.overwrite_ratings, dry_run=args.dry_run)
        _say(report.lines())
    if args.copy_to:
        _say(_copy(args, ranking).lines())


def _copy(args: argparse.Namespace, ranking: Any) -> Any:
    if not args.group_by:
        return copy_out(shown(args, ranking), args.copy_to, how=args.copy_how, dry_run=args.dry_run)
    best, names, keys = main_image_choice(group_results(ranking, GROUP_KEYS[args.group_by]), args.group_by)
    return copy_out(best, args.copy_to, how=args.copy_how, names=names, groups=keys, dry_run=args.dry_run)


def read_marks(path: Path, results: Any) -> dict[int, str]:
    """Input index -> mark, from an app download (CSV or JSON) matched to ``results`` by path."""
    text = path.read_text(encoding="utf-8-sig")
    try:
        rows = json.loads(text) if path.suffix.lower() == ".json" else list(csv.DictReader(text.splitlines()))
    except (json.JSONDecodeError, csv.Error) as exc:
        raise InvalidSettingError(f"--marks {path}: cannot read it ({exc}); give the app's CSV or JSON") from exc
    if not rows or not isinstance(rows, list) or not all(isinstance(r, dict) and "mark" in r for r in rows):
        raise InvalidSettingError(f"--marks {path}: no 'mark' column; download the results from the app after marking")
    by_path = {str(r.get("path")): r["mark"] for r in rows if r.get("mark") in ("pick", "reject")}
    return {result.index: by_path[result.path] for result in results if result.path in by_path}


def _say(lines: list[str]) -> None:
    for line in lines:
        sys.stderr.write(terminal_text(line) + "\n")
