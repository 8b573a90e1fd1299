"""Signer on lambox's endpoint, and Lambda code signing verified against it: profiles and
jobs with boto3 and the AWS CLI, code signed in S3 deployed under Enforce and Warn,
revoked profiles and signatures, tampered objects, and keys that survive kill -9."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import (
    CLIENT_ENV,
    ROLE,
    LamboxServer,
    aws_client,
    make_zip,
    start_server,
    stop_server,
    unique,
)

PLATFORM = "AWSLambda-SHA384-ECDSA"


def zip_of(text: str) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {text!r}\n"})


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


class World:
    """Clients of one server, a bucket, and helpers to sign and deploy."""

    def __init__(self, server: LamboxServer) -> None:
        self.server = server
        self.signer = aws_client(server, "signer")
        self.s3 = aws_client(server, "s3")
        self.aws_lambda = aws_client(server, "lambda")
        self.bucket = unique("code").lower()
        self.s3.create_bucket(Bucket=self.bucket)

    def profile(self, **extra: Any) -> dict[str, Any]:
        name = unique("p").replace("-", "_")
        out = self.signer.put_signing_profile(profileName=name, platformId=PLATFORM, **extra)
        return {"name": name, **out}

    def upload(self, data: bytes) -> str:
        key = f"src/{uuid.uuid4()}.zip"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        return key

    def sign(self, profile: str, data: bytes) -> dict[str, Any]:
        """Upload ``data``, sign it with ``profile``; the finished job."""
        key = self.upload(data)
        token = str(uuid.uuid4())
        job = self.signer.start_signing_job(
            source={"s3": {"bucketName": self.bucket, "key": key, "version": "1"}},
            destination={"s3": {"bucketName": self.bucket, "prefix": "signed/"}},
            profileName=profile,
            clientRequestToken=token,
        )
        self.signer.get_waiter("successful_signing_job").wait(jobId=job["jobId"])
        return {**self.signer.describe_signing_job(jobId=job["jobId"]), "token": token}

    def config(self, allowed: list[str], policy: str) -> str:
        out = self.aws_lambda.create_code_signing_config(
            AllowedPublishers={"SigningProfileVersionArns": allowed},
            CodeSigningPolicies={"UntrustedArtifactOnDeployment": policy},
        )
        return str(out["CodeSigningConfig"]["CodeSigningConfigArn"])

    def create(self, key: str, config: str) -> dict[str, Any]:
        made = self.aws_lambda.create_function(
            FunctionName=unique("signed"), Runtime="python3.11", Role=ROLE,
            Handler="app.handler", Code={"S3Bucket": self.bucket, "S3Key": key},
            CodeSigningConfigArn=config,
        )  # fmt: skip
        return dict(made)


@pytest.fixture(scope="module")
def world(server: LamboxServer) -> World:
    return World(server)


def sha256_of(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_the_lambda_platform(world: World) -> None:
    got = world.signer.get_signing_platform(platformId=PLATFORM)
    assert got["partner"] == "AWSLambda" and got["revocationSupported"] is True
    listed = world.signer.list_signing_platforms()["platforms"]
    assert [x["platformId"] for x in listed] == [PLATFORM]
    with pytest.raises(ClientError) as exc:
        world.signer.get_signing_platform(platformId="AmazonFreeRTOS-Default")
    assert error(exc) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        world.signer.list_profile_permissions(profileName="anyone")
    assert error(exc)[0] == "UnsupportedOperationException"


def test_signing_profiles(world: World) -> None:
    p = world.profile(signatureValidityPeriod={"value": 30, "type": "DAYS"})
    assert p["arn"] == f"arn:aws:signer:us-east-1:000000000000:/signing-profiles/{p['name']}"
    assert p["profileVersionArn"] == f"{p['arn']}/{p['profileVersion']}"
    got = world.signer.get_signing_profile(profileName=p["name"])
    assert got["status"] == "Active" and got["platformId"] == PLATFORM
    assert got["signatureValidityPeriod"] == {"value": 30, "type": "DAYS"}
    # Putting it again answers the same version.
    again = world.signer.put_signing_profile(profileName=p["name"], platformId=PLATFORM)
    assert again["profileVersion"] == p["profileVersion"]
    names = [x["profileName"] for x in world.signer.list_signing_profiles()["profiles"]]
    assert p["name"] in names
    world.signer.cancel_signing_profile(profileName=p["name"])
    assert world.signer.get_signing_profile(profileName=p["name"])["status"] == "Canceled"
    names = [x["profileName"] for x in world.signer.list_signing_profiles()["profiles"]]
    assert p["name"] not in names
    listed = world.signer.list_signing_profiles(includeCanceled=True)["profiles"]
    assert p["name"] in [x["profileName"] for x in listed]
    with pytest.raises(ClientError) as exc:
        world.signer.start_signing_job(
            source={"s3": {"bucketName": world.bucket, "key": "k", "version": "1"}},
            destination={"s3": {"bucketName": world.bucket}},
            profileName=p["name"], clientRequestToken="t",
        )  # fmt: skip
    assert error(exc) == ("ValidationException", 400)
    with pytest.raises(ClientError) as exc:
        world.signer.get_signing_profile(profileName="nobody_here")
    assert error(exc) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        world.signer.put_signing_profile(profileName="other_platform", platformId="AWSIoT")
    assert error(exc) == ("ValidationException", 400)


def test_a_signing_job_writes_the_signed_object(world: World) -> None:
    p = world.profile()
    data = zip_of("one")
    job = world.sign(p["name"], data)
    assert job["status"] == "Succeeded"
    assert job["profileVersion"] == p["profileVersion"]
    signed = job["signedObject"]["s3"]
    assert signed == {"bucketName": world.bucket, "key": f"signed/{job['jobId']}.zip"}
    obj = world.s3.get_object(Bucket=signed["bucketName"], Key=signed["key"])
    assert obj["Body"].read() == data
    assert obj["Metadata"]["lambox-signing-job"] == job["jobId"]
    assert job["signatureExpiresAt"] > job["createdAt"] + dt.timedelta(days=365 * 11)
    jobs = world.signer.list_signing_jobs(status="Succeeded")["jobs"]
    assert job["jobId"] in [j["jobId"] for j in jobs]
    # A source that is not there: the job fails and says why.
    failed = world.signer.start_signing_job(
        source={"s3": {"bucketName": world.bucket, "key": "missing.zip", "version": "1"}},
        destination={"s3": {"bucketName": world.bucket}},
        profileName=p["name"], clientRequestToken=str(uuid.uuid4()),
    )  # fmt: skip
    described = world.signer.describe_signing_job(jobId=failed["jobId"])
    assert described["status"] == "Failed" and "does not exist" in described["statusReason"]


def test_enforce_deploys_code_signed_by_an_allowed_profile(world: World) -> None:
    p = world.profile()
    data = zip_of("signed")
    signed = world.sign(p["name"], data)["signedObject"]["s3"]["key"]
    enforce = world.config([p["profileVersionArn"]], "Enforce")
    made = world.create(signed, enforce)
    assert made["CodeSha256"] == sha256_of(data)
    name = made["FunctionName"]
    world.aws_lambda.get_waiter("function_active_v2").wait(FunctionName=name)
    out = world.aws_lambda.invoke(FunctionName=name)["Payload"].read()
    assert json.loads(out) == "signed"
    # UpdateFunctionCode: a newly signed package goes in, inline code does not.
    newer = zip_of("newer")
    key = world.sign(p["name"], newer)["signedObject"]["s3"]["key"]
    updated = world.aws_lambda.update_function_code(
        FunctionName=name, S3Bucket=world.bucket, S3Key=key
    )
    assert updated["CodeSha256"] == sha256_of(newer)
    with pytest.raises(ClientError) as exc:
        world.aws_lambda.update_function_code(FunctionName=name, ZipFile=zip_of("inline"))
    assert error(exc) == ("CodeVerificationFailedException", 400)


def test_enforce_refuses_untrusted_code_and_warn_logs_it(world: World) -> None:
    allowed, other = world.profile(), world.profile()
    enforce = world.config([allowed["profileVersionArn"]], "Enforce")
    warn = world.config([allowed["profileVersionArn"]], "Warn")
    unsigned = world.upload(zip_of("unsigned"))
    by_other = world.sign(other["name"], zip_of("other"))["signedObject"]["s3"]["key"]
    for key in (unsigned, by_other):
        with pytest.raises(ClientError) as exc:
            world.create(key, enforce)
        assert error(exc) == ("CodeVerificationFailedException", 400)
    assert other["profileVersionArn"] in exc.value.response["Error"]["Message"]
    made = world.create(by_other, warn)
    assert made["CodeSha256"] == sha256_of(zip_of("other"))
    assert f"untrusted code of {made['FunctionName']} deployed" in world.server.output()
    # Without a code signing config, code from S3 is taken signed or not.
    plain = world.aws_lambda.create_function(
        FunctionName=unique("plain"), Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"S3Bucket": world.bucket, "S3Key": unsigned},
    )  # fmt: skip
    assert plain["CodeSha256"] == sha256_of(zip_of("unsigned"))
    with pytest.raises(ClientError) as exc:
        world.create("src/not-there.zip", warn)
    assert error(exc) == ("InvalidParameterValueException", 400)
    assert "S3 Error Code: NoSuchKey" in exc.value.response["Error"]["Message"]


def test_revoked_profiles_and_signatures_are_untrusted(world: World) -> None:
    p = world.profile()
    first = world.sign(p["name"], zip_of("first"))
    second = world.sign(p["name"], zip_of("second"))
    enforce = world.config([p["profileVersionArn"]], "Enforce")
    world.signer.revoke_signature(jobId=first["jobId"], reason="leaked")
    # The job's request token still names it after the revocation (StartSigningJob retried).
    again = world.signer.start_signing_job(
        source=first["source"], destination={"s3": {"bucketName": world.bucket}},
        profileName=p["name"], clientRequestToken=first["token"],
    )  # fmt: skip
    assert again["jobId"] == first["jobId"]
    with pytest.raises(ClientError) as exc:
        world.create(first["signedObject"]["s3"]["key"], enforce)
    assert error(exc) == ("CodeVerificationFailedException", 400)
    assert world.signer.list_signing_jobs(isRevoked=True)["jobs"][0]["jobId"] == first["jobId"]
    world.create(second["signedObject"]["s3"]["key"], enforce)
    world.signer.revoke_signing_profile(
        profileName=p["name"], profileVersion=p["profileVersion"], reason="compromised",
        effectiveTime=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )  # fmt: skip
    got = world.signer.get_signing_profile(profileName=p["name"])
    assert got["status"] == "Revoked" and got["revocationRecord"]["revokedBy"]
    with pytest.raises(ClientError) as exc:
        world.create(second["signedObject"]["s3"]["key"], enforce)
    assert error(exc) == ("CodeVerificationFailedException", 400)


def test_a_tampered_object_fails_the_integrity_check_even_under_warn(world: World) -> None:
    p = world.profile()
    job = world.sign(p["name"], zip_of("genuine"))
    key = job["signedObject"]["s3"]["key"]
    metadata = world.s3.head_object(Bucket=world.bucket, Key=key)["Metadata"]
    world.s3.put_object(Bucket=world.bucket, Key=key, Body=zip_of("evil"), Metadata=metadata)
    for policy in ("Enforce", "Warn"):
        with pytest.raises(ClientError) as exc:
            world.create(key, world.config([p["profileVersionArn"]], policy))
        assert error(exc) == ("InvalidCodeSignatureException", 400)


def test_the_aws_cli_signs(server: LamboxServer, world: World) -> None:
    def run(*args: str) -> Any:
        out = subprocess.run(
            ["/usr/bin/aws", "--endpoint-url", server.url, "--region", "us-east-1",
             "--output", "json", "signer", *args],
            env={**os.environ, **CLIENT_ENV}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(out.stdout) if out.stdout.strip() else None

    name = unique("cli").replace("-", "_")
    made = run("put-signing-profile", "--profile-name", name, "--platform-id", PLATFORM)
    key = world.upload(zip_of("cli"))
    job = run(
        "start-signing-job",
        "--source", json.dumps({"s3": {"bucketName": world.bucket, "key": key, "version": "1"}}),
        "--destination", json.dumps({"s3": {"bucketName": world.bucket, "prefix": "cli/"}}),
        "--profile-name", name,
    )  # fmt: skip
    described = run("describe-signing-job", "--job-id", job["jobId"])
    assert described["status"] == "Succeeded"
    assert described["profileVersion"] == made["profileVersion"]
    listed = run("list-signing-profiles")["profiles"]
    assert name in [x["profileName"] for x in listed]


def test_signatures_verify_after_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        world = World(srv)
        p = world.profile()
        key = world.sign(p["name"], zip_of("durable"))["signedObject"]["s3"]["key"]
        enforce = world.config([p["profileVersionArn"]], "Enforce")
    finally:
        srv.proc.kill()
        srv.proc.wait()
    assert oct((data / "signer" / "keys").stat().st_mode & 0o777) == "0o700"
    srv = start_server(data)
    try:
        world.server = srv
        world.aws_lambda = aws_client(srv, "lambda")
        world.signer = aws_client(srv, "signer")
        made = world.create(key, enforce)
        assert made["CodeSha256"] == sha256_of(zip_of("durable"))
        assert world.signer.get_signing_profile(profileName=p["name"])["status"] == "Active"
    finally:
        stop_server(srv)


def test_make_serve_deploys_the_signed_example(tmp_path: Path) -> None:
    import shutil

    from tests.conftest import ROOT, serve_examples

    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "examples" / "signed-hello", examples / "signed-hello")
    srv = serve_examples(
        tmp_path / "data", lambda out: "example deployed, signed: signed-hello" in out, examples
    )
    try:
        aws_lambda = aws_client(srv, "lambda")
        aws_lambda.get_waiter("function_active_v2").wait(FunctionName="signed-hello")
        out = json.loads(aws_lambda.invoke(FunctionName="signed-hello")["Payload"].read())
        assert out["message"] == "hello from signed code"
        arn = aws_lambda.get_function_code_signing_config(FunctionName="signed-hello")[
            "CodeSigningConfigArn"
        ]
        config = aws_lambda.get_code_signing_config(CodeSigningConfigArn=arn)
        assert config["CodeSigningConfig"]["CodeSigningPolicies"] == {
            "UntrustedArtifactOnDeployment": "Enforce"
        }
        with pytest.raises(ClientError) as exc:
            aws_lambda.update_function_code(FunctionName="signed-hello", ZipFile=zip_of("x"))
        assert error(exc) == ("CodeVerificationFailedException", 400)
        jobs = aws_client(srv, "signer").list_signing_jobs()["jobs"]
        assert [j["profileName"] for j in jobs] == ["lambox_examples"]
    finally:
        stop_server(srv)


def test_an_expired_signature_is_untrusted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        world = World(srv)
        p = world.profile(signatureValidityPeriod={"value": 1, "type": "DAYS"})
        key = world.sign(p["name"], zip_of("short-lived"))["signedObject"]["s3"]["key"]
        enforce = world.config([p["profileVersionArn"]], "Enforce")
        warn = world.config([p["profileVersionArn"]], "Warn")
        world.create(key, enforce)
    finally:
        stop_server(srv)
    # Two days later (the events clock, which Signer reads), the signature has expired.
    srv = start_server(data, {"LAMBOX_CLOCK_OFFSET": str(2 * 86400)})
    try:
        world.server = srv
        world.aws_lambda = aws_client(srv, "lambda")
        with pytest.raises(ClientError) as exc:
            world.create(key, enforce)
        assert error(exc) == ("CodeVerificationFailedException", 400)
        assert "expired" in exc.value.response["Error"]["Message"]
        made = world.create(key, warn)
        assert "the signature has expired" in srv.output()
        assert made["CodeSha256"] == sha256_of(zip_of("short-lived"))
    finally:
        stop_server(srv)
