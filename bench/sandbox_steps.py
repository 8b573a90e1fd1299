"""Where a sandbox's private memory and CPU go, step by step (docs/performance.md,
"Sandboxes"): ``.venv/bin/python bench/sandbox_steps.py [N [SRC]]``, as root on the Linux
backend; SRC is the ``src`` directory of the tree to measure (``git archive REV src``), this
tree's by default.

A copy of ``src`` is made whose sandbox set-up stops itself (SIGSTOP) after each step; a
thread here waits for each stop, compares the sandbox's page map (``/proc/<pid>/pagemap``:
frame number and "mapped by this process only" per page) with the previous stop's and with
its zygote's, reads its CPU time, and lets it go on. A page that became private with a new
frame was copied by the sandbox's write; one that became private with the same frame was
left to it by a write of the zygote. A page counts once, at the step that first made it
private (a page freed and faulted in again later is not counted again).
Nothing here is imported by lambox; the copy's stops are inserted by text replacement, so
a change to the lines they follow makes this script say which one it no longer finds.
"""

from __future__ import annotations

import asyncio
import collections
import compileall
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sandboxes import ROLE, STDLIB_CODE

ROOT = Path(__file__).resolve().parent.parent
STOP = "_probe_stop()\n"
# (file, the line before which the sandbox stops (from its first non-blank), that line's
# indent, the step that ends there)
Z, B = "runtime/zygote.py", "runtime/bootstrap.py"
STOPS = [
    (Z, "self.close_in_child()\n            jail.prepare", 12, "fork"),
    (Z, "jail.prepare(self.cgroup_fds", 12, "close_in_child"),
    (Z, "wire_fd = fd\n", 12, "jail.prepare"),
    (Z, "extra = dict(extra)\n            env_fd", 12, "jail.finish"),
    (Z, 'except BaseException:\n            report = "sandbox setup', 8, "environment"),
    (B, "try:\n        log_handler = install_logging(", 4, "wire, capture, reader"),
    (B, 'runtime = env.get("AWS_EXECUTION_ENV"', 8, "install_logging"),
    (B, "start = time.perf_counter()\n        handler, error", 8, "path, hooks, info, encoder"),
    (
        B,
        "if snapshot_fd is not None and handler is not None:\n            _, e",
        8,
        "handler import",
    ),
    (B, "if snapshot_fd is not None and handler is not None:\n            sock", 8, "READY sent"),
]
PROBE = (
    "import os as _probe_os\n"
    "_PROBE = _probe_os.environ.get('LAMBOX_PROBE') == '1'\n"
    "def _probe_stop():\n"
    "    if _PROBE:\n"
    "        _probe_os.kill(_probe_os.getpid(), 19)\n"
)


def probed_tree(dest: Path, tree: Path = ROOT / "src") -> Path:
    """A copy of ``tree`` (a ``src`` directory) with the stops; the copy."""
    src = dest / "src"
    shutil.copytree(tree, src, ignore=shutil.ignore_patterns("__pycache__"))
    # The compiled init is built by ``make install``, not kept in git: a tree from
    # ``git archive`` gets this tree's, or its sandboxes would run the Python init and read
    # 30-40 pages fewer for that alone.
    pid1 = Path("lambox/runtime/pid1")
    if not (src / pid1).exists() and (ROOT / "src" / pid1).exists():
        shutil.copy2(ROOT / "src" / pid1, src / pid1)
    lambox = src / "lambox"
    texts: dict[str, str] = {}
    for name, line, indent, step in STOPS:
        text = texts.get(name) or (lambox / name).read_text()
        before = "\n" + " " * indent + line
        if text.count(before) != 1:
            raise SystemExit(f"{name}: the line before which step {step!r} ends is not found")
        # An except clause ends the try block: the stop goes in the block, one level in.
        inside = indent + 4 if line.startswith("except") else indent
        texts[name] = text.replace(before, "\n" + " " * inside + STOP.rstrip("\n") + before)
    for name, text in texts.items():
        head, sep, rest = text.partition("\nfrom lambox")
        (lambox / name).write_text(head + "\n" + PROBE + sep + rest)
    zygote = lambox / "sandbox" / "zygote.py"
    text = zygote.read_text()
    old = '"PYTHONDONTWRITEBYTECODE": "1",'
    zygote.write_text(text.replace(old, old + ' "LAMBOX_PROBE": "1",', 1))
    spares = lambox / "sandbox" / "spares.py"  # no spares: every sandbox takes every step
    spares.write_text(spares.read_text().replace("per_zygote: int = 1", "per_zygote: int = 0"))
    # Bytecode for every module, as the server's own imports leave it for most of the
    # runtime: code compiled at import sits elsewhere in the zygote's heap than code read
    # from a .pyc, which moves the pages a zygote writes after each fork by dozens.
    compileall.compile_dir(src, quiet=1)
    return src


