"""The sandbox's view of the machine, and the steps a forked child takes to enter it.

Standard library only (it runs in zygotes). Two stages, so that the expensive one happens once:

``build_view`` (once per base zygote, as root, in a private mount namespace) replaces the
zygote's root with a small tmpfs holding read-only binds of what a Python function needs:
``/usr``, ``/etc`` (with a ``passwd`` that knows the sandbox user), ``/bin``-style links, the
interpreter's prefixes and ``sys.path`` directories, the lambox runtime, a few ``/dev`` nodes,
and empty mount points ``/proc``, ``/tmp``, ``/var/task`` and ``/opt``. The code store is bound
at ``/.code`` so the zygote can hand each sandbox its code; nothing else of the lambox data
directory is visible, and a bound tree that would contain it has it covered by an empty tmpfs.

lambox may itself be installed under ``/tmp`` (a clone there is common): its interpreter
prefix, ``sys.path`` entries and runtime would then be hidden by the sandbox's own ``/tmp``.
Such directories are bound at ``/.host/<n>`` instead and bound again at their own path once
that ``/tmp`` is mounted (``_rebind_masked``), read-only and owned by root, so a sandbox
reaches what lambox needs wherever it is installed.

``prepare`` then ``finish`` (in every child, right after fork, still root, already in a new
pid namespace, as its pid 2 beside an init or, for a Runtime API sandbox, its pid 1): a
session of its own, its cgroups, new mount/ipc/uts/cgroup namespaces and a ``/proc`` of its
pid namespace (``prepare``, which a spare child does ahead of need); then its code read-only
at ``/var/task`` unless a version zygote already bound it, ``/.code`` dropped, a private
``/tmp`` (tmpfs capped at EphemeralStorage), an empty network namespace for ``network:
none``, and the unprivileged sandbox user with ``no_new_privs`` (``finish``). After that the
child can neither undo its mounts nor leave its cgroups.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import socket
import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lambox.runtime import namespaces as ns

TASK_ROOT = "/var/task"
OPT_ROOT = "/opt"  # the function's layers, merged
LIBS_DIR = "/var/runtime"  # the Python runtime's libraries (boto3), one bind per entry
CODE_MOUNT = "/.code"
SANDBOX_USER = "sbx_user1051"
HOSTNAME = "sandbox"
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")
MOUNT_POINTS = ("/proc", "/tmp", TASK_ROOT, OPT_ROOT, CODE_MOUNT, "/dev")
HOST_STASH = "/.host"
# Mount points a sandbox covers with a mount of its own after the view is built, under which
# lambox itself may be installed; ``finish`` and ``private_tmp`` bind its directories again.
COVERED = ("/tmp",)
NOFILE = 1024
_RO = ns.MS_NOSUID | ns.MS_NODEV
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def python_dirs(exclude: Iterable[str] = ()) -> list[str]:
    """Directories this interpreter reads code from, outermost first and without nesting."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for entry in sys.path:
        if entry and os.path.isabs(entry):
            candidates.add(entry if os.path.isdir(entry) else os.path.dirname(entry))
    skip = tuple(os.path.join(e, "") for e in exclude)
    dirs: list[str] = []
    for path in sorted(os.path.normpath(c) for c in candidates if os.path.isdir(c)):
        inside = os.path.join(path, "")
        if inside.startswith(skip) or any(inside.startswith(os.path.join(d, "")) for d in dirs):
            continue
        if path in ("/", *SYSTEM_DIRS) or any(path.startswith(d + "/") for d in SYSTEM_DIRS):
            continue
        dirs.append(path)
    return dirs


# Host directories the view needs that lie under a mount point a sandbox covers, with where
# build_view bound them instead: (path, stash). Set once in the base zygote, which is
# single-threaded, and inherited by everything it forks.
_masked: tuple[tuple[str, str], ...] = ()


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(os.path.join(root, ""))


def masked_dirs(binds: Iterable[str]) -> list[tuple[str, str]]:
    """The directories of ``binds`` that a sandbox's own mounts would hide, each with the
    stash path it is bound at in the view instead."""
    hidden = [b for b in binds if any(_under(b, point) for point in COVERED)]
    return [(path, f"{HOST_STASH}/{n}") for n, path in enumerate(hidden)]


def reachable(path: str) -> str:
    """Where ``path`` is reachable in the view before a sandbox has mounted its own ``/tmp``
    (a stashed host directory's ``/.host/<n>`` path), else ``path`` itself."""
    for host, stash in _masked:
        if _under(path, host):
            return stash + path[len(host) :]
    return path


def _rebind_masked(point: str) -> None:
    """Bind again, read-only, the stashed host directories under ``point``, which the caller
    has just covered with a mount of its own."""
    for path, stash in _masked:
        if _under(path, point):
            os.makedirs(path, mode=0o755, exist_ok=True)
            ns.bind(stash, path, extra=_RO)


