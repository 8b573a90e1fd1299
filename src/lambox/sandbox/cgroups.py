"""Control groups for sandboxes: cgroup v2 where its controllers are mounted, v1 otherwise.

Each server owns one directory per controller, ``lambox-<pid>``, created under the server's
own cgroup (so every sandbox stays inside whatever limits the operator put lambox in), and
leaves ``sb-<n>`` below it, one per live sandbox. Leaves are made ahead of time and reused,
so the cold path only writes three limits and a child writes its own pid (see
``runtime.jail``). Memory is capped at MemorySize (swap too, where the kernel accounts it),
pids are capped so a fork bomb stays inside, and CPU follows ``CpuPolicy``: by default a
weight in proportion to memory (work-conserving: idle cores serve any sandbox, busy ones are
shared by MemorySize), or Lambda's hard CFS quota (1,769 MB = one vCPU).

Directories of servers that died without cleaning up (``lambox-<pid>`` of a pid that is
gone) are swept, their processes killed, when a new server starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
import re
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MB_PER_CPU = 1769
# A throttled sandbox waits out the rest of a period: short periods mean short stalls. At
# 20 ms, 128 MB's share (1.45 ms a period) is still above the kernel's 1 ms minimum quota
# (below 14 ms it would not be), so every Lambda memory size gets exactly its share.
CPU_PERIOD_US = 20_000
MIN_QUOTA_US = 1_000
# The kernel's default weight of a group is one vCPU's (1,769 MB's) share in both versions.
DEFAULT_SHARES = 1024  # cgroup v1 cpu.shares, range 2..262144
DEFAULT_WEIGHT = 100  # cgroup v2 cpu.weight, range 1..10000
CPU_MODES = ("shares", "quota")
CONTROLLERS = ("memory", "cpu", "pids")
_STALE = re.compile(r"lambox-(\d+)")


@dataclass(frozen=True, slots=True)
class Mount:
    """One cgroup hierarchy: where it is mounted and which cgroup the mount shows as root."""

    point: Path
    root: str
    controllers: frozenset[str]


def parse_mountinfo(text: str) -> list[tuple[str, Mount]]:
    """(fstype, mount) for every cgroup and cgroup2 mount in /proc/self/mountinfo text."""
    found = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        point = Path(fields[4].replace("\\040", " "))
        controllers = frozenset(tail[2].split(",")) if tail[0] == "cgroup" else frozenset()
        found.append((tail[0], Mount(point, fields[3], controllers)))
    return found


def parse_self_cgroup(text: str) -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def _within(mount: Mount, path: str) -> Path:
    rel = os.path.relpath(path, mount.root) if mount.root != "/" else path.lstrip("/")
    return mount.point if rel in (".", "") else mount.point / rel


def cpu_quota_us(memory_mb: int, cpus: int) -> int | None:
    """The CFS quota per period for a memory size; None when it would not limit anything."""
    quota = CPU_PERIOD_US * memory_mb // MB_PER_CPU
    if quota >= CPU_PERIOD_US * cpus:
        return None
    return max(MIN_QUOTA_US, quota)


@dataclass(frozen=True, slots=True)
class CpuLimit:
    """What a sandbox's group gets of the CPU: a CFS quota per period (None: no cap) and a
    weight among its siblings, given as the MemorySize it stands for (None: the kernel's
    default, one vCPU's)."""

    quota_us: int | None = None
    weight_mb: int | None = None

    def shares(self) -> int:
        """cgroup v1 ``cpu.shares``."""
        if self.weight_mb is None:
            return DEFAULT_SHARES
        return min(262_144, max(2, DEFAULT_SHARES * self.weight_mb // MB_PER_CPU))

    def weight(self) -> int:
        """cgroup v2 ``cpu.weight``."""
        if self.weight_mb is None:
            return DEFAULT_WEIGHT
        return min(10_000, max(1, DEFAULT_WEIGHT * self.weight_mb // MB_PER_CPU))


UNLIMITED = CpuLimit()


class CpuPolicy:
    """``LAMBOX_CPU_MODE``: what a sandbox's CPU is once its init is over (init always runs
    ``UNLIMITED``, as Lambda boosts init).

    ``shares`` (the default) caps nothing: a sandbox may use every idle core, and when the
    machine is busy sandboxes share it by weight in proportion to MemorySize, so latency on
    a user's own machine is that of the machine. ``quota`` is Lambda's hard limit, a CFS
    quota of MemorySize / 1,769 MB of a core per period, for testing latency under the CPU
    a function would get on AWS."""

    def __init__(self, mode: str = "shares", cpus: int = 1) -> None:
        mode = mode.strip().lower()
        if mode not in CPU_MODES:
            raise ValueError(f"LAMBOX_CPU_MODE must be one of {', '.join(CPU_MODES)}, not {mode!r}")
        self.mode = mode
        self.cpus = cpus

    def after_init(self, memory_mb: int) -> CpuLimit:
        if self.mode == "quota":
            return CpuLimit(quota_us=cpu_quota_us(memory_mb, self.cpus))
        return CpuLimit(weight_mb=memory_mb)


def _write(path: Path | str, value: str) -> None:
    """One write(2) to a control file: no text stream around it (``open`` adds an fstat,
    an isatty ioctl and seeks to every write: measured at two thirds of a leaf's system
    calls), and the kernel's refusal (EINVAL, EBUSY) comes from the write itself. The
    flags are ``open(path, "w")``'s."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read_key(path: Path, key: str) -> int:
    """``key N`` lines (memory.oom_control, memory.events); 0 when absent."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


class Cgroup:
    """One leaf: a sandbox's memory, CPU and pids limits, one directory per hierarchy."""

    def __init__(self, name: str, dirs: dict[str, Path], version: int) -> None:
        self.name = name
        self.dirs = dirs
        self.version = version
        self._peak_fd: int | None = None
        self._limits: tuple[int, int] | None = None
        self._cpu: CpuLimit | None = None  # once known
        self._period_set = version != 1  # v1's cpu.cfs_period_us, written before a quota
        self._swap: bool | None = None  # whether v1's memory.memsw files exist, once known
        self._burst: bool | None = None  # whether the CFS burst file exists, once known
        self.oom_baseline = 0

    def _dir(self, controller: str) -> Path:
        return self.dirs.get(controller) or self.dirs[""]

    def create(self) -> None:
        """Make the leaf's directories. A leaf made here (not found already there) has
        the kernel's defaults, which are ``UNLIMITED``'s (no quota, the default weight)
        and no OOM kill yet, so nothing of its CPU is written and nothing is read: a
        burst of sandboxes larger than the pool makes leaves as it goes."""
        fresh = True
        for path in self.dirs.values():
            try:
                os.mkdir(path)
            except FileExistsError:
                fresh = False
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        flags = os.O_RDONLY | os.O_CLOEXEC
        try:
            self._peak_fd = os.open(self._dir("memory") / name, flags)
        except FileNotFoundError:
            self._peak_fd = os.open(self._dir("memory") / "memory.current", flags)
        if fresh:
            self._cpu = UNLIMITED
            self.oom_baseline = 0
        else:
            self.mark_clean()

    def mark_clean(self) -> None:
        """Called while the group is empty: OOM kills counted from here on are the next
        sandbox's (read now so that nothing is read on the cold path)."""
        self.oom_baseline = self.oom_kills()

    def limit(self, memory_mb: int, pids: int, cpu: CpuLimit = UNLIMITED) -> None:
        """Set every limit before the sandbox runs any of the function's code. A reused
        leaf usually has them already; only what differs is written."""
        self.set_cpu(cpu)
        if self._limits == (memory_mb, pids):
            return
        self._limits = None
        mem, pid_dir = self._dir("memory"), self._dir("pids")
        limit = str(memory_mb << 20)
        if self.version == 1:
            swap = mem / "memory.memsw.limit_in_bytes"
            if self._swap is None:
                self._swap = swap.exists()
            try:
                _write(mem / "memory.limit_in_bytes", limit)
                if self._swap:
                    _write(swap, limit)
            except OSError:
                # Lowering needs memory before memsw, raising the reverse order.
                if self._swap:
                    _write(swap, limit)
                _write(mem / "memory.limit_in_bytes", limit)
        else:
            _write(mem / "memory.max", limit)
            with contextlib.suppress(FileNotFoundError):
                _write(mem / "memory.swap.max", "0")
        _write(pid_dir / "pids.max", str(pids))
        self._limits = (memory_mb, pids)

    def set_cpu(self, limit: CpuLimit) -> None:
        """The CFS quota per period, with a burst of one more quota saved from idle periods
        (where the kernel has bursts), so a function that is mostly idle is not stalled for
        a whole period the first time it is busy; and the weight. Unchanged values are not
        rewritten: a write to a group with tasks in it costs a fraction of a ms."""
        previous = self._cpu
        if previous == limit:
            return
        self._cpu = None
        if previous is None or previous.quota_us != limit.quota_us:
            self._set_quota(limit.quota_us, previous is None or previous.quota_us is not None)
        if previous is None or previous.weight_mb != limit.weight_mb:
            if self.version == 1:
                _write(self._dir("cpu") / "cpu.shares", str(limit.shares()))
            else:
                _write(self._dir("cpu") / "cpu.weight", str(limit.weight()))
        self._cpu = limit

    def _set_quota(self, quota_us: int | None, may_have_burst: bool) -> None:
        cpu = self._dir("cpu")
        quota_file, burst_file = (
            ("cpu.cfs_quota_us", "cpu.cfs_burst_us")
            if self.version == 1
            else ("cpu.max", "cpu.max.burst")
        )
        quota = str(quota_us or -1) if self.version == 1 else f"{quota_us or 'max'} {CPU_PERIOD_US}"
        if quota_us and not self._period_set:  # v2 writes the period with the quota
            _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            self._period_set = True
        if self._burst is None:
            self._burst = (cpu / burst_file).exists()
        has_burst = self._burst
        if has_burst and may_have_burst:
            _write(cpu / burst_file, "0")  # a burst may never exceed the quota being set
        _write(cpu / quota_file, quota)
        if has_burst and quota_us:
            _write(cpu / burst_file, str(quota_us))

    def peak_kb(self) -> int:
        """Most memory the group has held since it was last reset, in KiB (one pread)."""
        if self._peak_fd is None:
            return 0
        try:
            return int(os.pread(self._peak_fd, 32, 0)) // 1024
        except (OSError, ValueError):
            return 0

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in this group, ever."""
        if self.version == 1:
            return _read_key(self._dir("memory") / "memory.oom_control", "oom_kill")
        return _read_key(self._dir("memory") / "memory.events", "oom_kill")

    def admit(self, pid: int) -> None:
        """Move a running process (by host pid) into this group, in every hierarchy."""
        for path in self.dirs.values():
            _write(path / "cgroup.procs", str(pid))

    def procs(self) -> list[int]:
        pids: set[int] = set()
        for path in self.dirs.values():
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        return sorted(pids)

    def kill_all(self) -> None:
        """SIGKILL every process in the group (cgroup.kill where the kernel has it)."""
        kill_file = self._dir("memory") / "cgroup.kill"
        if self.version == 2 and kill_file.exists():
            _write(kill_file, "1")
            return
        for pid in self.procs():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def drain(self, timeout: float = 5.0) -> bool:
        """Kill until empty; False if processes are still there after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.001
        while self.procs():
            if time.monotonic() > deadline:
                return False
            self.kill_all()
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    def reset(self) -> bool:
        """Ready for the next sandbox: peak memory and page cache left behind cleared.
        False when the kernel cannot reset it in place (then the group is remade)."""
        if self.version != 1:
            return False
        mem = self._dir("memory")
        with contextlib.suppress(OSError):
            _write(mem / "memory.force_empty", "0")
        try:
            _write(mem / "memory.max_usage_in_bytes", "0")
        except OSError:
            return False
        return True

    def remove(self) -> None:
        """Kill what is left and remove the leaf's directories (idempotent)."""
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        for path in self.dirs.values():
            _kill_procs(path)
            _rmdir(path)


class CgroupTree:
    """This server's ``lambox-<pid>`` directories, one per hierarchy (one in v2)."""

    def __init__(self, parents: dict[str, Path], version: int) -> None:
        self.parents = parents
        self.version = version
        self._numbers = itertools.count(1)  # leaves are also made in a worker thread

    @classmethod
    def detect(
        cls, mountinfo: str, self_cgroup: str, pid: int | None = None
    ) -> tuple[CgroupTree | None, str]:
        """The tree for this machine, or None and why not."""
        pid = os.getpid() if pid is None else pid
        mounts = parse_mountinfo(mountinfo)
        own = parse_self_cgroup(self_cgroup)
        for fstype, mount in mounts:
            if fstype != "cgroup2" or "" not in own:
                continue
            try:
                available = set((mount.point / "cgroup.controllers").read_text().split())
            except OSError:
                continue
            if available.issuperset(CONTROLLERS):
                base = _within(mount, own[""])
                return cls({"": base / f"lambox-{pid}"}, 2), ""
        parents: dict[str, Path] = {}
        for controller in CONTROLLERS:
            v1 = next((m for t, m in mounts if t == "cgroup" and controller in m.controllers), None)
            if v1 is None or controller not in own:
                return None, f"no cgroup v1 or v2 hierarchy with the {controller} controller"
            parents[controller] = _within(v1, own[controller]) / f"lambox-{pid}"
        return cls(parents, 1), ""

    @classmethod
    def for_this_machine(cls) -> tuple[CgroupTree | None, str]:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
            self_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError as exc:
            return None, f"cannot read /proc: {exc}"
        return cls.detect(mountinfo, self_cgroup)

    def create(self) -> None:
        """Make the parent directories (and, in v2, let them pass controllers down)."""
        for path in self.parents.values():
            path.mkdir(exist_ok=True)
        if self.version == 2:
            enable = " ".join(f"+{c}" for c in CONTROLLERS)
            _write(self.parents[""].parent / "cgroup.subtree_control", enable)
            _write(self.parents[""] / "cgroup.subtree_control", enable)

    def new_leaf(self) -> Cgroup:
        """A new leaf, directories made (``Cgroup.create``)."""
        name = f"sb-{next(self._numbers)}"
        leaf = Cgroup(name, {c: p / name for c, p in self.parents.items()}, self.version)
        leaf.create()
        return leaf

    def remove(self) -> None:
        for path in self.parents.values():
            _remove_tree(path)

    def sweep_stale(self) -> int:
        """Remove the directories of lambox servers that are gone; how many were removed."""
        removed = 0
        for path in {p.parent for p in self.parents.values()}:
            try:
                entries = list(path.iterdir())
            except OSError:
                continue
            for entry in entries:
                match = _STALE.fullmatch(entry.name)
                if match is None or _alive(int(match.group(1))):
                    continue
                _remove_tree(entry)
                removed += 1
        return removed

    @property
    def dir_paths(self) -> list[str]:
        """What a zygote opens so its children can join a leaf by name."""
        return [str(p) for p in self.parents.values()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_tree(path: Path) -> None:
    """Kill whatever is left in a directory of leaves and remove it all."""
    leaves = [p for p in path.iterdir() if p.is_dir()] if path.is_dir() else []
    for leaf in leaves:
        _kill_procs(leaf)
        _rmdir(leaf)
    _kill_procs(path)
    _rmdir(path)


def _kill_procs(path: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def _rmdir(path: Path, attempts: int = 50) -> None:
    """Remove a directory whose processes were sent SIGKILL: busy while they exit, or while
    one forked between the read of ``cgroup.procs`` and the kill, so each retry kills again."""
    for _ in range(attempts):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                log.warning("cannot remove cgroup %s: %s", path, exc)
                return
            time.sleep(0.01)
            _kill_procs(path)
    log.warning("cgroup %s still busy; left behind", path)


def _recycle(leaf: Cgroup) -> bool:
    """Empty and reset a leaf a sandbox used; False when it must be thrown away."""
    if not leaf.drain():
        log.warning("cgroup %s: processes survived SIGKILL; leaf abandoned", leaf.name)
        return False
    if not leaf.reset():
        return False
    leaf.set_cpu(UNLIMITED)
    leaf.mark_clean()
    return True


class CgroupPool:
    """Leaves ready for sandboxes, made ahead of time with the default limits already
    written. ``fill`` makes them in a worker thread once the server listens (made at
    start-up, 32 leaves in three v1 hierarchies were 12-20 ms of CPU and up to 150 ms of
    wall before the first answer). ``acquire`` takes a free one (making one inline only
    when none is left, and topping the pool up in a worker thread when it runs low);
    ``release`` empties and resets a leaf in a worker thread, then puts it back."""

    def __init__(
        self, tree: CgroupTree, spare: int = 32, memory_mb: int = 128, pids: int = 128
    ) -> None:
        self.tree = tree
        self._spare = spare
        self._defaults = (memory_mb, pids)
        self._free: list[Cgroup] = []
        self._all: set[Cgroup] = set()
        self._pending: set[asyncio.Task[None]] = set()
        self._topping_up = False
        self._closing = False

    def fill(self) -> None:
        """Top the pool up in the background (from the event loop), unless it is already
        being topped up; a sandbox that needs a leaf before then makes its own."""
        if not self._topping_up and not self._closing:
            self._topping_up = True
            self._spawn(self._top_up())

    def _make_many(self, count: int) -> list[Cgroup]:
        made = []
        for _ in range(count):
            leaf = self.tree.new_leaf()
            self._all.add(leaf)
            leaf.limit(*self._defaults)
            made.append(leaf)
        return made

    def acquire(self) -> Cgroup:
        if len(self._free) < self._spare // 2:
            self.fill()
        return self._free.pop() if self._free else self._make_many(1)[0]

    async def _top_up(self) -> None:
        try:
            missing = self._spare - len(self._free)
            if missing > 0:
                self._free.extend(await asyncio.to_thread(self._make_many, missing))
        except OSError as exc:
            log.warning("cgroups not made ahead of time: %s", exc)
        finally:
            self._topping_up = False

    def release(self, leaf: Cgroup) -> None:
        self._spawn(self._recycle(leaf))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _recycle(self, leaf: Cgroup) -> None:
        try:
            reusable = await asyncio.to_thread(_recycle, leaf)
        except Exception:
            log.exception("cgroup %s could not be recycled", leaf.name)
            reusable = False
        if reusable and not self._closing:
            self._free.append(leaf)
            return
        self._all.discard(leaf)
        if not reusable:
            await asyncio.to_thread(leaf.remove)

    async def close(self) -> None:
        """Kill whatever is left in any leaf and remove every directory of this server."""
        self._closing = True
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        leaves = list(self._all)
        self._all.clear()
        self._free.clear()

        def remove_all() -> None:
            for leaf in leaves:
                leaf.remove()
            self.tree.remove()

        await asyncio.to_thread(remove_all)
