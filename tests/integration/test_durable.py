"""Durable functions: handlers written with AWS's Durable Execution SDK (unmodified, as
lambox's Python runtimes provide it) run in real sandboxes against a real server, driven
with boto3 and the AWS CLI; a kill -9 of the server during a wait loses nothing and
re-runs no completed step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    ROLE,
    LamboxServer,
    aws_client,
    cli_models,
    execution_role,
    make_zip,
    serve_examples,
    start_server,
    stop_server,
    unique,
)

HANDLER = '''
import os, time, uuid
import boto3
from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    CallbackConfig, Duration, StepConfig, StepSemantics,
)
from aws_durable_execution_sdk_python.retries import RetryDecision
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

s3 = boto3.client("s3")

def mark(bucket, run, step):
    """A side effect outside the sandbox: one object per time the step's code runs."""
    s3.put_object(Bucket=bucket, Key=f"{run}/{step}/{uuid.uuid4()}", Body=b"x")

@durable_execution
def steps(event, context: DurableContext):
    def add(_):
        mark(event["bucket"], event["run"], "add")
        return event["x"] + 1
    a = context.step(add, name="add")
    context.wait(Duration.from_seconds(event.get("wait", 1)), name="pause")
    def double(_):
        mark(event["bucket"], event["run"], "double")
        return a * 2
    b = context.step(double, name="double")
    return {"result": b}

@durable_execution
def approval(event, context: DurableContext):
    callback = context.create_callback(name="approve")
    context.step(lambda _: callback.callback_id, name="publish")
    answer = callback.result()
    return {"approved": answer}

def count(bucket, prefix):
    return s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0)

@durable_execution
def flaky(event, context: DurableContext):
    def attempt(_):
        before = count(event["bucket"], f"{event['run']}/flaky/")
        mark(event["bucket"], event["run"], "flaky")
        if before < 1:
            raise RuntimeError("the first attempt fails")
        return before + 1
    def strategy(error, attempts):
        if attempts < 3:
            return RetryDecision.retry(Duration.from_seconds(1))
        return RetryDecision.no_retry()
    attempts = context.step(attempt, name="flaky", config=StepConfig(retry_strategy=strategy))
    def decide(state, attempts_made):
        if state >= 3:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))
    polls = context.wait_for_condition(
        lambda state, ctx: state + 1,
        config=WaitForConditionConfig(wait_strategy=decide, initial_state=0),
        name="poll",
    )
    return {"attempts": attempts, "polls": polls}

@durable_execution
def expiring(event, context: DurableContext):
    seconds = event.get("timeout", 1)
    callback = context.create_callback(
        name="late", config=CallbackConfig(timeout=Duration.from_seconds(seconds))
    )
    return callback.result()

@durable_execution
def gated(event, context: DurableContext):
    context.step(lambda _: mark(event["bucket"], event["run"], "first"), name="first")
    def second(_):
        mark(event["bucket"], event["run"], "second")
        while count(event["bucket"], f"{event['run']}/go") < 1:
            time.sleep(0.2)
        return "done"
    return context.step(second, name="second")

@durable_execution
def slow(event, context: DurableContext):
    def long(_):
        time.sleep(event["seconds"])
        mark(event["bucket"], event["run"], "long")
        return "slept"
    return context.step(long, name="long")

@durable_execution
def once(event, context: DurableContext):
    def charge(_):
        mark(event["bucket"], event["run"], "charge")
        while count(event["bucket"], f"{event['run']}/go") < 1:
            time.sleep(0.2)
        return "charged"
    config = StepConfig(
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        retry_strategy=lambda error, attempts: RetryDecision.no_retry(),
    )
    return context.step(charge, name="charge", config=config)

@durable_execution
def sleepy(event, context: DurableContext):
    context.wait(Duration.from_seconds(event["wait"]), name="nap")
    return "woke"

def plain(event, context):
    return event["n"] * 2

@durable_execution
def logged(event, context: DurableContext):
    def work(step_context):
        step_context.logger.info("inside the step")
        return 1
    return context.step(work, name="work")

