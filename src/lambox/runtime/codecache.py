"""Compiled code of a function's own modules, made once in its version zygote.

A sandbox can never keep bytecode for its code (/var/task is read-only and nothing writes
``__pycache__``), so every cold start would parse and compile the handler module and whatever
else init imports from the package. A version zygote compiles those sources once (compiling
runs none of the code) and installs a finder for /var/task whose loader hands out these code
objects; children inherit it with the rest of the zygote's memory. A source that no longer
matches (size or mtime) is compiled the ordinary way.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import (
    BYTECODE_SUFFIXES,
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    ExtensionFileLoader,
    FileFinder,
    SourceFileLoader,
    SourcelessFileLoader,
)
from types import CodeType
from typing import Any

# The list of files comes from a sandbox, so what a zygote compiles for it is bounded.
MAX_FILES = 200
MAX_BYTES = 256 << 10
MAX_TOTAL_BYTES = 8 << 20

# path -> (size, mtime_ns, code); filled in a version zygote before any child is forked.
_compiled: dict[str, tuple[int, int, CodeType]] = {}


class CachedSourceLoader(SourceFileLoader):
    """A source loader that uses the zygote's code object when the file is unchanged."""

    def get_code(self, fullname: str) -> CodeType | None:
        path = self.get_filename(fullname)
        entry = _compiled.get(path)
        if entry is not None:
            try:
                st = os.stat(path)
            except OSError:
                st = None
            if st is not None and (st.st_size, st.st_mtime_ns) == entry[:2]:
                return entry[2]
        return super().get_code(fullname)


def compile_sources(paths: list[str], root: str) -> int:
    """Compile the ``.py`` files among ``paths`` that lie in ``root``; how many compiled.
    Unreadable, oversized or invalid files are left for the ordinary import to report."""
    prefix = os.path.join(root, "")
    done = 0
    budget = MAX_TOTAL_BYTES
    for path in paths[:MAX_FILES]:
        real = os.path.realpath(path)
        if not (real.startswith(prefix) and real.endswith(".py")) or path in _compiled:
            continue
        try:
            st = os.stat(real)
            if st.st_size > min(MAX_BYTES, budget):
                continue
            budget -= st.st_size
            with open(real, "rb") as f:
                source = f.read()
            code = compile(source, path, "exec", dont_inherit=True)
        except (OSError, SyntaxError, ValueError):
            continue
        _compiled[path] = (st.st_size, st.st_mtime_ns, code)
        done += 1
    return done


class _Finder(FileFinder):
    """A FileFinder that hands out, once each, the specs its zygote found ahead
    (``find_ahead``): the read-only code below it cannot have changed since."""

    ahead: dict[str, Any]

    def find_spec(self, fullname: str, target: Any = None) -> Any:
        spec = self.ahead.pop(fullname, None) if self.ahead else None
        return spec if spec is not None else super().find_spec(fullname, target)


def find_ahead(root: str) -> int:
    """In a version zygote: find the specs of the top-level modules and packages of
    ``root`` that its code cache holds (a handler's module among them) with the root's
    finder, as the sandbox's import would, so the sandbox's import takes them instead of
    searching again; how many. Finding a spec runs none of the module's code."""
    finder = sys.path_importer_cache.get(root)
    if not isinstance(finder, _Finder):
        return 0
    prefix = os.path.join(root, "")
    for path in list(_compiled):
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split("/")
        if len(parts) == 1 and parts[0].endswith(".py"):
            name = parts[0][:-3]
        elif len(parts) == 2 and parts[1] == "__init__.py":
            name = parts[0]
        else:
            continue
        if not name.isidentifier() or name in finder.ahead:
            continue
        spec = finder.find_spec(name)
        if spec is not None:
            _ = spec.cached  # computed once here, not in each sandbox
            finder.ahead[name] = spec
    return len(finder.ahead)


def _finder(path: str) -> FileFinder:
    finder = _Finder(
        path,
        (ExtensionFileLoader, EXTENSION_SUFFIXES),
        (CachedSourceLoader, SOURCE_SUFFIXES),
        (SourcelessFileLoader, BYTECODE_SUFFIXES),
    )
    finder.ahead = {}
    return finder


def _package_hook(path: str) -> FileFinder:
    """The finder of a package directory below an installed root (a package's submodules
    are looked up in its own ``__path__``, not in the root's finder): cached code for them
    too, so a library in the function's package or in a layer is not compiled again in
    every sandbox. Any other directory is left to the ordinary hooks."""
    if any(path.startswith(root) for root in _roots):
        return _finder(path)
    raise ImportError(path)


_roots: set[str] = set()


def install(root: str) -> None:
    """Make imports from ``root`` and its packages go through ``CachedSourceLoader``; the
    root's finder lists the directory now, once, rather than in every child."""
    finder = _finder(root)
    finder.find_spec("__lambox_listing__")
    sys.path_importer_cache[root] = finder
    _roots.add(os.path.join(root, ""))
    if _package_hook not in sys.path_hooks:
        sys.path_hooks.insert(0, _package_hook)
