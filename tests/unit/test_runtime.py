"""The Python runtime as a real subprocess, driven over a socketpair with the wire protocol."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambox.runtime import wire

SRC = Path(__file__).resolve().parents[2] / "src"
FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "fn",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/02/[$LATEST]abc",
    "AWS_REGION": "us-east-1",
}
ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
LOG_LINE = re.compile(r"\[(\w+)\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t(\S*)\t(.*)\n")


class Sandbox:
    """One runtime process and the host end of its wire."""

    def __init__(self, code_dir: Path, handler: str, env: dict[str, str]) -> None:
        self.host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.host.settimeout(10)
        self.wire_fd = child.fileno()
        self.stderr = (code_dir.parent / f"{code_dir.name}.stderr").open("w+b")
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(SRC),
            "LAMBOX_WIRE_FD": str(child.fileno()),
            "LAMBDA_TASK_ROOT": str(code_dir),
            "_HANDLER": handler,
            **FUNCTION_ENV,
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lambox.runtime"],
            env=full_env,
            cwd=code_dir,
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            stderr=self.stderr,
        )
        child.close()
        self._n = 0

    def ready(self) -> tuple[dict[str, Any], bytes]:
        kind, meta, body = wire.recv_frame(self.host)
        assert kind == wire.READY
        return meta, body

    def invoke(self, payload: bytes = b"{}", **extra: Any) -> tuple[dict[str, Any], bytes, bytes]:
        """(result meta, log bytes, payload bytes) of one invocation."""
        self._n += 1
        meta = {
            "id": f"req-{self._n}",
            "deadline_ms": int(time.time() * 1000) + 5000,
            "arn": ARN,
            "version": "$LATEST",
            "client_context": None,
            "trace_id": None,
            **extra,
        }
        self.host.sendall(wire.encode(wire.INVOKE, meta, payload))
        kind, rmeta, body = wire.recv_frame(self.host)
        assert kind == wire.RESULT
        log_len = rmeta["log_len"]
        return rmeta, body[:log_len], body[log_len:]

    def call(self, event: Any = None, **extra: Any) -> Any:
        """Invoke expecting success; the decoded response."""
        payload = b"{}" if event is None else json.dumps(event).encode()
        meta, _, out = self.invoke(payload, **extra)
        assert meta["error"] is None, out
        return json.loads(out)

    def close(self) -> int:
        self.host.close()
        try:
            return self.proc.wait(5)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.stderr.close()


Start = Callable[..., Sandbox]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Write files into a fresh code dir and start the runtime on them."""
    started: list[Sandbox] = []

    def run(handler: str, files: dict[str, str], env: dict[str, str] | None = None) -> Sandbox:
        code = tmp_path / f"code{len(started)}"
        for name, text in files.items():
            path = code / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        code.mkdir(exist_ok=True)
        box = Sandbox(code, handler, env or {})
        started.append(box)
        return box

    yield run
    for box in started:
        if box.proc.poll() is None:
            assert box.close() == 0


APP = """
import json, logging, os, subprocess, sys
COUNT = 0
print("init output")

def echo(event, context):
    return {"event": event}

def count(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT, "pid": os.getpid()}

def noisy(event, context):
    if event.get("quiet"):
        return "quiet"
    print("to stdout")
    sys.stderr.write("to stderr\\n")
    os.write(1, b"raw fd write\\n")
    logging.getLogger("mine").warning("via logging %s", 1)
    logging.info("info is below the default level")
    subprocess.run(["sh", "-c", "echo from a child"], check=True)
    return "ok"

def levels(event, context):
    logging.debug("debug shown")
    return None

def fail(event, context):
    raise ValueError("boom " + str(event.get("n")))

def exits(event, context):
    sys.exit(3)

def interrupt(event, context):
    raise KeyboardInterrupt

def unserializable(event, context):
    return {1, 2}

def decimal(event, context):
    from decimal import Decimal
    return {"i": Decimal("3"), "f": Decimal("1.5")}

def flood(event, context):
    if event.get("quiet"):
        return "quiet"
    line = "x" * 1023 + "\\n"
    sys.stdout.write(line * (3 * 1024))
    print("the end")
    return "flooded"

def introspect(event, context):
    context.attached_by_instrumentation = True
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": [context.identity.cognito_identity_id,
                     context.identity.cognito_identity_pool_id],
        "remaining": context.get_remaining_time_in_millis(),
        "client_context": None if cc is None else {
            "custom": cc.custom,
            "env": cc.env,
            "client": None if cc.client is None else [
                cc.client.installation_id, cc.client.app_title, cc.client.app_version_name,
                cc.client.app_version_code, cc.client.app_package_name,
            ],
        },
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "wire_env": "LAMBOX_WIRE_FD" in os.environ,
        "path0": sys.path[0],
        "cwd": os.getcwd(),
    }

def wire_inherited(event, context):
    return os.system(f"test -e /proc/self/fd/{event['fd']}") == 0
"""


