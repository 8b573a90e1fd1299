"""Instructions the server executes per warm request, counted by callgrind: a figure that
does not move with the machine's load (the same binary and inputs give the same count).

``.venv/bin/python bench/instructions.py [--n 1000] [--compare SRC] [--stub service|wire]
[--url] [--keep DIR]``

Each server (the HTTP echo floor, the relay floor, lambox; ``--compare`` adds a lambox
started from another tree's ``src``, ``--stub`` one with a layer stubbed out, see
``stubbed_serve.py``) runs under ``valgrind --tool=callgrind``; after a warm-up the
counters are zeroed, ``n`` sequential keep-alive requests are sent, and the counters are
dumped. Only the server process's user-space instructions are counted: not the kernel's
work in its system calls, not the sandbox's, not the client's. valgrind slows the server
about fifty-fold, so ``n`` is small and the figures are not times. ``--url`` also counts,
on each lambox, a function URL's request to the same function (``function_url.py``'s
handler, which answers both with the same bytes). ``--keep`` copies each dump to a
directory, for ``callgrind_annotate`` to read function by function.
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
from function_url import url_request, url_zip
from httpclient import Connection, build_request

BENCH = Path(__file__).resolve().parent


def count(
    name: str,
    argv: list[str],
    health: str,
    env: dict[str, str],
    n: int,
    url: bool = False,
    keep: Path | None = None,
) -> list[float]:
    """Instructions per request of the server ``argv`` starts: for an Invoke, then (``url``)
    for a function URL's request to the same function."""
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        out = tmp / "callgrind.out"
        grind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p"]
        port = free_port()
        full = [*grind, *[a.replace("PORT", str(port)).replace("DATA", str(tmp)) for a in argv]]
        server = start_server(name, full, port, health, tmp, env)
        function = "bench-url" if url else "bench-echo"
        try:
            raws = [build_request(HOST, port, invoke_path(function), PAYLOAD)]
            if health != "/":
                client = lambda_client(server.url)
                create_function(client, function, url_zip() if url else echo_zip())
                if url:
                    raws.append(url_request(client, server, function))
            pid = str(server.proc.pid)
            with Connection(HOST, port, timeout=300) as conn:
                for raw in raws:
                    for _ in range(200):
                        conn.request(raw)
                    subprocess.run(
                        ["callgrind_control", "-z", pid], check=True, capture_output=True
                    )
                    for _ in range(n):
                        conn.request(raw)
                    subprocess.run(
                        ["callgrind_control", "-d", pid], check=True, capture_output=True
                    )
        finally:
            stop_server(server)
        # The dumps asked for are ``callgrind.out.<pid>.1``, ``.2``; the exit's has no suffix.
        figures = []
        for i in range(1, len(raws) + 1):
            for dump in tmp.glob(f"callgrind.out.*.{i}"):
                if keep is not None:  # for callgrind_annotate, function by function
                    keep.mkdir(parents=True, exist_ok=True)
                    slug = name.replace(" ", "-").replace(",", "")
                    shutil.copy(dump, keep / f"{slug}.{i}.callgrind")
                for line in dump.read_text(errors="replace").splitlines():
                    if line.startswith("summary:"):
                        figures.append(int(line.split()[1]) / n)
        if len(figures) == len(raws):
            return figures
    raise RuntimeError(f"{name}: callgrind wrote no dump")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--compare", type=Path, help="the src directory of another tree")
    parser.add_argument("--stub", action="append", default=[], choices=["service", "wire"])
    parser.add_argument("--url", action="store_true", help="count a function URL request too")
    parser.add_argument("--keep", type=Path, help="a directory to copy the callgrind dumps to")
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
        url = args.url and health != "/"
        figures = count(name, argv, health, env, args.n, url, args.keep)
        print(f"{name:>28}: {figures[0]:>9,.0f} instructions/request")
        if len(figures) > 1:
            print(f"{name + ', function URL':>28}: {figures[1]:>9,.0f} instructions/request")


if __name__ == "__main__":
    main()
