"""The unsigned requests the strict posture serves, and nothing beyond them: SNS's
confirmation and unsubscribe links, and an object store's webhook carrying the data
directory's ingest token (``lambox credentials`` prints it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, LamboxServer, make_zip, unique
from tests.integration.test_auth import client, error_of, root_keys, strict  # noqa: F401
from tests.integration.test_function_credentials import LAMBDA_TRUST
from tests.integration.test_sns import _Subscriber

RECORD = {
    "eventVersion": "2.0",
    "eventSource": "minio:s3",
    "eventName": "s3:ObjectCreated:Put",
    "s3": {"bucket": {"name": "photos"}, "object": {"key": "images/a.jpg", "size": 3}},
}
MARK = """import json

def handler(event, context):
    print("MARK " + json.dumps(event["Records"][0]["s3"]["object"]["key"]))
    return {}
"""


@pytest.fixture(scope="module")
def token(strict: LamboxServer) -> str:  # noqa: F811
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
    mode = (strict.data_dir / "ingest-token").stat().st_mode & 0o777
    assert mode == 0o600
    return values["LAMBOX_INGEST_TOKEN"]


def logged(logs: Any, name: str, wanted: str) -> list[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except Exception:  # no group before the first invocation
            events = []
        lines = [e["message"] for e in events if e["message"].startswith("MARK ")]
        if any(wanted in line for line in lines):
            return lines
        time.sleep(0.3)
    raise AssertionError(f"{name} never logged {wanted}")


def test_ingest_needs_the_token(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
    token: str,
) -> None:
    iam = client("iam", strict.url, *root_keys)
    lam = client("lambda", strict.url, *root_keys, read_timeout=120)
    role = iam.create_role(RoleName=unique("ingest"), AssumeRolePolicyDocument=LAMBDA_TRUST)
    name = unique("ingest")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=role["Role"]["Arn"],
        Code={"ZipFile": make_zip({"app.py": MARK})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    url = f"{strict.url}/lambox/v1/s3-events/{name}"

    def post(key: str, **kwargs: Any) -> httpx.Response:
        record = {**RECORD, "s3": {**RECORD["s3"], "object": {"key": key, "size": 3}}}
        return httpx.post(url, json={"Records": [record]}, timeout=30, **kwargs)

    refused = post("none")
    assert refused.status_code == 403
    assert refused.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    wrong = post("wrong", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 403
    # MinIO's auth_token arrives as a bearer token; Ceph's push-endpoint URL carries it.
    minio = post("minio", headers={"Authorization": f"Bearer {token}"})
    assert (minio.status_code, minio.json()) == (200, {"Accepted": 1})
    ceph = post("ceph", params={"token": token})
    assert ceph.status_code == 200, ceph.text
    lines = logged(client("logs", strict.url, *root_keys), name, '"ceph"')
    logged(client("logs", strict.url, *root_keys), name, '"minio"')
    assert not any('"none"' in line or '"wrong"' in line for line in lines)
    # The token opens the ingest endpoint only.
    other = httpx.post(
        f"{strict.url}/2015-03-31/functions/{name}/invocations",
        content=b"{}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert other.status_code == 403
    listed = httpx.get(f"{strict.url}/2015-03-31/functions/", params={"token": token}, timeout=30)
    assert listed.status_code == 403


def test_sns_links_work_unsigned_and_nothing_else_does(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    sns = client("sns", strict.url, *root_keys)
    subscriber = _Subscriber()
    try:
        topic = sns.create_topic(Name=unique("links"))["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
        _, body = subscriber.next()
        confirmation = json.loads(body)
        # A forged token is refused; the one SNS sent confirms, with no signature.
        forged = confirmation["SubscribeURL"].replace(confirmation["Token"], "x" * 20)
        assert httpx.get(forged, timeout=30).status_code == 400
        confirmed = httpx.get(confirmation["SubscribeURL"], timeout=30)
        assert confirmed.status_code == 200, confirmed.text
        sub_arn = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0][
            "SubscriptionArn"
        ]
        attributes = sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
        assert attributes["PendingConfirmation"] == "false"
        # Other actions are not public, even through a link's query.
        for query in (
            "Action=ListTopics",
            f"Action=DeleteTopic&TopicArn={topic}",
        ):
            refused = httpx.get(f"{strict.url}/?{query}", timeout=30)
            assert refused.status_code == 403, (query, refused.text)
        smuggled = httpx.request(
            "GET",
            f"{strict.url}/?Action=Unsubscribe&SubscriptionArn={sub_arn}",
            content=f"Action=DeleteTopic&TopicArn={topic}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=30,
        )
        assert smuggled.status_code == 403
        assert "MissingAuthenticationToken" in smuggled.text
        assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["TopicArn"] == topic
        sns.publish(TopicArn=topic, Message="hello")
        _, body = subscriber.next()
        note = json.loads(body)
        assert note["Message"] == "hello"
        unsubscribed = httpx.get(note["UnsubscribeURL"], timeout=30)
        assert unsubscribed.status_code == 200, unsubscribed.text
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    finally:
        subscriber.close()


def test_unsubscribe_checks_the_arn_as_recorded(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    sns = client("sns", strict.url, *root_keys)
    topic = sns.create_topic(Name=unique("unsub"))["TopicArn"]
    elements = "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements"
    for arn, message in (
        ("foo", f"{elements}, not 1"),
        ("arn:aws:sns:us-east-1:000000000000", f"{elements}, not 5"),
        (topic, "Invalid parameter: SubscriptionId"),
    ):
        err = error_of(sns.unsubscribe, SubscriptionArn=arn)
        assert (err["Error"]["Code"], err["Error"]["Message"]) == ("InvalidParameter", message)
    # unsigned, as the UnsubscribeURL is followed: no ARN at all
    answer = httpx.get(f"{strict.url}/?Action=Unsubscribe", timeout=30)
    assert answer.status_code == 400 and "no value for required parameter" in answer.text
    sns.unsubscribe(SubscriptionArn=f"{topic}:00000000-0000-0000-0000-000000000000")  # idempotent
