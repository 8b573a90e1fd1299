"""What an EventBridge target receives: InputPath and InputTransformer, against the outputs
recorded from real AWS (aws-parity/events/input-transformers: strings keep values bare,
objects and lists inside a string lose their quotes, a missing value is empty, a bare
placeholder is JSON)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambox.errors import ServiceFault
from lambox.services.events import targets

EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "core.update-account-command",
    "source": "core.update-account-command",
    "account": "111111111111",
    "time": "2026-12-07T10:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "command": "update-account",
        "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"},
        "priority": ["HIGH"],
        "states": ["ACTIVE", "INACTIVE"],
        "valid": True,
    },
}
RULE = "arn:aws:events:us-east-1:111111111111:rule/bus/my-rule"
PATHS = {
    "userId": "$.detail.payload.acc_id",
    "payload": "$.detail.payload",
    "listsingle": "$.detail.priority",
    "listmulti": "$.detail.states",
    "valid": "$.detail.valid",
    "missing": "$.detail.nothing",
    "detail-type": "$.detail-type",
    "command": "$.detail.command",
}


def transformed(template: str) -> Any:
    target = {"Id": "t", "InputTransformer": {"InputPathsMap": PATHS, "InputTemplate": template}}
    return json.loads(targets.payload(target, EVENT, RULE))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{"id" : <userId>}', {"id": "0a787ecb-4015"}),
        ('{"id" : "<userId>"}', {"id": "0a787ecb-4015"}),
        ('{"singlelistitem": <listsingle>}', {"singlelistitem": ["HIGH"]}),
        (
            '{"multi_replacement": "users/<userId>/second/<userId>"}',
            {"multi_replacement": "users/0a787ecb-4015/second/0a787ecb-4015"},
        ),
        (
            '"Payload of <payload> with path users-service/users/<userId>"',
            "Payload of {acc_id:0a787ecb-4015,sf_id:baz} with path users-service/users/"
            "0a787ecb-4015",
        ),
        ('"<listmulti> multiple list items"', "[ACTIVE,INACTIVE] multiple list items"),
        ('"Command is <valid>!"', "Command is true!"),
        ('{"command": "<missing>"}', {"command": ""}),
        (
            '"Event of <detail-type> type, info extracted from detail <command>"',
            "Event of core.update-account-command type, info extracted from detail update-account",
        ),
        (
            '"Message with <aws.events.rule-arn> <aws.events.rule-name>"',
            f"Message with {RULE} my-rule",
        ),
        ('{"p": <payload>}', {"p": {"acc_id": "0a787ecb-4015", "sf_id": "baz"}}),
    ],
)
def test_input_template_fills_placeholders_as_eventbridge_does(
    template: str, expected: Any
) -> None:
    assert transformed(template) == expected


def test_predefined_event_variables() -> None:
    got = transformed('{"e": <aws.events.event>, "j": <aws.events.event.json>}')
    assert got["j"] == EVENT
    assert got["e"] == {
        "id": "e-1",
        "account": "111111111111",
        "detailType": "core.update-account-command",
        "time": "2026-12-07T10:00:00Z",
        "source": "core.update-account-command",
        "region": "us-east-1",
        "resources": [],
        "version": "0",
    }


def test_input_path_and_input() -> None:
    assert json.loads(targets.payload({"InputPath": "$.detail.payload"}, EVENT, RULE)) == {
        "acc_id": "0a787ecb-4015",
        "sf_id": "baz",
    }
    assert (
        json.loads(targets.payload({"InputPath": "$.detail.payload.sf_id"}, EVENT, RULE)) == "baz"
    )
    assert targets.payload({"Input": '{"k": 1}'}, EVENT, RULE) == b'{"k": 1}'
    assert json.loads(targets.payload({}, EVENT, RULE)) == EVENT


def test_put_targets_validation_words() -> None:
    with pytest.raises(ServiceFault) as info:
        targets.check([{"Id": "t", "Input": "{}", "InputPath": "$.detail"}])
    assert info.value.message == (
        "Only one of Input, InputPath, or InputTransformer must be provided for target t."
    )
    with pytest.raises(ServiceFault) as info:
        targets.check([{"Id": "!@#$@!#$"}])
    assert "[\\.\\-_A-Za-z0-9]+" in info.value.message
