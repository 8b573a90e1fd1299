"""An ASGI app built on its first request.

A service's app compiles its botocore model's routes and shapes when it is built; most
servers never see a request for most services, and building all of them was a large part
of start-up. The service itself (stores, relays, background tasks) is still built and
started at start-up: only the protocol side waits for its first request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send


class LazyApp:
    """Calls ``build`` once, on the first request, and hands every request to its app."""

    __slots__ = ("_app", "_build", "_lock")

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> ASGIApp:
        """The app, built now if no request has built it yet."""
        app = self._app
        if app is None:
            with self._lock:
                app = self._app
                if app is None:
                    app = self._app = self._build()
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
