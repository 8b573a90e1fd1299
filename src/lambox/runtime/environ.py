"""A sandbox's environment, installed in one pass.

A zygote's child becomes a function's sandbox with the environment the host sent for it,
and nothing else: ``os.environ`` and the C environment (what ``getenv`` in C extensions
and child processes started without an explicit environment see) both hold exactly it.
``os.environ.update`` would do that one variable at a time through ``_Environ``'s Python
methods (a key and a value encoder, ``putenv`` and a dict store each), and in a forked
child every object, function and allocator page that touches is a page copied from the
zygote. ``replace`` encodes each pair and calls ``putenv`` itself, then fills the mapping
``os.environ`` and ``os.environb`` share (their ``_data``) with one dict update: the same
result, the same errors (``putenv`` refuses the same keys and values), about half the
pages. A zygote empties its own environment once (``empty``), so its children have
nothing to remove first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def empty() -> None:
    """Remove every variable from this process's environment (a zygote's, which its
    children replace anyway)."""
    os.environ.clear()


def replace(env: Mapping[str, str]) -> None:
    """``os.environ`` (and the C environment) become exactly ``env``, in its order."""
    environ = os.environ
    if environ:
        environ.clear()
    encoding = sys.getfilesystemencoding()
    putenv = os.putenv
    encoded: dict[bytes, bytes] = {}
    for key, value in env.items():
        if type(key) is not str or type(value) is not str:
            wrong = key if type(key) is not str else value
            raise TypeError(f"str expected, not {type(wrong).__name__}")
        name = key.encode(encoding, "surrogateescape")
        text = value.encode(encoding, "surrogateescape")
        putenv(name, text)
        encoded[name] = text
    environ._data.update(encoded)  # type: ignore[attr-defined]
