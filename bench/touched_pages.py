"""Memory pages a warm invoke touches: in a sandbox, in its floor's worker, in the server.

``.venv/bin/python bench/touched_pages.py [--functions 100] [--requests 100]`` (as root)

A page's "referenced" bit is cleared (``/proc/<pid>/clear_refs``, 1), requests are sent, and
``/proc/<pid>/smaps`` says how many pages of each mapping were read or written since. Private
writable pages a warm invocation touches are the ones that count when many sandboxes take
turns: each sandbox has its own copy of every page it ever wrote (a reference count is a
write, in CPython 3.11), so each of those pages is one more set of cache lines and one more
TLB entry that the next sandbox's turn evicts. Counts do not move with the machine's load.

Measured, in one run:
- the sandboxes of an echo function (those of the server's sandboxes that ran: the one
  warm sandbox, usually), over 10 sequential invokes, three times (10 invokes touch hardly
  more than one: the same pages each time);
- the relay floor's workers (``relay_server.py``), the least a process answering the same
  request in turn does, the same way;
- the server process over ``requests`` sequential requests, on 1 function and round robin
  over ``functions`` warm functions: the difference is what the server touches for each
  function it serves (its function's objects, sandbox, connection, log file...).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import tempfile
import time
from pathlib import Path

from common import (
    HOST,
    PAYLOAD,
    free_port,
    invoke_path,
    lambox_argv,
    start_server,
    stop_server,
)
from httpclient import Connection, build_request
from invoke_floors import start_relay
from startup import seed


def referenced(pid: int) -> collections.Counter[str]:
    """Referenced pages (4 KiB) of ``pid`` by mapping: its path (or [anon], [heap]) and
    permissions, so a library's code and its writable data count apart."""
    counts: collections.Counter[str] = collections.Counter()
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if fields[0] == "Referenced:":
                counts[name] += int(fields[1]) // 4
            elif not fields[0].endswith(":") and "-" in fields[0]:
                path = fields[5] if len(fields) > 5 else "[anon]"
                name = f"{path} {fields[1]}"
    return counts


def clear(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("1")


def touched(
    pids: list[int], conn: Connection, requests: list[bytes], n: int
) -> collections.Counter[str]:
    """Pages the processes ``pids`` touched (summed) while ``n`` requests went out round
    robin over ``requests``."""
    for pid in pids:
        clear(pid)
    for i in range(n):
        conn.request(requests[i % len(requests)])
    counts: collections.Counter[str] = collections.Counter()
    for pid in pids:
        counts.update(referenced(pid))
    return counts


def writable(counts: collections.Counter[str]) -> int:
    return sum(v for name, v in counts.items() if name.endswith("rw-p"))


def report(label: str, counts: collections.Counter[str]) -> tuple[int, int]:
    """Print the pages touched and the four largest mappings; (referenced, writable)."""
    total = sum(counts.values())
    rw = writable(counts)
    print(f"{label:>46}: {total:5d} pages referenced, {rw:5d} of them writable")
    for name in sorted(counts, key=lambda k: -counts[k])[:4]:
        print(f"{'':>48}{counts[name]:5d}  {re.sub(r'.*/', '', name)}")
    return total, rw


def cpu_ns(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except OSError:
        return 0


def sandboxes(before: set[int]) -> list[int]:
    """Processes started since ``before`` that are pid 2 of their pid namespace (pid 1 being
    their init): the sandboxes, spares and learning sandboxes among them."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in before:
            continue
        try:
            ns = re.search(r"NSpid:\s+\d+\s+(\d+)", (entry / "status").read_text())
        except OSError:
            continue
        if ns and ns.group(1) == "2":
            found.append(int(entry.name))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--functions", type=int, default=100)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        seed(tmp / "seed", tmp, args.functions)
        shutil.copytree(tmp / "seed", tmp / "data")
        port = free_port()
        before = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}
        env = {"LAMBOX_KEEP_ALIVE": "600"}
        server = start_server(
            "lambox", lambox_argv(port, tmp / "data"), port, "/lambox/v1/health", tmp, env
        )
        relay = start_relay(tmp)
        try:
            with Connection(HOST, port) as conn:
                one = [build_request(HOST, port, invoke_path("seed-0"), PAYLOAD)]
                for _ in range(300):
                    conn.request(one[0])
                boxes = sandboxes(before)
                for _ in range(3):
                    report("sandboxes, 10 invokes", touched(boxes, conn, one, 10))
                many = [
                    build_request(HOST, port, invoke_path(f"seed-{i}"), PAYLOAD)
                    for i in range(args.functions)
                ]
                for _ in range(3):
                    for raw in many:
                        conn.request(raw)
                n, server_pid = args.requests, server.proc.pid
                for _ in range(2):
                    _, alone = report(
                        f"server, {n} requests, 1 function", touched([server_pid], conn, one, n)
                    )
                    label = f"server, {n} requests, {args.functions} functions"
                    _, spread = report(label, touched([server_pid], conn, many, n))
                    extra = (spread - alone) / min(n, args.functions)
                    print(f"{'':>48}{extra:5.1f} writable pages more per function served")
            with Connection(HOST, relay.port) as conn:
                relayed = [build_request(HOST, relay.port, invoke_path("seed-0"), PAYLOAD)]
                for _ in range(300):
                    conn.request(relayed[0])
                time.sleep(0.1)
                children = Path(f"/proc/{relay.proc.pid}/task/{relay.proc.pid}/children")
                workers = [int(p) for p in children.read_text().split()]
                for _ in range(3):
                    report(
                        "relay floor's workers, 10 requests", touched(workers, conn, relayed, 10)
                    )
        finally:
            stop_server(relay)
            stop_server(server)


if __name__ == "__main__":
    main()
