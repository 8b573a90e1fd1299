"""Start-up of this tree beside another tree's, with the echo floor, in one run.

    git archive main src | tar -x -C /tmp/base
    .venv/bin/python bench/startup_compare.py --compare /tmp/base/src [--rounds 7]

Each round starts, in turn (the order reversed every other round, so drifting load on a
shared machine falls on all alike): the echo floor, then each tree with 0 and with 10,000
functions in its store (``startup.first_answer``). The compared tree's ``src`` goes first on
``PYTHONPATH``; it is started once untimed so that its bytecode cache is written. Reported:
medians of the first answer, the server's CPU to it, its idle RSS and its CPU a second
later, and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import BENCH, free_port, lambox_argv
from startup import first_answer, seed

KEYS = ("first_answer_s", "cpu_s", "idle_rss_mib", "cpu_1s_later_s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--compare", type=Path, help="the src directory of another tree")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--functions", type=int, nargs="*", default=[0, 10_000])
    args = parser.parse_args()
    trees: dict[str, dict[str, str]] = {"this tree": {}}
    if args.compare is not None:
        trees = {"compared": {"PYTHONPATH": str(args.compare.resolve())}, **trees}
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="lambox-startup-cmp-") as name:
        tmp = Path(name)
        rows: dict[str, Any] = {
            "echo floor": lambda port: (
                [sys.executable, str(BENCH / "echo_server.py"), "--port", str(port)],
                "/",
                {},
            )
        }
        for n in args.functions:
            data = tmp / f"start-{n}"
            if n:
                seed(data, tmp, n)
            for label, env in trees.items():
                rows[f"{label}, {n} functions"] = lambda port, d=data, e=env: (
                    lambox_argv(port, d),
                    "/lambox/v1/health",
                    e,
                )
        # Untimed: bytecode caches written, data directories made.
        for make in rows.values():
            port = free_port()
            argv, path, env = make(port)
            first_answer(argv, port, path, tmp / "warm.log", env)
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label in rows}
        for r in range(args.rounds):
            order = list(rows) if r % 2 == 0 else list(reversed(rows))
            for label in order:
                port = free_port()
                argv, path, env = rows[label](port)
                runs[label].append(first_answer(argv, port, path, tmp / "run.log", env))
        print(
            f"median of {args.rounds}: first answer s / CPU to it s / idle RSS MiB / CPU 1 s later"
        )
        for label, found in runs.items():
            cells = [statistics.median(run[key] for run in found) for key in KEYS]
            print(
                f"  {label:28} {cells[0]:.3f}  {cells[1]:.3f}  {cells[2]:.1f}  {cells[3]:.3f}"
                f"   (first answers {', '.join(f'{run[KEYS[0]]:.3f}' for run in found)})"
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
