"""The routes: ``POST /v1/rerank`` (and ``/rerank``, ``/v2/rerank``), ``GET /v1/models``, ``/health``, ``/metrics``.

:func:`create_app` builds the FastAPI application around one Reranker, given loaded or as a factory that
loads it in the background (``/health`` answers 503 until it is ready). The model work happens on the
:class:`~.worker.PoolingWorker` thread; handlers only parse, fetch images and wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import LycheeRerankError
from ..intake import DocumentInput, ImageInput, prepare_image, text_name
from ..results import format_size
from ..scoring.prompts import resolve_instruction, task_instruction
from ..scoring.query import normalize_query, validate_query
from ..settings import BATCH_AUTO, MIN_PIXELS
from .config import MIN_POOL_DOCUMENTS, POOL_DOCUMENTS_AUTO, RETRY_AFTER_S, ServeSettings
from .errors import InvalidRequestError, LimitExceededError, NotReadyError, ServiceError
from .gate import Gate, ServiceState
from .metrics import Metrics
from .schemas import Parts, RerankRequest, RerankResponse, RerankResult, Usage, document_items, parts_of
from .sources import SourcePolicy, load_image
from .worker import Job, JobResult, PoolingWorker

logger = logging.getLogger(__name__)

DISCONNECT_POLL_S = 0.25  # how often a waiting request checks that its client is still there
CLIENT_CLOSED = 499  # nginx's code for "client closed the request": nobody reads it, the logs do


@dataclass
class Service:
    """Everything one app holds: settings, state, metrics, and the model worker once the model is loaded."""

    settings: ServeSettings
    state: ServiceState = field(default_factory=ServiceState)
    metrics: Metrics = field(default_factory=Metrics)
    reranker: Any = None
    worker: PoolingWorker | None = None
    load_error: str | None = None
    client: httpx.AsyncClient | None = None

    @property
    def model_name(self) -> str:
        if self.settings.served_model_name:
            return self.settings.served_model_name
        return str(self.reranker.loaded_model.name) if self.reranker is not None else "loading"

    def ready_worker(self) -> PoolingWorker:
        if self.worker is None:
            reason = f"the model failed to load: {self.load_error}" if self.load_error else "the model is loading"
            raise NotReadyError(reason, headers={"Retry-After": str(RETRY_AFTER_S)})
        return self.worker

    def attach(self, reranker: Any) -> None:
        """Start the worker around a loaded Reranker."""
        # Never more than one run accepts: a pool is one Reranker.rank call.
        pool = min(self.settings.pool_documents or pool_size(reranker.batch_size), reranker.max_images)
        worker = PoolingWorker(reranker, pool_documents=pool, queue_documents=self.settings.queue_documents,
                               metrics=self.metrics)
        worker.start()
        self.reranker, self.worker = reranker, worker
        logger.info("ready: model %s, pools of up to %d documents", self.model_name, pool)

    def policy(self) -> SourcePolicy:
        s = self.settings
        return SourcePolicy(s.allow_urls, s.allow_path, s.max_fetch_bytes, s.fetch_timeout_s, s.max_image_pixels,
                            allow_private_urls=s.allow_private_urls)


def pool_size(batch_size: int | str) -> int:
    """Documents per engine call: the batch size (at least MIN_POOL_DOCUMENTS), or a pool for ``auto``."""
    if batch_size == BATCH_AUTO or not isinstance(batch_size, int):
        return POOL_DOCUMENTS_AUTO
    return max(batch_size, MIN_POOL_DOCUMENTS)


def create_app(model: Any, settings: ServeSettings | None = None) -> FastAPI:
    """The service around ``model``: a loaded Reranker, or a callable returning one (loaded in the background).

    Example::

        app = create_app(Reranker.from_pretrained("demo"), ServeSettings())
        uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    service = Service(settings or ServeSettings())
    app = FastAPI(title="lychee-rerank", summary="Rerank images and texts against a query (Cohere/Jina/vLLM API)",
                  lifespan=_lifespan(service, model))
    app.state.service = service
    app.add_middleware(Gate, state=service.state, metrics=service.metrics, api_key=service.settings.api_key,
                       max_body_bytes=service.settings.max_body_bytes)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    _add_rerank_route(app, service)
    _add_info_routes(app, service)
    return app


