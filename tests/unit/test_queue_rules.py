"""AWS's retry and expiry rules for asynchronous events, and the messages they produce."""

from __future__ import annotations

import json

from lambox.invoke import retries
from lambox.invoke.destinations import dead_letter_message, invocation_record
from lambox.store.event_configs import EventInvokeConfig
from lambox.store.events import Attempt, EventStatus, QueuedEvent

POLICY = retries.RetryPolicy(retry_delay=60.0, throttle_backoff=1.0)
DEFAULTS = EventInvokeConfig("fn", "$LATEST", 0.0)


def config(**kw: int) -> EventInvokeConfig:
    return EventInvokeConfig("fn", "$LATEST", 0.0, **kw)  # type: ignore[arg-type]


def test_function_errors_are_retried_twice_after_one_then_two_minutes() -> None:
    assert retries.after_function_error(POLICY, DEFAULTS, 1, 0.0, 10.0) == 70.0
    assert retries.after_function_error(POLICY, DEFAULTS, 2, 0.0, 80.0) == 200.0
    assert retries.after_function_error(POLICY, DEFAULTS, 3, 0.0, 210.0) == "RetriesExhausted"


def test_zero_retries_gives_up_after_the_first_error() -> None:
    got = retries.after_function_error(POLICY, config(maximum_retry_attempts=0), 1, 0.0, 1.0)
    assert got == "RetriesExhausted"


def test_a_retry_past_the_maximum_age_is_not_waited_for() -> None:
    # Recorded on AWS: max age 60 s, the first retry would start after it: fails at once.
    short = config(maximum_event_age=60)
    assert retries.after_function_error(POLICY, short, 1, 0.0, 1.0) == "EventAgeExceeded"
    longer = config(maximum_event_age=90)
    assert retries.after_function_error(POLICY, longer, 1, 0.0, 1.0) == 61.0
    assert retries.after_function_error(POLICY, longer, 2, 0.0, 62.0) == "EventAgeExceeded"


def test_throttles_back_off_exponentially_up_to_five_minutes_and_the_age() -> None:
    assert retries.after_throttle(POLICY, DEFAULTS, 1, 0.0, 10.0) == 11.0
    assert retries.after_throttle(POLICY, DEFAULTS, 4, 0.0, 10.0) == 18.0
    assert retries.after_throttle(POLICY, DEFAULTS, 30, 0.0, 10.0) == 310.0
    short = config(maximum_event_age=60)
    assert retries.after_throttle(POLICY, short, 10, 0.0, 50.0) == 60.0
    assert retries.after_throttle(POLICY, short, 11, 0.0, 60.0) == "EventAgeExceeded"
    assert retries.expired(short, 0.0, 60.0)
    assert not retries.expired(short, 0.0, 59.0)


def _event(payload: bytes) -> QueuedEvent:
    return QueuedEvent(
        id=1,
        request_id="rid",
        function="fn",
        qualifier=None,
        payload=payload,
        client_context=None,
        enqueued_at=0.0,
        not_before=0.0,
        attempts=3,
        throttles=0,
        status=EventStatus.IN_FLIGHT,
        last=None,
        condition=None,
    )


def test_the_invocation_record_has_aws_shape_and_key_order() -> None:
    error = b'{"errorMessage": "boom", "errorType": "Exception"}'
    last = Attempt(200, "$LATEST", "Unhandled", error)
    arn = "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST"
    record = json.loads(
        invocation_record(_event(b'{"a": 1}'), arn, "RetriesExhausted", 3, last, "$LATEST", 0.0)
    )
    assert list(record) == [
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    ]
    assert record["version"] == "1.0"
    assert record["timestamp"] == "1970-01-01T00:00:00.000Z"
    assert record["requestContext"] == {
        "requestId": "rid",
        "functionArn": arn,
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"a": 1}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorMessage"] == "boom"


def test_a_success_record_has_no_function_error() -> None:
    last = Attempt(200, "1", None, b'"ok"')
    record = json.loads(invocation_record(_event(b""), "arn", "Success", 1, last, "1", 0.0))
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "1"}
    assert record["requestPayload"] is None and record["responsePayload"] == "ok"


def test_the_dead_letter_message_carries_payload_and_aws_attributes() -> None:
    last = Attempt(200, "$LATEST", "Unhandled", b'{"errorMessage": "boom"}')
    message = json.loads(dead_letter_message(_event(b'{"a": 1}'), last))
    assert message == {
        "body": '{"a": 1}',
        "attributes": {"RequestID": "rid", "ErrorCode": "200", "ErrorMessage": "boom"},
    }
