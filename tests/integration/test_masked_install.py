"""lambox installed under a path a sandbox covers with its own mounts (a clone under /tmp).

The server here runs from a copy of lambox's source and an interpreter prefix (a venv) both
made under /tmp, so every runtime must reach lambox's files there through the sandbox's
private /tmp: the Python runtime and its zygotes, Node.js's bootstrap, awslambdaric from the
venv, and a SnapStart snapshot's restored sandboxes.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    CLIENT_ENV,
    ROLE,
    ROOT,
    SNAPSTART_RUNTIME,
    install_in_tmp,
    make_zip,
    runtime_fallback,
    start_server,
    stop_server,
    unique,
)
from tests.integration.test_custom_runtimes import NODE_CODE, RIC_APP, RIC_BOOTSTRAP

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="the masking mounts exist only in isolated (Linux, root) sandboxes",
)

PYTHON_APP = """
import os, sys

def handler(event, context):
    return {"tmp": sorted(os.listdir("/tmp")), "pid": os.getpid(), "event": event}
"""


def _install_under_tmp(root: Path) -> Path:
    """A venv under ``root`` whose lambox is a copy of this checkout's source, also under
    ``root``, and whose other packages are this test run's. Returns its interpreter."""
    src = root / "src"
    shutil.copytree(
        ROOT / "src" / "lambox", src / "lambox", ignore=shutil.ignore_patterns("__pycache__")
    )
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    here = [p for p in site.getsitepackages() if p.endswith("site-packages")]
    # The copy first, then this run's packages (processing their .pth files).
    lines = [str(src), *(f"import site; site.addsitedir({p!r})" for p in here)]
    (venv / "lib" / version / "site-packages" / "lambox_under_tmp.pth").write_text(
        "\n".join(lines) + "\n"
    )
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    import boto3
    from botocore.config import Config

    root = Path(tempfile.mkdtemp(prefix="lambox-install-", dir="/tmp"))
    try:
        python = _install_under_tmp(root)
        found = subprocess.run(
            [str(python), "-c", "import lambox; print(lambox.__file__)"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert found.startswith(str(root)), found
        env = {"LAMBOX_SANDBOX": "linux", **runtime_fallback()}
        srv = start_server(root / "data", env, python=str(python))
        try:
            os.environ.update(CLIENT_ENV)
            yield boto3.client(
                "lambda",
                endpoint_url=srv.url,
                region_name="us-east-1",
                config=Config(retries={"max_attempts": 0}, read_timeout=60),
            )
        finally:
            stop_server(srv)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _deploy(client: Any, runtime: str, handler: str, code: bytes, **extra: Any) -> str:
    name = unique("masked")
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Handler=handler,
        Role=ROLE,
        Code={"ZipFile": code},
        **extra,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def _invoke(client: Any, name: str, payload: Any, **extra: Any) -> tuple[dict[str, Any], Any]:
    out = client.invoke(FunctionName=name, Payload=json.dumps(payload), LogType="Tail", **extra)
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, (body, base64.b64decode(out.get("LogResult", "")))
    return out, body


def test_python_runs_and_sees_only_the_install_folder_in_its_tmp(client: Any) -> None:
    name = _deploy(client, "python3.11", "app.handler", make_zip({"app.py": PYTHON_APP}))
    _, body = _invoke(client, name, {"n": 1})
    assert body["event"] == {"n": 1}
    mine = set(body["tmp"]) - install_in_tmp()
    assert len(mine) == 1 and mine.pop().startswith("lambox-install-"), body["tmp"]


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_node_runs(client: Any) -> None:
    name = _deploy(client, "nodejs20.x", "index.handler", make_zip(NODE_CODE))
    _, body = _invoke(client, name, {"x": 2})
    assert body["echo"] == {"x": 2}


def test_awslambdaric_runs_from_the_venv(client: Any) -> None:
    pytest.importorskip("awslambdaric", reason="awslambdaric (dev extra) is not installed")
    code = make_zip({"bootstrap": RIC_BOOTSTRAP, "app.py": RIC_APP}, {"bootstrap": 0o755})
    name = _deploy(client, "provided.al2023", "app.handler", code)
    _, body = _invoke(client, name, {"a": 1})
    assert body["event"] == {"a": 1}


def test_snapstart_version_restores(client: Any) -> None:
    app = "import os\nopen('/tmp/init-was-here', 'w').close()\n" + PYTHON_APP
    name = _deploy(
        client,
        SNAPSTART_RUNTIME,
        "app.handler",
        make_zip({"app.py": app}),
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    version = client.publish_version(FunctionName=name)["Version"]
    client.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=version)
    _, body = _invoke(client, name, {"v": 1}, Qualifier=version)
    assert "init-was-here" in body["tmp"]
    mine = set(body["tmp"]) - install_in_tmp() - {"init-was-here"}
    assert len(mine) == 1 and mine.pop().startswith("lambox-install-"), body["tmp"]
