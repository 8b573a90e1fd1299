"""Instructions the server executes per warm request, counted by callgrind: a figure that
does not move with the machine's load (the same binary and inputs give the same count).

``.venv/bin/python bench/instructions.py [--n 1000] [--compare SRC] [--stub service|wire]``

Each server (the HTTP echo floor, the relay floor, lambox; ``--compare`` adds a lambox
started from another tree's ``src``, ``--stub`` one with a layer stubbed out, see
``stubbed_serve.py``) runs under ``valgrind --tool=callgrind``; after a warm-up the
counters are zeroed, ``n`` sequential keep-alive requests are sent, and the counters are
dumped. Only the server process's user-space instructions are counted: not the kernel's
work in its system calls, not the sandbox's, not the client's. valgrind slows the server
about fifty-fold, so ``n`` is small and the figures are not times.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import (
    HOST,
    PAYLOAD,
    create_function,
    echo_zip,
    free_port,
    invoke_path,
    lambda_client,
    lambox_argv,
    start_server,
    stop_server,
)
from httpclient import Connection, build_request

BENCH = Path(__file__).resolve().parent


def count(name: str, argv: list[str], health: str, env: dict[str, str], n: int) -> float:
    """Instructions per request of the server ``argv`` starts."""
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        out = tmp / "callgrind.out"
        grind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p"]
        port = free_port()
        full = [*grind, *[a.replace("PORT", str(port)).replace("DATA", str(tmp)) for a in argv]]
        server = start_server(name, full, port, health, tmp, env)
        try:
            if health != "/":
                create_function(lambda_client(server.url), "bench-echo", echo_zip())
            raw = build_request(HOST, port, invoke_path("bench-echo"), PAYLOAD)
            with Connection(HOST, port, timeout=300) as conn:
                for _ in range(200):
                    conn.request(raw)
                pid = str(server.proc.pid)
                subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
                for _ in range(n):
                    conn.request(raw)
                subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        finally:
            stop_server(server)
        # The dump asked for is ``callgrind.out.<pid>.1``; the one the exit writes has no suffix.
        for dump in tmp.glob("callgrind.out.*.1"):
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith("summary:"):
                    return int(line.split()[1]) / n
    raise RuntimeError(f"{name}: callgrind wrote no dump")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--compare", type=Path, help="the src directory of another tree")
    parser.add_argument("--stub", action="append", default=[], choices=["service", "wire"])
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    py = sys.executable
    lam = lambox_argv(0, Path("DATA/data"))
    lam[lam.index("--port") + 1] = "PORT"
    runs: list[tuple[str, list[str], str, dict[str, str]]] = [
        ("HTTP echo floor", [py, str(BENCH / "echo_server.py"), "--port", "PORT"], "/", {}),
        ("relay floor", [py, str(BENCH / "relay_server.py"), "--port", "PORT"], "/", {}),
        ("lambox", lam, "/2015-03-31/functions", {}),
    ]
    if args.compare is not None:
        env = {"PYTHONPATH": str(args.compare.resolve())}
        runs.append(("lambox, compared tree", lam, "/2015-03-31/functions", env))
    for stub in args.stub:
        argv = [py, str(BENCH / "stubbed_serve.py"), stub, *lam[3:]]
        runs.append((f"lambox, {stub} stubbed", argv, "/2015-03-31/functions", {}))
    for name, argv, health, env in runs:
        print(f"{name:>28}: {count(name, argv, health, env, args.n):>9,.0f} instructions/request")


if __name__ == "__main__":
    main()
