"""The one model worker: every request's documents pooled into the engine's batches.

Why pooled this way: a batch row is one (query, document) conversation, but one engine call (a
:meth:`Reranker.rank` run) takes one query and instruction. So the worker keeps one FIFO of jobs
(requests) and, each round, takes the oldest waiting job's (query, instruction) and fills a pool of
up to ``pool_documents`` documents from every waiting job that shares it, oldest first; jobs with other
queries wait their turn. Sixteen clients sending eight images for the same query keep the batch full;
a job larger than the pool is scored over several rounds, interleaved with the others (continuous
batching: a new request joins the next round, not the end of a long one).

Each job gets exactly its own results: documents are remapped to their request's indexes, and ranks
are computed per job. Identical documents within a job are scored once (as ``rank`` does, with the
same note); identical documents of *different* jobs never share a pool, so no note names another
client's document. A job whose client disconnected is dropped: its waiting documents are never scored.
Admission is bounded: more than ``queue_documents`` documents admitted and unanswered raises
:class:`QueueFullError` (the HTTP layer answers 429).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import LycheeRerankError, ScoringFailedError
from ..execution import describe_failure
from ..intake import DocumentInput, ImageInput, bytes_digest
from ..results import RankResult, join_warnings, rank_results
from ..settings import PARSE_SKIPPED
from .config import RETRY_AFTER_S
from .errors import InvalidRequestError, NotReadyError, QueueFullError, ServiceError
from .metrics import Metrics

logger = logging.getLogger(__name__)

DUPLICATE_NOTE = "duplicate of {name} (same bytes): scored once"  # the note Reranker.rank writes


@dataclass
class JobResult:
    """A finished job: its results best first (indexes are the request's) and run-wide warnings."""

    results: list[RankResult]
    warnings: list[str]


@dataclass(eq=False)
class Job:
    """One request's work: a query, an instruction (resolved) and its documents."""

    query: str | None
    query_image: ImageInput | None
    instruction: str
    documents: list[DocumentInput]
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    results: dict[int, RankResult] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    cancelled: bool = False

    def __post_init__(self) -> None:
        image_key = bytes_digest(self.query_image.data) if self.query_image and self.query_image.data else None
        self.key = (self.query, image_key, self.instruction)
        self.document_keys = [_document_key(document) for document in self.documents]
        self.first_of: dict[int, int] = {}  # a duplicate's index -> the index of its first copy
        seen: dict[tuple, int] = {}
        for index, key in enumerate(self.document_keys):
            if key is not None and key in seen:
                self.first_of[index] = seen[key]
            elif key is not None:
                seen[key] = index
        self.pending = deque(i for i in range(len(self.documents)) if i not in self.first_of)
        self.unique = len(self.pending)
        self.in_flight = 0

    @property
    def done(self) -> bool:
        return len(self.results) >= self.unique

    def finish(self) -> JobResult:
        """All results, duplicates filled in from their first copy, ranked best first."""
        for index, first_index in self.first_of.items():
            first, document = self.results[first_index], self.documents[index]
            duplicate = replace(first, index=index, name=document.name, path=document.path)
            if first.ok:
                note = DUPLICATE_NOTE.format(name=first.name)
                duplicate = replace(duplicate, warning=join_warnings(first.warning, note), duplicate_of=first_index)
            self.results[index] = duplicate
        return JobResult(rank_results(self.results.values()), list(self.warnings))


def _document_key(document: DocumentInput) -> tuple | None:
    """Same image bytes and same text -> same key; an image we could not take is never a duplicate."""
    source = document.source
    if source is not None and source.data is None:
        return None
    return (bytes_digest(source.data) if source is not None else None, document.text)


class PoolingWorker:
    """One thread owning the Reranker; see the module docstring.

    ``pool_documents`` is how many documents one engine call takes (the engine splits them into its
    batches); ``queue_documents`` bounds the documents admitted and not yet answered.
    """

    def __init__(self, reranker: Any, *, pool_documents: int, queue_documents: int, metrics: Metrics | None = None):
        self.reranker = reranker
        self.pool_documents = max(1, pool_documents)
        self.queue_documents = queue_documents
        self.metrics = metrics or Metrics()
        self._jobs: deque[Job] = deque()
        self._admitted = 0  # documents of live jobs not yet answered
        self._condition = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="lychee-serve-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop after the current engine call; jobs still waiting fail with NotReadyError."""
        with self._condition:
            self._closed = True
            waiting = list(self._jobs)
            self._jobs.clear()
            self._condition.notify_all()
        for job in waiting:
            _fail(job, NotReadyError("the server is shutting down"))
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def depth(self) -> int:
        """Documents admitted and not yet answered."""
        return self._admitted

    def submit(self, job: Job) -> concurrent.futures.Future:
        """Queue ``job``; its future gets a :class:`JobResult`. Raises QueueFullError or NotReadyError."""
        with self._condition:
            if self._closed:
                raise NotReadyError("the server is shutting down")
            # A job larger than the whole queue is still taken when nothing else waits, or it would never run.
            if self._admitted and self._admitted + job.unique > self.queue_documents:
                raise QueueFullError(
                    f"the server's queue is full ({self._admitted} documents waiting, limit {self.queue_documents});"
                    f" retry after {RETRY_AFTER_S} s", limit="queue_documents", value=self.queue_documents,
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            if job.unique == 0:
                job.future.set_result(job.finish())
                return job.future
            self._admitted += job.unique
            self._jobs.append(job)
            self._publish_depth()
            self._condition.notify()
        return job.future

    def cancel(self, job: Job) -> None:
        """The client went away: its waiting documents are dropped (those in the engine finish unused)."""
        with self._condition:
            if job.cancelled or job.future.done():
                return
            job.cancelled = True
            dropped = len(job.pending)
            job.pending.clear()
            self._admitted -= dropped + job.in_flight
            if job in self._jobs:
                self._jobs.remove(job)
            self._publish_depth()
        self.metrics.cancelled.inc(dropped)
        job.future.cancel()
        logger.info("a client disconnected: %d of its documents were dropped unscored", dropped)

    # ------------------------------------------------------------ the worker thread

    def _loop(self) -> None:
        while True:
            with self._condition:
                pool = self._next_pool()
                while not pool and not self._closed:
                    self._condition.wait()
                    pool = self._next_pool()
                if self._closed:
                    return
            self._score(pool)

    def _next_pool(self) -> list[tuple[Job, int]]:
        """Up to pool_documents documents of the oldest job's query, from every job sharing it, oldest first."""
        live = [job for job in self._jobs if job.pending]
        if not live:
            return []
        key = live[0].key
        pool: list[tuple[Job, int]] = []
        keys: set[tuple] = set()
        for job in live:
            if job.key != key:
                continue
            while job.pending and len(pool) < self.pool_documents:
                document_key = job.document_keys[job.pending[0]]
                if document_key is not None and document_key in keys:
                    break  # the same bytes from another request: a later pool, so no note names its document
                pool.append((job, job.pending.popleft()))
                job.in_flight += 1
                if document_key is not None:
                    keys.add(document_key)
            if len(pool) >= self.pool_documents:
                break
        self._publish_depth()
        return pool

    def _score(self, pool: list[tuple[Job, int]]) -> None:
        head = pool[0][0]
        jobs = list(dict.fromkeys(job for job, _ in pool))
        documents = [job.documents[index] for job, index in pool]
        try:
            ranking = self.reranker.rank(
                head.query, documents, query_image=head.query_image, instruction=head.instruction,
                should_stop=lambda: all(job.cancelled for job in jobs),
            )
        except ScoringFailedError as exc:
            logger.error("the model failed on a pool of %d documents: %s", len(pool), exc)
            self._fail_jobs(jobs, ServiceError(f"the model failed: {describe_failure(exc.__cause__ or exc)}"))
            return
        except LycheeRerankError as exc:  # the query: checked before queueing, so rare (e.g. a query image)
            self._fail_jobs(jobs, InvalidRequestError(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - one pool's failure must not end the worker
            logger.exception("unexpected error scoring a pool of %d documents", len(pool))
            self._fail_jobs(jobs, ServiceError(f"internal error: {describe_failure(exc)}"))
            return
        self._observe(ranking, len(jobs))
        for job in self._record(pool, jobs, ranking):
            if not job.future.done():
                job.future.set_result(job.finish())

    def _record(self, pool: list[tuple[Job, int]], jobs: list[Job], ranking: Any) -> list[Job]:
        """Hand each result to its job (its own index); the jobs now complete."""
        finished = []
        with self._condition:
            for result in ranking:
                job, index = pool[result.index]
                job.in_flight -= 1
                if job.cancelled:
                    continue
                job.results[index] = replace(result, index=index, duplicate_of=None)
                self._admitted -= 1
                if ranking.warnings and not job.warnings:
                    job.warnings = list(ranking.warnings)
            for job in jobs:
                if not job.cancelled and job.done:
                    if job in self._jobs:
                        self._jobs.remove(job)
                    finished.append(job)
            self._publish_depth()
        return finished

    def _fail_jobs(self, jobs: list[Job], error: Exception) -> None:
        with self._condition:
            for job in jobs:
                if job in self._jobs:
                    self._jobs.remove(job)
                if not job.cancelled:
                    self._admitted -= len(job.pending) + job.in_flight
                job.pending.clear()
                job.in_flight = 0
            self._publish_depth()
        for job in jobs:
            _fail(job, error)

    def _observe(self, ranking: Any, requests: int) -> None:
        self.metrics.documents.inc(sum(1 for result in ranking if result.parse_method != PARSE_SKIPPED))
        self.metrics.pool.observe(requests)
        batches = int(ranking.stats.get("batches") or 0)
        scored = sum(1 for result in ranking if result.ok)
        for _ in range(batches):
            self.metrics.batch.observe(scored / batches)

    def _publish_depth(self) -> None:
        self.metrics.queue_depth.set(sum(len(job.pending) for job in self._jobs))


def _fail(job: Job, error: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(error)
