"""uvicorn, with a graceful drain: SIGTERM (or Ctrl-C) finishes the requests in flight, refuses new ones with 503.

uvicorn's own handling stops listening at once and then re-raises the signal (so the process ends "killed
by SIGTERM"). Here the first signal only starts a drain: the gate answers every new request 503, the
server keeps running until nothing is in flight (or ``drain_timeout_s`` passes), then shuts down as usual
and the process exits 0. A second signal falls back to uvicorn's immediate handling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from .app import create_app
from .config import ServeSettings

logger = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """A uvicorn Server whose first exit signal drains; see the module docstring."""

    def __init__(self, config: uvicorn.Config, service: Any, drain_timeout_s: float):
        super().__init__(config)
        self.service = service
        self.drain_timeout_s = drain_timeout_s
        self.drain_deadline: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_deadline is not None:
            super().handle_exit(sig, frame)
            return
        self.start_drain()

    def start_drain(self) -> None:
        """Refuse new requests from now on; exit once those in flight are answered."""
        self.service.state.draining = True
        self.drain_deadline = time.monotonic() + self.drain_timeout_s
        logger.info("draining: %d request(s) in flight get up to %g s; new ones get 503",
                    self.service.state.in_flight, self.drain_timeout_s)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_deadline is not None and not self.should_exit:
            if self.service.state.in_flight == 0:
                self.should_exit = True
            elif time.monotonic() > self.drain_deadline:
                logger.warning("drain timeout: %d request(s) still in flight are cut off",
                               self.service.state.in_flight)
                self.should_exit = True
        if self.service.load_error is not None:
            self.should_exit = True
        return await super().on_tick(counter)


def serve(model: Any | Callable[[], Any], settings: ServeSettings, *, log_level: str = "info") -> int:
    """Serve ``model`` (a Reranker, or a callable loading one) until SIGTERM/SIGINT; the exit code."""
    settings.check_bind()
    app = create_app(model, settings)
    service = app.state.service
    # log_config=None: uvicorn's loggers go to the handlers the CLI configured, not its own.
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, log_level=log_level,
                            timeout_graceful_shutdown=5, access_log=False)
    server = DrainingServer(config, service, settings.drain_timeout_s)
    server.run()
    if service.load_error is not None:
        return 1
    return 0 if server.started else 1
