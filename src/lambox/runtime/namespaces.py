"""Linux namespace, mount and process-control calls through ctypes (Python 3.11 has no
``os.unshare``/``os.setns``).

Standard library only: zygotes and sandboxes import this. libc is reached through the
process's own symbols on first use, never at import, and never through ``ctypes.util``:
that module imports shutil, subprocess, tempfile, random, bz2, lzma and zlib (nine more
extension modules and libraries mapped into every zygote, about 50 more mappings that
each sandbox's fork copies: measured in docs/performance.md) and runs ``ldconfig`` to find
a library the interpreter has already loaded. Every call raises ``OSError`` with the C
errno, like the ``os`` module does.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

_CAPABILITY_VERSION_3 = 0x20080522

# pivot_root has no libc wrapper in older glibc; its number per architecture.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "ppc64le": 203}


_INT = ctypes.c_int
_ULONG = ctypes.c_ulong
_PATH = ctypes.c_char_p
# The argument types of the calls made in zygotes and sandboxes, set once on each function:
# a call then converts plain ints and bytes itself, where building ctypes objects for every
# call writes pages a forked sandbox shares with its zygote (a prctl in a forked child copied
# 19 pages that way, 5 this way: measured).
_SIGNATURES: dict[str, tuple[Any, ...]] = {
    "unshare": (_INT,),
    "setns": (_INT, _INT),
    "mount": (_PATH, _PATH, _PATH, _ULONG, _PATH),
    "umount2": (_PATH, _INT),
    "prctl": (_INT, _ULONG, _ULONG, _ULONG, _ULONG),
}


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)  # dlopen(NULL): libc is already mapped
    if not hasattr(libc, "unshare"):  # an interpreter whose own scope lacks libc's symbols
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    for name, argtypes in _SIGNATURES.items():
        function = getattr(libc, name)
        function.argtypes = argtypes
        function.restype = _INT
    return libc


def _check(result: int, what: str, target: str | None = None) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}", target)


def _b(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def unshare(flags: int) -> None:
    """Move the caller into new namespaces (CLONE_NEWPID: its *next child* is pid 1)."""
    _check(_libc().unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    """Join the namespace ``fd`` refers to (for a pid namespace: for future children)."""
    _check(_libc().setns(fd, nstype), "setns")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    """mount(2); ``target`` is reported in the error."""
    result = _libc().mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    _check(result, f"mount {fstype or 'bind'} {source or ''}", target)


def bind(source: str, target: str, *, readonly: bool = True, extra: int = 0) -> None:
    """A recursive bind mount, then (a bind cannot be made read-only in one call) a remount."""
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly or extra:
        flags = MS_BIND | MS_REMOUNT | (MS_RDONLY if readonly else 0) | extra
        mount(None, target, None, flags)


def umount(target: str, flags: int = MNT_DETACH) -> None:
    _check(_libc().umount2(_b(target), flags), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    machine = os.uname().machine
    number = _SYS_PIVOT_ROOT.get(machine)
    if number is None:
        raise OSError(38, f"pivot_root: unknown syscall number on {machine}")
    libc = _libc()
    _check(libc.syscall(ctypes.c_long(number), _b(new_root), _b(put_old)), "pivot_root")


def prctl(option: int, arg: int = 0) -> None:
    _check(_libc().prctl(option, arg, 0, 0, 0), "prctl")


def die_with_parent(parent: int) -> None:
    """Be killed (SIGKILL) when ``parent`` dies, whatever kills it; exit at once if it is
    already gone (``os.getppid()`` is someone else then).

    For a child of a single-threaded parent only: the kernel sends the signal when the
    *thread* that forked the caller exits. It is cleared in a child of fork and by a change
    of uid or gid, and kept across exec of an ordinary binary (prctl(2)). Through the
    process's own symbols, not ``find_library``, which would cost a plain sandbox's start
    an ldconfig run.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    zero = ctypes.c_ulong(0)
    sig = ctypes.c_ulong(signal.SIGKILL)
    _check(libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), sig, zero, zero, zero), "prctl")
    if os.getppid() != parent:
        os._exit(0)


def drop_capabilities() -> None:
    """Clear the effective, permitted and inheritable capability sets of the caller (in
    whatever user namespace it is in)."""
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc().capset(header, data), "capset")


def bare_fork() -> int:
    """libc's ``fork`` without Python's fork handling: no ``os.register_at_fork`` hooks, no
    reinitialisation of the interpreter's locks and thread state in the child. Only for a
    child that runs a few lines of already-imported code in a single-threaded parent and
    never imports, starts a thread or forks (a sandbox's init): everything Python's own
    handling would write is a page copied for nothing. The parent is as after ``os.fork``."""
    pid = int(_libc().fork())
    if pid < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"fork: {os.strerror(errno)}")
    return pid
