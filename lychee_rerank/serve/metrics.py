"""The service's Prometheus metrics, in a registry of its own (several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ROUTES = frozenset({"/v1/rerank", "/v2/rerank", "/rerank", "/v1/models", "/health", "/metrics"})
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """Requests by route and status, latency, documents scored, queue depth, in-flight requests, batch sizes."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("lychee_requests", "HTTP requests answered, by route and status code",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("lychee_request_seconds", "Time to answer a request, by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.documents = Counter("lychee_documents_scored",
                                 "Documents answered by the model (unreadable images included, stopped ones not)",
                                 registry=self.registry)
        self.cancelled = Counter("lychee_documents_cancelled",
                                 "Documents dropped unscored because their client disconnected",
                                 registry=self.registry)
        self.queue_depth = Gauge("lychee_queue_documents", "Documents waiting for the model",
                                 registry=self.registry)
        self.in_flight = Gauge("lychee_requests_in_flight", "HTTP requests being answered", registry=self.registry)
        self.batch = Histogram("lychee_batch_documents", "Documents per forward pass of the model",
                               buckets=BATCH_BUCKETS, registry=self.registry)
        self.pool = Histogram("lychee_pool_requests", "Requests whose documents shared one engine call",
                              buckets=BATCH_BUCKETS, registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    @staticmethod
    def route(path: str) -> str:
        """A bounded label for a request path (unknown paths share one)."""
        return path if path in ROUTES else "other"
