"""S3 on lambox's one endpoint, driven by boto3's s3 client and the AWS CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import CLIENT_ENV, ROLE, LamboxServer, make_zip, unique


def s3_client(server: LamboxServer, style: str = "path") -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": style}, retries={"max_attempts": 0}),
    )


@pytest.fixture(scope="module")
def s3(server: LamboxServer) -> Any:
    return s3_client(server)


def bucket_name() -> str:
    return unique("bkt").lower().replace("_", "-")


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_bucket_lifecycle(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert error_of(exc) == ("BucketAlreadyOwnedByYou", 409)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert error_of(exc) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert error_of(exc) == ("404", 404)


@pytest.mark.parametrize("name", ["UPPER", "a", "has_underscore", "192.168.1.1", "-dash"])
def test_invalid_bucket_names_are_refused(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert error_of(exc) == ("InvalidBucketName", 400)


@pytest.mark.parametrize("style", ["path", "virtual"])
def test_objects_round_trip_with_metadata(server: LamboxServer, style: str) -> None:
    client = s3_client(server, style)
    name = bucket_name()
    client.create_bucket(Bucket=name)
    key = "dir/a b+c ü.txt"
    put = client.put_object(
        Bucket=name,
        Key=key,
        Body=b"hello world",
        ContentType="text/plain",
        Metadata={"owner": "me"},
        CacheControl="max-age=60",
    )
    assert put["ETag"] == '"' + hashlib.md5(b"hello world").hexdigest() + '"'
    got = client.get_object(Bucket=name, Key=key)
    assert got["Body"].read() == b"hello world"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "me"}
    assert got["CacheControl"] == "max-age=60"
    assert got["ETag"] == put["ETag"]
    head = client.head_object(Bucket=name, Key=key)
    assert head["ContentLength"] == 11
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=name, Key="missing")
    assert error_of(exc) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bucket_name(), Key="x")
    assert error_of(exc) == ("NoSuchBucket", 404)


def test_ranges_and_conditions(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    etag = s3.put_object(Bucket=name, Key="r", Body=b"0123456789")["ETag"]
    part = s3.get_object(Bucket=name, Key="r", Range="bytes=2-4")
    assert part["Body"].read() == b"234"
    assert part["ContentRange"] == "bytes 2-4/10"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=name, Key="r", Range="bytes=-3")["Body"].read() == b"789"
    assert s3.get_object(Bucket=name, Key="r", Range="bytes=7-")["Body"].read() == b"789"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="r", Range="bytes=20-30")
    assert error_of(exc) == ("InvalidRange", 416)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="r", IfMatch='"nope"')
    assert error_of(exc) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="r", IfNoneMatch=etag)
    assert error_of(exc)[1] == 304


def test_content_md5_is_checked(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="m", Body=b"abc", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert error_of(exc) == ("BadDigest", 400)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=name, Key="m")


def test_listing_with_prefix_delimiter_and_pages(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d"]
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    listed = s3.list_objects_v2(Bucket=name)
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys)
    grouped = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in grouped["Contents"]] == ["c", "d"]
    inner = s3.list_objects_v2(Bucket=name, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in inner["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["a/b/"]
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=name, PaginationConfig={"PageSize": 2}
    )
    assert [o["Key"] for page in pages for o in page.get("Contents", [])] == sorted(keys)
    v1 = s3.get_paginator("list_objects").paginate(Bucket=name, PaginationConfig={"PageSize": 4})
    assert [o["Key"] for page in v1 for o in page.get("Contents", [])] == sorted(keys)


def test_copy_delete_many_and_tags(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="src", Body=b"data", Metadata={"m": "1"}, Tagging="t=v")
    s3.copy_object(Bucket=name, Key="dst", CopySource={"Bucket": name, "Key": "src"})
    copied = s3.get_object(Bucket=name, Key="dst")
    assert copied["Body"].read() == b"data" and copied["Metadata"] == {"m": "1"}
    assert s3.get_object_tagging(Bucket=name, Key="dst")["TagSet"] == [{"Key": "t", "Value": "v"}]
    out = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "src"}, {"Key": "dst"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["dst", "src"]
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0


def test_a_service_lambox_does_not_serve_gets_an_error_naming_it(server: LamboxServer) -> None:
    import boto3

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    with pytest.raises(ClientError) as exc:
        dynamodb.list_tables()
    assert "dynamodb" in str(exc.value)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_aws_cli_copies_lists_and_syncs(server: LamboxServer, tmp_path: Path) -> None:
    name = bucket_name()
    env = {**os.environ, **CLIENT_ENV}
    aws = ["/usr/bin/aws", "--endpoint-url", server.url]
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "one.txt").write_text("one")
    (tmp_path / "up" / "two.txt").write_text("two")

    def run(*args: str) -> str:
        done = subprocess.run([*aws, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("s3", "mb", f"s3://{name}")
    run("s3", "cp", str(tmp_path / "up" / "one.txt"), f"s3://{name}/one.txt")
    run("s3", "sync", str(tmp_path / "up"), f"s3://{name}/synced/")
    listing = run("s3", "ls", "--recursive", f"s3://{name}")
    assert "one.txt" in listing and "synced/two.txt" in listing
    run("s3", "cp", f"s3://{name}/synced/two.txt", str(tmp_path / "down.txt"))
    assert (tmp_path / "down.txt").read_text() == "two"
    head = json.loads(run("s3api", "head-object", "--bucket", name, "--key", "one.txt"))
    assert head["ContentLength"] == 3


RECORDER = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    return "ok"
"""


