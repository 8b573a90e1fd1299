"""An event bus's permissions (PutPermission, RemovePermission, DescribeEventBus's Policy)
against AWS's recordings, and EventBridge operations lambox does not serve, answered by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import LamboxServer, aws_client, unique
from tests.parity.snapshot import parity_dir

PREFIX = "tests/aws/services/events/test_events.py::TestEventBus::"
OTHER_ACCOUNT = "111111111111"


def recording(test: str, key: str) -> Any:
    data = json.loads((parity_dir() / "events" / "put-events-buses.snapshot.json").read_text())
    return data[PREFIX + test]["recorded-content"][key]


def _as_lambox(recorded: Any, bus: str, sids: list[str]) -> Any:
    text = json.dumps(recorded)
    for placeholder, value in [
        ("<partition>", "aws"),
        ("<region>", "us-east-1"),
        ("<secondary-account-id>", OTHER_ACCOUNT),
        ("<account-id>", "000000000000"),
        ("<bus-name>", bus),
        *[(f"<sid:{i}>", sid) for i, sid in enumerate(sids, start=1)],
    ]:
        text = text.replace(placeholder, value)
    return json.loads(text)


@pytest.mark.parametrize("custom", [True, False], ids=["custom", "default"])
def test_put_and_remove_permission_match_aws(server: LamboxServer, custom: bool) -> None:
    events = aws_client(server, "events", retries=True)
    bus = unique("perm-bus") if custom else "default"
    if custom:
        events.create_event_bus(Name=bus)
    sids = [unique("sid") for _ in range(4)]
    events.put_permission(
        EventBusName=bus, Action="events:PutEvents", Principal="000000000000", StatementId=sids[0]
    )
    events.put_permission(
        EventBusName=bus, Action="events:PutEvents", Principal="000000000000", StatementId=sids[1]
    )
    events.put_permission(
        EventBusName=bus, Action="events:PutEvents", Principal=OTHER_ACCOUNT, StatementId=sids[2]
    )
    events.put_permission(
        EventBusName=bus, Action="events:PutEvents", Principal="*", StatementId=sids[3]
    )
    described = events.describe_event_bus(Name=bus)
    recorded = _as_lambox(
        recording("test_put_permission[custom]", "describe-event-bus-put-permission"), bus, sids
    )
    assert json.loads(described["Policy"]) == recorded["Policy"]
    try:
        for sid in sids[:2] + sids[3:]:
            events.remove_permission(EventBusName=bus, StatementId=sid)
        described = events.describe_event_bus(Name=bus)
        recorded = _as_lambox(
            recording("test_remove_permission[custom]", "describe-event-bus-remove-permission"),
            bus,
            [sids[2]],
        )
        assert json.loads(described["Policy"]) == recorded["Policy"]
        with pytest.raises(ClientError) as exc:
            events.remove_permission(EventBusName=bus, StatementId="not-there")
        error = recording(
            "test_remove_permission_non_existing_sid[False-custom]",
            "remove-permission-non-existing-sid-error",
        )
        assert exc.value.response["Error"]["Code"] == error["Error"]["Code"]
        assert exc.value.response["Error"]["Message"] == error["Error"]["Message"]
    finally:
        events.remove_permission(EventBusName=bus, RemoveAllPermissions=True)
    assert "Policy" not in events.describe_event_bus(Name=bus)


def test_permission_on_a_missing_bus_is_refused_as_aws(server: LamboxServer) -> None:
    events = aws_client(server, "events", retries=True)
    bus = unique("nobus")
    with pytest.raises(ClientError) as exc:
        events.put_permission(
            EventBusName=bus, Action="events:PutEvents", Principal="*", StatementId="s"
        )
    recorded = recording(
        "test_put_permission_non_existing_event_bus", "remove-permission-non-existing-sid-error"
    )
    assert exc.value.response["Error"]["Code"] == recorded["Error"]["Code"]
    assert exc.value.response["Error"]["Message"] == recorded["Error"]["Message"].replace(
        "<bus-name>", bus
    )
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_operations_not_served_are_named(server: LamboxServer) -> None:
    events = aws_client(server, "events", retries=True)
    with pytest.raises(ClientError) as exc:
        events.create_connection(
            Name="c",
            AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}},
        )
    assert exc.value.response["Error"]["Code"] == "UnsupportedOperationException"
    assert exc.value.response["Error"]["Message"] == (
        "lambox does not support the EventBridge operation CreateConnection yet."
    )
    scheduler = aws_client(server, "scheduler", retries=True)
    with pytest.raises(ClientError) as exc:
        scheduler.tag_resource(
            ResourceArn="arn:aws:scheduler:us-east-1:000000000000:schedule-group/default",
            Tags=[{"Key": "k", "Value": "v"}],
        )
    assert exc.value.response["Error"]["Code"] == "UnsupportedOperationException"
    assert "TagResource" in exc.value.response["Error"]["Message"]
