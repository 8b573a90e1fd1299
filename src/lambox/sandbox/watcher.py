"""The cgroup watcher: a small process that kills a server's sandboxes once the server is gone.

A zygote kills its sandboxes when the server hangs up, but nothing is left to do it when the
zygote dies with the server (a kill of the whole tree, the OOM killer), and a sandbox must
not die with its zygote alone (zygotes are replaced while their sandboxes keep serving). So
``LinuxSandboxFactory.open`` starts this watcher, in a session of its own, with the read end
of a pipe whose write end only the server holds: EOF on it means the server has exited, by
any death. The watcher then kills every process in the server's cgroup directories (each
sandbox is pid 1 of its namespace, so its whole namespace goes) and removes them, and exits.
It touches nothing but the directories it was given. If the watcher was killed as well, the
next server's stale-directory sweep (``CgroupTree.sweep_stale``) does the same at its start.

Standard library only, as it runs without the server's imports: ``python -m
lambox.sandbox.watcher DIR...`` with the pipe on stdin.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ATTEMPTS = 250
PAUSE = 0.02


class Watcher:
    """The server's handle on its watcher: the pipe's write end, never written."""

    def __init__(self, proc: subprocess.Popen[bytes], pipe: int) -> None:
        self._proc = proc
        self._pipe = pipe

    @classmethod
    def start(cls, dirs: list[str], runtime_dir: str, interpreter: str = sys.executable) -> Watcher:
        """Start watching ``dirs`` (``runtime_dir``: where the lambox package is); OSError
        when it cannot be started."""
        read, write = os.pipe2(os.O_CLOEXEC)
        try:
            proc = subprocess.Popen(
                [interpreter, "-m", "lambox.sandbox.watcher", *dirs],
                env={"PATH": "/usr/bin:/bin", "PYTHONPATH": runtime_dir},
                cwd="/",
                stdin=read,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # a signal to the server's process group spares it
            )
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        return cls(proc, write)

    def close(self, timeout: float = 5.0) -> None:
        """The server stops: the watcher sweeps whatever is left and exits (idempotent)."""
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout)


def _kill(directory: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        for pid in (directory / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def sweep(parents: list[Path]) -> bool:
    """One pass: kill what runs in ``parents`` and their leaves, remove what is empty;
    True once every directory is gone."""
    done = True
    for parent in parents:
        if not parent.is_dir():
            continue
        for leaf in [p for p in parent.iterdir() if p.is_dir()]:
            _kill(leaf)
            with contextlib.suppress(OSError):
                leaf.rmdir()
        _kill(parent)
        try:
            parent.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            done = False
    return done


def main(argv: list[str]) -> int:
    """Wait for EOF on stdin, then empty and remove the directories in ``argv``."""
    parents = [Path(arg) for arg in argv]
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    for _ in range(ATTEMPTS):
        if sweep(parents):
            return 0
        time.sleep(PAUSE)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
