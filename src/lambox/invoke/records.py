"""The text Lambda writes around an invocation: START / END / REPORT, timeouts, error payloads."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping

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
    return _report(request_id, duration_ms, memory_size, max_memory_mb, init_ms, restore).encode()


def _report(
    request_id: str,
    duration_ms: float,
    memory_size: int,
    max_memory_mb: int,
    init_ms: float | None,
    restore: tuple[float, int] | None,
) -> str:
    # Billed Duration is at least 1 ms. Not ``max(1, ...)``: the builtin parses its
    # arguments as an iterable with keywords, about 800 instructions on every invocation.
    billed = math.ceil(duration_ms)
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed if billed > 1 else 1} ms\tMemory Size: {memory_size} MB\t"
        f"Max Memory Used: {max_memory_mb} MB\t"
    )
    if init_ms is not None:
        line += f"Init Duration: {init_ms:.2f} ms\t"
    if restore is not None:
        line += f"Restore Duration: {restore[0]:.2f} ms\tBilled Restore Duration: {restore[1]} ms\t"
    return line + "\n"


def runtime_version_name(runtime: str) -> str:
    """The runtime version as Lambda names it in INIT_START (``python:3.11.v1``,
    ``nodejs:20.v1``, ``provided:al2023.v1``): lambox has one version of each runtime."""
    family = runtime.rstrip(".x")
    for prefix in ("python", "nodejs", "provided.", "provided", "java", "ruby", "dotnet"):
        if family.startswith(prefix):
            rest = family[len(prefix) :] or "al"
            return f"{prefix.rstrip('.')}:{rest}.v1"
    return f"{family}.v1"


def init_start(
    runtime: str,
    version_arn: str,
    log_format: str,
    system_level: str,
    init_type: str = "on-demand",
) -> bytes:
    """What a cold start's log begins with: the INIT_START line, or ``platform.initStart``
    with LogFormat JSON (an INFO record: nothing when SystemLogLevel is above INFO)."""
    name = runtime_version_name(runtime)
    if log_format != "JSON":
        return f"INIT_START Runtime Version: {name}\tRuntime Version ARN: {version_arn}\n".encode()
    if SYSTEM_LEVELS.get(system_level, 20) > 20:
        return b""
    record = {
        "initializationType": init_type,
        "phase": "init",
        "runtimeVersion": name,
        "runtimeVersionArn": version_arn,
    }
    return _platform("platform.initStart", record)


def init_report_line(init_ms: float, phase: str, status: str) -> bytes:
    """The INIT_REPORT line Lambda writes when an init does not end in success, e.g. one
    that passed the init limit (``Phase: init  Status: timeout``)."""
    return (
        f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: {phase}\tStatus: {status}\n".encode()
    )


def framed(
    request_id: str,
    version: str,
    body: bytes,
    duration_ms: float,
    memory_size: int,
    max_memory_mb: int,
    init_ms: float | None,
    restore: tuple[float, int] | None = None,
    start: bool = True,
) -> bytes:
    """START, what the function wrote, END and REPORT: one invocation's whole log record
    (without START when ``start`` is False: it went out with an earlier part of the log).
    END and REPORT are one string, encoded once: this runs on every invocation."""
    tail = f"END RequestId: {request_id}\n" + _report(
        request_id, duration_ms, memory_size, max_memory_mb, init_ms, restore
    )
    if start:
        return b"".join((start_line(request_id, version), body, tail.encode()))
    return body + tail.encode()


# Lambda's system log levels; a JSON function's SystemLogLevel keeps the records at or above.
SYSTEM_LEVELS = {"DEBUG": 10, "INFO": 20, "WARN": 30}


def _platform(kind: str, record: Mapping[str, object]) -> bytes:
    body = {"time": _stamp(), "type": kind, "record": record}
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def start_record(
    request_id: str,
    version: str,
    log_format: str,
    system_level: str,
    tenant_id: str | None = None,
) -> bytes:
    """The record that opens an invocation's log: START, or ``platform.start`` (nothing when
    the JSON function's SystemLogLevel is above INFO). A JSON record of a tenant-isolated
    function's invocation names its tenant (``tenantId``), as Lambda's do."""
    if log_format != "JSON":
        return start_line(request_id, version)
    if SYSTEM_LEVELS.get(system_level, 20) > 20:
        return b""
    record = {"requestId": request_id, "version": version}
    if tenant_id is not None:
        record["tenantId"] = tenant_id
    return _platform("platform.start", record)


def framed_json(
    request_id: str,
    version: str,
    body: bytes,
    duration_ms: float,
    memory_size: int,
    max_memory_mb: int,
    init_ms: float | None,
    restore: tuple[float, int] | None = None,
    status: str = "success",
    system_level: str = "INFO",
    start: bool = True,
    tenant_id: str | None = None,
) -> bytes:
    """One invocation's record with LogFormat JSON: ``platform.start``, what the function
    wrote, ``platform.runtimeDone`` (a DEBUG record, as on Lambda) and ``platform.report``;
    the platform records Lambda logs below ``system_level`` are left out. Each platform
    record of a tenant-isolated function's invocation carries ``tenantId``."""
    level = SYSTEM_LEVELS.get(system_level, 20)
    parts: list[bytes] = []
    if level <= 20 and start:
        parts.append(start_record(request_id, version, "JSON", system_level, tenant_id))
    parts.append(body)
    if level <= 10:
        done = {"requestId": request_id, "status": status}
        if tenant_id is not None:
            done["tenantId"] = tenant_id
        parts.append(_platform("platform.runtimeDone", done))
    if level <= 20:
        billed = math.ceil(duration_ms)  # at least 1 ms; not ``max``: see ``_report``
        metrics: dict[str, object] = {
            "durationMs": round(duration_ms, 2),
            "billedDurationMs": billed if billed > 1 else 1,
            "memorySizeMB": memory_size,
            "maxMemoryUsedMB": max_memory_mb,
        }
        if init_ms is not None:
            metrics["initDurationMs"] = round(init_ms, 2)
        if restore is not None:
            metrics["restoreDurationMs"] = round(restore[0], 2)
            metrics["billedRestoreDurationMs"] = restore[1]
        report = {"requestId": request_id, "metrics": metrics, "status": status}
        if tenant_id is not None:
            report["tenantId"] = tenant_id
        parts.append(_platform("platform.report", report))
    return b"".join(parts)


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


# How Lambda's runtime exit messages name a signal: Go's names for Linux signals.
_SIGNAL_NAMES = (
    "hangup", "interrupt", "quit", "illegal instruction", "trace/breakpoint trap", "aborted",
    "bus error", "floating point exception", "killed", "user defined signal 1",
    "segmentation fault", "user defined signal 2", "broken pipe", "alarm clock", "terminated",
    "stack fault", "child exited", "continued", "stopped (signal)", "stopped",
    "stopped (tty input)", "stopped (tty output)", "urgent I/O condition",
    "CPU time limit exceeded", "file size limit exceeded", "virtual timer expired",
    "profiling timer expired", "window changed", "I/O possible", "power failure",
    "bad system call",
)  # fmt: skip


def _signal_name(number: int) -> str:
    if 1 <= number <= len(_SIGNAL_NAMES):
        return _SIGNAL_NAMES[number - 1]
    return f"signal {number}"
