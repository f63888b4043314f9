"""Star ratings as XMP sidecars beside ranked local images, for digiKam, darktable, Immich and exiftool.

* Names: ``NAME.EXT.xmp`` (``naming="ext"``, the convention of digiKam, darktable and Immich) or
  ``NAME.xmp`` (``"stem"``, Lightroom/Capture One style for raw files).
* ``xmp:Rating`` from the score through :data:`DEFAULT_BANDS`, or from the person's marks (pick 5,
  reject -1, Adobe's "rejected"; unmarked images get no sidecar). Images the model did not score,
  and inputs that are not local files (uploads, zip members), get none either: they are listed as skipped.
* The ``lychee`` namespace records score, rank, query, model, date and the rating it wrote, so a
  later run can tell its own rating from a person's: a rating that differs from the one recorded
  (or one with no record) is a person's and is kept unless ``overwrite_ratings``.
* Every folder is checked writable and every existing sidecar checked safe before the first write;
  an unwritable folder raises :class:`~.errors.OutputFolderError` with nothing written, an unsafe
  sidecar is reported in :attr:`SidecarReport.problems` and left untouched. Originals are only read
  (their sizes and names); the images themselves are never opened for writing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .errors import InvalidSettingError, OutputFolderError, UnsafeSidecarError
from .outfiles import check_writable
from .results import RankResult
from .xmp import LABEL_KEY, RATING_KEY, lychee_key, read_checked, read_fields, write_merged

logger = logging.getLogger(__name__)

NAMINGS = ("ext", "stem")
RATING_SOURCES = ("score", "marks")
# (lowest score, stars), best band first; a score under the last band gets 0 stars.
DEFAULT_BANDS: tuple[tuple[float, int], ...] = ((8.5, 5), (7.0, 4), (5.0, 3), (3.0, 2), (1.0, 1))
MARK_RATINGS = {"pick": 5, "reject": -1}  # -1 is Adobe's "rejected"


@dataclass(frozen=True)
class SidecarPlan:
    """One sidecar to write: for which image, where, the fields set, and what happens to a person's rating."""

    name: str
    image: Path
    sidecar: Path
    rating: int
    fields: dict[str, str]
    action: str  # "create", "merge" or "merge, keeping a person's rating"
    existing: bytes | None = field(default=None, repr=False)


@dataclass
class SidecarReport:
    """What a run wrote (or, in a dry run, would write), skipped and refused."""

    planned: list[SidecarPlan] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image name, why)
    problems: list[str] = field(default_factory=list)  # existing sidecars refused, left untouched
    dry_run: bool = False

    def lines(self) -> list[str]:
        """One line per sidecar and per image skipped or refused, then a summary (for a terminal)."""
        verb = "would write" if self.dry_run else "wrote"
        out = [f"{verb} {p.sidecar} (rating {p.rating}, {p.action})" for p in self.planned]
        out += [f"skipped {name}: {why}" for name, why in self.skipped]
        out += [f"refused {problem}" for problem in self.problems]
        count = len(self.planned) if self.dry_run else len(self.written)
        out.append(f"{verb} {count} sidecar(s); {len(self.skipped)} skipped, {len(self.problems)} refused")
        return out


def sidecar_path(image: str | os.PathLike[str], naming: str = "ext") -> Path:
    """Where an image's sidecar goes: ``a.jpg`` -> ``a.jpg.xmp`` (``ext``) or ``a.xmp`` (``stem``)."""
    if naming not in NAMINGS:
        raise InvalidSettingError(f"sidecar naming {naming!r}: use one of {', '.join(NAMINGS)}")
    image = Path(image)
    return image.with_name(image.name + ".xmp") if naming == "ext" else image.with_suffix(".xmp")


def rating_for_score(score: float, bands: Sequence[tuple[float, int]] = DEFAULT_BANDS) -> int:
    """Stars for a 0-10 score: the first band whose lowest score it reaches, else 0 (``7.2`` -> 4)."""
    for lowest, stars in sorted(bands, reverse=True):
        if score >= lowest:
            return stars
    return 0


