"""Runtime API sandboxes (provided.* bootstraps, Node.js) are jailed like Python ones.

A shell bootstrap in the style of AWS's custom-runtime tutorial runs one shell function per
deployed function (its Handler's second part); each reports what it can see and do. Gated,
like every adversarial test, on the server isolating its sandboxes (``isolated``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.conftest import Functions, call, invocation_log
from tests.conftest import LamboxServer, make_zip, unique

pytestmark = [
    pytest.mark.usefixtures("still_serving"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on PATH"),
]

BOOTSTRAP = r"""#!/bin/bash
set -uo pipefail
. "$LAMBDA_TASK_ROOT/function.sh"
sleep "${INIT_SLEEP:-0}"  # a slow init: its Runtime API waits for its first /next
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  HEADERS="$(mktemp)"
  EVENT_DATA=$(curl -sS -D "$HEADERS" "$API/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  # In this shell, not a subshell: a function that grows is the runtime growing.
  "${_HANDLER#*.}" "$EVENT_DATA" >/tmp/.response
  curl -sS "$API/$REQUEST_ID/response" --data-binary @/tmp/.response >/dev/null
done
"""
FUNCTIONS = r"""
probe () {
  local procs
  procs=$(ls /proc | grep -c '^[0-9]')
  echo "{\"pid\": $$, \"uid\": $(id -u), \"gid\": $(id -g), \"procs\": $procs,"
  echo " \"init\": \"$(tr '\0' ' ' </proc/1/cmdline | cut -c1-200)\","
  echo " \"host\": \"$(hostname)\", \"nnp\": \"$(grep NoNewPrivs /proc/self/status | cut -f2)\","
  echo " \"api\": \"$AWS_LAMBDA_RUNTIME_API\", \"task\": \"$LAMBDA_TASK_ROOT\"}"
}

paths () {
  local data
  data=$(echo "$1" | tr -d '"')
  local task tmp root datadir
  task=$( (touch /var/task/new && echo written) 2>&1 | tail -1)
  root=$( (touch /written-at-root && echo written) 2>&1 | tail -1)
  tmp=$( (echo x >/tmp/mine && echo written) 2>&1 | tail -1)
  datadir=hidden
  if ls "$data" >/dev/null 2>&1 && [ -e "$data/state.db" ]; then datadir=visible; fi
  echo "{\"task\": \"$task\", \"root\": \"$root\", \"tmp\": \"$tmp\", \"data\": \"$datadir\","
  echo " \"tmp_kb\": $(df -k /tmp | awk 'NR==2 {print $2}'),"
  echo " \"mounts\": \"$(awk '$2 == "/var/task" {print $4}' /proc/mounts | cut -d, -f1)\"}"
}

keep () {
  echo "$1" >/tmp/secret
  echo "{\"tmp\": \"$(ls /tmp | tr '\n' ' ')\"}"
}

look () {
  echo "{\"tmp\": \"$(ls /tmp | tr '\n' ' ')\"}"
}

hog () {
  local mb x=x
  mb=$(echo "$1" | tr -cd '0-9')
  while [ ${#x} -lt $((mb << 20)) ]; do x=$x$x; done
  echo "{\"held\": ${#x}}"
}

chatty () {
  # 200 MB on stderr (stdout is the response), then one last line.
  yes 'line of a chatty bootstrap' | head -c 200000000 >&2
  echo "last line of the chatty bootstrap" >&2
  echo '"flooded"'
}

talk_then_hang () {
  echo "said before the end" >&2
  sleep 60
}

connect () {
  local port
  port=$(echo "$1" | tr -cd '0-9')
  if curl -sS -m 3 -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
    echo '"connected"'
  else
    echo '"refused"'
  fi
}
"""
CODE = make_zip({"bootstrap": BOOTSTRAP, "function.sh": FUNCTIONS}, {"bootstrap": 0o755})
NODE_CODE = make_zip(
    {
        "index.js": """
const fs = require("fs");
exports.handler = async () => {
  let task = "written";
  try { fs.writeFileSync("/var/task/new", "x"); } catch (e) { task = e.code; }
  return { pid: process.pid, uid: process.getuid(), task, cwd: process.cwd() };
};
"""
    }
)


@pytest.fixture(scope="module")
def shell(lambda_client: Any) -> Iterator[Callable[..., str]]:
    """Deploy the shell bootstrap with one of its functions as the handler."""
    functions = Functions(lambda_client)

    def create(
        function: str, code: bytes = CODE, runtime: str = "provided.al2023", **config: Any
    ) -> str:
        return functions.create(
            f"rapi-{function.replace('.', '-')}",
            Runtime=runtime,
            Handler=f"function.{function}" if runtime.startswith("provided") else function,
            Code={"ZipFile": code},
            **config,
        )

    yield create
    functions.delete_all()


def test_bootstrap_is_not_pid_1_of_the_host_nor_root(
    lambda_client: Any, shell: Callable[..., str]
) -> None:
    error, info = call(lambda_client, shell("probe"))
    assert error is None, info
    assert info["pid"] == 2  # under lambox's tiny init, pid 1 of its own pid namespace
    assert "lambox" not in info["init"] or "python" in info["init"]
    assert info["procs"] <= 8  # itself, its init, the pipeline reading /proc: nothing else
    assert info["uid"] != 0 and info["gid"] != 0
    assert info["host"] == "sandbox"
    assert info["nnp"] == "1"
    assert info["task"] == "/var/task"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", info["api"])


def test_code_is_read_only_and_tmp_is_private_and_sized(
    lambda_client: Any, shell: Callable[..., str], server: LamboxServer
) -> None:
    name = shell("paths", EphemeralStorage={"Size": 600})
    error, info = call(lambda_client, name, str(server.data_dir))
    assert error is None, info
    assert "Read-only file system" in info["task"]
    assert info["mounts"] == "ro"
    assert info["root"] != "written"
    assert info["tmp"] == "written"
    assert info["data"] == "hidden"
    assert info["tmp_kb"] == 600 * 1024


def test_each_sandbox_has_its_own_tmp(lambda_client: Any, shell: Callable[..., str]) -> None:
    error, info = call(lambda_client, shell("keep"), "hush")
    assert error is None and "secret" in info["tmp"], info
    error, info = call(lambda_client, shell("look"))
    assert error is None, info
    assert "secret" not in info["tmp"]


def test_memory_hog_bootstrap_gets_out_of_memory(
    lambda_client: Any, shell: Callable[..., str]
) -> None:
    name = shell("hog", MemorySize=128, Timeout=30)
    error, body = call(lambda_client, name, 400)
    assert error == "Unhandled", body
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert body["errorMessage"].endswith("Runtime exited with error: signal: killed")
    # A fresh sandbox serves the next invocation, and Max Memory Used is the cgroup's peak.
    out = lambda_client.invoke(FunctionName=name, Payload=b"16", LogType="Tail")
    assert "FunctionError" not in out
    assert json.loads(out["Payload"].read()) == {"held": 16 << 20}
    report = base64.b64decode(out["LogResult"]).decode()
    used = int(re.search(r"Max Memory Used: (\d+) MB", report).group(1))  # type: ignore[union-attr]
    assert 16 <= used <= 128


def test_network_none_runtime_reaches_only_its_api(
    lambda_client: Any, shell: Callable[..., str], server: LamboxServer
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    open_name = shell("connect")
    assert call(lambda_client, open_name, port) == (None, "connected")
    closed = shell("connect", Tags={"lambox:network": "none"})
    assert call(lambda_client, closed, port) == (None, "refused")
    error, info = call(lambda_client, shell("probe", Tags={"lambox:network": "none"}))
    assert error is None, info
    assert info["api"] == "127.0.0.1:9001"


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_node_runs_jailed(lambda_client: Any, shell: Callable[..., str]) -> None:
    name = shell("index.handler", NODE_CODE, runtime="nodejs20.x")
    error, info = call(lambda_client, name)
    assert error is None, info
    assert info["pid"] == 2
    assert info["uid"] != 0
    assert info["task"] == "EROFS"
    assert info["cwd"] == "/var/task"


def test_a_chatty_bootstrap_is_not_killed_for_its_logs(
    lambda_client: Any, shell: Callable[..., str], server: LamboxServer
) -> None:
    """200 MB of log: written to the function's log as it comes (never held whole), the
    log files kept within their retention (the newest file and one older one)."""
    name = shell("chatty", MemorySize=128, Timeout=60)
    out = lambda_client.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert json.loads(out["Payload"].read()) == "flooded"
    assert "FunctionError" not in out
    request_id = out["ResponseMetadata"]["RequestId"]
    logs = server.data_dir / "logs"
    text = (logs / f"{name}.log").read_text(errors="replace")
    end = text.index(f"END RequestId: {request_id}")
    assert text[:end].endswith("last line of the chatty bootstrap\n")
    kept = sum(p.stat().st_size for p in logs.glob(f"{name}.log*"))
    assert kept <= 2 * (8 << 20) + (2 << 20), kept  # LAMBOX_LOG_RETENTION_BYTES, twice
    tail = base64.b64decode(out["LogResult"]).decode()
    assert "last line of the chatty bootstrap\nEND RequestId" in tail


def test_what_a_bootstrap_wrote_before_its_timeout_is_kept(
    lambda_client: Any, shell: Callable[..., str], server: LamboxServer
) -> None:
    name = shell("talk_then_hang", Timeout=2)
    out = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(out["Payload"].read())["errorType"] == "Sandbox.Timedout"
    log = invocation_log(server, name, out["ResponseMetadata"]["RequestId"]).splitlines()
    assert log[1] == "said before the end"
    assert log[2].endswith("Task timed out after 2.00 seconds")


def listening_ports(pid: int) -> set[int]:
    """The loopback TCP ports process ``pid`` listens on (read as root)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, port = fields[1].split(":")
        if fields[3] == "0A" and address == "0100007F" and fields[9] in inodes:
            ports.add(int(port, 16))
    return ports


def test_another_sandbox_cannot_take_a_runtimes_invocations(
    lambda_client: Any,
    shell: Callable[..., str],
    deploy: Callable[..., str],
    server: LamboxServer,
) -> None:
    """A runtime's Runtime API listens on the host's loopback, which every sandbox with the
    host's network reaches: it answers only the processes of its own sandbox. Here another
    function asks it for the next invocation while the runtime is still in its init."""
    secret = unique("payload")
    victim = shell("probe", Environment={"Variables": {"INIT_SLEEP": "6"}}, Timeout=30)
    thief = deploy("steal", Timeout=30)
    call(lambda_client, thief, {"port": 9, "wait": 1})  # warm: its sandbox is ready
    before = listening_ports(server.proc.pid)
    with ThreadPoolExecutor(1) as pool:
        invoked = pool.submit(call, lambda_client, victim, {"secret": secret})
        deadline = time.monotonic() + 5
        new: set[int] = set()
        while not new and time.monotonic() < deadline:
            time.sleep(0.05)
            new = listening_ports(server.proc.pid) - before
        assert len(new) == 1, new  # the victim's Runtime API, during its init
        error, stolen = call(lambda_client, thief, {"port": new.pop(), "wait": 8})
        assert error is None, stolen
        assert secret not in stolen["body"]
        assert stolen["status"] != 200, stolen
        error, info = invoked.result()
    assert error is None, info  # the victim's own runtime got it
    assert info["pid"] == 2
