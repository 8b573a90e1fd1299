"""Authentication at the edge, driven over HTTP with boto3, the AWS CLI and raw requests:
the strict posture (a generated root key, every request signed) and the open one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ROOT, LamboxServer, start_server, stop_server


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path_factory.mktemp("strict") / "data", {"LAMBOX_AUTH": "strict"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def root_keys(strict: LamboxServer) -> tuple[str, str]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lambox.cli.main",
            "credentials",
            "--data-dir",
            str(strict.data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    values = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    return values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"]


def client(service: str, url: str, key: str, secret: str, **config: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}, **config),
    )


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return dict(caught.value.response)


def test_strict_root_key_is_generated_and_private(
    strict: LamboxServer, root_keys: tuple[str, str]
) -> None:
    key, secret = root_keys
    assert key.startswith("AKIA") and len(key) == 20 and secret != "test"
    mode = (strict.data_dir / "root-credentials.json").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_strict_lambda_needs_the_key(strict: LamboxServer, root_keys: tuple[str, str]) -> None:
    key, secret = root_keys
    assert client("lambda", strict.url, key, secret).list_functions()["Functions"] == []
    err = error_of(client("lambda", strict.url, "test", "test").list_functions)
    assert err["Error"]["Code"] == "UnrecognizedClientException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    err = error_of(client("lambda", strict.url, key, secret + "x").list_functions)
    assert err["Error"]["Code"] == "InvalidSignatureException"
    r = httpx.get(f"{strict.url}/2015-03-31/functions")
    assert r.status_code == 403
    assert r.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert r.json() == {"message": "Missing Authentication Token"}
    assert httpx.get(f"{strict.url}/lambox/v1/health").status_code == 200


def test_strict_signed_invoke_body_is_checked(
    strict: LamboxServer, root_keys: tuple[str, str]
) -> None:
    """A signed body changed on the way is refused before the request is dispatched."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{strict.url}/2015-03-31/functions/nope/invocations"
    request = AWSRequest("POST", url, data=b'{"k": 1}')
    SigV4Auth(Credentials(*root_keys), "lambda", "us-east-1").add_auth(request)
    headers = dict(request.headers)
    good = httpx.post(url, content=b'{"k": 1}', headers=headers)
    assert good.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    bad = httpx.post(url, content=b'{"k": 2}', headers=headers)
    assert bad.status_code == 403
    assert bad.headers["x-amzn-errortype"] == "InvalidSignatureException"


def test_strict_s3_errors_and_presigned(strict: LamboxServer, root_keys: tuple[str, str]) -> None:
    key, secret = root_keys
    s3 = client("s3", strict.url, key, secret, s3={"addressing_style": "path"})
    s3.create_bucket(Bucket="sec")
    s3.put_object(Bucket="sec", Key="k", Body=b"secret data")
    err = error_of(client("s3", strict.url, "AKIANOBODY", "x").get_object, Bucket="sec", Key="k")
    assert err["Error"]["Code"] == "InvalidAccessKeyId"
    assert err["Error"]["AWSAccessKeyId"] == "AKIANOBODY"
    err = error_of(client("s3", strict.url, key, "wrong").get_object, Bucket="sec", Key="k")
    assert err["Error"]["Code"] == "SignatureDoesNotMatch"
    # unsigned, a path-style request is the Lambda API's; S3 knows it by its virtual host
    anonymous = httpx.get(f"{strict.url}/k", headers={"host": "sec.s3.amazonaws.com"})
    assert anonymous.status_code == 403 and b"<Code>AccessDenied</Code>" in anonymous.content
    for version in ("s3", "s3v4"):
        signer = client("s3", strict.url, key, secret, signature_version=version)
        url = signer.generate_presigned_url("get_object", Params={"Bucket": "sec", "Key": "k"})
        assert httpx.get(url).content == b"secret data"
        tampered = url.replace("/sec/k?", "/sec/k2?")
        r = httpx.get(tampered)
        assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content
        put_url = signer.generate_presigned_url("put_object", Params={"Bucket": "sec", "Key": "p"})
        assert httpx.put(put_url, content=b"up").status_code == 200
    assert s3.get_object(Bucket="sec", Key="p")["Body"].read() == b"up"