def write_sidecars(
    results: Iterable[RankResult], *, query: str, model: str, rating_from: str = "score",
    marks: Mapping[int, str] | None = None, naming: str = "ext", bands: Sequence[tuple[float, int]] = DEFAULT_BANDS,
    label: str | None = None, overwrite_ratings: bool = False, dry_run: bool = False,
) -> SidecarReport:
    """Write (or with ``dry_run`` only plan) an XMP sidecar with a star rating beside each ranked local image.

    ``marks`` maps input index to ``"pick"``/``"reject"`` (needed for ``rating_from="marks"``);
    ``label`` sets ``xmp:Label`` on each sidecar written. Raises OutputFolderError, with nothing
    written, when a folder cannot be written; unsafe existing sidecars are reported, not raised.
    """
    if rating_from not in RATING_SOURCES:
        raise InvalidSettingError(f"rating source {rating_from!r}: use one of {', '.join(RATING_SOURCES)}")
    if rating_from == "marks" and not marks:
        raise InvalidSettingError("ratings from marks need marks: pick (5) or reject (-1) some images first")
    report = SidecarReport(dry_run=dry_run)
    context = {"query": _xml_text(query), "model": _xml_text(model),
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for result in results:
        rating = _rating(result, rating_from, marks or {}, bands, report)
        if rating is not None:
            _plan_one(result, rating, naming, context, label, overwrite_ratings, report)
    if not dry_run:
        check_writable((plan.sidecar.parent for plan in report.planned), "write sidecars",
                       "Make the folder writable, or copy the picks to a writable folder and rate the copies")
        _write_all(report)
    return report


def _rating(result: RankResult, rating_from: str, marks: Mapping[int, str],
            bands: Sequence[tuple[float, int]], report: SidecarReport) -> int | None:
    """The rating to write, or None (the image is recorded as skipped, with why)."""
    if not result.path or not os.path.isfile(result.path):
        report.skipped.append((result.name, "not a local file (an upload or a zip member): no place for a sidecar"))
    elif rating_from == "marks":
        if marks.get(result.index) in MARK_RATINGS:
            return MARK_RATINGS[marks[result.index]]
        report.skipped.append((result.name, "not marked"))
    elif not result.ok:
        report.skipped.append((result.name, f"not scored ({result.parse_method})"))
    else:
        return rating_for_score(result.score, bands)
    return None


def _plan_one(result: RankResult, rating: int, naming: str, context: dict[str, str], label: str | None,
              overwrite: bool, report: SidecarReport) -> None:
    target = sidecar_path(result.path, naming)
    if any(plan.sidecar == target for plan in report.planned):
        report.skipped.append((result.name, f"{target.name} is already another image's sidecar (same name, other"
                                            " extension): use the NAME.EXT.xmp naming"))
        return
    existing = None
    old: dict[str, object] = {}
    if os.path.lexists(target):
        try:
            existing = read_checked(target)
            old = read_fields(existing)
        except UnsafeSidecarError as exc:
            report.problems.append(str(exc))
            logger.warning("%s", exc)
            return
    fields = {lychee_key("score"): f"{result.score:.4f}", lychee_key("rank"): str(result.rank), **{
        lychee_key(key): value for key, value in context.items()}}
    action = "merge" if existing is not None else "create"
    if _persons(old, RATING_KEY, "rating") and not overwrite:
        action = f"merge, keeping a person's rating {old[RATING_KEY]}"
        rating = int(str(old[RATING_KEY])) if str(old[RATING_KEY]).lstrip("-").isdigit() else rating
    else:
        fields.update({RATING_KEY: str(rating), lychee_key("rating"): str(rating)})
    if label is not None and (overwrite or not _persons(old, LABEL_KEY, "label")):
        fields.update({LABEL_KEY: _xml_text(label), lychee_key("label"): _xml_text(label)})
    report.planned.append(SidecarPlan(result.name, Path(result.path), target, rating, fields, action, existing))


def _persons(old: Mapping[str, object], key: str, ours: str) -> bool:
    """Whether the sidecar's value of ``key`` was set by a person: present and not what a run recorded writing."""
    return key in old and str(old[key]) != str(old.get(lychee_key(ours), ""))


def _xml_text(text: str) -> str:
    """``text`` without the control characters XML 1.0 cannot hold (they would make the sidecar malformed)."""
    return "".join(ch for ch in text if ch >= " " or ch in "\t\n")


def _write_all(report: SidecarReport) -> None:
    for plan in report.planned:
        try:
            write_merged(plan.sidecar, plan.existing, plan.fields)
        except OSError as exc:
            raise OutputFolderError(
                f"writing {plan.sidecar} failed ({exc.strerror or exc}) after {len(report.written)} sidecar(s) were"
                " written; each sidecar is whole (written to a temporary name, then renamed)") from exc
        report.written.append(plan.sidecar)
        logger.info("%s %s (rating %d)", plan.action, plan.sidecar, plan.rating)
