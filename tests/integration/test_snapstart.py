"""SnapStart: published versions restore from a snapshot taken after init, with the hooks
of ``snapshot_restore_py``, on both sandbox backends."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import snapshot_restore_py
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server, unique

HANDLER = """\
import os, random, threading, time
from snapshot_restore_py import register_after_restore, register_before_snapshot

INIT_PID = os.getpid()
INIT_TOKEN = random.getrandbits(64)
INIT_TYPE = os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]
with open("/tmp/from-init", "w") as f:
    f.write("written by init")
events = []

@register_before_snapshot
def first_registered():
    events.append("before-1")

def second_registered(tag, *, extra):
    events.append(f"before-2:{tag}:{extra}")

register_before_snapshot(second_registered, "a", extra="b")

@register_after_restore
def restored():
    events.append(f"after:{os.getpid() != INIT_PID}")

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    marker = f"/tmp/marker-{os.getpid()}"
    open(marker, "w").close()
    return {
        "init_pid": INIT_PID,
        "pid": os.getpid(),
        "token": INIT_TOKEN,
        "random": random.getrandbits(64),
        "init_type": INIT_TYPE,
        "env_init_type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
        "events": events,
        "tmp": sorted(os.listdir("/tmp")),
    }
"""


@pytest.fixture(scope="module", params=["linux", "process"])
def snap_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LamboxServer]:
    backend = str(request.param)
    srv = start_server(
        tmp_path_factory.mktemp(f"snap-{backend}") / "data", {"LAMBOX_SANDBOX": backend}
    )
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(snap_server: LamboxServer):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=snap_server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=60),
    )


def create(client: Any, files: dict[str, str | bytes], **kw: Any) -> str:
    name = unique("snap")
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip(files)},
        SnapStart={"ApplyOn": "PublishedVersions"},
        **kw,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def publish(client: Any, name: str) -> str:
    """Publish a version and wait until it is Active (its snapshot taken); its number."""
    version = str(client.publish_version(FunctionName=name)["Version"])
    client.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 0.05, "MaxAttempts": 600}
    )
    return version


def invoke(client: Any, name: str, payload: object = None) -> tuple[dict[str, Any], str]:
    out = client.invoke(
        FunctionName=name, Payload=json.dumps(payload or {}).encode(), LogType="Tail"
    )
    assert "FunctionError" not in out, out["Payload"].read()
    return json.loads(out["Payload"].read()), base64.b64decode(out["LogResult"]).decode()


def test_snapstart_configuration_follows_aws(client: Any) -> None:
    name = create(client, {"app.py": HANDLER})
    latest = client.get_function_configuration(FunctionName=name)
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    version = client.publish_version(FunctionName=name)
    assert version["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    client.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "None"})
    client.get_waiter("function_updated_v2").wait(FunctionName=name)
    latest = client.get_function_configuration(FunctionName=name)
    assert latest["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    one = client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert one["SnapStart"]["OptimizationStatus"] == "On"


def test_a_version_is_pending_until_its_snapshot_is_taken(client: Any) -> None:
    slow = "import time\ntime.sleep(1.5)\ndef handler(event, context):\n    return 'ok'\n"
    name = create(client, {"app.py": slow})
    published = client.publish_version(FunctionName=name)
    assert (published["State"], published["StateReasonCode"]) == ("Pending", "Creating")
    with pytest.raises(ClientError) as exc:
        client.invoke(FunctionName=f"{name}:1")
    assert exc.value.response["Error"]["Code"] == "ResourceConflictException"
    assert "following state: Pending" in exc.value.response["Error"]["Message"]
    # Publishing again while it is pending returns the same version.
    assert client.publish_version(FunctionName=name)["Version"] == "1"
    client.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier="1", WaiterConfig={"Delay": 0.05, "MaxAttempts": 600}
    )
    one = client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert (one["State"], one["LastUpdateStatus"]) == ("Active", "Successful")
    assert one["RevisionId"] == published["RevisionId"]
    body, log = invoke(client, f"{name}:1")
    assert body == "ok"
    assert "Restore Duration: " in log
    assert client.get_function_configuration(FunctionName=name)["State"] == "Active"


@pytest.mark.parametrize(
    ("runtime", "apply_on", "code", "message"),
    [
        pytest.param(
            "python3.11",
            "PublishedVersions",
            "InvalidParameterValueException",
            "python3.11 is not supported for SnapStart enabled functions.",
            id="runtime_without_snapstart",
        ),
        pytest.param(
            "python3.12",
            "invalidOption",
            "ValidationException",
            "1 validation error detected: Value 'invalidOption' at 'snapStart.applyOn' failed to"
            " satisfy constraint: Member must satisfy enum value set: [PublishedVersions, None]",
            id="unknown_apply_on",
        ),
    ],
)
def test_snapstart_refuses_what_aws_refuses(
    client: Any, runtime: str, apply_on: str, code: str, message: str
) -> None:
    with pytest.raises(ClientError) as exc:
        client.create_function(
            FunctionName=unique("snap"),
            Runtime=runtime,
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": make_zip({"app.py": HANDLER})},
            SnapStart={"ApplyOn": apply_on},
        )
    assert exc.value.response["Error"]["Code"] == code
    assert exc.value.response["Error"]["Message"] == message


def test_published_version_restores_from_one_init(
    client: Any, request: pytest.FixtureRequest
) -> None:
    isolated = request.node.callspec.params["snap_server"] == "linux"
    name = create(client, {"app.py": HANDLER})
    publish(client, name)
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: invoke(client, f"{name}:1", {"sleep": 0.5}), range(3)))
    bodies = [body for body, _ in answers]
    # One init, in the snapshot: the same init-time state in every sandbox ...
    assert len({b["token"] for b in bodies}) == 1
    assert len({b["init_pid"] for b in bodies}) == 1
    # ... but three sandboxes, none of them the process that ran init, with fresh randomness.
    assert len({b["pid"] for b in bodies}) == 3
    assert all(b["pid"] != b["init_pid"] for b in bodies)
    assert len({b["random"] for b in bodies}) == 3
    for body in bodies:
        assert body["init_type"] == "snap-start"
        assert body["env_init_type"] == "snap-start"
        # before-snapshot hooks last registered first, with their arguments; after-restore in
        # the sandbox, not in the snapshot.
        assert body["events"] == ["before-2:a:b", "before-1", "after:True"]
        assert "from-init" in body["tmp"]
        if isolated:  # /tmp as init left it, but private: no other sandbox's marker
            assert [m for m in body["tmp"] if m.startswith("marker-")] == [f"marker-{body['pid']}"]
    for _, log in answers:
        assert "Restore Duration: " in log
        assert "Billed Restore Duration: " in log
        assert "Init Duration" not in log
    warm, log = invoke(client, f"{name}:1")
    assert warm["token"] == bodies[0]["token"]
    assert "Restore Duration" not in log


def test_a_restored_sandbox_can_signal_itself_to_death(client: Any) -> None:
    killer = (
        "import os, signal, time\n"
        "def handler(event, context):\n"
        "    if event.get('kill'):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "        time.sleep(5)\n"
        "    return os.getpid()\n"
    )
    name = create(client, {"app.py": killer})
    publish(client, name)
    body, _ = invoke(client, f"{name}:1")
    assert body != 1  # a restored sandbox is never its pid namespace's init
    out = client.invoke(FunctionName=f"{name}:1", Payload=b'{"kill": true}')
    assert out["FunctionError"] == "Unhandled"
    error = json.loads(out["Payload"].read())
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: signal: killed")


def test_latest_initializes_on_demand(client: Any) -> None:
    name = create(client, {"app.py": HANDLER})
    body, log = invoke(client, name)
    assert body["init_type"] == "on-demand"
    assert body["init_pid"] == body["pid"]
    assert body["events"] == []
    assert "Init Duration: " in log
    assert "Restore Duration" not in log


def test_hooks_of_a_bundled_snapshot_restore_py_run(client: Any) -> None:
    bundled = Path(snapshot_restore_py.__file__).read_text()
    name = create(client, {"app.py": HANDLER, "snapshot_restore_py.py": bundled})
    publish(client, name)
    body, _ = invoke(client, f"{name}:1")
    assert body["events"] == ["before-2:a:b", "before-1", "after:True"]


BROKEN_INITS = {
    "raises": ("raise RuntimeError('init broke')\n", "RuntimeError: init broke"),
    "exits": ("import sys\nsys.exit(3)\n", "Runtime exited with error: exit status 3"),
    "hook raises": (
        "from snapshot_restore_py import register_before_snapshot\n"
        "def bad():\n    raise ValueError('snapshot hook broke')\n"
        "register_before_snapshot(bad)\n",
        "ValueError: snapshot hook broke",
    ),
}


@pytest.mark.parametrize("how", list(BROKEN_INITS))
def test_a_version_whose_snapshot_init_fails_is_failed(client: Any, how: str) -> None:
    code, said = BROKEN_INITS[how]
    name = create(client, {"app.py": code + "def handler(event, context):\n    return 1\n"})
    version = str(client.publish_version(FunctionName=name)["Version"])
    with pytest.raises(WaiterError):
        client.get_waiter("published_version_active").wait(
            FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 0.05, "MaxAttempts": 600}
        )
    config = client.get_function_configuration(FunctionName=name, Qualifier=version)
    assert (config["State"], config["StateReasonCode"]) == ("Failed", "FunctionError")
    assert said in config["StateReason"]
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=f"{name}:{version}", Payload=b"{}")
    error = caught.value.response
    assert error["Error"]["Code"] == "ResourceConflictException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "in the following state: Failed" in error["Error"]["Message"]
    # $LATEST initializes on demand as ever (no snapshot, so no before-snapshot hooks).
    out = client.invoke(FunctionName=name, Payload=b"{}")
    assert ("FunctionError" in out) == (how != "hook raises")


def test_a_failing_after_restore_hook_reports_its_error(client: Any) -> None:
    hook = (
        "from snapshot_restore_py import register_after_restore\n"
        "def bad():\n    raise ValueError('restore broke')\n"
        "register_after_restore(bad)\n"
        "def handler(event, context):\n    return 1\n"
    )
    name = create(client, {"app.py": hook})
    publish(client, name)
    out = client.invoke(FunctionName=f"{name}:1", Payload=b"{}")
    assert out["FunctionError"] == "Unhandled"
    error = json.loads(out["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "restore broke")


def test_an_init_that_leaves_a_thread_running_initializes_on_demand(
    client: Any, snap_server: LamboxServer
) -> None:
    threaded = (
        "import os, threading, time\n"
        "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
        "def handler(event, context):\n"
        "    return os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\n"
    )
    name = create(client, {"app.py": threaded})
    publish(client, name)
    body, log = invoke(client, f"{name}:1")
    assert body == "on-demand"
    assert "Init Duration: " in log
    assert "threads besides its main one" in snap_server.output()


def _named(comm: str) -> list[int]:
    """Host pids of the processes whose name (``/proc/<pid>/comm``) is ``comm``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == comm:
                    pids.append(int(entry))
    return pids


def test_a_spare_is_restored_ahead_and_deleting_stops_them_all(client: Any) -> None:
    comm = f"snap{secrets.token_hex(5)}"
    named = (
        f"open('/proc/self/comm', 'w').write({comm!r})\n"
        "def handler(event, context):\n    return 'ok'\n"
    )
    name = create(client, {"app.py": named})
    publish(client, name)
    invoke(client, f"{name}:1")
    # The snapshot, the sandbox restored from it, and the next one restored ahead of need.
    deadline = time.monotonic() + 10
    while len(_named(comm)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_named(comm)) == 3
    client.delete_function(FunctionName=name)
    deadline = time.monotonic() + 10
    while _named(comm) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _named(comm) == []
