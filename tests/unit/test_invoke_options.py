"""Invoke's and InvokeWithResponseStream's heads are read by one loop; what differs between
the two operations is each one's ``Operation``, checked here against AWS's model."""

from __future__ import annotations

import botocore.session
import pytest

from lambox.api.invoke_options import INVOKE, STREAM, Operation, options
from lambox.errors import ValidationError
from lambox.model import InvocationType


def model_members(operation: str) -> dict[str, str]:
    """The operation's input members and the shape each one has, as botocore models them."""
    model = botocore.session.get_session().get_service_model("lambda")
    shape = model.operation_model(operation).input_shape
    assert shape is not None
    return {name: member.name for name, member in shape.members.items()}


def enum(shape: str) -> set[str]:
    model = botocore.session.get_session().get_service_model("lambda")
    return set(model.shape_for(shape).enum)


@pytest.mark.parametrize("operation", [INVOKE, STREAM])
def test_each_operation_takes_its_models_invocation_types(operation: Operation) -> None:
    members = model_members(operation.name)
    assert set(operation.types) == enum(members["InvocationType"])
    assert operation.durable == ("DurableExecutionName" in members)


def scope(headers: dict[str, str], query: str = "") -> dict[str, object]:
    raw = [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]
    return {"headers": raw, "query_string": query.encode()}


def test_the_stream_refuses_event_in_its_models_words() -> None:
    head = scope({"X-Amz-Invocation-Type": "Event"})
    assert options(head)[0] is InvocationType.EVENT
    with pytest.raises(ValidationError) as caught:
        options(head, STREAM)
    assert caught.value.message.endswith("enum value set: [RequestResponse, DryRun]")


@pytest.mark.parametrize("operation", [INVOKE, STREAM])
def test_both_read_the_same_options(operation: Operation) -> None:
    head = scope(
        {
            "X-Amz-Invocation-Type": "DryRun",
            "X-Amz-Log-Type": "Tail",
            "X-Amz-Client-Context": "e30=",
            "X-Amzn-Trace-Id": "Root=1-00000000-000000000000000000000000",
            "X-Amz-Tenant-Id": "blue:team/a@b.c=+ -_",
        },
        "Qualifier=prod",
    )
    assert options(head, operation) == (
        InvocationType.DRY_RUN,
        True,
        "e30=",
        None,
        "Root=1-00000000-000000000000000000000000",
        "prod",
        "blue:team/a@b.c=+ -_",
    )


@pytest.mark.parametrize("operation", [INVOKE, STREAM])
def test_both_refuse_a_tenant_id_outside_the_model(operation: Operation) -> None:
    with pytest.raises(ValidationError) as caught:
        options(scope({"X-Amz-Tenant-Id": "blue$"}), operation)
    assert caught.value.message == (
        "1 validation error detected: Value 'blue$' at 'tenantId' failed to satisfy"
        " constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9\\._:\\/=+\\-@ ]+"
    )
    with pytest.raises(ValidationError) as caught:
        options(scope({"X-Amz-Tenant-Id": "t" * 257}), operation)
    assert caught.value.message.endswith("Member must have length less than or equal to 256")


@pytest.mark.parametrize("operation", [INVOKE, STREAM])
def test_both_refuse_a_bad_log_type(operation: Operation) -> None:
    with pytest.raises(ValidationError) as caught:
        options(scope({"X-Amz-Log-Type": "tail"}), operation)
    assert caught.value.message == (
        "1 validation error detected: Value 'tail' at 'logType' failed to satisfy constraint:"
        " Member must satisfy enum value set: [None, Tail]"
    )


def test_only_invoke_reads_a_durable_execution_name() -> None:
    head = scope({"X-Amz-Durable-Execution-Name": "run-1"})
    assert options(head, INVOKE)[3] == "run-1"
    assert options(head, STREAM)[3] is None
