"""S3's errors as AWS answered them (``aws-parity/s3``): code, message, status and the fields
of the error document, for each error lambox can be driven into the same way."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import LamboxServer, unique
from tests.integration.test_s3 import s3_client
from tests.parity.snapshot import parity_dir

IGNORED = {"HostId", "RequestId"}


@cache
def recorded_errors() -> dict[str, list[tuple[dict[str, Any], int | None]]]:
    """Every recorded error document of each code, with its status."""
    found: dict[str, list[tuple[dict[str, Any], int | None]]] = {}

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            error = x.get("Error")
            if isinstance(error, dict) and "Code" in error:
                status = x.get("ResponseMetadata", {}).get("HTTPStatusCode")
                found.setdefault(error["Code"], []).append((error, status))
            for value in x.values():
                walk(value)
        elif isinstance(x, list):
            for value in x:
                walk(value)

    for path in sorted((parity_dir() / "s3").glob("*.snapshot.json")):
        for entry in json.loads(path.read_text()).values():
            walk(entry["recorded-content"])
    return found


def _bucket(s3: Any, objects: dict[str, bytes] | None = None) -> str:
    name = unique("par").lower()
    s3.create_bucket(Bucket=name)
    for key, body in (objects or {}).items():
        s3.put_object(Bucket=name, Key=key, Body=body)
    return name


def _multipart(s3: Any) -> tuple[str, str]:
    name = _bucket(s3)
    return name, s3.create_multipart_upload(Bucket=name, Key="k")["UploadId"]


SCENARIOS: dict[str, Callable[[Any], Any]] = {
    "NoSuchKey": lambda s3: s3.get_object(Bucket=_bucket(s3), Key="my-key"),
    "NoSuchBucket": lambda s3: s3.list_objects_v2(Bucket=unique("none").lower()),
    "BucketNotEmpty": lambda s3: s3.delete_bucket(Bucket=_bucket(s3, {"k": b"x"})),
    "InvalidRange": lambda s3: s3.get_object(
        Bucket=_bucket(s3, {"k": b"12345678"}), Key="k", Range="bytes=1024-4096"
    ),
    "BadDigest": lambda s3: s3.put_object(
        Bucket=_bucket(s3), Key="k", Body=b"abc", ContentMD5="CYkesZBSTjX8czcs3cXVlg=="
    ),
    "InvalidBucketName": lambda s3: s3.create_bucket(Bucket="Invalid_Bucket"),
    "BucketAlreadyOwnedByYou": lambda s3: s3.create_bucket(Bucket=_bucket(s3)),
    "NoSuchUpload": lambda s3: s3.abort_multipart_upload(
        Bucket=_bucket(s3), Key="k", UploadId="nope"
    ),
    "InvalidPartOrder": lambda s3: (
        lambda b, u: s3.complete_multipart_upload(
            Bucket=b,
            Key="k",
            UploadId=u,
            MultipartUpload={
                "Parts": [
                    {
                        "PartNumber": 2,
                        "ETag": s3.upload_part(
                            Bucket=b, Key="k", UploadId=u, PartNumber=2, Body=b"x"
                        )["ETag"],
                    },
                    {
                        "PartNumber": 1,
                        "ETag": s3.upload_part(
                            Bucket=b, Key="k", UploadId=u, PartNumber=1, Body=b"x"
                        )["ETag"],
                    },
                ]
            },
        )
    )(*_multipart(s3)),
    "InvalidPart": lambda s3: (
        lambda b, u: s3.complete_multipart_upload(
            Bucket=b,
            Key="k",
            UploadId=u,
            MultipartUpload={
                "Parts": [{"PartNumber": 2, "ETag": '"8d777f385d3dfec8815d20f7496026dc"'}]
            },
        )
    )(*_multipart(s3)),
    "InvalidRequest": lambda s3: (
        lambda b: s3.copy_object(Bucket=b, Key="k", CopySource={"Bucket": b, "Key": "k"})
    )(_bucket(s3, {"k": b"x"})),
}


@pytest.mark.parametrize("code", sorted(SCENARIOS))
def test_s3_errors_answer_as_aws_recorded(server: LamboxServer, code: str) -> None:
    with pytest.raises(ClientError) as exc:
        SCENARIOS[code](s3_client(server))
    got = exc.value.response
    error = got["Error"]
    assert error["Code"] == code
    # AWS gives some codes several messages: ours must be one it recorded for this code.
    same = [r for r in recorded_errors()[code] if r[0]["Message"] == error["Message"]]
    assert same, (error["Message"], [r[0]["Message"] for r in recorded_errors()[code]])
    expected, status = same[0]
    if status is not None:
        assert got["ResponseMetadata"]["HTTPStatusCode"] == status
    assert set(error) - IGNORED == set(expected) - IGNORED
