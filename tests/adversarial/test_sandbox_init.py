"""A Python sandbox's runtime is not pid 1: a small init is, as on Lambda, so a function can
signal itself to death and its orphans go to the init."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.adversarial.conftest import Functions, call
from tests.conftest import make_zip

APP = """
import os, signal, time

def whoami(event, context):
    return {"pid": os.getpid(), "ppid": os.getppid()}

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
"""
CODE = make_zip({"app.py": APP})


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


def test_the_runtime_is_the_child_of_the_sandboxs_init(
    lambda_client: Any, deploy_app: Callable[[str], str], isolated: None
) -> None:
    error, out = call(lambda_client, deploy_app("whoami"))
    assert error is None, out
    assert out["pid"] != 1
    assert out["ppid"] == 1


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