def _mkdirs(root: str, path: str) -> str:
    target = root + path
    os.makedirs(target, mode=0o755, exist_ok=True)
    return target


def _passwd(root: str, uid: int, gid: int) -> None:
    """``/etc/passwd`` and ``/etc/group`` as the host has them plus the sandbox user, bound
    over the read-only ``/etc`` so ``getpass.getuser()`` and ``~`` work in functions."""
    extra = {
        "passwd": f"{SANDBOX_USER}:x:{uid}:{gid}::/tmp:/sbin/nologin\n",
        "group": f"{SANDBOX_USER}:x:{gid}:\n",
    }
    for name, line in extra.items():
        host = f"/etc/{name}"
        try:
            with open(host, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        if text and not text.endswith("\n"):
            text += "\n"
        staged = f"{root}/.{name}"
        with open(staged, "w", encoding="utf-8") as f:
            f.write(text + line)
        target = root + host
        if not os.path.exists(target):
            continue
        ns.bind(staged, target, extra=_RO)
        os.unlink(staged)


def _bind_libs(staging: str, libs: Sequence[str]) -> None:
    """Each of ``libs`` (packages, modules of site-packages) at ``LIBS_DIR``/its name, so a
    sandbox reaches those and nothing else of the directory they are installed in."""
    target = _mkdirs(staging, LIBS_DIR)
    for path in libs:
        point = os.path.join(target, os.path.basename(path))
        if os.path.isdir(path):
            os.mkdir(point)
        else:
            open(point, "w").close()
        ns.bind(path, point, extra=_RO)


def build_view(
    staging: str,
    code_root: str,
    hide: Sequence[str],
    uid: int,
    gid: int,
    libs: Sequence[str] = (),
) -> None:
    """Make the calling process's root the sandbox view (see the module docstring).

    The caller is root, single-threaded, and must not need any other path afterwards: file
    descriptors opened before (cgroup directories, its pid namespace) stay usable.
    """
    global _masked
    binds = python_dirs(exclude=hide)
    stashed = dict(masked_dirs(binds))
    ns.unshare(ns.CLONE_NEWNS)
    ns.mount(None, "/", None, ns.MS_REC | ns.MS_PRIVATE)
    ns.mount("tmpfs", staging, "tmpfs", _RO, "mode=755,size=4m,nr_inodes=4096")
    for point in MOUNT_POINTS:
        _mkdirs(staging, point)
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            os.symlink(os.readlink(path), staging + path)
        elif os.path.isdir(path):
            ns.bind(path, _mkdirs(staging, path), extra=_RO)
    for path in binds:
        ns.bind(path, _mkdirs(staging, stashed.get(path, path)), extra=_RO)
    _bind_libs(staging, libs)
    ns.bind(code_root, staging + CODE_MOUNT, extra=_RO | ns.MS_NOEXEC)
    for name in DEVICES:
        node = f"{staging}/dev/{name}"
        with open(node, "w"):
            pass
        ns.mount(f"/dev/{name}", node, None, ns.MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        os.symlink(target, f"{staging}/dev/{name}")
    os.symlink("/proc/self/fd/1", f"{staging}/dev/stdout")
    os.symlink("/proc/self/fd/2", f"{staging}/dev/stderr")
    _passwd(staging, uid, gid)
    for path in hide:
        for within in _view_paths(path, stashed):
            if os.path.isdir(staging + within):
                ns.mount("tmpfs", staging + within, "tmpfs", _RO | ns.MS_RDONLY, "size=4k,mode=000")
    _masked = tuple(stashed.items())
    os.chdir(staging)
    ns.pivot_root(".", ".")
    ns.umount(".")
    os.chdir("/")
    ns.mount(None, "/", None, ns.MS_REMOUNT | ns.MS_BIND | ns.MS_RDONLY | _RO)


def _view_paths(path: str, stashed: Mapping[str, str]) -> list[str]:
    """Where host ``path`` appears in the view: its own place, or inside a stashed bind."""
    places = [path]
    for host, stash in stashed.items():
        if _under(path, host):
            places.append(stash + path[len(host) :])
    return places


def bind_code(code: str) -> None:
    """Bind one function's code at /var/task and, after a ``+``, its merged layers at /opt
    (both read-only), then drop the view of all code."""
    task, _, opt = code.partition("+")
    for key in (task, opt) if opt else (task,):
        if not key or "/" in key or key.startswith(".") or "+" in key:
            raise ValueError(f"bad code key {code!r}")
    ns.bind(f"{CODE_MOUNT}/{task}", TASK_ROOT, extra=_RO)
    if opt:
        ns.bind(f"{CODE_MOUNT}/{opt}", OPT_ROOT, extra=_RO)
    ns.umount(CODE_MOUNT)


def _join_cgroups(dir_fds: Sequence[int], name: str) -> None:
    for fd in dir_fds:
        proc = os.open(f"{name}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=fd)
        try:
            os.write(proc, b"0")
        finally:
            os.close(proc)


def _loopback_up() -> None:
    """A new network namespace starts with ``lo`` down; local servers in a function need it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def prepare(cgroup_fds: Sequence[int], cgroup: str) -> None:
    """The part of isolation that does not depend on the function, so a spare can do it
    ahead of time: its own session, its cgroup, new mount/ipc/uts/cgroup namespaces and a
    /proc of its pid namespace. Joining a cgroup is the slow step (on cgroup v1 a migration
    waits for an RCU grace period), which is why it happens here, off the cold path."""
    # Its own session and process group first: children of one zygote would otherwise share
    # the zygote's group, and kill(0, ...) reaches a group across pid namespaces.
    os.setsid()
    if cgroup:
        _join_cgroups(cgroup_fds, cgroup)
    ns.unshare(ns.CLONE_NEWNS | ns.CLONE_NEWIPC | ns.CLONE_NEWUTS | ns.CLONE_NEWCGROUP)
    ns.mount("proc", "/proc", "proc", _RO | ns.MS_NOEXEC)
    socket.sethostname(HOSTNAME)


def finish(spec: Mapping[str, Any], uid: int, gid: int) -> None:
    """The function-specific rest, then the drop to the sandbox user.

    ``spec``: ``code`` (code key to bind, or None when /var/task is already bound),
    ``tmp_mb`` (EphemeralStorage), ``network`` ("none" for an empty network namespace).
    """
    code = spec.get("code")
    if code:
        bind_code(str(code))
    tmp_bytes = int(spec.get("tmp_mb", 512)) << 20
    ns.mount("tmpfs", "/tmp", "tmpfs", _RO, f"size={tmp_bytes},mode=1777,uid={uid},gid={gid}")
    _rebind_masked("/tmp")
    if spec.get("network") == "none":
        ns.unshare(ns.CLONE_NEWNET)
        _loopback_up()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        limit = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    ns.prctl(ns.PR_SET_NO_NEW_PRIVS, 1)
    # A uid change clears "dumpable", which would make the function's own /proc entries
    # root's; set it back so the function sees itself as any process does.
    ns.prctl(ns.PR_SET_DUMPABLE, 1)
    os.chdir(TASK_ROOT)


def probe(staging: str) -> str | None:
    """Why isolated sandboxes cannot be made here, or None when they can. Run it in a
    throwaway process: it unshares its own namespaces and mounts over ``staging``."""
    if os.geteuid() != 0:
        return "lambox is not running as root"
    try:
        flags = ns.CLONE_NEWNS | ns.CLONE_NEWIPC | ns.CLONE_NEWUTS | ns.CLONE_NEWCGROUP
        ns.unshare(flags | ns.CLONE_NEWPID)
        ns.mount(None, "/", None, ns.MS_REC | ns.MS_PRIVATE)
        ns.mount("tmpfs", staging, "tmpfs", _RO, "size=4k")
        ns.umount(staging)
    except OSError as exc:
        return f"namespaces are not available: {exc}"
    return None


def _copy_tmp(old: int) -> None:
    """Copy what init left in the snapshot's /tmp (open as ``old``) into the new one, less
    the host directories ``_rebind_masked`` binds again."""
    names = os.listdir(old)
    if not names:
        return
    import shutil

    source = f"/proc/self/fd/{old}"
    # The top-level entries holding them were made by root for the rebind, not by init.
    skip = {os.path.relpath(p, "/tmp").split(os.sep)[0] for p, _ in _masked if _under(p, "/tmp")}

    def ignore(directory: str, entries: list[str]) -> list[str]:
        return [e for e in entries if e in skip] if directory == source else []

    shutil.copytree(source, "/tmp", symlinks=True, dirs_exist_ok=True, ignore=ignore)


def private_tmp(tmp_mb: int, uid: int, gid: int) -> None:
    """For a sandbox forked from a SnapStart snapshot, which is already the sandbox user and
    would otherwise share the snapshot's ``/tmp`` with its siblings: a new user namespace
    (mapping only the sandbox user to itself) owning a new mount namespace, a fresh tmpfs
    ``/tmp`` there holding a copy of what init left in the snapshot's, then every
    capability dropped, so the function gains nothing from the user namespace."""
    old = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ns.unshare(ns.CLONE_NEWUSER | ns.CLONE_NEWNS)
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w", encoding="ascii") as f:
                f.write(text)
        tmp_bytes = int(tmp_mb) << 20
        ns.mount("tmpfs", "/tmp", "tmpfs", _RO, f"size={tmp_bytes},mode=1777")
        _copy_tmp(old)
        _rebind_masked("/tmp")
    finally:
        os.close(old)
    ns.drop_capabilities()