def test_strict_aws_cli(strict: LamboxServer, root_keys: tuple[str, str], tmp_path: Path) -> None:
    key, secret = root_keys
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    args = ["/usr/bin/aws", "--endpoint-url", strict.url, "lambda", "list-functions"]
    ok = subprocess.run(
        args,
        env={**env, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret},
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(
        args,
        env={**env, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "UnrecognizedClientException" in refused.stderr


def test_open_posture_root_key_is_test_and_checked(server: LamboxServer) -> None:
    """Loopback: test/test is the root key (and must sign right); unsigned requests and
    unknown keys act as root, as before."""
    assert httpx.get(f"{server.url}/2015-03-31/functions").status_code == 200
    assert client("lambda", server.url, "AKIAANYONE", "x").list_functions()
    err = error_of(client("lambda", server.url, "test", "not-test").list_functions)
    assert err["Error"]["Code"] == "InvalidSignatureException"
    stored = (server.data_dir / "root-credentials.json").read_text()
    assert '"AccessKeyId": "test"' in stored


def test_strict_lambox_cli_signs_with_the_environment_keys(
    strict: LamboxServer, root_keys: tuple[str, str]
) -> None:
    args = [sys.executable, "-m", "lambox.cli.main", "functions", "--endpoint-url", strict.url]
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    refused = subprocess.run(args, env=bare, capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 1 and "Missing Authentication Token" in refused.stderr
    key, secret = root_keys
    keyed = {**bare, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    listed = subprocess.run(args, env=keyed, capture_output=True, text=True, cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    assert "Name" in listed.stdout
    logs = [sys.executable, "-m", "lambox.cli.main", "logs", "nope", "--endpoint-url", strict.url]
    found = subprocess.run(logs, env=keyed, capture_output=True, text=True, cwd=ROOT)
    assert "Missing Authentication Token" not in found.stderr


def test_strict_aws_cli_s3(
    strict: LamboxServer, root_keys: tuple[str, str], tmp_path: Path
) -> None:
    """``aws s3`` and ``aws s3api`` sign as the CLI does (payload hashes, multipart)."""
    key, secret = root_keys
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    base = ["/usr/bin/aws", "--endpoint-url", strict.url]
    small, big = tmp_path / "small.txt", tmp_path / "big.bin"
    small.write_bytes(b"hello")
    big.write_bytes(os.urandom(9 << 20))  # multipart at the CLI's 8 MiB threshold

    def aws(*args: str, keys: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], env={**env, **(keys or {})}, capture_output=True,
                              text=True)  # fmt: skip

    assert aws("s3", "mb", "s3://cli-strict").returncode == 0
    for f in (small, big):
        done = aws("s3", "cp", str(f), f"s3://cli-strict/{f.name}")
        assert done.returncode == 0, done.stderr
    back = tmp_path / "back.bin"
    assert aws("s3", "cp", "s3://cli-strict/big.bin", str(back)).returncode == 0
    assert back.read_bytes() == big.read_bytes()
    url = aws("s3", "presign", "s3://cli-strict/small.txt").stdout.strip()
    assert httpx.get(url).content == b"hello"
    wrong = aws("s3", "ls", "s3://cli-strict", keys={"AWS_SECRET_ACCESS_KEY": "nope"})
    assert wrong.returncode != 0 and "SignatureDoesNotMatch" in wrong.stderr


def test_strict_code_location_is_presigned(
    strict: LamboxServer, root_keys: tuple[str, str]
) -> None:
    """GetFunction's Code.Location downloads without credentials for a while, as AWS's
    presigned S3 URL does; the bare path does not."""
    import json

    from tests.conftest import make_zip, unique

    iam = client("iam", strict.url, *root_keys)
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
    }
    role = iam.create_role(RoleName=unique("code"), AssumeRolePolicyDocument=json.dumps(trust))
    lam = client("lambda", strict.url, *root_keys)
    name = unique("code")
    package = make_zip({"index.py": "def handler(e, c):\n    return 1\n"})
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role["Role"]["Arn"],
                        Handler="index.handler", Code={"ZipFile": package})  # fmt: skip
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=600" in location
    got = httpx.get(location)
    assert got.status_code == 200 and got.content == package
    bare = httpx.get(location.split("?", 1)[0])
    assert bare.status_code == 403
