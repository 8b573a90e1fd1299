"""Which interpreter runs each Lambda runtime on this machine.

``python3.X`` runs on the interpreter of that version: the server's own when the versions
match (so functions see the same site-packages, boto3 included, as on Lambda), otherwise a
``python3.X`` found on PATH or in a pyenv installation. ``Settings.runtime_map`` redirects a
runtime to another one (``python3.12=python3.11``). Each interpreter is probed once, the
first time a function of that runtime is created or restored, and cached: probing every
runtime at start-up ran a dozen interpreters and took seconds before the first request.

``nodejsNN.x`` runs on the ``node`` found on PATH, whatever its major version: a runtime whose
major differs runs on it anyway and start-up says so. ``provided.*`` needs nothing of the
machine (the function brings its own ``bootstrap``), so its "interpreter" is ``bootstrap``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from lambox.errors import InvalidParameterValue

log = logging.getLogger(__name__)

PROVIDED = "bootstrap"


class RuntimeCatalog:
    """Resolves runtime names to interpreter executables, or says clearly why it cannot."""

    def __init__(self, runtime_map: Mapping[str, str]) -> None:
        self._map = dict(runtime_map)
        self._cache: dict[str, str | None] = {}
        self._node_probe: tuple[str | None, str] | None = None
        self._told: set[str] = set()

    def interpreter(self, runtime: str) -> str:
        """The executable for ``runtime``; InvalidParameterValue when none is installed."""
        if runtime.startswith("provided"):
            return PROVIDED
        target = self._map.get(runtime, runtime)
        first = target not in self._cache
        path = self._probe(target)
        if path is None:
            if target.startswith("nodejs"):
                hint = " Install Node.js so that `node` is on lambox's PATH."
            elif runtime in self._map:
                hint = ""
            else:
                hint = (
                    f" Install {target}, or map it to an installed runtime with "
                    f"LAMBOX_RUNTIME_MAP={runtime}=python3.{sys.version_info.minor}."
                )
            raise InvalidParameterValue(
                f"The runtime {runtime} is not available on this lambox server.{hint}"
            )
        if runtime not in self._told:
            self._told.add(runtime)
            self._tell(runtime, target, path, first)
        return path

    def announce(self) -> None:
        """Log, at start-up, the runtime map; nothing is probed until a function needs it."""
        for source, target in sorted(self._map.items()):
            log.warning("runtime %s runs on %s", source, target)

    def _tell(self, runtime: str, target: str, path: str, first: bool) -> None:
        """Log once where a runtime runs when that is not what its name says."""
        if runtime in self._map:
            log.warning("runtime %s runs on %s (%s)", runtime, target, path)
        elif runtime.startswith("nodejs"):
            version = self._node()[1]
            if runtime.removeprefix("nodejs").split(".")[0] != version.lstrip("v").split(".")[0]:
                log.warning("runtime %s runs on node %s (%s)", runtime, version, path)
        elif first:
            log.info("runtime %s runs on %s", runtime, path)

    def _probe(self, runtime: str) -> str | None:
        if runtime in self._cache:
            return self._cache[runtime]
        path: str | None = None
        if runtime.startswith("python3."):
            if runtime == f"python{sys.version_info.major}.{sys.version_info.minor}":
                path = sys.executable
            else:
                candidates = [shutil.which(runtime), *_pyenv_candidates(runtime)]
                path = next((p for c in candidates if (p := _working(c, runtime))), None)
        elif runtime.startswith("nodejs"):
            path = self._node()[0]
        self._cache[runtime] = path
        return path

    def _node(self) -> tuple[str | None, str]:
        """The ``node`` on PATH and its version (``v20.11.1``), probed once."""
        if self._node_probe is None:
            path = shutil.which("node")
            version = _node_version(path) if path else None
            self._node_probe = (path, version) if version else (None, "")
        return self._node_probe


def _pyenv_candidates(runtime: str) -> list[str]:
    """Interpreters a pyenv installation holds but does not put on PATH (its shims only
    run the selected version)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    minor = runtime.removeprefix("python")
    found = sorted(root.glob(f"{minor}.*/bin/{runtime}"), reverse=True)
    return [str(p) for p in found]


def _working(path: str | None, runtime: str) -> str | None:
    """``path`` if it really is that Python (version shims on PATH may point nowhere)."""
    if path is None:
        return None
    try:
        out = subprocess.run(
            [path, "-c", "import sys; print('python%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if out.stdout.strip() == runtime else None


def _node_version(path: str) -> str | None:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = out.stdout.strip()
    return version if out.returncode == 0 and version.startswith("v") else None