def pagemap(pid: int) -> dict[int, tuple[int, int, str]]:
    """Present pages: page number -> (frame, mapped by this process only, mapping name)."""
    pages: dict[int, tuple[int, int, str]] = {}
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split()
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
                if name == "[vsyscall]":
                    continue
                data = os.pread(fd, ((hi - lo) >> 12) * 8, (lo >> 12) * 8)
                for i, (v,) in enumerate(struct.iter_unpack("Q", data)):
                    if v >> 63 & 1:
                        pages[(lo >> 12) + i] = (v & ((1 << 55) - 1), v >> 56 & 1, name)
    finally:
        os.close(fd)
    return pages


def cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


class Watcher:
    """Resumes every stopped child of the zygotes it is given, counting as it goes."""

    def __init__(self) -> None:
        self.zygotes: list[int] = []
        # Only the version zygote's children are counted: the first sandbox, forked by the
        # base zygote, imports what its version zygote will preload.
        self.measured = 0
        self.before_fork: dict[int, tuple[int, int, str]] = {}
        self.pages: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.cpu: dict[str, list[int]] = collections.defaultdict(list)
        self._last: dict[int, tuple[dict[int, tuple[int, int, str]], int]] = {}
        self._counted: dict[int, set[int]] = collections.defaultdict(set)
        self._inherited: dict[int, set[int]] = {}
        self._steps: collections.Counter[int] = collections.Counter()
        self.stopped = False

    def count(self, pid: int, zygote: int, step: str) -> None:
        now, cpu = pagemap(pid), cpu_ns(pid)
        last = self._last.get(pid)
        old = last[0] if last else {p: (v[0], 0, v[2]) for p, v in self.before_fork.items()}
        inherited = self._inherited.setdefault(pid, set(self.before_fork))
        self.cpu[step].append(cpu - (last[1] if last else 0))
        for page, (frame, only, name) in now.items():
            was = old.get(page)
            if only and not (was and was[1]) and page not in self._counted[pid]:
                self._counted[pid].add(page)
                who = "sandbox" if was is None or was[0] != frame else "zygote"
                self.pages[step][who] += 1
                self.pages[step]["in " + name] += 1
                if page not in inherited:
                    self.pages[step]["new"] += 1
        self._last[pid] = (now, cpu)

    def run(self) -> None:
        while not self.stopped:
            for zygote in list(self.zygotes):
                try:
                    with open(f"/proc/{zygote}/task/{zygote}/children") as f:
                        children = [int(p) for p in f.read().split()]
                except OSError:
                    continue
                for child in children:
                    try:
                        with open(f"/proc/{child}/stat") as f:
                            if f.read().rsplit(")", 1)[1].split()[0] != "T":
                                continue
                        n = self._steps[child]
                        self._steps[child] += 1
                        if self.measured == zygote and n < len(STOPS):
                            self.count(child, zygote, STOPS[n][3])
                        os.kill(child, signal.SIGCONT)
                    except OSError:
                        continue
            time.sleep(0.0005)