def _lifespan(service: Service, model: Any) -> Callable[[FastAPI], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service.settings.allow_urls:
            # No proxy from the environment: a proxy would connect for us, past the private-address check.
            service.client = httpx.AsyncClient(trust_env=False, follow_redirects=False,
                                               timeout=service.settings.fetch_timeout_s)
        if callable(model) and not hasattr(model, "rank"):
            threading.Thread(target=_load, args=(service, model), name="lychee-serve-load", daemon=True).start()
        else:
            service.attach(model)
        try:
            yield
        finally:
            if service.worker is not None:
                await run_in_threadpool(service.worker.close)
            if service.client is not None:
                await service.client.aclose()

    return lifespan


def _add_rerank_route(app: FastAPI, service: Service) -> None:
    @app.post("/v1/rerank", response_model=RerankResponse, response_model_exclude_unset=True)
    @app.post("/v2/rerank", response_model=RerankResponse, response_model_exclude_unset=True, include_in_schema=False)
    @app.post("/rerank", response_model=RerankResponse, response_model_exclude_unset=True, include_in_schema=False)
    async def rerank(body: RerankRequest, request: Request) -> Any:
        """Rank the documents against the query, best first (also at ``/rerank`` and ``/v2/rerank``)."""
        worker = service.ready_worker()
        job, parts = await _job(service, body)
        future = worker.submit(job)
        outcome = await _wait(future, job, worker, request)
        if outcome is None:
            return Response(status_code=CLIENT_CLOSED)
        return _response(service, body, parts, outcome)


def _add_info_routes(app: FastAPI, service: Service) -> None:
    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        """The one model this server ranks with (OpenAI's list shape)."""
        service.ready_worker()
        described = service.reranker.describe()
        card = {key: described[key] for key in ("family", "mode", "device", "dtype", "max_pixels", "batch_size")}
        return {"object": "list",
                "data": [{"id": service.model_name, "object": "model", "owned_by": "lychee-rerank", **card}]}

    @app.get("/health")
    async def health() -> JSONResponse:
        """200 once the model is loaded; 503 while it loads, after it failed, or while the server drains."""
        if service.worker is None:
            status = "failed" if service.load_error else "loading"
            return JSONResponse({"status": status, "error": service.load_error}, status_code=503)
        return JSONResponse({"status": "ready", "model": service.model_name, "queue_documents": service.worker.depth})

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text format."""
        return Response(service.metrics.render(), media_type=service.metrics.content_type)


def _load(service: Service, factory: Callable[[], Any]) -> None:
    try:
        service.attach(factory())
    except LycheeRerankError as exc:
        service.load_error = str(exc)
        logger.error("the model failed to load: %s", exc)
    except Exception as exc:  # noqa: BLE001 - reported on /health and ends the server, never silent
        service.load_error = f"{type(exc).__name__}: {exc}"
        logger.exception("the model failed to load")


async def _job(service: Service, body: RerankRequest) -> tuple[Job, list[Parts]]:
    """Check the request against the limits, fetch its images, and make it a Job."""
    settings = service.settings
    items = document_items(body.documents)
    if len(items) > settings.max_documents:
        raise LimitExceededError(
            f"{len(items)} documents is over this server's limit of {settings.max_documents} per request",
            limit="max_documents", value=settings.max_documents,
        )
    query = parts_of(body.query, "the query")
    text = query.text if query.text is not None and normalize_query(query.text) else None
    if text is None and query.image is None:
        raise InvalidRequestError("the query is empty: give a query text, a query image, or both")
    if text is not None:
        try:
            validate_query(text)
        except LycheeRerankError as exc:
            raise InvalidRequestError(f"the query cannot be used: {exc}") from exc
    parts = [parts_of(item, f"document {i}") for i, item in enumerate(items)]
    for i, part in enumerate(parts):
        if not part.image and not (part.text and part.text.strip()):
            raise InvalidRequestError(f"document {i} is empty: give it a text, an image, or both")
    policy, client = service.policy(), service.client
    query_image = await load_image(query.image, "the query image", policy, client) if query.image else None
    if query_image is not None:
        await run_in_threadpool(_check_query_image, query_image)
    sources = await asyncio.gather(*(
        load_image(part.image, f"document {i}", policy, client) if part.image else _none()
        for i, part in enumerate(parts)
    ))
    documents = [_document(i, part, source) for i, (part, source) in enumerate(zip(parts, sources))]
    query_kind = "image+text" if query_image is not None and text else "image" if query_image is not None else "text"
    document_kind = "text" if all(document.source is None for document in documents) else "image"
    instruction = resolve_instruction(body.instruction, task_instruction(query_kind, document_kind))
    return Job(text, query_image, instruction, documents), parts


async def _none() -> None:
    return None


def _check_query_image(source: ImageInput) -> None:
    prepared = prepare_image(source, max_pixels=MIN_PIXELS)
    if prepared.failed:
        raise InvalidRequestError(f"the query image cannot be read: {prepared.warning}")


def _document(index: int, part: Parts, source: ImageInput | None) -> DocumentInput:
    text = part.text if part.text and part.text.strip() else None
    if source is None:
        return DocumentInput(name=text_name(text or ""), text=text)
    return DocumentInput(name=source.name, source=source, text=text)


async def _wait(future: Any, job: Job, worker: PoolingWorker, request: Request) -> JobResult | None:
    """The job's result, or None when the client disconnected first (its remaining work is then cancelled)."""
    waiting = asyncio.wrap_future(future)
    while True:
        done, _ = await asyncio.wait({waiting}, timeout=DISCONNECT_POLL_S)
        if done:
            return waiting.result()
        if await request.is_disconnected():
            worker.cancel(job)
            return None


def _response(service: Service, body: RerankRequest, parts: list[Parts], outcome: JobResult) -> RerankResponse:
    results = outcome.results[: body.top_n] if body.top_n else outcome.results  # 0 is "all" to vLLM clients
    items = []
    for result in results:
        relevance = result.p_yes if result.p_yes is not None else result.score / 10.0
        item = RerankResult(index=result.index, relevance_score=relevance if result.ok else 0.0, score=result.score,
                            parse_method=result.parse_method, warning=result.warning,
                            scored_size=format_size(result.scored_size))
        if body.return_documents:
            item.document = parts[result.index].echo()
        items.append(item)
    images = sum(1 for part in parts if part.image)
    return RerankResponse(
        id=uuid.uuid4().hex, model=service.model_name, results=items, usage=Usage(documents=len(parts), images=images),
        warnings=outcome.warnings, meta={"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    )
