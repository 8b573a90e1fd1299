"""The durable store's rules that the SDK cannot show from outside: a retried checkpoint is
applied once, a token of an older invocation is refused, a wait's end makes the execution
due, and an execution in flight when the server stopped is due again at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambox.errors import DurableExecutionAlreadyStarted, InvalidParameterValue, ResourceNotFound
from lambox.services.durable.store import DurableStore


def started(tmp_path: Path) -> tuple[DurableStore, str, str]:
    store = DurableStore(tmp_path / "durable.db")
    execution, created = store.create(
        name="n", function_name="f", function_arn="arn:aws:lambda:us-east-1:1:function:f",
        qualifier=None, version="$LATEST", payload="{}", timeout=3600, retention=1, now=100.0,
    )  # fmt: skip
    assert created and execution.wake == 100.0
    assert store.advance(execution.arn, 100.0, 100.0)
    begun = store.begin(execution.arn, 100.0)
    assert begun is not None
    return store, execution.arn, begun.token


def test_a_retried_checkpoint_is_applied_once(tmp_path: Path) -> None:
    store, arn, token = started(tmp_path)
    update = {"Id": "s1", "Type": "STEP", "Action": "SUCCEED", "Payload": "1"}
    first = store.checkpoint(arn, token, [update], 101.0)
    again = store.checkpoint(arn, token, [update], 102.0)
    assert again == first
    kinds = [e["EventType"] for e in store.history(arn)]
    assert kinds.count("StepSucceeded") == 1
    step = next(op for op in store.operations(arn) if op["Id"] == "s1")
    assert step["StepDetails"]["Attempt"] == 1


def test_an_older_invocations_token_is_refused(tmp_path: Path) -> None:
    store, arn, old = started(tmp_path)
    store.settle(arn, old.partition("x")[0], 0, "RETRY", None, {"ErrorMessage": "x"}, 101.0)
    execution = store.get(arn)
    assert execution.wake is not None
    assert store.advance(arn, execution.wake, execution.wake)
    assert store.begin(arn, execution.wake) is not None
    update = {"Id": "s1", "Type": "STEP", "Action": "START"}
    with pytest.raises(InvalidParameterValue):
        store.checkpoint(arn, old, [update], 105.0)


def test_a_wait_makes_the_execution_due_at_its_end(tmp_path: Path) -> None:
    store, arn, token = started(tmp_path)
    wait = {"Id": "w1", "Type": "WAIT", "Action": "START", "WaitOptions": {"WaitSeconds": 30}}
    store.checkpoint(arn, token, [wait], 101.0)
    execution = store.settle(arn, token.partition("x")[0], 0, "PENDING", None, None, 102.0)
    assert execution.wake == 131.0 and not execution.invoking
    assert store.due(130.0, 10) == []
    assert store.due(131.0, 10) == [(arn, 131.0)]
    assert store.advance(arn, 131.0, 131.0)
    waited = next(op for op in store.operations(arn) if op["Id"] == "w1")
    assert waited["Status"] == "SUCCEEDED"


def test_an_invocation_in_flight_is_due_again_after_a_restart(tmp_path: Path) -> None:
    _, arn, _ = started(tmp_path)
    reopened = DurableStore(tmp_path / "durable.db")
    assert reopened.recover(200.0) == 1
    assert reopened.due(200.0, 10) == [(arn, 200.0)]


def test_ended_executions_are_forgotten_after_their_retention(tmp_path: Path) -> None:
    store, arn, token = started(tmp_path)
    end = {"Id": "e", "Type": "EXECUTION", "Action": "SUCCEED", "Payload": "1"}
    assert store.checkpoint(arn, token, [end], 110.0)[0] is None
    assert store.get(arn).status == "SUCCEEDED"
    assert store.purge(110.0 + 86400 - 1) == 0  # retention: one day
    assert store.purge(110.0 + 86400 + 1) == 1
    with pytest.raises(ResourceNotFound):
        store.get(arn)
    assert store.history(arn) == [] and store.operations(arn) == []


def test_throttled_invocations_never_fail_the_execution(tmp_path: Path) -> None:
    store, arn, _ = started(tmp_path)
    now = 101.0
    for _ in range(5):
        execution = store.settle(arn, store.get(arn).invocation, 0, "THROTTLED", None, None, now)
        assert execution.status == "RUNNING" and execution.attempts == 0
        assert execution.wake == now + 1.0 and not execution.invoking
        assert store.advance(arn, now + 1.0, now + 1.0)
        assert store.begin(arn, now + 1.0) is not None
        now += 1.0
    # Three failed invocations, by contrast, fail it.
    for _ in range(3):
        execution = store.settle(
            arn, store.get(arn).invocation, 0, "RETRY", None, {"ErrorMessage": "boom"}, now
        )
        if execution.status == "FAILED":
            break
        assert execution.wake is not None
        assert store.advance(arn, execution.wake, execution.wake)
        assert store.begin(arn, execution.wake) is not None
        now = execution.wake
    assert store.get(arn).status == "FAILED"
    assert store.get(arn).error == {"ErrorMessage": "boom"}


def test_a_heartbeat_moves_a_callbacks_heartbeat_deadline(tmp_path: Path) -> None:
    store, arn, token = started(tmp_path)
    callback = {
        "Id": "c1",
        "Type": "CALLBACK",
        "Action": "START",
        "CallbackOptions": {"TimeoutSeconds": 100, "HeartbeatTimeoutSeconds": 10},
    }
    _, ops = store.checkpoint(arn, token, [callback], 100.0)
    callback_id = next(op for op in ops if op["Id"] == "c1")["CallbackDetails"]["CallbackId"]
    execution = store.settle(arn, token.partition("x")[0], 0, "PENDING", None, None, 100.0)
    assert execution.wake == 110.0  # the heartbeat deadline comes before the timeout
    store.heartbeat(callback_id, 105.0)
    assert store.get(arn).wake == 115.0  # moved by the heartbeat
    assert store.advance(arn, 115.0, 116.0)
    timed_out = next(op for op in store.operations(arn) if op["Id"] == "c1")
    assert timed_out["Status"] == "TIMED_OUT"
    assert timed_out["CallbackDetails"]["Error"]["ErrorType"] == "Callback.Heartbeat"
    with pytest.raises(ResourceNotFound):
        store.heartbeat(callback_id, 117.0)


def test_the_execution_timeout_ends_a_running_invocation(tmp_path: Path) -> None:
    store, arn, token = started(tmp_path)  # timeout 3600 s, started at 100
    assert store.expire(arn, 3699.0) is None  # not yet due
    expired = store.expire(arn, 3700.0)
    assert expired is not None and expired.status == "TIMED_OUT"
    assert store.expire(arn, 3701.0) is None  # already ended
    # What the running invocation still sends is refused, and its answer is ignored.
    update = {"Id": "s1", "Type": "STEP", "Action": "SUCCEED", "Payload": "1"}
    with pytest.raises(InvalidParameterValue):
        store.checkpoint(arn, token, [update], 3702.0)
    after = store.settle(arn, token.partition("x")[0], 0, "SUCCEEDED", "1", None, 3703.0)
    assert after.status == "TIMED_OUT" and after.result is None
    kinds = [e["EventType"] for e in store.history(arn)]
    assert kinds.count("ExecutionTimedOut") == 1 and "ExecutionSucceeded" not in kinds


def test_a_name_again_with_another_payload_is_refused(tmp_path: Path) -> None:
    store, arn, _ = started(tmp_path)
    fields = dict(
        name="n", function_name="f", function_arn="arn:aws:lambda:us-east-1:1:function:f",
        qualifier=None, version="$LATEST", timeout=3600, retention=1, now=200.0,
    )  # fmt: skip
    same, created = store.create(payload="{}", **fields)  # type: ignore[arg-type]
    assert same.arn == arn and not created
    with pytest.raises(DurableExecutionAlreadyStarted):
        store.create(payload='{"other": 1}', **fields)  # type: ignore[arg-type]
