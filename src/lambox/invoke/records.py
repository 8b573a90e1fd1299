"""The text Lambda writes around an invocation: START / END / REPORT, timeouts, error payloads."""

from __future__ import annotations

import json
import math
import time

from lambox.model import LATEST


def start_line(request_id: str, version: str = LATEST) -> bytes:
    return f"START RequestId: {request_id} Version: {version}\n".encode()


def end_line(request_id: str) -> bytes:
    return f"END RequestId: {request_id}\n".encode()


def report_line(
    request_id: str,
    duration_ms: float,
    memory_size: int,
    max_memory_mb: int,
    init_ms: float | None,
    restore: tuple[float, int] | None = None,
) -> bytes:
    """The REPORT line. ``restore`` (Restore Duration, Billed Restore Duration) is set for
    the first invocation of a sandbox restored from a SnapStart snapshot."""
    billed = max(1, math.ceil(duration_ms))
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed} ms\tMemory Size: {memory_size} MB\t"
        f"Max Memory Used: {max_memory_mb} MB\t"
    )
    if init_ms is not None:
        line += f"Init Duration: {init_ms:.2f} ms\t"
    if restore is not None:
        line += f"Restore Duration: {restore[0]:.2f} ms\tBilled Restore Duration: {restore[1]} ms\t"
    return (line + "\n").encode()


def framed(
    request_id: str,
    version: str,
    body: bytes,
    duration_ms: float,
    memory_size: int,
    max_memory_mb: int,
    init_ms: float | None,
    restore: tuple[float, int] | None = None,
) -> bytes:
    """START, what the function wrote, END and REPORT: one invocation's whole log record."""
    return b"".join(
        (
            start_line(request_id, version),
            body,
            end_line(request_id),
            report_line(request_id, duration_ms, memory_size, max_memory_mb, init_ms, restore),
        )
    )


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def timeout_log(request_id: str, timeout: int) -> bytes:
    return f"{_stamp()} {request_id} Task timed out after {timeout:.2f} seconds\n".encode()


def timeout_payload(request_id: str, timeout: int) -> bytes:
    return json.dumps(
        {
            "errorType": "Sandbox.Timedout",
            "errorMessage": (
                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            ),
        }
    ).encode()


def exit_payload(request_id: str, exit_code: int | None) -> bytes:
    if exit_code == 0:
        reason = "Runtime exited without providing a reason"
        return json.dumps(
            {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: {reason}",
            }
        ).encode()
    if exit_code is None:
        status = "exit status unknown"
    elif exit_code < 0:
        status = f"signal: {_signal_name(-exit_code)}"
    else:
        status = f"exit status {exit_code}"
    return json.dumps(
        {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {status}",
        }
    ).encode()


def out_of_memory_payload(request_id: str) -> bytes:
    return json.dumps(
        {
            "errorType": "Runtime.OutOfMemory",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error:"
            " signal: killed",
        }
    ).encode()


def exit_log(request_id: str, payload: bytes) -> bytes:
    message = json.loads(payload)["errorMessage"]
    return f"{_stamp()} {request_id} {message}\n".encode()


def _signal_name(number: int) -> str:
    import signal

    try:
        return {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault"}.get(
            signal.Signals(number), signal.Signals(number).name.lower()
        )
    except ValueError:
        return str(number)
