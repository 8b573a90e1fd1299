"""Runtime API functions (``provided.*``, Node.js) printing more than the 1 MiB a sandbox
keeps in memory, in their init and in an invocation: their log is complete and in order
in CloudWatch Logs, with no truncation marker."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from tests.conftest import ROLE, LamboxServer, aws_client, make_zip, unique

LINES = 25_000  # past the 1 MiB kept, for the init and the invocation each
PAD = "." * 40

# A provided.al2023 runtime of its own, in Python (lambox puts its interpreter on PATH).
BOOTSTRAP = """#!/bin/sh
exec python3 "$LAMBDA_TASK_ROOT/runtime.py"
"""
RUNTIME = """
import json, os, sys, urllib.request

API = "http://%s/2018-06-01/runtime/invocation/" % os.environ["AWS_LAMBDA_RUNTIME_API"]
for n in range(LINES):
    print("init line %07d PAD" % n)
sys.stdout.flush()
while True:
    with urllib.request.urlopen(API + "next") as answer:
        rid = answer.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(answer.read())
    for n in range(event["lines"]):
        print("call line %07d PAD" % n)
    sys.stdout.flush()
    body = json.dumps(event["lines"]).encode()
    urllib.request.urlopen(urllib.request.Request(API + rid + "/response", body)).read()
""".replace("LINES", str(LINES)).replace("PAD", PAD)

NODE = """
const line = (kind, n) => kind + " line " + String(n).padStart(7, "0") + " PAD";
for (let n = 0; n < LINES; n++) console.log(line("init", n));
exports.handler = async (event) => {
  for (let n = 0; n < event.lines; n++) console.log(line("call", n));
  return event.lines;
};
""".replace("LINES", str(LINES)).replace("PAD", PAD)


def messages(logs: Any, group: str) -> list[str]:
    found: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": group}
    while True:
        page = logs.filter_log_events(**kwargs)
        found += [e["message"] for e in page["events"]]
        if "nextToken" not in page:
            return found
        kwargs["nextToken"] = page["nextToken"]


def check_whole_log(
    server: LamboxServer,
    runtime: str,
    handler: str,
    files: dict[str, str | bytes],
    version: str,
) -> None:
    lam = aws_client(server, "lambda")
    name = unique("loud")
    lam.create_function(
        FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
        Code={"ZipFile": make_zip(files, {"bootstrap": 0o755})}, Timeout=60, MemorySize=512,
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"lines": LINES}).encode())
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == LINES

    found = messages(aws_client(server, "logs"), f"/aws/lambda/{name}")
    assert not [m for m in found if "log truncated" in m]
    # INIT_START once, ahead of the init's output that went out while the init ran.
    assert found[0].startswith(f"INIT_START Runtime Version: {version}\tRuntime Version ARN: ")
    assert sum(1 for m in found if m.startswith("INIT_START")) == 1
    lines = [m.split("\t")[-1] for m in found if " line " in m]
    init = [f"init line {n:07d} {PAD}\n" for n in range(LINES)]
    call = [f"call line {n:07d} {PAD}\n" for n in range(LINES)]
    assert lines == init + call
    # The init's output, then START, the invocation's output, END, REPORT.
    kinds = [m.split(" ")[0] for m in found if not m.split("\t")[-1].startswith(("init", "call"))]
    assert [k for k in kinds if k in ("START", "END", "REPORT")] == ["START", "END", "REPORT"]
    start = next(i for i, m in enumerate(found) if m.startswith("START"))
    assert found[start - 1].endswith(init[-1]) and found[start + 1].endswith(call[0])
    assert found[-2].startswith("END") and found[-1].startswith("REPORT")


def test_provided_runtime_log_is_whole_past_a_mebibyte(server: LamboxServer) -> None:
    files: dict[str, str | bytes] = {"bootstrap": BOOTSTRAP, "runtime.py": RUNTIME}
    check_whole_log(server, "provided.al2023", "unused", files, "provided:al2023.v1")


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_node_log_is_whole_past_a_mebibyte(server: LamboxServer) -> None:
    check_whole_log(server, "nodejs20.x", "index.handler", {"index.js": NODE}, "nodejs:20.v1")
