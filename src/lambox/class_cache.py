"""The methods ``dataclasses`` generates, compiled once and kept beside lambox's bytecode.

Python 3.11's ``dataclasses`` writes each generated method (``__init__``, ``__repr__``,
``__eq__``, a frozen class's ``__setattr__``, ``__delattr__`` and ``__hash__``) as source
text and compiles it with ``exec``: about 600 compilations for the 118 dataclasses
``lambox serve`` defines before it answers, 40-45 ms of a start's 0.3 s of CPU. The text is
the same at every start, so, as the interpreter keeps a module's bytecode in
``__pycache__``, ``remembering`` keeps the compiled code of each text there (one
``marshal`` file per interpreter, written whole) and the next start executes it instead
of compiling it again. The code is what ``exec`` would compile from the same text (the
text is the key; compiled without inheriting this module's ``__future__`` flags, as
``dataclasses`` compiles it), so the classes are exactly the same.

Only ``dataclasses``' own calls of ``exec`` are affected, and only while ``remembering``
is active: it is turned on by ``lambox serve`` around the import and build of the server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import marshal
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import CodeType
from typing import Any

log = logging.getLogger(__name__)


def default_path() -> Path | None:
    """Where the cache lives: lambox's own ``__pycache__``, one file per interpreter
    (None when the interpreter has no cache tag)."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    return Path(__file__).resolve().parent / "__pycache__" / f"dataclass-methods.{tag}.marshal"


def _load(path: Path) -> dict[str, CodeType]:
    try:
        with open(path, "rb") as f:
            found = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, CodeType)}


def _save(path: Path, codes: dict[str, CodeType]) -> None:
    staging = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(staging, "wb") as f:
            marshal.dump(codes, f)
        os.replace(staging, path)  # whole, even with another server writing it at once
    except OSError as exc:
        log.debug("dataclass methods not cached in %s: %s", path, exc)
        with contextlib.suppress(OSError):
            staging.unlink()


@contextlib.contextmanager
def remembering(path: Path | None) -> Iterator[None]:
    """While active, ``dataclasses`` executes the code remembered in ``path`` for the
    texts it compiled before and compiles (and remembers) only new ones. On leaving, the
    file is rewritten if a text was new, holding only the texts used meanwhile (so it
    never grows beyond one start's), unless the interpreter is told not to write bytecode
    (``PYTHONDONTWRITEBYTECODE``: like a module's bytecode, the file is still read).
    ``path`` None changes nothing."""
    if path is None or "exec" in vars(dataclasses):
        yield
        return
    known = _load(path)
    used: dict[str, CodeType] = {}
    compiled = 0

    def cached_exec(source: Any, globals: Any = None, locals: Any = None) -> None:
        nonlocal compiled
        if not isinstance(source, str):
            exec(source, globals, locals)
            return
        code = used.get(source) or known.get(source)
        if code is None:
            code = compile(source, "<string>", "exec", dont_inherit=True)
            compiled += 1
        used[source] = code
        exec(code, globals, locals)

    dataclasses.exec = cached_exec  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del dataclasses.exec  # type: ignore[attr-defined]
        if (compiled or len(used) != len(known)) and not sys.dont_write_bytecode:
            _save(path, used)
