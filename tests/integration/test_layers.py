"""Lambda layers through boto3 against real servers (the Linux and the process backends):
the API's shapes and errors as AWS recorded them, and what a function sees of its layers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server, unique

ACCOUNT = "000000000000"
PREFIX = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:"

HANDLER = """
import json, os, subprocess, sys

def handler(event, context):
    import shared, first_only, second_only
    out = subprocess.run(["layer-tool"], capture_output=True, text=True).stdout.strip()
    return {
        "shared": shared.WHO,
        "first": first_only.WHO,
        "second": second_only.WHO,
        "tool": out,
        "path": os.environ["PATH"],
        "ld": os.environ["LD_LIBRARY_PATH"],
        "sys_path": sys.path[:4],
        "data": open(os.path.join(os.path.dirname(shared.__file__), "..", "data.txt")).read(),
    }
"""


def layer_zip(who: str, extra: dict[str, str | bytes] | None = None) -> bytes:
    files: dict[str, str | bytes] = {
        "python/shared.py": f"WHO = {who!r}\n",
        f"python/{who}_only.py": f"WHO = {who!r}\n",
        "data.txt": who,
        **(extra or {}),
    }
    return make_zip(files, modes={"bin/layer-tool": 0o755})


@pytest.fixture(scope="module", params=["linux", "process"])
def layer_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LamboxServer]:
    backend = str(request.param)
    srv = start_server(
        tmp_path_factory.mktemp(f"layers-{backend}") / "data", {"LAMBOX_SANDBOX": backend}
    )
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(layer_server: LamboxServer):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=layer_server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=120),
    )


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    e = exc.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def publish(client: Any, name: str, content: bytes, **kw: Any) -> dict[str, Any]:
    return dict(client.publish_layer_version(LayerName=name, Content={"ZipFile": content}, **kw))


def test_layer_lifecycle_shapes(client: Any) -> None:
    name = unique("lyr")
    content = layer_zip("first")
    first = publish(
        client,
        name,
        content,
        Description="d",
        LicenseInfo="MIT",
        CompatibleRuntimes=["python3.12"],
        CompatibleArchitectures=["x86_64"],
    )
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["LayerArn"] == PREFIX + name
    assert first["LayerVersionArn"] == f"{PREFIX}{name}:1"
    assert first["Version"] == 1
    assert first["Content"]["CodeSize"] == len(content)
    assert first["CompatibleRuntimes"] == ["python3.12"]
    assert first["LicenseInfo"] == "MIT"
    second = publish(client, name, content)
    assert second["Version"] == 2
    assert second["CompatibleRuntimes"] == [] and second["CompatibleArchitectures"] == []
    assert "LicenseInfo" not in second

    got = client.get_layer_version(LayerName=name, VersionNumber=1)
    by_arn = client.get_layer_version_by_arn(Arn=f"{PREFIX}{name}:1")
    for view in (got, by_arn):
        assert view["LayerVersionArn"] == f"{PREFIX}{name}:1"
        assert view["Content"]["CodeSha256"] == first["Content"]["CodeSha256"]
    listed = client.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["Version"] for v in listed] == [2, 1]
    assert "Content" not in listed[0]
    python_only = client.list_layer_versions(LayerName=name, CompatibleRuntime="python3.12")
    assert [v["Version"] for v in python_only["LayerVersions"]] == [1]
    layers = {item["LayerName"]: item for item in client.list_layers()["Layers"]}
    assert layers[name]["LatestMatchingVersion"]["Version"] == 2

    client.delete_layer_version(LayerName=name, VersionNumber=1)
    client.delete_layer_version(LayerName=name, VersionNumber=1)  # absent: still 204
    with pytest.raises(ClientError) as exc:
        client.get_layer_version(LayerName=name, VersionNumber=1)
    assert error(exc) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )
    with pytest.raises(ClientError) as exc:
        client.get_layer_version(LayerName=name, VersionNumber=0)
    assert error(exc) == (
        "InvalidParameterValueException",
        "Layer Version Cannot be less than 1",
        400,
    )
    # Numbers are never reused after a delete.
    client.delete_layer_version(LayerName=name, VersionNumber=2)
    assert publish(client, name, content)["Version"] == 3


def test_layer_policy(client: Any) -> None:
    name = unique("pol")
    publish(client, name, layer_zip("first"))
    with pytest.raises(ClientError) as exc:
        client.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert error(exc)[1:] == ("No policy is associated with the given resource.", 404)
    added = client.add_layer_version_permission(
        LayerName=name,
        VersionNumber=1,
        StatementId="s1",
        Action="lambda:GetLayerVersion",
        Principal="*",
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "s1",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "lambda:GetLayerVersion",
        "Resource": f"{PREFIX}{name}:1",
    }
    with pytest.raises(ClientError) as exc:
        client.add_layer_version_permission(
            LayerName=name,
            VersionNumber=1,
            StatementId="s1",
            Action="lambda:GetLayerVersion",
            Principal="*",
        )
    assert error(exc)[0] == "ResourceConflictException"
    with pytest.raises(ClientError) as exc:
        client.add_layer_version_permission(
            LayerName=name,
            VersionNumber=1,
            StatementId="s2",
            Action="lambda:GetLayerVersion",
            Principal="*",
            RevisionId="wrong",
        )
    assert error(exc)[0] == "PreconditionFailedException"
    with pytest.raises(ClientError) as exc:
        client.get_layer_version_policy(LayerName=name, VersionNumber=2)
    assert error(exc)[1] == f"Layer version {PREFIX}{name}:2 does not exist."
    policy = client.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert policy["RevisionId"] == added["RevisionId"]
    assert [s["Sid"] for s in json.loads(policy["Policy"])["Statement"]] == ["s1"]
    with pytest.raises(ClientError) as exc:
        client.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="x")
    assert error(exc)[1] == "Statement x is not found in resource policy."
    client.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="s1")
    with pytest.raises(ClientError):
        client.get_layer_version_policy(LayerName=name, VersionNumber=1)


def create(client: Any, name: str, **kw: Any) -> dict[str, Any]:
    return dict(
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": make_zip({"app.py": HANDLER})},
            Timeout=30,
            **kw,
        )
    )


def test_function_layers_errors(client: Any) -> None:
    name = unique("lerr")
    publish(client, name, layer_zip("first"))
    publish(client, name, layer_zip("first"))
    fn = unique("lfn")
    cases = [
        (
            [f"{PREFIX}{name}:1", f"{PREFIX}{name}:2"],
            "Two different versions of the same layer are not allowed to be referenced in the"
            f" same function. {PREFIX}{name}:1 and {PREFIX}{name}:2 are versions of the same"
            " layer.",
        ),
        ([f"{PREFIX}{name}:9"], f"Layer version {PREFIX}{name}:9 does not exist."),
        ([f"{PREFIX}{name}-{i}:1" for i in range(6)], "Cannot reference more than 5 layers."),
    ]
    for layers, message in cases:
        with pytest.raises(ClientError) as exc:
            create(client, fn, Layers=layers)
        assert error(exc) == ("InvalidParameterValueException", message, 400)


def test_layers_over_250_mb_with_the_function_are_refused(client: Any) -> None:
    name = unique("big")
    # Each zip stays small while it unpacks to 130 MB (within the store's zip-bomb ratio).
    big = make_zip({"zeros.bin": b"\0" * (130 * 2**20), "noise.bin": os.urandom(800 << 10)})
    publish(client, name + "-a", big)
    publish(client, name + "-b", big)
    with pytest.raises(ClientError) as exc:
        create(client, unique("bigfn"), Layers=[f"{PREFIX}{name}-a:1", f"{PREFIX}{name}-b:1"])
    code, message, status = error(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    expected = (
        "Function code combined with layers exceeds the maximum allowed size of 262144000"
        " bytes. The actual size is "
    )
    assert message.startswith(expected)
    # With one layer it fits; new code that takes it over the limit is refused.
    fn = unique("bigfn")
    create(client, fn, Layers=[f"{PREFIX}{name}-a:1"])
    client.get_waiter("function_active_v2").wait(FunctionName=fn)
    with pytest.raises(ClientError) as exc:
        client.update_function_code(FunctionName=fn, ZipFile=big)
    code, message, status = error(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith(expected)


def test_function_sees_layers_in_order_at_opt(client: Any) -> None:
    first = unique("first")
    second = unique("second")
    tool = "#!/bin/sh\necho tool-from-second\n"
    publish(client, first, layer_zip("first", {"bin/layer-tool": "#!/bin/sh\necho first\n"}))
    publish(client, second, layer_zip("second", {"bin/layer-tool": tool}))
    fn = unique("lsee")
    arns = [f"{PREFIX}{first}:1", f"{PREFIX}{second}:1"]
    created = create(client, fn, Layers=arns)
    assert [layer["Arn"] for layer in created["Layers"]] == arns
    client.get_waiter("function_active_v2").wait(FunctionName=fn)
    config = client.get_function_configuration(FunctionName=fn)
    assert [layer["Arn"] for layer in config["Layers"]] == arns
    assert all(layer["CodeSize"] > 0 for layer in config["Layers"])

    out = json.loads(client.invoke(FunctionName=fn)["Payload"].read())
    assert out["shared"] == "second"  # the later layer wins
    assert (out["first"], out["second"]) == ("first", "second")
    assert out["tool"] == "tool-from-second"
    assert out["data"] == "second"
    assert out["path"].split(":")[-1].endswith("/bin")
    assert out["ld"].split(":")[-1].endswith("/lib")

    # An update to one layer replaces /opt; the invocation after it sees the new tree.
    client.update_function_configuration(FunctionName=fn, Layers=[f"{PREFIX}{first}:1"])
    client.get_waiter("function_updated_v2").wait(FunctionName=fn)
    out = json.loads(client.invoke(FunctionName=fn)["Payload"].read())
    assert out.get("errorType") == "ModuleNotFoundError"  # second_only is gone
    config = client.get_function_configuration(FunctionName=fn)
    assert [layer["Arn"] for layer in config["Layers"]] == [f"{PREFIX}{first}:1"]


def test_linux_sandbox_sees_layers_at_opt(client: Any, layer_server: LamboxServer) -> None:
    if "layers-linux" not in str(layer_server.data_dir):
        pytest.skip("/opt is the layers' mount only in a jail")
    name = unique("opt")
    publish(client, name, layer_zip("first"))
    fn = unique("optfn")
    client.create_function(
        FunctionName=fn,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={
            "ZipFile": make_zip(
                {
                    "app.py": "import os, shared\n"
                    "def handler(e, c):\n"
                    "    return [shared.__file__, sorted(os.listdir('/opt')),"
                    " os.access('/opt/data.txt', os.W_OK)]\n"
                }
            )
        },
        Layers=[f"{PREFIX}{name}:1"],
    )
    client.get_waiter("function_active_v2").wait(FunctionName=fn)
    out = json.loads(client.invoke(FunctionName=fn)["Payload"].read())
    assert out == ["/opt/python/shared.py", ["data.txt", "python"], False]


def test_version_zygote_holds_layers_compiled(client: Any, layer_server: LamboxServer) -> None:
    """The version zygote of a function with layers binds them with its code and compiles
    the layer modules init imported (it runs none of them: it is root); sandboxes forked
    from it see /opt as the first one did."""
    if "layers-linux" not in str(layer_server.data_dir):
        pytest.skip("zygotes are the Linux backend's")
    import re
    import time
    from concurrent.futures import ThreadPoolExecutor

    name = unique("zyg")
    publish(client, name, layer_zip("first", {"python/extra_mod.py": "X = 1\n"}))
    fn = unique("zygfn")
    code = (
        "import time, shared, first_only, extra_mod\n"
        "def handler(e, c):\n"
        "    time.sleep(0.5)\n"
        "    return [shared.WHO, extra_mod.X, shared.__file__]\n"
    )
    client.create_function(
        FunctionName=fn,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": code})},
        Layers=[f"{PREFIX}{name}:1"],
    )
    client.get_waiter("function_active_v2").wait(FunctionName=fn)
    assert json.loads(client.invoke(FunctionName=fn)["Payload"].read())[0] == "first"
    ready = re.compile(
        rf"zygote of {fn} ready .*: \d+ modules preloaded \(\d+ failed\), (\d+) compiled"
    )
    found = None
    for _ in range(300):
        found = ready.search(layer_server.output())
        if found:
            break
        time.sleep(0.1)
    assert found is not None, layer_server.output()[-3000:]
    assert int(found.group(1)) == 4  # app.py, and shared, first_only, extra_mod from /opt

    with ThreadPoolExecutor(3) as pool:
        outs = list(
            pool.map(
                lambda _: json.loads(client.invoke(FunctionName=fn)["Payload"].read()), range(3)
            )
        )
    assert outs == [["first", 1, "/opt/python/shared.py"]] * 3


def test_node_and_provided_functions_see_their_layers(client: Any) -> None:
    """NODE_PATH finds /opt/nodejs/node_modules; a custom runtime's bootstrap finds the
    layer's /opt/bin on PATH and its files under /opt."""
    name = unique("nodelyr")
    files: dict[str, str | bytes] = {
        "nodejs/node_modules/greeter/index.js": "exports.greet = (n) => `hi ${n}`;\n",
        "bin/shout": '#!/bin/sh\necho "$1" | tr a-z A-Z\n',
    }
    publish(client, name, make_zip(files, modes={"bin/shout": 0o755}))
    layers = [f"{PREFIX}{name}:1"]
    node = unique("nodefn")
    client.create_function(
        FunctionName=node,
        Runtime="nodejs20.x",
        Handler="index.handler",
        Role=ROLE,
        Code={
            "ZipFile": make_zip(
                {
                    "index.js": "const g = require('greeter');\n"
                    "exports.handler = async (e) => g.greet(e.name);\n"
                }
            )
        },
        Layers=layers,
    )
    bootstrap = (
        "#!/bin/sh\nset -e\n"
        'API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"\n'
        "while true; do\n"
        '  H="$(mktemp)"\n'
        '  curl -sS -D "$H" -o /dev/null "$API/next"\n'
        "  ID=$(grep -i Lambda-Runtime-Aws-Request-Id \"$H\" | tr -d '\\r' | cut -d' ' -f2)\n"
        '  OUT="$(shout quiet)"\n'
        '  curl -sS -X POST "$API/$ID/response" -d "\\"$OUT\\""\n'
        "done\n"
    )
    custom = unique("provfn")
    client.create_function(
        FunctionName=custom,
        Runtime="provided.al2023",
        Handler="unused",
        Role=ROLE,
        Code={"ZipFile": make_zip({"bootstrap": bootstrap}, modes={"bootstrap": 0o755})},
        Layers=layers,
    )
    for fn in (node, custom):
        client.get_waiter("function_active_v2").wait(FunctionName=fn)
    got = client.invoke(FunctionName=node, Payload=json.dumps({"name": "opt"}))
    assert json.loads(got["Payload"].read()) == "hi opt"
    got = client.invoke(FunctionName=custom)
    assert json.loads(got["Payload"].read()) == "QUIET"


def test_site_packages_of_the_functions_runtime(client: Any) -> None:
    """A layer built for python3.12 puts its packages in python/lib/python3.12/site-packages;
    a python3.12 function finds them whichever interpreter lambox runs it on."""
    name = unique("site")
    files = {"python/lib/python3.12/site-packages/pkg312/__init__.py": "WHERE = __file__\n"}
    publish(client, name, make_zip(files))
    fn = unique("sitefn")
    client.create_function(
        FunctionName=fn,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={
            "ZipFile": make_zip(
                {"app.py": "import pkg312\ndef handler(e, c):\n    return pkg312.WHERE\n"}
            )
        },
        Layers=[f"{PREFIX}{name}:1"],
    )
    client.get_waiter("function_active_v2").wait(FunctionName=fn)
    got = json.loads(client.invoke(FunctionName=fn)["Payload"].read())
    assert got.endswith("/python/lib/python3.12/site-packages/pkg312/__init__.py"), got
