"""The runtime's invoke loop, as a real subprocess over the wire: what its per-invocation
shortcuts must keep (the trace header in every view of the environment, JSON errors,
the encoder after a failure, the peak RSS report)."""

from __future__ import annotations

import json

from lambox.runtime import wire
from tests.unit.test_runtime import Start, start  # noqa: F401

TRACE = "_X_AMZN_TRACE_ID"
APP = """
import ctypes, json, os, subprocess
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
SHARED = []

def views(event, context):
    if event.get("set") is not None:
        os.environ["_X_AMZN_TRACE_ID"] = event["set"]
    if event.get("delete"):
        del os.environ["_X_AMZN_TRACE_ID"]
    c = libc.getenv(b"_X_AMZN_TRACE_ID")
    child = subprocess.run(
        ["sh", "-c", 'echo "${_X_AMZN_TRACE_ID-unset}"'], capture_output=True, check=True
    ).stdout.decode().strip()
    return {
        "environ": os.environ.get("_X_AMZN_TRACE_ID"),
        "getenv": None if c is None else c.decode(),
        "child": None if child == "unset" else child,
        "peak_env": "LAMBOX_PEAK_BY_HOST" in os.environ,
    }

def rss(event, context):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

def echo(event, context):
    return event

def circular(event, context):
    SHARED.clear()
    if event.get("loop"):
        SHARED.append(SHARED)
        return {"shared": SHARED}
    SHARED.append(1)
    return {"shared": SHARED}
"""


def trace(n: int, pad: int = 0) -> str:
    return f"Root=1-6930a1b2-{n:024x};Parent={n:016x};Sampled=0" + "x" * pad


def test_trace_header_is_in_environ_getenv_and_children_on_every_invocation(
    start: Start,  # noqa: F811
) -> None:
    box = start("app.views", {"app.py": APP})
    box.ready()
    for n, pad in ((1, 0), (2, 0), (3, 600), (4, 0)):  # 600: past the buffer first made
        expected = trace(n, pad)
        seen = box.call({}, trace_id=expected)
        assert seen == {"environ": expected, "getenv": expected, "child": expected,
                        "peak_env": False}  # fmt: skip
    none = {"environ": None, "getenv": None, "child": None, "peak_env": False}
    assert box.call({}, trace_id=None) == none
    assert box.call({}, trace_id=trace(5))["getenv"] == trace(5)


def test_trace_header_is_restored_after_function_code_replaced_or_removed_it(
    start: Start,  # noqa: F811
) -> None:
    box = start("app.views", {"app.py": APP})
    box.ready()
    mine = box.call({"set": "Root=mine"}, trace_id=trace(1))
    assert mine["environ"] == mine["getenv"] == mine["child"] == "Root=mine"
    seen = box.call({}, trace_id=trace(2))
    assert seen["environ"] == seen["getenv"] == seen["child"] == trace(2)
    gone = box.call({"delete": True}, trace_id=trace(3))
    assert gone["environ"] is gone["getenv"] is gone["child"] is None
    seen = box.call({}, trace_id=trace(4))
    assert seen["environ"] == seen["getenv"] == seen["child"] == trace(4)


def test_a_fresh_trace_header_per_invocation_does_not_grow_the_sandbox(
    start: Start,  # noqa: F811
) -> None:
    """glibc's setenv keeps a copy of every value it was given (~140 bytes each)."""
    box = start("app.rss", {"app.py": APP})
    box.ready()
    for n in range(2000):
        box.call({}, trace_id=trace(n))
    before = box.call({}, trace_id=trace(0))
    for n in range(30000):
        box.call({}, trace_id=trace(n))
    grown_kb = box.call({}, trace_id=trace(1)) - before
    assert grown_kb < 1024  # the old loop grew by ~4 MB here


def test_event_errors_are_the_json_decoders(start: Start) -> None:  # noqa: F811
    box = start("app.echo", {"app.py": APP})
    box.ready()
    for good in (b" {}", b'{"a": 1} ', b"\n[1]\n", b"3", b'"s"', b"null", b"{}"):
        meta, _, out = box.invoke(good)
        assert meta["error"] is None and json.loads(out) == json.loads(good)
    for bad in (b"{}x", b"[1,", b'"abc', b"nul", b" ", b"{} {}", b"\xff"):
        meta, _, out = box.invoke(bad)
        assert meta["error"] == "Unhandled"
        error = json.loads(out)
        assert error["errorType"] == "Runtime.UnmarshalError"
        try:
            json.loads(bad.decode("utf-8"))
        except ValueError as e:
            assert error["errorMessage"] == f"Unable to unmarshal input: {e}"


def test_a_circular_response_leaves_the_encoder_usable(start: Start) -> None:  # noqa: F811
    box = start("app.circular", {"app.py": APP})
    box.ready()
    meta, _, out = box.invoke(b'{"loop": true}')
    assert meta["error"] == "Unhandled"
    error = json.loads(out)
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == "Unable to marshal response: Circular reference detected"
    assert box.call({}) == {"shared": [1]}  # the same list, now without a cycle


def test_peak_rss_is_left_to_a_host_that_measures_it(start: Start) -> None:  # noqa: F811
    box = start("app.views", {"app.py": APP}, {wire.PEAK_BY_HOST_ENV: "1"})
    box.ready()
    meta, _, out = box.invoke(b"{}")
    assert meta["error"] is None and meta["max_rss_kb"] == 0
    assert json.loads(out)["peak_env"] is False  # the runtime's, not the function's
    reporting = start("app.views", {"app.py": APP})
    reporting.ready()
    assert reporting.invoke(b"{}")[0]["max_rss_kb"] > 0
