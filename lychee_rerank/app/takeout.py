"""What the page's "take picks out" panel does for a folder run: sidecars with ratings, copies of the shown
(or of each group's main image), and the main-image table of a grouped view.

The page only draws: it asks :func:`ratings_plan` for the confirmation (how many, which folder),
then :func:`write_ratings` / :func:`copy_shown`, which call the same library functions as the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..copyout import CopyReport, copy_out
from ..groups import GROUP_KEYS, group_results, main_image_choice, main_images_csv
from ..results import RankResult
from ..sidecars import SidecarReport, write_sidecars
from .jobs import Job


def offers_takeout(job: Job) -> bool:
    """Sidecars and copies need files on disk: a folder run of images (uploads already have the zip)."""
    return bool(job.folder) and job.texts is None and bool(job.results)


def _model_name(job: Job) -> str:
    return job.handle.model_name


def ratings_plan(job: Job, rating_from: str) -> SidecarReport:
    """A dry run: what "Write ratings" would write (its count and lines for the confirmation)."""
    return write_sidecars(job.results or [], query=job.query, model=_model_name(job), rating_from=rating_from,
                          marks=job.marks, dry_run=True)


def write_ratings(job: Job, rating_from: str) -> SidecarReport:
    """Write the sidecars beside the folder's images (NAME.EXT.xmp); a person's rating in one is kept."""
    return write_sidecars(job.results or [], query=job.query, model=_model_name(job), rating_from=rating_from,
                          marks=job.marks)


def copy_shown(shown: Sequence[RankResult], folder: str) -> CopyReport:
    """Copy the results the grid shows into ``folder`` (created if needed), never overwriting."""
    return copy_out(shown, Path(folder).expanduser())


def copy_main_images(shown: Sequence[RankResult], how: str, folder: str) -> CopyReport:
    """One main image per group of the shown results (grouped ``how``) into ``folder``: a product's named after it."""
    best, names, keys = main_image_choice(group_results(shown, GROUP_KEYS[how]), how)
    return copy_out(best, Path(folder).expanduser(), names=names, groups=keys)


def main_image_table(results: Sequence[RankResult], how: str) -> str:
    """The main-image table (group, best, score, second, second_score, margin, count) of ``results`` as CSV."""
    return main_images_csv(group_results(results, GROUP_KEYS[how]))
