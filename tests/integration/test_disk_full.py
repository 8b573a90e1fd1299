"""A full disk under the data directory (a small tmpfs): an invocation that ran answers its
result, and writes that could not be stored answer 500 ServiceException saying so."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server, unique

# The function writes more than a tmpfs page, so its log record cannot fit in the slack of
# the log file's last page.
CODE = make_zip(
    {"app.py": "def handler(event, context):\n    print('x' * 20000)\n    return event\n"}
)


@dataclass
class FullDisk:
    server: LamboxServer
    client: Any
    name: str
    filler: Path


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == 28, exc  # ENOSPC
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullDisk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path_factory.mktemp("full") / "mnt"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], check=True)
    server = None
    try:
        # Sandboxes stay warm through the module: a cold start is not what is tested here.
        server = start_server(mount / "data", {"LAMBOX_KEEP_ALIVE": "600"})
        client = boto3.client(
            "lambda",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 0}, read_timeout=120),
        )
        name = unique("full")
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": CODE},
        )
        client.get_waiter("function_active_v2").wait(FunctionName=name)
        assert client.invoke(FunctionName=name, Payload=b'{"warm": 1}')["StatusCode"] == 200
        filler = mount / "filler"
        _fill(filler)
        yield FullDisk(server, client, name, filler)
    finally:
        if server is not None:
            stop_server(server)
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _service_exception(call: Any) -> str:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert response["Error"]["Code"] == "ServiceException"
    message: str = response["Error"]["Message"]
    assert message != "Internal error."
    return message


def test_a_synchronous_invocation_that_ran_answers_its_result(full: FullDisk) -> None:
    # The first record may partly fit in the slack of the log file's last page; the second
    # finds no room at all.
    for n in (1, 2):
        out = full.client.invoke(FunctionName=full.name, Payload=b'{"n": %d}' % n)
        assert out["StatusCode"] == 200
        assert "FunctionError" not in out
        assert out["Payload"].read() == b'{"n": %d}' % n
    log = full.server.output()
    assert f"logs of {full.name} are being dropped: No space left on device" in log
    assert "Traceback" not in log


def test_metadata_writes_answer_service_exception_saying_the_disk_is_full(
    full: FullDisk,
) -> None:
    message = _service_exception(
        lambda: full.client.update_function_configuration(
            FunctionName=full.name, Description="will not fit"
        )
    )
    assert message == "lambox could not store the function data: database or disk is full."
    message = _service_exception(
        lambda: full.client.put_function_event_invoke_config(
            FunctionName=full.name, MaximumRetryAttempts=1
        )
    )
    assert "could not store the event invoke configuration" in message
    config = full.client.get_function(FunctionName=full.name)["Configuration"]
    assert config.get("Description", "") == ""  # nothing half-stored


def test_new_code_answers_service_exception_without_server_paths(full: FullDisk) -> None:
    code = make_zip({"app.py": "def handler(event, context):\n    return 'new'\n" + "#" * 9000})
    message = _service_exception(
        lambda: full.client.create_function(
            FunctionName=unique("nofit"),
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": code},
        )
    )
    assert message == "lambox could not store the function code: No space left on device."
    assert str(full.server.data_dir) not in message


def test_an_event_that_could_not_be_queued_answers_service_exception(full: FullDisk) -> None:
    message = _service_exception(
        lambda: full.client.invoke(FunctionName=full.name, Payload=b"{}", InvocationType="Event")
    )
    assert "could not store the event queue's change" in message
    assert "Traceback" not in full.server.output()


def test_with_room_again_logs_and_writes_resume(full: FullDisk) -> None:
    full.filler.unlink()
    out = full.client.invoke(FunctionName=full.name, Payload=b'{"n": 3}')
    assert out["Payload"].read() == b'{"n": 3}'
    assert f"logs of {full.name} are written again" in full.server.output()
    logs = httpx.get(f"{full.server.url}/lambox/v1/logs/{full.name}").text
    assert logs.count("START RequestId") == 2  # the warm-up's and this one, not the dropped
    full.client.update_function_configuration(FunctionName=full.name, Description="fits")
    config = full.client.get_function(FunctionName=full.name)["Configuration"]
    assert config["Description"] == "fits"
