"""The local engine: the manifest in chunks through one Reranker, one part file per chunk.

Memory stays bounded whatever the manifest's size: one chunk of rows (text and paths; images are
read one batch at a time by the Reranker) is held at once, plus the set of ids already written.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa

from .columns import ID, ROW
from .manifest import Manifest
from .parts import PartStore
from .progress import Progress
from .scoring import load_reranker, score_table
from .spec import BatchJob

logger = logging.getLogger(__name__)


def run_local(job: BatchJob, manifest: Manifest, store: PartStore, done: set[Any]) -> float:
    """Score every manifest row whose id is not in ``done``, writing a part per chunk; returns the seconds
    spent scoring (after the model loaded), from which the job reports its scoring rate."""
    reranker = load_reranker(job.model, job.reranker_options, job.chunk_rows)
    logger.info("model %(model)s (family %(family)s) on %(device)s, %(dtype)s, mode %(mode)s", reranker.describe())
    progress = Progress(manifest.rows - len(done), bar=job.progress_bar)
    try:
        for table in manifest.chunks(job.chunk_rows):
            table = _pending(table, done)
            if table.num_rows:
                scored = score_table(reranker, table, job.scoring_instruction, progress.update)
                store.write(scored, table.column(ROW)[0].as_py())
    finally:
        progress.close()
    return progress.seconds


def _pending(table: pa.Table, done: set[Any]) -> pa.Table:
    if not done:
        return table
    return table.filter(pa.array([value not in done for value in table.column(ID).to_pylist()], pa.bool_()))
