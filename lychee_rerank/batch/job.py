"""Run a batch job end to end: check the manifest, prepare (or resume) the parts, score, merge, tidy up."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from .manifest import Manifest
from .merge import MergeReport, merge_parts
from .parts import PartStore, parts_dir
from .spec import BatchJob

logger = logging.getLogger(__name__)


PRODUCT_ID_WARNING = (
    "column {column!r} looks like a product id but there is no group column; rows with the same query are ranked "
    "together across products. Add a group column (e.g. copy {column!r}) to rank within each product."
)


@dataclass(frozen=True)
class JobReport:
    """How a job ended: the output's figures, the rows scored by this run and how long it took.

    ``seconds`` is the whole job's wall time (manifest checks, model loading, scoring, merge);
    ``scoring_seconds`` the scoring alone, where the engine measures it (the local engine), else None.
    """

    out: Path
    engine: str
    merged: MergeReport
    scored_now: int
    resumed_rows: int
    seconds: float
    scoring_seconds: float | None = None

    @property
    def rows_per_s(self) -> float:
        """Rows scored by this run per second of its wall time (model loading and merge included)."""
        return self.scored_now / self.seconds if self.seconds > 0 else 0.0

    @property
    def scoring_rows_per_s(self) -> float | None:
        """Rows scored per second of scoring alone (None where the engine does not measure it)."""
        if not self.scoring_seconds:
            return None
        return self.scored_now / self.scoring_seconds


def run_job(job: BatchJob) -> JobReport:
    """Score every manifest row and write ``job.out``; raise a LycheeRerankError with the fix otherwise.

    With ``job.resume``, rows already in the parts folder are kept and not scored again. The parts
    folder is removed once the output is complete; when a row is missing it is kept for ``--resume``.
    """
    started = time.perf_counter()
    manifest = Manifest.open(job.manifest)
    store = PartStore(parts_dir(Path(job.out)))
    store.prepare(job.settings_record(), job.resume)
    log_grouping(manifest)
    done = store.done_ids() & manifest.ids
    if done:
        logger.info("resuming: %d of %d rows already written", len(done), manifest.rows)
    pending = manifest.rows - len(done)
    scoring_seconds = _engine(job)(job, manifest, store, done) if pending else None
    Path(job.out).parent.mkdir(parents=True, exist_ok=True)
    merged = merge_parts(store, manifest, Path(job.out))
    store.remove()
    return JobReport(Path(job.out), job.engine, merged, pending, len(done), time.perf_counter() - started,
                     scoring_seconds)


def log_grouping(manifest: Manifest) -> None:
    """Say how the rows will be ranked, and warn when a product id column suggests one ranking per product."""
    if manifest.has_groups:
        logger.info("ranked within %d groups by the group column", manifest.groups)
        return
    logger.info("no group column: rows with the same query form one ranking (%d groups)", manifest.groups)
    column = manifest.product_id_column
    if column is not None:
        logger.warning(PRODUCT_ID_WARNING.format(column=column))


def _engine(job: BatchJob):
    if job.engine == "ray":
        # lazy: the Ray engine imports ray (seconds), only when asked for
        from .ray_engine import run_ray

        return run_ray
    # lazy: the local engine imports the Reranker (torch, transformers)
    from .local import run_local

    return run_local
