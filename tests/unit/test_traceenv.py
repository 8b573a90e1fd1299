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
