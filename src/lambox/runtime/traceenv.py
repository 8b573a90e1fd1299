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
mapping, without a second ``setenv``. Before each write, ``getenv`` says whether the C entry
still points at the buffer and the mapping still holds our value: when function code
replaced or removed the variable (through ``os.environ``, ``os.putenv`` or C code), the
buffer is put back instead. A value longer than the buffer gets a larger buffer. A thread
of the function's that reads the variable while the next invocation's value is written
between invocations may see part of each, where glibc's copies would have kept the old
one whole: no invocation is running then, and the old value is stale either way.

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


LibcEnv = tuple[Callable[[int], int], Callable[[bytes], int | None]]
_libc: list[LibcEnv | None] = []  # resolved once per process tree


def libc_env() -> LibcEnv | None:
    """libc's ``putenv`` (taking an address) and ``getenv`` (giving one), or None where
    they cannot be reached. Importing ctypes costs a few milliseconds, so a zygote calls
    this once and its sandboxes inherit the result; a runtime started on its own pays it
    at its first traced invocation."""
    if not _libc:
        found: LibcEnv | None
        try:
            import ctypes

            libc = ctypes.CDLL(None)
            putenv, getenv = libc.putenv, libc.getenv
            putenv.argtypes, putenv.restype = [ctypes.c_void_p], ctypes.c_int
            getenv.argtypes, getenv.restype = [ctypes.c_char_p], ctypes.c_void_p
            found = (putenv, getenv)
        except (ImportError, OSError, AttributeError):
            found = None
        _libc.append(found)
    return _libc[0]


class TraceEnv:
    """Sets or clears the invocation's trace header in both environments."""

    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        data = getattr(self._environ, "_data", None)
        # The encoded mapping ``os.environ`` reads from; None: write os.environ plainly.
        self._data: dict[bytes, bytes] | None = data if isinstance(data, dict) else None
        self._libc: LibcEnv | None = None
        self._address = 0  # where the value starts in the buffer: what getenv gives back
        self._encoding = sys.getfilesystemencoding()
        self._buffer: Any = None  # the ctypes buffer the C entry points at, once installed
        self._slot: Any = None  # the value part of the buffer, as a C char array
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
        if "\0" in trace_id:
            raise ValueError("embedded null byte")
        value = trace_id.encode(self._encoding, "surrogateescape")
        libc = self._libc
        if (
            libc is None
            or not self._installed
            or len(value) > self._room
            or data.get(_KEY) is not self._current
            or libc[1](_KEY) != self._address
        ):
            self._install(value)
        else:
            self._slot.value = value  # a memcpy, and the NUL after it: shorter than the slot
        data[_KEY] = value
        self._current = value

    def _install(self, value: bytes) -> None:
        """Point the C entry at a buffer of ours holding ``value`` (a larger one if needed);
        without libc's ``putenv``, write ``os.environ`` as usual."""
        libc = self._libc = self._libc or libc_env()
        if libc is None:
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
        if libc[0](ctypes.addressof(buffer)) != 0:
            raise OSError(ctypes.get_errno(), "putenv failed")
        # The old buffer may be freed only now that the entry points elsewhere.
        self._buffer, self._room = buffer, room
        self._address = ctypes.addressof(buffer) + len(_PREFIX)
        self._slot = (ctypes.c_char * (room + 1)).from_buffer(buffer, len(_PREFIX))
        self._installed = True

    def _clear(self) -> None:
        """No trace header this invocation: none in either environment."""
        environ = self._environ
        if TRACE_ENV in environ:
            del environ[TRACE_ENV]  # unsetenv: the C entry no longer points at our buffer
        self._installed = False