def test_ready_then_result(start: Start) -> None:
    box = start("app.echo", {"app.py": APP})
    ready, init_log = box.ready()
    assert ready["init_error"] is None
    assert isinstance(ready["init_ms"], float) and ready["init_ms"] >= 0
    assert init_log == b"init output\n"
    meta, log, out = box.invoke(b'{"a": [1, 2]}')
    assert meta["error"] is None
    assert log == b""
    assert json.loads(out) == {"event": {"a": [1, 2]}}
    assert isinstance(meta["duration_ms"], float)
    assert meta["max_rss_kb"] > 0


def test_init_runs_once_and_globals_persist(start: Start) -> None:
    box = start("app.count", {"app.py": APP})
    box.ready()
    first, second = box.call(), box.call()
    assert (first["count"], second["count"]) == (1, 2)
    assert first["pid"] == second["pid"] == box.proc.pid


def test_empty_payload_is_an_empty_object(start: Start) -> None:
    box = start("app.echo", {"app.py": APP})
    box.ready()
    meta, _, out = box.invoke(b"")
    assert meta["error"] is None
    assert json.loads(out) == {"event": {}}


def test_every_kind_of_output_lands_in_its_own_invocation(start: Start) -> None:
    box = start("app.noisy", {"app.py": APP})
    box.ready()
    meta, log, out = box.invoke(b"{}")
    assert meta["error"] is None and json.loads(out) == "ok"
    text = log.decode()
    order = ["to stdout", "to stderr", "raw fd write", "via logging 1", "from a child"]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)
    assert "below the default level" not in text
    records = LOG_LINE.findall(text)
    assert records == [("WARNING", "req-1", "via logging 1")]
    meta, log, out = box.invoke(b'{"quiet": true}')
    assert log == b""
    assert json.loads(out) == "quiet"


def test_log_level_comes_from_the_environment(start: Start) -> None:
    box = start("app.levels", {"app.py": APP}, {"AWS_LAMBDA_LOG_LEVEL": "debug"})
    box.ready()
    _, log, out = box.invoke()
    assert out == b"null"
    assert LOG_LINE.findall(log.decode()) == [("DEBUG", "req-1", "debug shown")]


