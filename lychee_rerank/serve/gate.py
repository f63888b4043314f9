"""The ASGI middleware in front of every route: draining, the API key, the body limit, in-flight counting.

It runs before FastAPI reads a body, so an unauthenticated or oversized request costs no parsing:

1. while the service drains (SIGTERM), every new request is answered 503;
2. where the service has an API key, every route but ``/health`` and the docs needs
   ``Authorization: Bearer KEY``, compared in constant time;
3. a body over the limit is answered 413 - at once when ``Content-Length`` says so, else as soon as the
   streamed body passes it (the body is buffered here, up to the limit, and handed on whole);
4. requests past those checks are counted in flight (the drain waits for them) and measured.
"""

from __future__ import annotations

import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import DrainingError, LimitExceededError, ServiceError, UnauthorizedError
from .metrics import Metrics

OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


@dataclass
class ServiceState:
    """What the gate and the server's drain share (one event loop: no lock needed)."""

    draining: bool = False
    in_flight: int = 0


class Gate:
    """See the module docstring; ``api_key`` None lets every request through unauthenticated."""

    def __init__(self, app: ASGIApp, *, state: ServiceState, metrics: Metrics, api_key: str | None,
                 max_body_bytes: int):
        self.app = app
        self.state = state
        self.metrics = metrics
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = Metrics.route(scope["path"])
        status = {"code": 500}

        async def send_recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        start = time.perf_counter()
        self.state.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await error_response(refusal, send_recorded)
                return
            body_receive = await self._buffered(scope, receive, send_recorded)
            if body_receive is not None:
                await self.app(scope, body_receive, send_recorded)
        finally:
            self.state.in_flight -= 1
            self.metrics.in_flight.dec()
            self.metrics.requests.labels(route, str(status["code"])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)

    def _refusal(self, scope: Scope) -> ServiceError | None:
        if self.state.draining:
            return DrainingError("the server is shutting down; send the request to another instance")
        if self.api_key is not None and scope["path"] not in OPEN_PATHS and not self._authorized(scope):
            return UnauthorizedError("missing or wrong API key: send the header 'Authorization: Bearer KEY'")
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return self._too_large()
        return None

    def _authorized(self, scope: Scope) -> bool:
        value = _header(scope, b"authorization") or ""
        scheme, _, token = value.partition(" ")
        # compare_digest takes as long whatever matches: the key cannot be guessed byte by byte from timings.
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key or b"")

    def _too_large(self) -> LimitExceededError:
        return LimitExceededError(
            f"the request body is over this server's limit of {self.max_body_bytes} bytes",
            limit="max_body_bytes", value=self.max_body_bytes,
        )

    async def _buffered(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """A receive that hands on the whole body (read here up to the limit), or None after a 413."""
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return receive
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                await error_response(self._too_large(), send)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the client's disconnect, as usual

        return replay


async def error_response(error: ServiceError, send: Send) -> None:
    """Send ``error`` as its JSON answer."""
    payload = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    headers += [(key.lower().encode(), value.encode()) for key, value in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> Any:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None