def test_uploads_trigger_a_function_with_s3s_event(
    s3: Any, lambda_client: Any, server: LamboxServer
) -> None:
    name = bucket_name()
    fn = unique("s3fn")
    lambda_client.create_function(
        FunctionName=fn,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": RECORDER})},
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=fn)
    arn = lambda_client.get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    s3.create_bucket(Bucket=name)
    config = {
        "LambdaFunctionConfigurations": [
            {
                "Id": "images",
                "LambdaFunctionArn": arn,
                "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}},
            }
        ]
    }
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
    stored = s3.get_bucket_notification_configuration(Bucket=name)
    assert stored["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"] == arn
    assert stored["LambdaFunctionConfigurations"][0]["Filter"]["Key"]["FilterRules"] == [
        {"Name": "Prefix", "Value": "in/"}
    ]
    s3.put_object(Bucket=name, Key="out/ignored.txt", Body=b"no")
    s3.put_object(Bucket=name, Key="in/a photo.jpg", Body=b"12345")
    s3.delete_object(Bucket=name, Key="in/a photo.jpg")
    deadline = time.monotonic() + 30
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        log = httpx.get(f"{server.url}/lambox/v1/logs/{fn}").text
        lines = [json.loads(x.split("EVENT ", 1)[1]) for x in log.splitlines() if "EVENT " in x]
        if len(lines) >= 2:
            break
        time.sleep(0.1)
    # Events of one key are not delivered in order (on AWS neither): the sequencer orders them.
    records = sorted(
        (line["Records"][0] for line in lines), key=lambda r: r["s3"]["object"]["sequencer"]
    )
    assert [r["eventName"] for r in records] == ["ObjectCreated:Put", "ObjectRemoved:Delete"]
    put = records[0]
    assert put["eventVersion"] == "2.1" and put["eventSource"] == "aws:s3"
    assert put["awsRegion"] == "us-east-1"
    assert put["s3"]["configurationId"] == "images"
    assert put["s3"]["bucket"]["name"] == name
    assert put["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{name}"
    assert put["s3"]["object"]["key"] == "in/a+photo.jpg"
    assert put["s3"]["object"]["size"] == 5
    assert put["s3"]["object"]["eTag"] == hashlib.md5(b"12345").hexdigest()
    assert "size" not in records[1]["s3"]["object"]


def test_notification_configuration_is_validated(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    bad = {
        "LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": "invalid-queue", "Events": ["s3:ObjectCreated:*"]}
        ]
    }
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=bad)
    assert error_of(exc) == ("InvalidArgument", 400)
    assert exc.value.response["Error"]["Message"] == "The ARN could not be parsed"
    missing = "arn:aws:lambda:us-east-1:000000000000:function:" + unique("nothere")
    bad = {
        "LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": missing, "Events": ["s3:ObjectCreated:*"]}
        ]
    }
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=bad)
    assert exc.value.response["Error"]["Message"] == (
        "Unable to validate the following destination configurations"
    )


