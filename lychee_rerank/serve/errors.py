"""Typed errors of the service: each carries its HTTP status and, for limits, which limit and its value."""

from __future__ import annotations

from typing import Any

from ..errors import LycheeRerankError


class ServiceError(LycheeRerankError):
    """An error answered as JSON: ``{"message", "error": {"type", "limit"?, "value"?}}`` with ``status``."""

    status = 500
    kind = "server_error"

    def __init__(self, message: str, *, limit: str | None = None, value: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.kind}
        if self.limit is not None:
            error.update(limit=self.limit, value=self.value)
        return {"message": str(self), "error": error}


class InvalidRequestError(ServiceError):
    """The request is well-formed JSON but not a rerank request we can run (empty query, bad shape)."""

    status = 422
    kind = "invalid_request"


class LimitExceededError(ServiceError):
    """A request over one of the service's limits (body size, documents, pixels)."""

    status = 413
    kind = "limit_exceeded"


class UnauthorizedError(ServiceError):
    """No API key, or a wrong one, where the service has one."""

    status = 401
    kind = "unauthorized"

    def __init__(self, message: str):
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class ForbiddenSourceError(ServiceError):
    """An image source the service refuses: a URL or server path not allowed, a private address."""

    status = 403
    kind = "forbidden_source"


class QueueFullError(ServiceError):
    """The work queue is full: try again later (429 with Retry-After)."""

    status = 429
    kind = "queue_full"


class DrainingError(ServiceError):
    """The service is shutting down and takes no new requests (503)."""

    status = 503
    kind = "shutting_down"


class NotReadyError(ServiceError):
    """The model worker is not running (before start-up or after shutdown)."""

    status = 503
    kind = "not_ready"


class UnsafeBindError(LycheeRerankError):
    """``serve`` was asked to listen beyond this machine without an API key or ``--insecure``."""
