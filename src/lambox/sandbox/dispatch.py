"""One SandboxFactory in front of several: the backend is chosen by the runtime's family.

``python*`` functions go to the Python backend the server chose (internal wire; process or
linux), ``provided.*`` and ``nodejs*`` to the Runtime API backend (jailed the same way when
the Python backend is linux: ``sandbox.launch``). A runtime of any other
family never gets here: the control plane refuses to create functions it cannot run.
"""

from __future__ import annotations

from lambox.errors import SandboxError
from lambox.model import FunctionVersion
from lambox.sandbox.api import PrepareFailure, Sandbox, SandboxFactory

RUNTIME_API_FAMILIES = ("provided", "nodejs")


class DispatchingSandboxFactory:
    """Routes ``create`` by runtime family; ``close`` closes every backend."""

    def __init__(self, python: SandboxFactory, runtime_api: SandboxFactory) -> None:
        self.python = python
        self.runtime_api = runtime_api
        self.name = python.name

    def backend(self, runtime: str) -> SandboxFactory:
        """The factory that runs functions of ``runtime``."""
        if runtime.startswith("python"):
            return self.python
        if runtime.startswith(RUNTIME_API_FAMILIES):
            return self.runtime_api
        raise SandboxError(f"no sandbox backend runs {runtime}")

    def create(self, version: FunctionVersion, init_type: str = "on-demand") -> Sandbox:
        return self.backend(version.config.runtime).create(version, init_type)

    async def prepare(self, version: FunctionVersion) -> PrepareFailure | None:
        return await self.backend(version.config.runtime).prepare(version)

    def retire(self, name: str, qualifier: str | None) -> None:
        self.python.retire(name, qualifier)
        self.runtime_api.retire(name, qualifier)

    def start(self) -> None:
        self.python.start()
        self.runtime_api.start()

    async def close(self) -> None:
        try:
            await self.python.close()
        finally:
            await self.runtime_api.close()
