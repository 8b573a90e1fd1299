"""CPU the Python runtime's invoke loop spends per invocation, on the sandbox's side alone.

``.venv/bin/python bench/sandbox_loop.py [--n 20000] [--rounds 3] [--boxes 1,100]
[--compare SRC]``

Each tree's runtime (``python -m lambox.runtime``, the loop a sandbox runs) is started
``boxes`` times over socketpairs with the echo handler, and driven straight from this
process: INVOKE frames made by ``wire.encode_invoke`` with a fresh request id and trace
header each (as the server sends them), round robin over the processes, one at a time. No
server, no HTTP, no zygote: what is measured is the runtime processes' time on a CPU
(``/proc/<pid>/schedstat``: user + system, without ``stat``'s 10 ms ticks) per
invocation, so neighbours' load makes it wait but not work more.

Floor: as many stand-in processes that read a frame, decode its JSON meta and event, encode
the event and answer; the least a Python process answering the same frames costs, with
the same cache and scheduler effects of many processes. ``--compare`` names the ``src`` of
another tree (``git archive REV src | tar -x -C DIR``); each round measures the floor and
every tree alternately, for a before/after in one run. The runtimes are started as the
Linux backend starts them, which reads the peak memory from the sandbox's cgroup
(``wire.PEAK_BY_HOST_ENV``); the server-driven figure is ``bench/sandbox_cpu.py``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
sys.path.insert(0, str(SRC))

from lambox.runtime import wire  # noqa: E402

PAYLOAD = b'{"k": "v"}'
ECHO = "def handler(event, context):\n    return event\n"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:echo"
FLOOR = """
import json, os, socket, struct
h = struct.Struct("!BII")
s = socket.socket(fileno=int(os.environ["LAMBOX_WIRE_FD"]))
buf = bytearray(65536)
while True:
    n = s.recv_into(buf)
    if not n:
        break
    kind, ml, bl = h.unpack_from(buf)
    meta = json.loads(bytes(buf[9:9 + ml]))
    body = json.dumps(json.loads(bytes(buf[9 + ml:9 + ml + bl]))).encode()
    m = b'{"error":null,"log_len":0,"duration_ms":0.01,"max_rss_kb":1}'
    s.sendall(h.pack(3, len(m), len(body)) + m + body)
"""


class Box:
    """One runtime (or floor) process and the host end of its wire."""

    def __init__(self, argv: list[str], env: dict[str, str], code: Path) -> None:
        self.host, child = socket.socketpair()
        log_r, log_w = os.pipe()
        self.log = log_r
        self.proc = subprocess.Popen(
            argv,
            env={**env, "LAMBOX_WIRE_FD": str(child.fileno()), "LAMBOX_LOG_FD": str(log_w)},
            cwd=code,
            pass_fds=(child.fileno(), log_w),
            stdin=subprocess.DEVNULL,
        )
        child.close()
        os.close(log_w)

    def ready(self) -> None:
        kind, meta, _ = wire.recv_frame(self.host)
        if kind != wire.READY or meta.get("init_error"):
            raise RuntimeError(f"sandbox did not start: {kind} {meta}")

    def invoke(self, frame: bytes) -> None:
        self.host.sendall(frame)
        kind, meta, body = wire.recv_frame(self.host)
        if kind != wire.RESULT or meta["error"] is not None or body != PAYLOAD:
            raise RuntimeError(f"bad answer: {kind} {meta} {body[:200]!r}")

    def close(self) -> None:
        self.host.close()
        os.close(self.log)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def cpu_seconds(pids: list[int]) -> float:
    """Time on a CPU (``schedstat``: user + system, without ``stat``'s 10 ms ticks)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def frames(n: int) -> list[bytes]:
    """``n`` INVOKE frames as the server makes them: fresh ids and trace headers."""
    now = int(time.time())
    out = []
    for i in range(n):
        rid = f"{i:08x}-0000-4000-8000-{os.urandom(6).hex()}"
        trace = f"Root=1-{now:08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"
        deadline = (now + 900) * 1000
        out.append(wire.encode_invoke(rid, deadline, ARN, "$LATEST", None, trace, PAYLOAD))
    return out


def per_invoke_us(boxes: list[Box], todo: list[bytes]) -> float:
    """Sandbox CPU microseconds per invocation over ``todo``, round robin over ``boxes``."""
    for box in boxes:  # every process has answered lately
        for frame in todo[:20]:
            box.invoke(frame)
    pids = [b.proc.pid for b in boxes]
    before = cpu_seconds(pids)
    k = len(boxes)
    for i, frame in enumerate(todo):
        boxes[i % k].invoke(frame)
    return (cpu_seconds(pids) - before) * 1e6 / len(todo)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--boxes", default="1,100", help="numbers of processes, comma-separated")
    parser.add_argument("--compare", type=Path, help="the src directory of another tree")
    args = parser.parse_args()
    trees = {"this tree": SRC}
    if args.compare is not None:
        trees["compared"] = args.compare.resolve()
    counts = [int(x) for x in args.boxes.split(",")]
    todo = frames(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp)
        (code / "app.py").write_text(ECHO)
        base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LAMBDA_TASK_ROOT": str(code),
            "_HANDLER": "app.handler",
            "AWS_LAMBDA_FUNCTION_NAME": "echo",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/echo",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            # As the Linux backend starts its sandboxes (it reads the cgroup's peak).
            wire.PEAK_BY_HOST_ENV: "1",
        }
        kinds = {"floor": ([sys.executable, "-c", FLOOR], base_env)}
        for label, src in trees.items():
            argv = [sys.executable, "-m", "lambox.runtime"]
            kinds[label] = (argv, {**base_env, "PYTHONPATH": str(src)})
        for count in counts:
            pools = {
                label: [Box(a, e, code) for _ in range(count)] for label, (a, e) in kinds.items()
            }
            try:
                for label, pool in pools.items():
                    if label != "floor":
                        for box in pool:
                            box.ready()
                figures: dict[str, list[float]] = {label: [] for label in pools}
                for _ in range(args.rounds):
                    for label, pool in pools.items():
                        figures[label].append(per_invoke_us(pool, todo))
                for label, values in figures.items():
                    each = [round(v, 1) for v in values]
                    print(
                        f"{count:>4} processes {label:>10} us/invoke: {each}"
                        f" median {statistics.median(values):.1f}"
                    )
            finally:
                for pool in pools.values():
                    for box in pool:
                        box.close()
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
