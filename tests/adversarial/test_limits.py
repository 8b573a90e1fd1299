"""Resource abuse stays inside its sandbox: memory, processes, CPU time and output are capped,
the failure is the invocation's alone (shaped as on AWS), and the server keeps serving."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.adversarial.conftest import call, invocation_log
from tests.conftest import LamboxServer

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


def test_a_chatty_function_is_not_killed_for_its_logs(
    lambda_client: Any, deploy: Callable[..., str], server: LamboxServer
) -> None:
    """Printing far more than its memory: the log is streamed out of the sandbox, never
    held in it, so the function returns; the log is written as it comes, and the function's
    log files stay within their retention (the newest file and one older one)."""
    name = deploy("chatty", MemorySize=128, Timeout=60)
    out = lambda_client.invoke(
        FunctionName=name, Payload=b'{"mb": 200, "seconds": 20}', LogType="Tail"
    )
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    assert body["written"] > 128 << 20
    request_id = out["ResponseMetadata"]["RequestId"]
    logs = server.data_dir / "logs"
    text = (logs / f"{name}.log").read_text(errors="replace")
    end = text.index(f"END RequestId: {request_id}")
    assert text[:end].endswith(f"last line after {body['chunks']} chunks\n")
    assert f"REPORT RequestId: {request_id}" in text[end:]
    kept = sum(p.stat().st_size for p in logs.glob(f"{name}.log*"))
    assert kept <= 2 * (8 << 20) + (2 << 20), kept  # LAMBOX_LOG_RETENTION_BYTES, twice
    tail = base64.b64decode(out["LogResult"]).decode()
    assert f"last line after {body['chunks']} chunks\nEND RequestId" in tail


def test_segfault_fails_only_its_invocation(lambda_client: Any, deploy: Callable[..., str]) -> None:
    error, body = call(lambda_client, deploy("segfault"))
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Runtime exited with error: signal: segmentation fault")


@pytest.mark.parametrize(
    ("event", "config", "error_type", "last_line"),
    [
        ({}, {"Timeout": 2}, "Sandbox.Timedout", "Task timed out after 2.00 seconds"),
        ({"hog": True}, {"MemorySize": 128}, "Runtime.OutOfMemory", "signal: killed"),
    ],
    ids=["timeout", "out-of-memory"],
)
def test_what_a_function_wrote_before_it_failed_is_kept(
    lambda_client: Any,
    deploy: Callable[..., str],
    server: LamboxServer,
    event: dict[str, Any],
    config: dict[str, Any],
    error_type: str,
    last_line: str,
) -> None:
    name = deploy("talk_then_fail", **config)
    out = lambda_client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    assert json.loads(out["Payload"].read())["errorType"] == error_type
    log = invocation_log(server, name, out["ResponseMetadata"]["RequestId"]).splitlines()
    assert log[1] == "said before the end"
    assert log[2].endswith(last_line)
