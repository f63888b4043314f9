"""The Ray engine: the same job as a Ray Data pipeline, for several GPUs or machines.

The rows still to score are staged as Parquet in the parts folder, read with
``ray.data.read_parquet``, scored by ``map_batches`` with :class:`RerankActor` (a callable class:
one Reranker per actor, ``--workers`` actors, one GPU each where the cluster has GPUs) and written
with ``write_parquet`` beside the local engine's parts; the job then merges them the same way, so
ranks are computed per group over the whole output. Scores equal the local engine's: both call
:func:`~lychee_rerank.batch.scoring.score_table` on chunks of the same rows.

On a cluster of several machines the manifest, the images and ``--out`` must be on storage every
node sees under the same path, and every node needs ``lychee-rerank`` installed.
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import LycheeRerankError
from .columns import ID, ROW
from .errors import ClusterError
from .manifest import Manifest
from .parts import PartStore
from .spec import BatchJob

logger = logging.getLogger(__name__)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*): (.+)$", re.MULTILINE)


class RerankActor:
    """Ray Data's callable class: loads one Reranker when the actor starts, then scores each batch."""

    def __init__(self, model: str, options: dict[str, Any], instruction: str | None, chunk_rows: int):
        # lazy: the Reranker (torch, transformers) is loaded in the actor, never on the driver
        from .scoring import load_reranker

        self.reranker = load_reranker(model, options, chunk_rows)
        self.instruction = instruction

    def __call__(self, table: pa.Table) -> pa.Table:
        # lazy: scoring imports the Reranker, already loaded in this actor by __init__
        from .scoring import score_table

        return score_table(self.reranker, table, self.instruction)


def run_ray(job: BatchJob, manifest: Manifest, store: PartStore, done: set[Any]) -> None:
    """Score every manifest row whose id is not in ``done`` on Ray Data, writing parts into ``store``.

    Returns None: actors load their models while the pipeline runs, so no scoring-only time is measured.
    """
    ray = _import_ray()
    started_here = _connect(ray, job.address)
    try:
        staged = _stage(manifest, store, done, job.chunk_rows)
        dataset = _pipeline(ray, job, str(staged))
        dataset.write_parquet(str(store.folder / f"ray-{uuid.uuid4().hex[:12]}"))
    except ray.exceptions.RayError as exc:
        raise _job_failed(exc) from exc
    finally:
        if started_here:
            ray.shutdown()


def _import_ray() -> Any:
    try:
        # lazy: Ray is optional (the cluster extra) and takes seconds to import
        import ray
        import ray.data
    except ImportError as exc:
        raise ClusterError(
            "the Ray engine needs Ray Data: pip install 'lychee-rerank[cluster]' (or use --engine local)"
        ) from exc
    return ray


def _connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address`` (None: RAY_ADDRESS, else a new local one); True when we started Ray."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "RAY_ADDRESS"
        raise ClusterError(f"cannot reach the Ray cluster at {where} ({_first_line(exc)}): start it with "
                           "'ray start --head', or leave out --address and RAY_ADDRESS to start a local one") from exc
    logger.info("Ray %s: %s", ray.__version__, ray.cluster_resources())
    return True


def _stage(manifest: Manifest, store: PartStore, done: set[Any], chunk_rows: int) -> Path:
    """The pending rows as Parquet files of at most ``chunk_rows`` rows in the parts folder."""
    folder = store.staging()
    for table in manifest.chunks(chunk_rows):
        if done:
            table = table.filter(pa.array([value not in done for value in table.column(ID).to_pylist()], pa.bool_()))
        if table.num_rows:
            pq.write_table(table, folder / f"chunk-{table.column(ROW)[0].as_py():012d}.parquet")
    return folder


def _pipeline(ray: Any, job: BatchJob, staged: str) -> Any:
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # parts in manifest order, so is the output
    if job.progress_bar is not None:
        context.enable_progress_bars = job.progress_bar
    gpus, cpus = worker_resources(ray.cluster_resources(), job.workers, job.gpus_per_worker)
    logger.info("%d Ray worker(s), each %g GPU and %g CPU", job.workers, gpus, cpus)
    # Blocks of one chunk each, so every actor gets work: Ray reads small files as one block (override_num_blocks is
    # ignored by its Parquet reader v2), and a block goes to one actor.
    dataset = ray.data.read_parquet(staged).repartition(target_num_rows_per_block=job.chunk_rows)
    return dataset.map_batches(
        RerankActor,
        fn_constructor_kwargs={"model": job.model, "options": job.reranker_options,
                               "instruction": job.scoring_instruction, "chunk_rows": job.chunk_rows},
        batch_size=job.chunk_rows, batch_format="pyarrow", zero_copy_batch=True,
        compute=ray.data.ActorPoolStrategy(size=job.workers), num_gpus=gpus, num_cpus=cpus,
    )


def worker_resources(cluster: dict[str, float], workers: int, gpus_per_worker: float | None) -> tuple[float, float]:
    """(GPUs, CPUs) each actor asks for.

    GPUs: ``gpus_per_worker``, else one where the cluster has GPUs. CPUs: one beside a GPU; on a
    CPU-only cluster the CPUs less one, shared among the workers (Ray gives an actor
    ``floor(CPUs)`` torch threads, at least one). The CPU left over runs Ray Data's read and
    write tasks: actors holding every CPU would leave them waiting for ever.
    """
    gpus = gpus_per_worker if gpus_per_worker is not None else (1.0 if cluster.get("GPU", 0) > 0 else 0.0)
    if gpus > 0:
        return gpus, 1.0
    return 0.0, max(0.25, (cluster.get("CPU", 1.0) - 1.0) / workers)


def _job_failed(exc: BaseException) -> LycheeRerankError:
    """The typed error to report: a LycheeRerankError raised on an actor as it was, else a ClusterError."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, LycheeRerankError):
        cause = getattr(cause, "cause", None) or cause.__cause__
    if isinstance(cause, LycheeRerankError):
        return cause
    # An actor that fails in __init__ reaches us as text only; its last "module.Class: message" line names the error.
    text = ANSI.sub("", str(exc))
    known = _error_classes()
    for name, message in reversed(ERROR_LINE.findall(text)):
        if name in known:
            return known[name](message)
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), type(exc).__name__)
    return ClusterError(f"the Ray job failed ({last}); rows already written are kept: fix the cause and run the "
                        "same command with --resume")


def _error_classes() -> dict[str, type[LycheeRerankError]]:
    classes, stack = {}, [LycheeRerankError]
    while stack:
        cls = stack.pop()
        classes[f"{cls.__module__}.{cls.__name__}"] = cls
        stack.extend(cls.__subclasses__())
    return classes


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
