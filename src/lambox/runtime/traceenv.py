"""``_X_AMZN_TRACE_ID`` for each invocation, in ``os.environ`` and in the C environment.

Lambda sets the variable for every invocation, and both views must show it: Python code
reads ``os.environ``, while C extensions (``getenv``) and child processes started without
an explicit environment read the C one. ``os.environ[...] = v`` keeps both, but glibc's
``setenv`` copies every distinct value into a string it never frees (it keeps them all, in
a search tree it walks on every call, so that old ``getenv`` results stay valid): with a
fresh trace header per invocation that is about 140 bytes and a deeper tree walk on every
invocation, for the life of the sandbox, counted in its Max Memory Used.

Instead the C environment's entry points at one buffer this module owns (``putenv`` does not
copy), rewritten in place for each invocation; ``os.environ`` gets the same value in its
mapping, without a second ``setenv``. Whenever function code replaced or removed the
variable through ``os.environ`` (so the C entry no longer points at the buffer), the buffer
is put back before the next write. A value longer than the buffer gets a larger buffer.

Where ctypes or libc's ``putenv`` is missing, ``os.environ`` is written as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

TRACE_ENV = "_X_AMZN_TRACE_ID"
_KEY = TRACE_ENV.encode()
_PREFIX = _KEY + b"="
# Room for the trace headers lambox and X-Ray make (about 80 bytes), with a Lineage part.
INITIAL_ROOM = 256


_putenv: list[Callable[[Any], int] | None] = []  # resolved once per process tree


def libc_putenv() -> Callable[[Any], int] | None:
    """libc's ``putenv``, or None where it cannot be reached. Importing ctypes costs a few
    milliseconds, so a zygote calls this once and its sandboxes inherit the result; a
    runtime started on its own pays it at its first traced invocation."""
    if not _putenv:
        try:
            import ctypes

            putenv: Callable[[Any], int] | None = ctypes.CDLL(None).putenv
            putenv.argtypes = [ctypes.c_void_p]  # type: ignore[union-attr]
            putenv.restype = ctypes.c_int  # type: ignore[union-attr]
        except (ImportError, OSError, AttributeError):
            putenv = None
        _putenv.append(putenv)
    return _putenv[0]


class TraceEnv:
    """Sets or clears the invocation's trace header in both environments."""

    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        data = getattr(self._environ, "_data", None)
        # The encoded mapping ``os.environ`` reads from; None: write os.environ plainly.
        self._data: dict[bytes, bytes] | None = data if isinstance(data, dict) else None
        self._putenv: Callable[[Any], int] | None = None
        self._encoding = sys.getfilesystemencoding()
        self._buffer: Any = None  # the ctypes buffer the C entry points at, once installed
        self._view: memoryview | None = None
        self._room = 0  # value bytes the buffer holds, before its NUL
        self._current = b""  # what we last stored in ``_data`` while the entry is ours
        self._installed = False  # the C entry points at ``_buffer``

    def set(self, trace_id: str | None) -> None:
        """Expose ``trace_id`` for this invocation, or remove a stale one if it is empty."""
        if not trace_id:
            self._clear()
            return
        data = self._data
        if data is None:
            self._environ[TRACE_ENV] = trace_id
            return
        value = trace_id.encode(self._encoding, "surrogateescape")
        if b"\0" in value:
            raise ValueError("embedded null byte")
        n = len(value)
        view = self._view
        if not self._installed or n > self._room or data.get(_KEY) is not self._current:
            self._install(value)
        elif view is not None:
            start = len(_PREFIX)
            view[start : start + n] = value
            view[start + n] = 0
        data[_KEY] = value
        self._current = value

    def _install(self, value: bytes) -> None:
        """Point the C entry at a buffer of ours holding ``value`` (a larger one if needed);
        without libc's ``putenv``, write ``os.environ`` as usual."""
        putenv = self._putenv = self._putenv or libc_putenv()
        if putenv is None:
            self._environ[TRACE_ENV] = value.decode(self._encoding, "surrogateescape")
            return
        import ctypes

        room = max(INITIAL_ROOM, self._room)
        while room < len(value):
            room *= 2
        if self._buffer is None or room > self._room:
            buffer = ctypes.create_string_buffer(len(_PREFIX) + room + 1)
        else:
            buffer = self._buffer
        buffer.value = _PREFIX + value
        if putenv(ctypes.addressof(buffer)) != 0:
            raise OSError(ctypes.get_errno(), "putenv failed")
        # The old buffer may be freed only now that the entry points elsewhere.
        self._buffer, self._room = buffer, room
        self._view = memoryview(buffer).cast("B")
        self._installed = True

    def _clear(self) -> None:
        """No trace header this invocation: none in either environment."""
        environ = self._environ
        if TRACE_ENV in environ:
            del environ[TRACE_ENV]  # unsetenv: the C entry no longer points at our buffer
        self._installed = False
