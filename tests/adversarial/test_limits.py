"""Resource abuse stays inside its sandbox: memory, processes, CPU time and output are capped,
the failure is the invocation's alone (shaped as on AWS), and the server keeps serving."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.adversarial.conftest import call

pytestmark = pytest.mark.usefixtures("still_serving")


def test_memory_hog_is_killed_at_memory_size(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy("hog", MemorySize=128, Timeout=30)
    error, body = call(lambda_client, name, {"mb": 512})
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert re.fullmatch(
        r"RequestId: [0-9a-f-]{36} Error: Runtime exited with error: signal: killed",
        body["errorMessage"],
    )
    assert call(lambda_client, name, {"mb": 1}) == (None, 1 << 20)


def test_max_memory_used_is_what_the_sandbox_held(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy("hog", MemorySize=256)
    out = lambda_client.invoke(FunctionName=name, Payload=b'{"mb": 64}', LogType="Tail")
    assert "FunctionError" not in out
    report = base64.b64decode(out["LogResult"]).decode()
    used = int(re.search(r"Max Memory Used: (\d+) MB", report).group(1))  # type: ignore[union-attr]
    assert 64 <= used <= 256


def test_fork_bomb_stops_at_the_pids_limit(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy("bomb", MemorySize=512, Timeout=30)
    error, body = call(lambda_client, name)
    assert error is None, body
    assert body["error"] == 11  # EAGAIN: the pids cgroup refused the fork
    assert body["processes"] <= 128 + 1  # the sandbox's init is outside its cgroup


def test_infinite_loop_is_stopped_at_the_timeout(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy("spin", Timeout=1)
    error, body = call(lambda_client, name)
    assert error == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    error, body = call(lambda_client, name)
    assert body["errorType"] == "Sandbox.Timedout"


def test_stdout_flood_is_truncated_not_stored(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy("flood", MemorySize=256, Timeout=30)
    out = lambda_client.invoke(FunctionName=name, Payload=b'{"mb": 48}', LogType="Tail")
    assert out["Payload"].read() == b'"flooded"'
    assert len(base64.b64decode(out["LogResult"])) <= 4096


def test_stdout_flood_beyond_memory_fails_only_its_invocation(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy("flood", MemorySize=128, Timeout=30)
    error, body = call(lambda_client, name, {"mb": 256})
    assert error == "Unhandled"
    assert body["errorType"] in ("Runtime.OutOfMemory", "Runtime.ExitError")


def test_segfault_fails_only_its_invocation(lambda_client: Any, deploy: Callable[..., str]) -> None:
    error, body = call(lambda_client, deploy("segfault"))
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Runtime exited with error: signal: segmentation fault")
