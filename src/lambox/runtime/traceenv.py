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
mapping, without a second ``setenv``. Before each write, two reads of memory say whether the
C entry still points at the buffer (libc's ``environ`` array is where it was and its slot
holds the buffer's address; ``EntryWatch``), and the mapping whether it still holds our
value: when function code replaced or removed the variable (through ``os.environ``,
``os.putenv`` or C code), the buffer is put back instead. A value longer than the buffer
gets a larger buffer. The reads go through memoryviews, not a ctypes call to ``getenv``:
a foreign call runs ctypes' and libffi's machinery and writes the reference counts of
their objects, about 30 writable pages a sandbox would otherwise touch on every invocation (copied
from its zygote once, then out of the caches whenever many sandboxes take turns). A thread
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
_PyBUF_READ = 0x100


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


class EntryWatch:
    """Whether the C environment's entry for the variable still points at ``address``,
    by reading libc's ``environ`` pointer and the slot that held ``address`` when the watch
    was made. ``putenv``, ``setenv`` and ``unsetenv`` either rewrite that slot (a new value
    for the variable), shift the entries after a removed one (the slot then holds another
    entry, or the end), or move the whole array (the pointer changes): each shows as a
    mismatch. The slot is read only while the pointer is unchanged, so only from the array
    it belongs to."""

    __slots__ = ("_address", "_base", "_base_view", "_slot_view")

    def __init__(self, base_view: memoryview, base: int, slot_view: memoryview, address: int):
        self._base_view = base_view
        self._base = base
        self._slot_view = slot_view
        self._address = address

    @classmethod
    def make(cls, address: int) -> EntryWatch | None:
        """A watch of the entry now pointing at ``address``; None where libc's ``environ``
        cannot be read or holds no such entry."""
        import ctypes

        try:
            view = ctypes.pythonapi.PyMemoryView_FromMemory
            view.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int]
            view.restype = ctypes.py_object
            cell = ctypes.c_void_p.in_dll(ctypes.CDLL(None), "environ")
        except (AttributeError, OSError, ValueError):
            return None
        base = cell.value or 0
        entries = ctypes.cast(base, ctypes.POINTER(ctypes.c_void_p))
        index = 0
        while base and (entry := entries[index]) is not None:
            if entry == address:
                base_view = view(ctypes.addressof(cell), 8, _PyBUF_READ).cast("Q")
                slot_view = view(base + 8 * index, 8, _PyBUF_READ).cast("Q")
                return cls(base_view, base, slot_view, address)
            index += 1
        return None

    def holds(self) -> bool:
        """The entry still points at the watched address."""
        return self._base_view[0] == self._base and self._slot_view[0] == self._address


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
        self._view = memoryview(b"")  # the same bytes, written without ctypes
        self._watch: EntryWatch | None = None  # where the C entry is, once installed
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
            or not (
                self._watch.holds() if self._watch is not None else libc[1](_KEY) == self._address
            )
        ):
            self._install(value)
        else:
            view = self._view  # a memcpy, and the NUL after it: shorter than the slot
            view[: len(value)] = value
            view[len(value)] = 0
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
        self._view = memoryview(self._slot).cast("B")
        self._watch = EntryWatch.make(ctypes.addressof(buffer))
        self._installed = True

    def _clear(self) -> None:
        """No trace header this invocation: none in either environment."""
        environ = self._environ
        if TRACE_ENV in environ:
            del environ[TRACE_ENV]  # unsetenv: the C entry no longer points at our buffer
        self._installed = False
