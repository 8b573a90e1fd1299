"""Which interpreter runs a function: native versions, mapped versions, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from lambox.control.runtimes import RuntimeCatalog
from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server, unique

CODE = make_zip(
    {"app.py": "import sys\ndef handler(e, c):\n    return '%d.%d' % sys.version_info[:2]\n"}
)


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(
        tmp_path_factory.mktemp("mapped") / "data",
        {"LAMBOX_RUNTIME_MAP": "python3.14=python3.11"},
    )
    yield srv
    stop_server(srv)


def client_for(server: LamboxServer):  # type: ignore[no-untyped-def]
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )


def deploy(client, runtime: str) -> str:  # type: ignore[no-untyped-def]
    name = unique("rt")
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": CODE},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def test_mapped_runtime_runs_on_the_target_interpreter(mapped: LamboxServer) -> None:
    client = client_for(mapped)
    name = deploy(client, "python3.14")
    out = json.loads(client.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert out == "3.11"
    assert "runtime python3.14 runs on python3.11" in mapped.output()


def test_missing_runtime_is_a_clear_error(lambda_client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        deploy(lambda_client, "python3.14")
    err = exc.value.response["Error"]
    assert err["Code"] == "InvalidParameterValueException"
    assert "python3.14 is not available on this lambox server" in err["Message"]
    assert "LAMBOX_RUNTIME_MAP=python3.14=" in err["Message"]


def test_other_installed_python_runs_natively(lambda_client) -> None:  # type: ignore[no-untyped-def]
    if RuntimeCatalog({})._probe("python3.12") is None:
        pytest.skip("no python3.12 on this machine")
    name = deploy(lambda_client, "python3.12")
    out = json.loads(lambda_client.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert out == "3.12"


def test_runtime_dir_is_importable_by_the_sandbox_interpreter() -> None:
    import lambox.sandbox.environment as env

    assert (Path(env.RUNTIME_DIR) / "lambox" / "runtime" / "bootstrap.py").exists()
