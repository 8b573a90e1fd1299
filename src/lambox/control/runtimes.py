"""Which interpreter runs each Lambda runtime on this machine.

``python3.X`` runs on the interpreter of that version: the server's own when the versions
match (so functions see the same site-packages, boto3 included, as on Lambda), otherwise a
``python3.X`` found on PATH or in a pyenv installation. ``Settings.runtime_map`` redirects a
runtime to another one (``python3.12=python3.11``). Each interpreter is probed once and cached.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from lambox.errors import InvalidParameterValue

log = logging.getLogger(__name__)


class RuntimeCatalog:
    """Resolves runtime names to interpreter executables, or says clearly why it cannot."""

    def __init__(self, runtime_map: Mapping[str, str]) -> None:
        self._map = dict(runtime_map)
        self._cache: dict[str, str | None] = {}

    def interpreter(self, runtime: str) -> str:
        """The executable for ``runtime``; InvalidParameterValue when none is installed."""
        target = self._map.get(runtime, runtime)
        path = self._probe(target)
        if path is None:
            hint = (
                ""
                if runtime in self._map
                else (
                    f" Install {target}, or map it to an installed runtime with "
                    f"LAMBOX_RUNTIME_MAP={runtime}=python3.{sys.version_info.minor}."
                )
            )
            raise InvalidParameterValue(
                f"The runtime {runtime} is not available on this lambox server.{hint}"
            )
        return path

    def announce(self, runtimes: Iterable[str]) -> None:
        """Log, once at start-up, where each mapped or available runtime runs."""
        for source, target in sorted(self._map.items()):
            log.warning("runtime %s runs on %s (%s)", source, target, self._probe(target))
        available = [r for r in runtimes if r not in self._map and self._probe(r)]
        log.info("runtimes available: %s", ", ".join(available) or "none")

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
        self._cache[runtime] = path
        return path


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
