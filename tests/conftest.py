"""Shared fixtures: a real lambox server process, and real clients (boto3, the AWS CLI)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LamboxServer:
    """A running ``lambox serve`` subprocess."""

    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


# SnapStart needs Python 3.12 or later, which the machine may lack: its functions then run
# on the interpreter of the tests, as an operator would map it.
SNAPSTART_RUNTIME = "python3.12"


def runtime_fallback() -> dict[str, str]:
    """``LAMBOX_RUNTIME_MAP`` for SnapStart's runtime when it is not installed here."""
    from lambox.control.runtimes import RuntimeCatalog

    if RuntimeCatalog({})._probe(SNAPSTART_RUNTIME) is not None:
        return {}
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return {"LAMBOX_RUNTIME_MAP": f"{SNAPSTART_RUNTIME}={here}"}


def start_server(
    data_dir: Path,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    args: Sequence[str] = (),
) -> LamboxServer:
    port = free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "LAMBOX_KEEP_ALIVE": "30", **runtime_fallback(), **(env or {})}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [
                python,
                "-m",
                "lambox.cli.main",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{url}/lambox/v1/health", timeout=1).status_code == 200:
                return LamboxServer(url, data_dir, proc, log_path)
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start: {log_path.read_text()}")


def serve_examples(
    data_dir: Path,
    ready: Callable[[str], bool],
    examples: Path = ROOT / "examples",
    env: dict[str, str] | None = None,
    wait: float = 90,
) -> LamboxServer:
    """``lambox serve --examples``, as ``make serve`` runs it, once ``ready`` holds of its log
    (the examples deploy after the server answers)."""
    server = start_server(data_dir, env, args=("--examples", str(examples)))
    deadline = time.monotonic() + wait
    while not ready(server.output()):
        if server.proc.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"examples not deployed: {server.output()}")
        time.sleep(0.2)
    return server


def stop_server(server: LamboxServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path_factory.mktemp("lambox") / "data")
    yield srv
    stop_server(srv)


def aws_client(
    server: LamboxServer, service: str, *, retries: bool = False, read_timeout: int = 120
) -> Any:
    """boto3's client of ``service`` pointed at ``server``, with the test keys, as a user
    makes one. Without retries unless asked: a retried request would hide the failure or
    the throttle a test looks for."""
    import boto3
    from botocore.config import Config

    config = Config(read_timeout=read_timeout, retries=None if retries else {"max_attempts": 0})
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


@pytest.fixture(scope="session")
def lambda_client(server: LamboxServer):  # type: ignore[no-untyped-def]
    os.environ.update(CLIENT_ENV)
    return aws_client(server, "lambda")


def make_zip(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    """A zip of in-memory files, as a user's deployment package."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


ROLE = "arn:aws:iam::000000000000:role/lambox-test"
"""A role lambox creates on first use (loopback posture): it may write its logs, nothing
more. Functions that call AWS from inside need ``execution_role``."""

BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
LAMBDA_TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",'
    ' "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)


def execution_role(
    url: str,
    name: str,
    actions: Sequence[str] = (),
    resource: str = "*",
    managed: Sequence[str] = (BASIC_EXECUTION,),
) -> str:
    """A function's execution role as a tutorial makes one: trusting Lambda, with the given
    managed policies (the logs one by default) and an inline policy allowing ``actions`` on
    ``resource``; its ARN. Made once per server and name (the policies are set again)."""
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    try:
        arn: str = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    for policy in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy)
    if actions:
        document = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}],
        }
        iam.put_role_policy(RoleName=name, PolicyName="calls", PolicyDocument=json.dumps(document))
    return arn


def install_in_tmp() -> set[str]:
    """Names in every isolated sandbox's /tmp that lambox's own install puts there: when this
    checkout or its interpreter lives under /tmp, the sandbox binds those folders again."""
    from lambox.runtime.jail import masked_dirs, python_dirs

    folders = [Path(path) for path, _ in masked_dirs(python_dirs())] + [ROOT]
    return {f.relative_to("/tmp").parts[0] for f in folders if f.is_relative_to("/tmp")}


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns() % 10**9}"


def cli_models(root: Path) -> Path:
    """The AWS CLI v2.9's models predate durable functions and tenant isolation: botocore's
    Lambda model beside it through AWS_DATA_PATH (docs/durable.md), as a user of that CLI
    does."""
    import gzip

    import botocore

    source = Path(botocore.__file__).parent / "data" / "lambda" / "2015-03-31"
    target = root / "models" / "lambda" / "2015-03-31"
    target.mkdir(parents=True, exist_ok=True)
    (target / "service-2.json").write_bytes(
        gzip.decompress((source / "service-2.json.gz").read_bytes())
    )
    return root / "models"
