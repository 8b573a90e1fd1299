"""``TraceEnv`` in this process: one libc entry rewritten in place, both views in step."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator

import pytest

from lambox.runtime.traceenv import TRACE_ENV, TraceEnv, libc_env

libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p


def c_value() -> str | None:
    raw = libc.getenv(TRACE_ENV.encode())
    return None if raw is None else raw.decode()


@pytest.fixture
def clean() -> Iterator[None]:
    os.environ.pop(TRACE_ENV, None)
    yield
    os.environ.pop(TRACE_ENV, None)


@pytest.mark.usefixtures("clean")
def test_values_are_rewritten_in_one_entry_and_cleared() -> None:
    env = TraceEnv()
    env.set("Root=1-a")
    first = env._buffer
    env.set("Root=1-bb")
    assert os.environ[TRACE_ENV] == c_value() == "Root=1-bb"
    assert env._buffer is first  # rewritten in place, no new allocation
    env.set("Root=1-c")  # shorter than the previous value: no leftover bytes
    assert os.environ[TRACE_ENV] == c_value() == "Root=1-c"
    env.set(None)
    assert TRACE_ENV not in os.environ and c_value() is None
    env.set("Root=1-d")
    assert os.environ[TRACE_ENV] == c_value() == "Root=1-d"


@pytest.mark.usefixtures("clean")
def test_a_value_set_elsewhere_through_os_environ_is_replaced() -> None:
    env = TraceEnv()
    env.set("Root=1-a")
    os.environ[TRACE_ENV] = "theirs"
    assert c_value() == "theirs"
    env.set("Root=1-b")
    assert os.environ[TRACE_ENV] == c_value() == "Root=1-b"


def test_a_mapping_without_an_encoded_store_is_written_plainly() -> None:
    plain: dict[str, str] = {}
    env = TraceEnv(plain)
    env.set("Root=1-a")
    assert plain == {TRACE_ENV: "Root=1-a"}
    env.set("")
    assert plain == {}


@pytest.mark.usefixtures("clean")
def test_a_null_byte_is_refused_as_os_environ_refuses_it() -> None:
    with pytest.raises(ValueError, match="null byte"):
        TraceEnv().set("Root=1-\0x")


@pytest.mark.usefixtures("clean")
def test_a_value_set_or_removed_behind_os_environ_is_replaced() -> None:
    env = TraceEnv()
    env.set("Root=1-a")
    os.putenv(TRACE_ENV, "theirs")  # the C entry only; os.environ still says Root=1-a
    assert c_value() == "theirs"
    env.set("Root=1-b")
    assert os.environ[TRACE_ENV] == c_value() == "Root=1-b"
    os.unsetenv(TRACE_ENV)
    env.set("Root=1-c")
    assert os.environ[TRACE_ENV] == c_value() == "Root=1-c"


def test_libc_is_resolved_once() -> None:
    assert libc_env() is libc_env() is not None


@pytest.mark.usefixtures("clean")
def test_a_warm_set_reads_memory_without_a_foreign_call() -> None:
    env = TraceEnv()
    env.set("Root=1-a")
    assert env._libc is not None and env._watch is not None
    putenv = env._libc[0]

    def no_getenv(key: bytes) -> int | None:
        raise AssertionError("getenv called on the warm path")

    env._libc = (putenv, no_getenv)
    for n in range(3):
        env.set(f"Root=1-{n}")
        assert os.environ[TRACE_ENV] == c_value() == f"Root=1-{n}"


def c_names() -> list[str]:
    """The names in libc's environment, in the order of its array."""
    cell = ctypes.c_void_p.in_dll(ctypes.CDLL(None), "environ")
    entries = ctypes.cast(cell.value, ctypes.POINTER(ctypes.c_char_p))
    names: list[str] = []
    while (entry := entries[len(names)]) is not None:
        names.append(entry.partition(b"=")[0].decode("latin-1"))
    return names


@pytest.mark.usefixtures("clean")
def test_the_entry_is_found_again_after_libc_moves_or_shifts_the_array() -> None:
    env = TraceEnv()
    env.set("Root=1-a")
    padding = [f"LBX_PAD_{i}" for i in range(200)]
    try:
        for name in padding:  # new entries: libc grows the array, moving it or not
            os.putenv(name, "x")
        env.set("Root=1-b")
        assert os.environ[TRACE_ENV] == c_value() == "Root=1-b"
        assert env._watch is not None and env._watch.holds()
        names = c_names()
        earlier = next(n for n in names[: names.index(TRACE_ENV)] if n in os.environ)
        value = os.environ[earlier]
        os.unsetenv(earlier)  # an entry before ours removed: the ones after it shift
        assert not env._watch.holds()
        env.set("Root=1-c")
        assert os.environ[TRACE_ENV] == c_value() == "Root=1-c"
        os.putenv(earlier, value)
    finally:
        for name in padding:
            os.unsetenv(name)