def test_a_flood_of_output_keeps_the_tail(start: Start) -> None:
    box = start("app.flood", {"app.py": APP})
    box.ready()
    _, log, out = box.invoke()
    assert json.loads(out) == "flooded"
    assert log.startswith(b"... truncated\n")
    assert log.endswith(b"the end\n")
    assert len(log) <= (1 << 20) + len(b"... truncated\n")
    assert box.invoke(b'{"quiet": true}')[1] == b""


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        ({}, "app.handler", "Runtime.ImportModuleError",
         "Unable to import module 'app': No module named 'app'"),
        ({"app.py": "import does_not_exist_anywhere\n"}, "app.handler",
         "Runtime.ImportModuleError",
         "Unable to import module 'app': No module named 'does_not_exist_anywhere'"),
        ({"app.py": "def handler(e, c):\n    return 1\n"}, "app.nope",
         "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"),
        ({"app.py": ""}, "app", "Runtime.MalformedHandlerName",
         "Bad handler 'app': not enough values to unpack (expected 2, got 1)"),
        ({"app.py": ""}, "sys.handler", "Runtime.BuiltInModuleConflict",
         "Cannot use built-in module sys as a handler module"),
    ],
)  # fmt: skip
def test_init_faults(
    start: Start, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    box = start(handler, files)
    ready, init_log = box.ready()
    expected = {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": []}
    assert ready["init_error"] == expected
    assert init_log.decode().startswith(f"[ERROR] {error_type}: {message}\n")
    for n in (1, 2):
        meta, log, out = box.invoke()
        assert meta["error"] == "Unhandled"
        assert json.loads(out) == {**expected, "requestId": f"req-{n}"}
        assert f"[ERROR] {error_type}: {message}" in log.decode()


def test_syntax_error_names_file_and_line(start: Start) -> None:
    box = start("app.handler", {"app.py": "x = 1\ny = 2\nif True print(1)\n"})
    error = box.ready()[0]["init_error"]
    assert error["errorType"] == "Runtime.UserCodeSyntaxError"
    assert error["errorMessage"].startswith("Syntax error in module 'app': ")
    assert error["errorMessage"].endswith("(app.py, line 3)")
    [frame] = error["stackTrace"]
    assert frame.startswith('  File "') and 'app.py" Line 3\n    if True print(1)' in frame


def test_exception_in_module_code_keeps_its_type(start: Start) -> None:
    box = start("app.handler", {"app.py": "x = 1\nraise ValueError('bad init')\n"})
    error = box.ready()[0]["init_error"]
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad init"
    assert (
        "app.py\", line 2, in <module>\n    raise ValueError('bad init')\n"
        in (error["stackTrace"][-1])
    )
    assert not any("lambox" in frame for frame in error["stackTrace"])
    meta, _, out = box.invoke()
    assert meta["error"] == "Unhandled" and json.loads(out)["errorType"] == "ValueError"


@pytest.mark.parametrize("handler", ["pkg/sub/mod.fn", "pkg.sub.mod.fn"])
def test_handler_in_a_package_or_subdirectory(start: Start, handler: str) -> None:
    box = start(handler, {"pkg/sub/mod.py": "def fn(event, context):\n    return 'deep'\n"})
    assert box.ready()[0]["init_error"] is None
    assert box.call() == "deep"


def test_handler_exception_shape_and_log(start: Start) -> None:
    box = start("app.fail", {"app.py": APP})
    box.ready()
    meta, log, out = box.invoke(b'{"n": 7}')
    assert meta["error"] == "Unhandled"
    error = json.loads(out)
    [frame] = error.pop("stackTrace")
    assert re.fullmatch(
        r'  File "[^"]*app\.py", line \d+, in fail\n    raise ValueError\(.*\)\n', frame
    )
    assert error == {"errorMessage": "boom 7", "errorType": "ValueError", "requestId": "req-1"}
    text = log.decode()
    assert text.startswith("[ERROR] ValueError: boom 7\nTraceback (most recent call last):\n")
    assert "\u00a0\u00a0File" in text
    assert box.invoke(b'{"n": 8}')[0]["error"] == "Unhandled"


def test_interrupt_does_not_end_the_runtime(start: Start) -> None:
    box = start("app.interrupt", {"app.py": APP})
    box.ready()
    for _ in range(2):
        meta, _, out = box.invoke()
        assert meta["error"] == "Unhandled"
        assert json.loads(out)["errorType"] == "KeyboardInterrupt"
    assert box.proc.poll() is None


def test_sys_exit_ends_the_execution_environment_with_its_status(start: Start) -> None:
    box = start("app.exits", {"app.py": APP})
    box.ready()
    with pytest.raises(EOFError):
        box.invoke()
    assert box.proc.wait(10) == 3


def test_unserializable_result_is_a_marshal_error(start: Start) -> None:
    box = start("app.unserializable", {"app.py": APP})
    box.ready()
    meta, log, out = box.invoke()
    assert meta["error"] == "Unhandled"
    assert json.loads(out) == {
        "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": "req-1",
        "stackTrace": [],
    }
    assert b"[ERROR] Runtime.MarshalError: Unable to marshal response" in log


def test_decimals_are_numbers(start: Start) -> None:
    box = start("app.decimal", {"app.py": APP})
    box.ready()
    assert box.call() == {"i": 3, "f": 1.5}


def test_invalid_json_event_is_an_unmarshal_error(start: Start) -> None:
    box = start("app.echo", {"app.py": APP})
    box.ready()
    meta, _, out = box.invoke(b"{nope")
    assert meta["error"] == "Unhandled"
    error = json.loads(out)
    assert error["errorType"] == "Runtime.UnmarshalError"
    assert error["errorMessage"].startswith("Unable to unmarshal input: ")


def test_context_fields_and_remaining_time(start: Start, tmp_path: Path) -> None:
    box = start("app.introspect", {"app.py": APP})
    box.ready()
    deadline = int(time.time() * 1000) + 3000
    ctx = box.call(deadline_ms=deadline, trace_id="Root=1-abc-def;Sampled=1", version="7")
    assert ctx["aws_request_id"] == "req-1"
    assert ctx["function_name"] == "fn"
    assert ctx["function_version"] == "7"
    assert ctx["invoked_function_arn"] == ARN
    assert ctx["memory_limit_in_mb"] == "256"
    assert ctx["log_group_name"] == "/aws/lambda/fn"
    assert ctx["log_stream_name"] == "2024/01/02/[$LATEST]abc"
    assert ctx["identity"] == [None, None]
    assert 2000 < ctx["remaining"] <= 3000
    assert ctx["client_context"] is None
    assert ctx["trace"] == "Root=1-abc-def;Sampled=1"
    assert ctx["wire_env"] is False
    assert ctx["path0"] == ctx["cwd"] == str(tmp_path / "code0")
    later = box.call(deadline_ms=int(time.time() * 1000) - 10)
    assert later["remaining"] == 0
    assert later["trace"] is None
    assert later["function_version"] == "$LATEST"


def test_client_context_is_decoded(start: Start) -> None:
    box = start("app.introspect", {"app.py": APP})
    box.ready()
    raw = {
        "client": {
            "installation_id": "inst",
            "app_title": "title",
            "app_version_name": "1.0",
            "app_version_code": "100",
            "app_package_name": "com.example",
        },
        "custom": {"k": "v"},
        "env": {"platform": "linux"},
    }
    encoded = base64.b64encode(json.dumps(raw).encode()).decode()
    ctx = box.call(client_context=encoded)
    assert ctx["client_context"] == {
        "custom": {"k": "v"},
        "env": {"platform": "linux"},
        "client": ["inst", "title", "1.0", "100", "com.example"],
    }
    partial = base64.b64encode(b'{"custom": {"only": 1}}').decode()
    assert box.call(client_context=partial)["client_context"] == {
        "custom": {"only": 1},
        "env": None,
        "client": None,
    }
    meta, _, out = box.invoke(client_context="not base64 json!")
    assert meta["error"] == "Unhandled"
    assert json.loads(out)["errorType"] == "Runtime.LambdaContextUnmarshalError"


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_children_do_not_inherit_the_wire(start: Start) -> None:
    box = start("app.wire_inherited", {"app.py": APP})
    box.ready()
    assert box.call({"fd": box.wire_fd}) is False


def test_large_payloads_round_trip(start: Start) -> None:
    box = start("app.echo", {"app.py": APP})
    box.ready()
    event = {"blob": "y" * (3 << 20)}
    assert box.call(event) == {"event": event}
    assert box.call({"small": 1}) == {"event": {"small": 1}}


def test_closing_the_wire_ends_the_runtime_cleanly(start: Start) -> None:
    box = start("app.echo", {"app.py": APP})
    box.ready()
    box.call()
    assert box.close() == 0
