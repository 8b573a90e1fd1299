"""A Python sandbox's runtime is not pid 1: a small init is, as on Lambda, so a function can
signal itself to death and its orphans go to the init, which reaps them."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lambox.runtime import init
from tests.adversarial.conftest import Functions, call
from tests.conftest import make_zip

APP = """
import os, signal, time

def whoami(event, context):
    with open("/proc/1/stat") as f:
        init_state = f.read().rsplit(")", 1)[1].split()[0]
    with open("/proc/1/cmdline", "rb") as f:
        init_argv = f.read().decode().split(chr(0))[:-1]
    return {"pid": os.getpid(), "init_state": init_state, "init_argv": init_argv}

def kill_self(event, context):
    if event.get("kill"):
        os.kill(os.getpid(), getattr(signal, event["kill"]))
        time.sleep(5)
    return {"pid": os.getpid()}

def leave_orphans(event, context):
    for linger in (0, 30):
        pid = os.fork()
        if pid == 0:
            if os.fork() == 0:
                time.sleep(linger)
                os._exit(0)
            os._exit(0)
        os.waitpid(pid, 0)
    time.sleep(0.2)
    zombies = 0
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % name) as f:
                zombies += f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            pass
    return {"zombies": zombies, "processes": sum(n.isdigit() for n in os.listdir("/proc"))}

def orphan_then_die(event, context):
    if event["step"] == "start":
        if os.fork() == 0:
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", event["seconds"]])
            os._exit(0)
        os.wait()
        return "started"
    os.kill(os.getpid(), signal.SIGKILL)
"""
CODE = make_zip({"app.py": APP})


def parent_of(pid: int) -> int | None:
    """The parent of a live process (None once it is gone, or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[1])


def sleepers(seconds: str) -> list[int]:
    """Host pids of ``sleep <seconds>`` processes."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read() == b"sleep\0" + seconds.encode() + b"\0":
                    found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def deploy_app(lambda_client: Any) -> Iterator[Callable[[str], str]]:
    functions = Functions(lambda_client)

    def create(handler: str) -> str:
        return functions.create(
            f"init-{handler.replace('_', '-')}",
            Runtime="python3.11",
            Handler=f"app.{handler}",
            Code={"ZipFile": CODE},
            Timeout=30,
        )

    yield create
    functions.delete_all()


def test_the_runtime_is_not_the_init_of_its_pid_namespace(
    lambda_client: Any, deploy_app: Callable[[str], str], isolated: None
) -> None:
    error, out = call(lambda_client, deploy_app("whoami"))
    assert error is None, out
    assert out["pid"] != 1
    assert out["init_state"] == "S"  # pid 1 is there, asleep until an orphan exits
    # The compiled init (make install builds it): a program of its own, not a forked
    # interpreter holding copies of its zygote's pages.
    assert out["init_argv"] == [init.PROGRAM]


@pytest.mark.parametrize(("signame", "word"), [("SIGKILL", "killed"), ("SIGTERM", "terminated")])
def test_a_function_that_signals_itself_ends_with_an_exit_error(
    lambda_client: Any,
    deploy_app: Callable[[str], str],
    still_serving: None,
    signame: str,
    word: str,
) -> None:
    name = deploy_app("kill_self")
    error, out = call(lambda_client, name, {"kill": signame})
    assert error == "Unhandled", out
    assert out["errorType"] == "Runtime.ExitError"
    assert out["errorMessage"].endswith(f"Error: Runtime exited with error: signal: {word}")
    # The next invocation gets a new sandbox and works.
    error, out = call(lambda_client, name, {})
    assert error is None, out


def test_orphans_go_to_the_init_and_the_next_invocation_works(
    lambda_client: Any, deploy_app: Callable[[str], str], still_serving: None
) -> None:
    name = deploy_app("leave_orphans")
    for _ in range(3):
        error, out = call(lambda_client, name, {})
        assert error is None, out
        assert out["zombies"] == 0


@pytest.mark.parametrize("zygote", ["alive", "killed"])
def test_what_a_sandbox_started_dies_with_its_runtime(
    lambda_client: Any, deploy_app: Callable[[str], str], still_serving: None, zygote: str
) -> None:
    name = deploy_app("orphan_then_die")
    seconds = f"3600.{secrets.randbelow(10**9)}"
    assert call(lambda_client, name, {"step": "start", "seconds": seconds}) == (None, "started")
    # The grandchild execs sleep on its own time, after the function has returned.
    deadline = time.monotonic() + 30
    while not sleepers(seconds) and time.monotonic() < deadline:
        time.sleep(0.02)
    (orphan,) = sleepers(seconds)  # it lives on, the init's child now
    init = parent_of(orphan)
    assert init is not None and init != orphan
    if zygote == "killed":  # the sandbox keeps serving; its init must still go with it
        forker = parent_of(init)
        assert forker is not None
        os.kill(forker, signal.SIGKILL)
    error, out = call(lambda_client, name, {"step": "die"})
    assert (error, out["errorType"]) == ("Unhandled", "Runtime.ExitError"), out
    deadline = time.monotonic() + 30
    while (sleepers(seconds) or parent_of(init) is not None) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sleepers(seconds)
    assert parent_of(init) is None  # the init is gone too, not left behind
