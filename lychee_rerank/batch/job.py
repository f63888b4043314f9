"""Run a batch job end to end: check the manifest, prepare (or resume) the parts, score, merge, tidy up."""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import LycheeRerankError
from .errors import OutputError
from .manifest import Manifest, fingerprint
from .merge import MergeReport, merge_parts
from .parts import CONTENT, PartStore, parts_dir
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

    With ``job.resume``, rows already in the parts folder are kept and not scored again (a resume on an
    edited manifest is refused); a job running on the same ``OUT`` is a JobRunningError. The parts
    folder is removed once the output is complete; when a row is missing, the disk is full or the
    model fails mid-run, it is kept for ``--resume``.
    """
    started = time.perf_counter()
    manifest = Manifest.open(job.manifest, query_from_metadata=job.query_from_metadata)
    store = PartStore(parts_dir(Path(job.out)), Path(job.out))
    with writing_errors(store.folder):
        store.prepare({**job.settings_record(), CONTENT: fingerprint(manifest.path)}, job.resume)
        try:
            log_grouping(manifest)
            done = store.done_ids() & manifest.ids
            if done:
                logger.info("resuming: %d of %d rows already written", len(done), manifest.rows)
            pending = manifest.rows - len(done)
            scoring_seconds = _engine(job)(job, manifest, store, done) if pending else None
            Path(job.out).parent.mkdir(parents=True, exist_ok=True)
            merged = merge_parts(store, manifest, Path(job.out))
            store.remove()
        finally:
            store.release()
    return JobReport(Path(job.out), job.engine, merged, pending, len(done), time.perf_counter() - started,
                     scoring_seconds)


@contextmanager
def writing_errors(folder: Path) -> Iterator[None]:
    """A full disk or a folder the job cannot write to, as one line saying what to do (nothing is lost)."""
    try:
        yield
    except LycheeRerankError:
        raise
    except OSError as exc:
        code = exc.errno or _errno_in(str(exc))
        where = exc.filename or folder
        reason = os.strerror(code) if code else str(exc).strip().splitlines()[0]
        if code in (errno.ENOSPC, errno.EDQUOT):
            raise OutputError(f"the disk is full writing {where} ({reason}): the parts written so far are kept in "
                              f"{folder}; free some space, then run the same command with --resume") from exc
        if code in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise OutputError(f"cannot write {where} ({reason}): give an --out in a folder you can write to "
                              f"(the job writes OUT and its parts folder {folder.name} beside it)") from exc
        raise


def _errno_in(message: str) -> int | None:
    """The errno pyarrow names in its messages ('... [errno 28] No space left on device'), when it sets none."""
    match = re.search(r"errno (\d+)", message)
    return int(match.group(1)) if match else None


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
