"""uvicorn's server, telling lambox when it listens.

uvicorn runs the application's lifespan start-up before it opens its socket, so work done
there delays the first answer. What can wait until the server answers (the sandbox
backend's work ahead of need, ``SandboxFactory.start``) is started from here instead.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn


class ListeningServer(uvicorn.Server):
    """``uvicorn.Server`` that calls ``on_listening`` (in the event loop) once its socket
    is open and it answers, not if its start-up failed."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self._on_listening()