def test_unknown_s3_routes_answer_in_xml(server: LamboxServer) -> None:
    response = httpx.request(
        "PATCH", f"{server.url}/bucket/key", headers={"Host": "b.s3.localhost"}
    )
    assert response.status_code == 405
    assert b"<Code>MethodNotAllowed</Code>" in response.content


def test_multipart_upload_assembles_parts_in_order(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    upload = s3.create_multipart_upload(Bucket=name, Key="big", ContentType="video/mp4")
    uid = upload["UploadId"]
    chunks = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), b"tail"]
    etags = [
        s3.upload_part(Bucket=name, Key="big", UploadId=uid, PartNumber=n, Body=c)["ETag"]
        for n, c in enumerate(chunks, 1)
    ]
    listed = s3.list_parts(Bucket=name, Key="big", UploadId=uid)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=name)["Uploads"]] == [uid]
    parts = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=name, Key="big", UploadId=uid, MultipartUpload={"Parts": parts[::-1]}
        )
    assert error_of(exc) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as exc:
        wrong = [{"PartNumber": 1, "ETag": '"0000"'}]
        s3.complete_multipart_upload(
            Bucket=name, Key="big", UploadId=uid, MultipartUpload={"Parts": wrong}
        )
    assert error_of(exc) == ("InvalidPart", 400)
    done = s3.complete_multipart_upload(
        Bucket=name, Key="big", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    digest = hashlib.md5(b"".join(hashlib.md5(c).digest() for c in chunks)).hexdigest()
    assert done["ETag"] == f'"{digest}-3"'
    got = s3.get_object(Bucket=name, Key="big")
    assert got["Body"].read() == b"".join(chunks)
    assert got["ContentType"] == "video/mp4"
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=name, Key="big", UploadId=uid)
    assert error_of(exc) == ("NoSuchUpload", 404)


def test_small_parts_are_refused_and_an_upload_can_be_aborted(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    uid = s3.create_multipart_upload(Bucket=name, Key="k")["UploadId"]
    etags = [
        s3.upload_part(Bucket=name, Key="k", UploadId=uid, PartNumber=n, Body=b"x")["ETag"]
        for n in (1, 2)
    ]
    parts = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=name, Key="k", UploadId=uid, MultipartUpload={"Parts": parts}
        )
    assert error_of(exc) == ("EntityTooSmall", 400)
    s3.abort_multipart_upload(Bucket=name, Key="k", UploadId=uid)
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


def test_presigned_urls_get_and_put(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": name, "Key": "p"})
    assert httpx.put(put_url, content=b"presigned").status_code == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "p"})
    assert httpx.get(get_url).content == b"presigned"