async def profile(n: int, tmp: Path, watcher: Watcher) -> list[int]:
    from lambox.model import FunctionConfig, FunctionVersion
    from lambox.sandbox.api import InvokeRequest
    from lambox.sandbox.backends import open_linux

    code_root = tmp / "code" / "tree"
    code_dir = code_root / ("0" * 64)
    code_dir.mkdir(parents=True)
    (code_dir / "app.py").write_text(STDLIB_CODE)
    config = FunctionConfig("steps", "python3.11", "app.handler", ROLE, "", 0, "", "")
    arn = "arn:aws:lambda:us-east-1:000000000000:function:steps"
    fv = FunctionVersion(arn, config, code_dir, sys.executable, "us-east-1", 1)
    factory = open_linux(tmp, code_root)
    made: list[Any] = []
    thread = threading.Thread(target=watcher.run, daemon=True)
    try:
        watcher.zygotes.append((await factory.zygotes.base(sys.executable)).pid)
        thread.start()
        first = factory.create(fv)
        await first.start()
        await first.destroy()
        while not factory.zygotes.version_ready(fv):
            await asyncio.sleep(0.01)
        zygote = next(e.process.pid for e in factory.zygotes._versions.values() if e.process)
        watcher.zygotes.append(zygote)
        watcher.measured = zygote
        await asyncio.sleep(0.5)
        for _ in range(n):
            watcher.before_fork = pagemap(zygote)
            sandbox = factory.create(fv)
            made.append(sandbox)
            await sandbox.start()
        await asyncio.sleep(0.3)
        for sandbox in made:
            watcher.count(sandbox.pid, zygote, "idle, until the zygote's next fork")
        for sandbox in made:
            request = InvokeRequest("r", b"{}", time.time() + 5, arn, None, "")
            await sandbox.invoke(request, 5.0)
        await asyncio.sleep(0.3)
        for sandbox in made:
            watcher.count(sandbox.pid, zygote, "the first invocation")
        return [sum(1 for v in pagemap(s.pid).values() if v[1]) for s in made]
    finally:
        watcher.stopped = True
        for sandbox in made:
            await sandbox.destroy()
        await factory.close()


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    tree = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "src"
    if os.environ.get("LAMBOX_PROBE_CHILD") != "1":
        # Not under /tmp: a runtime there is bound again over each sandbox's own /tmp
        # (``jail._rebind_masked``), which is not the set-up being measured.
        with tempfile.TemporaryDirectory(prefix=".steps-", dir=ROOT / "bench") as tmp:
            src = probed_tree(Path(tmp), tree)
            env = {**os.environ, "PYTHONPATH": str(src), "LAMBOX_PROBE_CHILD": "1"}
            return subprocess.run([sys.executable, __file__, str(n)], env=env).returncode
    watcher = Watcher()
    with tempfile.TemporaryDirectory(prefix="lambox-steps-") as tmp:
        totals = asyncio.run(profile(n, Path(tmp), watcher))
    print(f"{n} sandboxes, private pages at the end p50 {sorted(totals)[n // 2]}"
          f" ({sorted(totals)[n // 2] * 4 / 1024:.2f} MiB)")  # fmt: skip
    print(f"{'step':38s} {'pages':>7s} {'zygote':>7s} {'new':>7s} {'CPU ms':>7s}")
    steps = [s for *_, s in STOPS]
    for step in steps + [s for s in watcher.pages if s not in steps]:
        pages = watcher.pages.get(step, collections.Counter())
        cpu = sorted(watcher.cpu.get(step) or [0])
        print(
            f"{step:38s} {(pages['sandbox'] + pages['zygote']) / n:7.1f} {pages['zygote'] / n:7.1f}"
            f" {pages['new'] / n:7.1f}"
            f" {cpu[len(cpu) // 2] / 1e6:7.3f}  "
            + ", ".join(f"{k}={v / n:.0f}" for k, v in pages.most_common() if k.startswith("in "))
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