@durable_execution
def chain(event, context: DurableContext):
    doubled = context.invoke(event["plain"], {"n": 21}, name="double")
    fanned = context.invoke(event["durable"], {"items": [4]}, name="fan")
    inner = context.run_in_child_context(
        lambda ctx: ctx.step(lambda _: "inner", name="in"), name="child"
    )
    return {"doubled": doubled, "fanned": fanned, "child": inner}

@durable_execution
def fan(event, context: DurableContext):
    squares = context.map(event["items"], lambda ctx, item, i, items: ctx.step(
        lambda _: item * item, name=f"square-{i}"), name="squares")
    pair = context.parallel([
        lambda ctx: ctx.step(lambda _: "left", name="l"),
        lambda ctx: ctx.step(lambda _: "right", name="r"),
    ], name="both")
    return {"squares": squares.get_results(), "pair": pair.get_results()}
'''


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("durable") / "data"


@pytest.fixture(scope="module")
def durable_server(data_dir: Path) -> Iterator[LamboxServer]:
    holder = {"server": start_server(data_dir)}
    yield holder["server"]
    stop_server(holder["server"])


DURABLE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicDurableExecutionRolePolicy"


def durable_role(lam: Any) -> str:
    """The role a durable function needs, as SAM gives one: the durable execution policy
    (checkpoints and state), plus writing and counting the test's marks in S3."""
    return execution_role(
        lam.meta.endpoint_url,
        "durable-marks",
        ["s3:PutObject", "s3:ListBucket"],
        managed=(DURABLE_POLICY,),
    )


def create(lam: Any, handler: str, timeout: int = 30, execution_timeout: int = 600) -> str:
    name = unique("durable")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=durable_role(lam),
        Handler=f"handler.{handler}",
        Code={"ZipFile": make_zip({"handler.py": HANDLER})},
        Timeout=timeout,
        DurableConfig={"ExecutionTimeout": execution_timeout, "RetentionPeriodInDays": 1},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def bucket(server: LamboxServer) -> str:
    s3 = aws_client(server, "s3")
    name = unique("marks").lower()
    s3.create_bucket(Bucket=name)
    return name


def marks(server: LamboxServer, bucket_name: str, run: str, step: str) -> int:
    listing = aws_client(server, "s3").list_objects_v2(Bucket=bucket_name, Prefix=f"{run}/{step}/")
    return int(listing.get("KeyCount", 0))


def wait_status(lam: Any, arn: str, want: str, seconds: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        got = lam.get_durable_execution(DurableExecutionArn=arn)
        if got["Status"] == want:
            return dict(got)
        assert got["Status"] == "RUNNING", got
        assert time.monotonic() < deadline, got
        time.sleep(0.2)


def test_config_round_trips(durable_server: LamboxServer) -> None:
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "steps")
    config = lam.get_function_configuration(FunctionName=name)
    assert config["DurableConfig"] == {"ExecutionTimeout": 600, "RetentionPeriodInDays": 1}
    lam.update_function_configuration(FunctionName=name, DurableConfig={"ExecutionTimeout": 900})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    config = lam.get_function_configuration(FunctionName=name)
    assert config["DurableConfig"] == {"ExecutionTimeout": 900, "RetentionPeriodInDays": 1}


def test_steps_and_wait_complete(durable_server: LamboxServer) -> None:
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "steps")
    marks_bucket = bucket(durable_server)
    event = {"x": 20, "bucket": marks_bucket, "run": "sync"}
    answer = lam.invoke(
        FunctionName=name,
        Payload=json.dumps(event),
        DurableExecutionName="first",
    )
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert json.loads(answer["Payload"].read()) == {"result": 42}
    arn = answer["DurableExecutionArn"]
    execution = lam.get_durable_execution(DurableExecutionArn=arn)
    assert execution["Status"] == "SUCCEEDED"
    assert execution["DurableExecutionName"] == "first"
    assert json.loads(execution["Result"]) == {"result": 42}
    assert json.loads(execution["InputPayload"]) == event
    history = lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    kinds = [e["EventType"] for e in history]
    for kind in ("ExecutionStarted", "StepSucceeded", "WaitStarted", "WaitSucceeded"):
        assert kind in kinds
    assert kinds[-1] == "ExecutionSucceeded"
    # The wait ended the first invocation: the execution was invoked again after it.
    assert kinds.count("InvocationCompleted") >= 2
    listed = lam.list_durable_executions_by_function(FunctionName=name)["DurableExecutions"]
    assert [e["DurableExecutionArn"] for e in listed] == [arn]
    # Each step's code ran once, though the handler was replayed after the wait.
    assert marks(durable_server, marks_bucket, "sync", "add") == 1
    assert marks(durable_server, marks_bucket, "sync", "double") == 1
    # A checkpoint with a token of an ended execution is refused.
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken="abcx1")


def test_callback_success_and_failure(durable_server: LamboxServer, tmp_path: Path) -> None:
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "approval")
    arns = []
    for run in ("yes", "no"):
        answer = lam.invoke(
            FunctionName=name, InvocationType="Event", Payload=b"{}", DurableExecutionName=run
        )
        assert answer["StatusCode"] == 202
        arns.append(answer["DurableExecutionArn"])
    ids = [callback_id(lam, arn) for arn in arns]
    lam.send_durable_execution_callback_success(CallbackId=ids[0], Result=b"ok")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_DATA_PATH": str(cli_models(tmp_path)),
    }
    subprocess.run(
        [
            "/usr/bin/aws", "--endpoint-url", durable_server.url, "lambda",
            "send-durable-execution-callback-failure", "--callback-id", ids[1],
            "--error", "ErrorType=Rejected,ErrorMessage=no thanks",
        ],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    done = wait_status(lam, arns[0], "SUCCEEDED")
    assert json.loads(done["Result"]) == {"approved": "ok"}
    failed = wait_status(lam, arns[1], "FAILED")
    assert "no thanks" in failed["Error"]["ErrorMessage"]
    # An answered callback cannot be answered again.
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.send_durable_execution_callback_success(CallbackId=ids[0], Result=b'"again"')


def callback_id(lam: Any, arn: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for event in lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]:
            if event["EventType"] == "CallbackStarted":
                return str(event["CallbackStartedDetails"]["CallbackId"])
        time.sleep(0.2)
    raise AssertionError("no callback started")


def test_map_and_parallel(durable_server: LamboxServer) -> None:
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "fan")
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"items": [1, 2, 3]}))
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"squares": [1, 4, 9], "pair": ["left", "right"]}


def test_a_role_without_the_durable_policy_cannot_checkpoint(
    durable_server: LamboxServer,
) -> None:
    """A role lambox created for the function (logs only) may not checkpoint, as on AWS."""
    lam = aws_client(durable_server, "lambda")
    name = unique("durable")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=f"arn:aws:iam::000000000000:role/{unique('logs-only')}",
        Handler="handler.fan",
        Code={"ZipFile": make_zip({"handler.py": HANDLER})},
        Timeout=30,
        DurableConfig={"ExecutionTimeout": 600, "RetentionPeriodInDays": 1},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"items": [1]}))
    assert "FunctionError" in answer
    assert "lambda:CheckpointDurableExecution" in answer["Payload"].read().decode()


def test_step_retry_and_wait_for_condition(durable_server: LamboxServer) -> None:
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "flaky")
    marks_bucket = bucket(durable_server)
    event = {"bucket": marks_bucket, "run": "retry"}
    answer = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert json.loads(answer["Payload"].read()) == {"attempts": 2, "polls": 3}
    assert marks(durable_server, marks_bucket, "retry", "flaky") == 2
    history = lam.get_durable_execution_history(DurableExecutionArn=answer["DurableExecutionArn"])
    failed = [e for e in history["Events"] if e["EventType"] == "StepFailed"]
    assert failed[0]["StepFailedDetails"]["RetryDetails"]["NextAttemptDelaySeconds"] == 1


def test_callback_times_out(durable_server: LamboxServer) -> None:
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "expiring")
    answer = lam.invoke(FunctionName=name, Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    arn = answer["DurableExecutionArn"]
    assert lam.get_durable_execution(DurableExecutionArn=arn)["Status"] == "FAILED"
    kinds = [
        e["EventType"] for e in lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    ]
    assert "CallbackTimedOut" in kinds


def test_pause_and_resume(durable_server: LamboxServer) -> None:
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "approval")
    arn = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")[
        "DurableExecutionArn"
    ]
    waiting = callback_id(lam, arn)
    lam.pause_durable_execution(DurableExecutionArn=arn, Reason="audit")
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.pause_durable_execution(DurableExecutionArn=arn)
    lam.send_durable_execution_callback_success(CallbackId=waiting, Result=b"later")
    # Paused: the answer is kept, and nothing resumes the execution.
    assert lam.get_durable_execution(DurableExecutionArn=arn)["Status"] == "PAUSED"
    lam.resume_durable_execution(DurableExecutionArn=arn)
    assert json.loads(wait_status(lam, arn, "SUCCEEDED")["Result"]) == {"approved": "later"}
    kinds = [
        e["EventType"] for e in lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    ]
    assert kinds.index("ExecutionPaused") < kinds.index("ExecutionResumed")


def test_stop_and_delete(durable_server: LamboxServer) -> None:
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "expiring")
    arn = lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"timeout": 600})
    )["DurableExecutionArn"]
    waiting = callback_id(lam, arn)
    lam.send_durable_execution_callback_heartbeat(CallbackId=waiting)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.send_durable_execution_callback_heartbeat(CallbackId="nosuchcallback")
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.delete_durable_execution(DurableExecutionArn=arn)
    lam.stop_durable_execution(DurableExecutionArn=arn, Error={"ErrorMessage": "enough"})
    stopped = lam.get_durable_execution(DurableExecutionArn=arn)
    assert stopped["Status"] == "STOPPED"
    assert stopped["Error"]["ErrorMessage"] == "enough"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.send_durable_execution_callback_success(CallbackId=waiting, Result=b"late")
    lam.delete_durable_execution(DurableExecutionArn=arn)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_durable_execution(DurableExecutionArn=arn)


def test_chained_invokes_and_child_context(durable_server: LamboxServer) -> None:
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "chain")
    target = create(lam, "fan")
    plain = unique("plain")
    lam.create_function(
        FunctionName=plain,
        Runtime="python3.11",
        Role=ROLE,
        Handler="handler.plain",
        Code={"ZipFile": make_zip({"handler.py": HANDLER})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=plain)
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"plain": plain, "durable": target}))
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert json.loads(answer["Payload"].read()) == {
        "doubled": 42,
        "fanned": {"squares": [16], "pair": ["left", "right"]},
        "child": "inner",
    }
    # The durable target ran as an execution of its own.
    children = lam.list_durable_executions_by_function(FunctionName=target)["DurableExecutions"]
    assert [c["Status"] for c in children] == ["SUCCEEDED"]
    events = lam.get_durable_execution_history(DurableExecutionArn=answer["DurableExecutionArn"])
    kinds = [e["EventType"] for e in events["Events"]]
    assert kinds.count("ChainedInvokeSucceeded") == 2
    assert "ContextSucceeded" in kinds


def test_execution_timeout_ends_a_running_invocation(durable_server: LamboxServer) -> None:
    """The ExecutionTimeout holds mid-invocation: a step still running when it passes does
    not get to succeed the execution; it is TIMED_OUT at its timeout and stays so."""
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "slow", timeout=30, execution_timeout=2)
    marks_bucket = bucket(durable_server)
    event = {"seconds": 10, "bucket": marks_bucket, "run": "late"}
    arn = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event))[
        "DurableExecutionArn"
    ]
    timed_out = wait_status(lam, arn, "TIMED_OUT")
    # It timed out while the step still ran: the step's side effect comes only after.
    assert marks(durable_server, marks_bucket, "late", "long") == 0
    assert timed_out["Error"]["ErrorType"] == "Execution.TimedOut"
    deadline = time.monotonic() + 60
    while marks(durable_server, marks_bucket, "late", "long") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)  # the invocation's answer (the step's checkpoint) comes now: refused
    after = lam.get_durable_execution(DurableExecutionArn=arn)
    assert after["Status"] == "TIMED_OUT"
    kinds = [
        e["EventType"] for e in lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    ]
    assert kinds.count("ExecutionTimedOut") == 1
    assert "StepSucceeded" not in kinds
    assert "ExecutionSucceeded" not in kinds


def test_kill_during_a_step(tmp_path: Path) -> None:
    """kill -9 while the second step runs: the first never runs again, the second runs
    again (steps are at-least-once by default) and the execution ends once."""
    first = start_server(tmp_path / "data")
    try:
        lam = aws_client(first, "lambda")
        name = create(lam, "gated")
        marks_bucket = bucket(first)
        event = {"bucket": marks_bucket, "run": "gate"}
        arn = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event))[
            "DurableExecutionArn"
        ]
        deadline = time.monotonic() + 60
        while marks(first, marks_bucket, "gate", "second") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
    again = start_server(tmp_path / "data")
    try:
        aws_client(again, "s3").put_object(Bucket=marks_bucket, Key="gate/go", Body=b"go")
        lam = aws_client(again, "lambda")
        done = wait_status(lam, arn, "SUCCEEDED")
        assert json.loads(done["Result"]) == "done"
        assert marks(again, marks_bucket, "gate", "first") == 1
        assert marks(again, marks_bucket, "gate", "second") >= 2
        kinds = [
            e["EventType"]
            for e in lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
        ]
        assert kinds.count("ExecutionSucceeded") == 1
        assert kinds.count("StepSucceeded") == 2
    finally:
        stop_server(again)


def test_kill_during_an_at_most_once_step(tmp_path: Path) -> None:
    """kill -9 while an AT_MOST_ONCE_PER_RETRY step runs: after the restart the SDK finds
    the step started and not ended, and does not run it again (its retry strategy, here
    none, decides): the step's code ran exactly once, and the execution fails once."""
    first = start_server(tmp_path / "data")
    try:
        lam = aws_client(first, "lambda")
        name = create(lam, "once")
        marks_bucket = bucket(first)
        event = {"bucket": marks_bucket, "run": "once"}
        arn = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event))[
            "DurableExecutionArn"
        ]
        deadline = time.monotonic() + 60
        while marks(first, marks_bucket, "once", "charge") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
    again = start_server(tmp_path / "data")
    try:
        aws_client(again, "s3").put_object(Bucket=marks_bucket, Key="once/go", Body=b"go")
        lam = aws_client(again, "lambda")
        failed = wait_status(lam, arn, "FAILED")
        assert "interrupted" in json.dumps(failed["Error"]).lower(), failed["Error"]
        assert marks(again, marks_bucket, "once", "charge") == 1
        kinds = [
            e["EventType"]
            for e in lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
        ]
        assert kinds.count("StepStarted") == 1
        assert kinds.count("ExecutionFailed") == 1
        assert "StepSucceeded" not in kinds
    finally:
        stop_server(again)


def test_synchronous_invoke_is_limited(durable_server: LamboxServer) -> None:
    """A RequestResponse Invoke waits at most the function's Timeout here (AWS: 15 minutes,
    less when the function's Timeout or the ExecutionTimeout is lower): it answers as a
    timed-out invocation, with the execution's ARN, while the execution goes on; the same
    name and payload again answers the ended execution's result, another payload is
    refused with DurableExecutionAlreadyStartedException."""
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "sleepy", timeout=8)
    event = json.dumps({"wait": 16})
    answer = lam.invoke(FunctionName=name, Payload=event, DurableExecutionName="short")
    body = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 8.00 seconds" in body["errorMessage"]
    arn = answer["DurableExecutionArn"]
    wait_status(lam, arn, "SUCCEEDED")
    again = lam.invoke(FunctionName=name, Payload=event, DurableExecutionName="short")
    assert "FunctionError" not in again
    assert json.loads(again["Payload"].read()) == "woke"
    assert again["DurableExecutionArn"] == arn
    with pytest.raises(lam.exceptions.DurableExecutionAlreadyStartedException) as caught:
        lam.invoke(FunctionName=name, Payload=b'{"wait": 1}', DurableExecutionName="short")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    listed = lam.list_durable_executions_by_function(FunctionName=name)["DurableExecutions"]
    assert [e["DurableExecutionArn"] for e in listed] == [arn]


def test_synchronous_invoke_across_a_restart(tmp_path: Path) -> None:
    """kill -9 while a synchronous Invoke waits: its caller loses the connection (as on
    AWS, it learns nothing more), the execution goes on after the restart, and the caller's
    retry with the same name and payload answers the one execution's result."""
    import threading

    first = start_server(tmp_path / "data")
    lost: list[BaseException] = []
    try:
        lam = aws_client(first, "lambda")
        name = create(lam, "sleepy")
        event = json.dumps({"wait": 3})

        def call() -> None:
            try:
                lam.invoke(FunctionName=name, Payload=event, DurableExecutionName="kept")
            except Exception as exc:  # the server dies under it
                lost.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        deadline = time.monotonic() + 60
        while True:
            listed = lam.list_durable_executions_by_function(FunctionName=name)
            executions = listed["DurableExecutions"]
            if executions and any(
                e["EventType"] == "WaitStarted"
                for e in lam.get_durable_execution_history(
                    DurableExecutionArn=executions[0]["DurableExecutionArn"]
                )["Events"]
            ):
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
    caller.join(60)
    assert lost, "the synchronous Invoke should have lost its connection"
    again = start_server(tmp_path / "data")
    try:
        lam = aws_client(again, "lambda")
        answer = lam.invoke(FunctionName=name, Payload=event, DurableExecutionName="kept")
        assert "FunctionError" not in answer
        assert json.loads(answer["Payload"].read()) == "woke"
        listed = lam.list_durable_executions_by_function(FunctionName=name)["DurableExecutions"]
        assert [e["DurableExecutionArn"] for e in listed] == [answer["DurableExecutionArn"]]
    finally:
        stop_server(again)


def test_kill_between_callback_and_resumption(tmp_path: Path) -> None:
    """kill -9 right after a callback's answer is acknowledged: the answer is kept and the
    execution resumes after the restart, ending once."""
    first = start_server(tmp_path / "data")
    try:
        lam = aws_client(first, "lambda")
        name = create(lam, "approval")
        arn = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")[
            "DurableExecutionArn"
        ]
        lam.send_durable_execution_callback_success(
            CallbackId=callback_id(lam, arn), Result=b"kept"
        )
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
    again = start_server(tmp_path / "data")
    try:
        lam = aws_client(again, "lambda")
        done = wait_status(lam, arn, "SUCCEEDED")
        assert json.loads(done["Result"]) == {"approved": "kept"}
        events = lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
        kinds = [e["EventType"] for e in events]
        assert kinds.count("CallbackSucceeded") == 1
        assert kinds.count("ExecutionSucceeded") == 1
    finally:
        stop_server(again)


def test_order_workflow_example(tmp_path: Path) -> None:
    """``make serve``'s order workflow: approved through its callback; ``lambox executions``
    lists it and shows its history."""
    server = serve_examples(tmp_path / "data", lambda out: "order-workflow" in out)
    try:
        lam = aws_client(server, "lambda")
        order = {"id": "7", "items": [{"price": 5, "quantity": 2}]}
        arn = lam.invoke(
            FunctionName="order-workflow", InvocationType="Event",
            Payload=json.dumps(order), DurableExecutionName="order-7",
        )["DurableExecutionArn"]  # fmt: skip
        lam.send_durable_execution_callback_success(
            CallbackId=callback_id(lam, arn), Result=json.dumps({"approved": True}).encode()
        )
        done = wait_status(lam, arn, "SUCCEEDED")
        assert json.loads(done["Result"]) == {
            "order": "7", "status": "shipped", "charged": 10, "tracking": "TRK-7",
        }  # fmt: skip
        cli = [sys.executable, "-m", "lambox.cli.main", "executions", "order-workflow"]
        env = {**os.environ, "LAMBOX_ENDPOINT": server.url, "COLUMNS": "250"}
        listed = subprocess.run(cli, env=env, capture_output=True, text=True, check=True)
        assert "order-7" in listed.stdout and "SUCCEEDED" in listed.stdout
        shown = subprocess.run(
            [*cli, "--history", "order-7"], env=env, capture_output=True, text=True, check=True
        )
        assert "CallbackSucceeded" in shown.stdout and "ExecutionSucceeded" in shown.stdout
    finally:
        stop_server(server)


def test_aws_cloud_test_runner(durable_server: LamboxServer, monkeypatch: Any) -> None:
    """AWS's testing package's runner for deployed functions, pointed at lambox: it reads
    the execution and its history into operations, with our shapes."""
    from aws_durable_execution_sdk_python.execution import InvocationStatus
    from aws_durable_execution_sdk_python.lambda_service import OperationStatus
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionCloudTestRunner

    for key, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setenv(key, value)
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "steps")
    marks_bucket = bucket(durable_server)
    runner = DurableFunctionCloudTestRunner(
        function_name=name, region="us-east-1", lambda_endpoint=durable_server.url,
        poll_interval=0.2,
    )  # fmt: skip
    result = runner.run(input={"x": 4, "bucket": marks_bucket, "run": "runner"}, timeout=90)
    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result or "null") == {"result": 10}
    add = result.get_step("add")
    assert add.status is OperationStatus.SUCCEEDED and json.loads(add.result or "null") == 5
    assert result.get_wait("pause").status is OperationStatus.SUCCEEDED
    assert json.loads(result.get_step("double").result or "null") == 10

    approval = create(lam, "approval")
    runner = DurableFunctionCloudTestRunner(
        function_name=approval, region="us-east-1", lambda_endpoint=durable_server.url,
        poll_interval=0.2,
    )  # fmt: skip
    arn = runner.run_async(input={}, timeout=60)
    runner.send_callback_success(runner.wait_for_callback(arn, name="approve"), b"fine")
    done = runner.wait_for_result(arn, timeout=60)
    assert json.loads(done.result or "null") == {"approved": "fine"}
    assert done.get_callback("approve").status is OperationStatus.SUCCEEDED


def test_kill_during_wait(data_dir: Path, durable_server: LamboxServer) -> None:
    """Runs last in this module: it kills the module's server and starts its own."""
    lam = aws_client(durable_server, "lambda")
    name = create(lam, "steps")
    marks_bucket = bucket(durable_server)
    event = {"x": 1, "bucket": marks_bucket, "run": "killed", "wait": 4}
    arn = lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(event),
        DurableExecutionName="survivor",
    )["DurableExecutionArn"]  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(
        e["EventType"] == "WaitStarted"
        for e in lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    durable_server.proc.send_signal(signal.SIGKILL)
    durable_server.proc.wait()
    again = start_server(data_dir)
    try:
        lam = aws_client(again, "lambda")
        done = wait_status(lam, arn, "SUCCEEDED")
        assert json.loads(done["Result"]) == {"result": 4}
        assert marks(again, marks_bucket, "killed", "add") == 1
        assert marks(again, marks_bucket, "killed", "double") == 1
        kinds = [
            e["EventType"]
            for e in lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
        ]
        assert kinds.count("ExecutionSucceeded") == 1
    finally:
        stop_server(again)


def test_json_logs_carry_the_execution_and_step_ids(server: LamboxServer) -> None:
    """With LogFormat JSON, what the SDK's logger writes in a step carries the execution's
    ARN and the step's operation id (the SDK adds them; lambox's JSON records keep them).
    On the session's server: this module's own one is killed and restarted by its tests."""
    lam = aws_client(server, "lambda")
    name = create(lam, "logged")
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "JSON"})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    answer = lam.invoke(FunctionName=name, Payload=b"{}", DurableExecutionName=unique("log"))
    arn = answer["DurableExecutionArn"]
    wait_status(lam, arn, "SUCCEEDED")
    logs = aws_client(server, "logs")
    deadline = time.monotonic() + 30
    while True:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        records = [json.loads(e["message"]) for e in events if "inside the step" in e["message"]]
        if records or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    (record,) = records
    assert record["executionArn"] == arn
    assert record["operationName"] == "work"
    assert record["operationId"]
    assert record["level"] == "INFO"