def test_the_aws_cli_uploads_a_large_file_in_parts(server: LamboxServer, tmp_path: Path) -> None:
    name = bucket_name()
    env = {**os.environ, **CLIENT_ENV}
    big = tmp_path / "big.bin"
    data = os.urandom(20 * 1024 * 1024)
    big.write_bytes(data)
    aws = ["/usr/bin/aws", "--endpoint-url", server.url, "s3"]
    for args in (
        ["mb", f"s3://{name}"],
        ["cp", str(big), f"s3://{name}/big.bin"],
        ["cp", f"s3://{name}/big.bin", str(tmp_path / "back.bin")],
    ):
        done = subprocess.run([*aws, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "back.bin").read_bytes() == data


MINIO_WEBHOOK = {
    "EventName": "s3:ObjectCreated:Put",
    "Key": "images/myphoto.jpg",
    "Records": [
        {
            "eventVersion": "2.0",
            "eventSource": "minio:s3",
            "awsRegion": "",
            "eventTime": "2019-09-10T17:41:54Z",
            "eventName": "s3:ObjectCreated:Put",
            "userIdentity": {"principalId": "minio"},
            "requestParameters": {
                "accessKey": "minio",
                "region": "",
                "sourceIPAddress": "127.0.0.1",
            },
            "responseElements": {"content-length": "0", "x-amz-request-id": "15C3249451E12784"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "Config",
                "bucket": {
                    "name": "images",
                    "ownerIdentity": {"principalId": "minio"},
                    "arn": "arn:aws:s3:::images",
                },
                "object": {
                    "key": "minio-photo.jpg",
                    "size": 248682,
                    "eTag": "f1671feacb8bbf7b0397c6e9364e8c92",
                    "contentType": "image/jpeg",
                    "sequencer": "15C32494527B46C5",
                },
            },
            "source": {"host": "127.0.0.1", "port": "", "userAgent": "MinIO (linux; amd64)"},
        }
    ],
}
CEPH_PUSH = {
    "Records": [
        {
            "eventVersion": "2.2",
            "eventSource": "ceph:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2019-11-22T13:47:35.124724Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "tester"},
            "requestParameters": {"sourceIPAddress": ""},
            "responseElements": {"x-amz-request-id": "503a4c37", "x-amz-id-2": "14d2-zone1"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "mynotif1",
                "bucket": {
                    "name": "mybucket1",
                    "ownerIdentity": {"principalId": "tester"},
                    "arn": "arn:aws:s3:us-east-1::mybucket1",
                    "id": "503a4c37.5332.38",
                },
                "object": {
                    "key": "ceph-image.jpg",
                    "size": "1024",
                    "eTag": "37b51d194a7513e45b56f6524f2d51f2",
                    "versionId": "",
                    "sequencer": "F7E6D75DC742D108",
                    "metadata": [],
                    "tags": [],
                },
            },
            "eventId": "",
            "opaqueData": "me@example.com",
        }
    ]
}


def test_minio_and_ceph_notifications_trigger_a_function(
    lambda_client: Any, server: LamboxServer
) -> None:
    fn = unique("ingest")
    lambda_client.create_function(
        FunctionName=fn,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": RECORDER})},
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=fn)
    for document in (MINIO_WEBHOOK, CEPH_PUSH):
        answer = httpx.post(f"{server.url}/lambox/v1/s3-events/{fn}", json=document)
        assert answer.status_code == 200, answer.text
    bad = httpx.post(f"{server.url}/lambox/v1/s3-events/{fn}", json={"Records": [{"no": "s3"}]})
    assert bad.status_code == 400 and bad.headers["x-amzn-errortype"]
    missing = httpx.post(f"{server.url}/lambox/v1/s3-events/{unique('none')}", json=CEPH_PUSH)
    assert missing.status_code == 404
    keys: set[str] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(keys) < 2:
        log = httpx.get(f"{server.url}/lambox/v1/logs/{fn}").text
        for line in log.splitlines():
            if "EVENT " in line:
                event = json.loads(line.split("EVENT ", 1)[1])
                assert len(event["Records"]) == 1
                keys.add(event["Records"][0]["s3"]["object"]["key"])
        time.sleep(0.1)
    assert keys == {"minio-photo.jpg", "ceph-image.jpg"}


def test_concurrent_writers_of_one_key_leave_one_whole_object(server: LamboxServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    name = bucket_name()
    s3_client(server).create_bucket(Bucket=name)
    bodies = [bytes([n]) * (1 << 20) for n in range(8)]

    def put(body: bytes) -> None:
        s3_client(server).put_object(Bucket=name, Key="contended", Body=body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, bodies))
    final = s3_client(server).get_object(Bucket=name, Key="contended")["Body"].read()
    assert final in bodies


def test_upload_part_copy_takes_a_range_of_another_object(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    source = os.urandom(6 * 1024 * 1024)
    s3.put_object(Bucket=name, Key="source", Body=source)
    uid = s3.create_multipart_upload(Bucket=name, Key="joined")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=name,
        Key="joined",
        UploadId=uid,
        PartNumber=1,
        CopySource={"Bucket": name, "Key": "source"},
        CopySourceRange="bytes=0-5242879",
    )["CopyPartResult"]["ETag"]
    second = s3.upload_part(Bucket=name, Key="joined", UploadId=uid, PartNumber=2, Body=b"end")[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=name,
        Key="joined",
        UploadId=uid,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]
        },
    )
    assert (
        s3.get_object(Bucket=name, Key="joined")["Body"].read()
        == source[: 5 * 1024 * 1024] + b"end"
    )
