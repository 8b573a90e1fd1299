"""The edge's protocol layer against botocore's own client code, for every operation of a
service of each protocol: what botocore's serializer sends, lambox parses back to the same
input; what lambox answers, botocore's parser reads back to the same output."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore import parsers, serialize
from botocore.awsrequest import HeadersDict

from lambox.edge import awsjson, query, restjson, uri
from lambox.edge.models import service_model

STAMP = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def sample(shape: Any, depth: int = 0, where: str = "") -> Any:
    """A value of every member of ``shape`` (three levels deep), as a client would pass it."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return None
        out = {}
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            if location in ("headers", "statusCode") or member.serialization.get("eventstream"):
                continue
            if member.type_name == "structure" and member.serialization.get("eventstream"):
                continue
            value = sample(member, depth + 1, location or "")
            if value is not None:
                out[name] = value
        return out
    if kind == "list":
        item = sample(shape.member, depth + 1)
        return None if item is None or where == "header" else [item]
    if kind == "map":
        value = sample(shape.value, depth + 1)
        return None if value is None else {"k": value}
    if kind == "string":
        return shape.enum[0] if shape.enum else "s-1"
    if kind in ("integer", "long"):
        return 7
    if kind in ("float", "double"):
        return 1.5
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return STAMP
    if kind == "blob":
        return None if shape.serialization.get("streaming") or where else b"bin"
    return None


def normal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return value


def operations(service: str) -> list[tuple[str, str]]:
    model = service_model(service)
    return [(service, name) for name in model.operation_names]


@pytest.mark.parametrize(("service", "name"), operations("events") + operations("logs"))
def test_json_requests_and_answers_round_trip(service: str, name: str) -> None:
    model = service_model(service)
    op = model.operation_model(name)
    params = sample(op.input_shape) if op.input_shape is not None else {}
    request = serialize.create_serializer("json", include_validation=False).serialize_to_request(
        params, op
    )
    target = request["headers"]["X-Amz-Target"]
    assert awsjson.operation_of(target, model.metadata["targetPrefix"]) == name
    assert normal(awsjson.parse_body(op.input_shape, request["body"])) == normal(params)
    if op.output_shape is None or op.has_event_stream_output:
        return
    output = sample(op.output_shape)
    headers, body = awsjson.response(op.output_shape, output, model.metadata["jsonVersion"])
    parsed = parsers.create_parser("json").parse(
        {"status_code": 200, "headers": dict(headers), "body": body}, op.output_shape
    )
    assert normal(parsed) == normal(output)


@pytest.mark.parametrize(("service", "name"), operations("sns") + operations("sts"))
def test_query_requests_and_answers_round_trip(service: str, name: str) -> None:
    model = service_model(service)
    op = model.operation_model(name)
    params = sample(op.input_shape) if op.input_shape is not None else {}
    request = serialize.create_serializer("query", include_validation=False).serialize_to_request(
        params, op
    )
    form = {k: [str(v)] for k, v in request["body"].items()}
    assert form["Action"] == [name]
    assert normal(query.parse(op.input_shape, form)) == normal(params)
    if op.output_shape is None:
        return
    output = sample(op.output_shape)
    body = query.response(op, output, "RID", model.metadata.get("xmlNamespace", ""))
    parsed = parsers.create_parser("query").parse(
        {"status_code": 200, "headers": {}, "body": body}, op.output_shape
    )
    assert normal(parsed) == normal(output)


def sqs_query_operations() -> list[str]:
    from lambox.services.sqs.app import query_model

    return list(query_model().operation_names)


@pytest.mark.parametrize("name", sqs_query_operations())
def test_sqs_query_era_model_round_trips(name: str) -> None:
    """SQS as the AWS CLI v2 speaks it: flattened lists and maps with member names
    (``SendMessageBatchRequestEntry.1.Id``, ``<Message>``, ``<Attribute><Name>``)."""
    from lambox.services.sqs.app import query_model

    op = query_model().operation_model(name)
    params = sample(op.input_shape) if op.input_shape is not None else {}
    request = serialize.create_serializer("query", include_validation=False).serialize_to_request(
        params, op
    )
    form = {k: [str(v)] for k, v in request["body"].items()}
    assert normal(query.parse(op.input_shape, form)) == normal(params)
    if op.output_shape is None:
        return
    output = sample(op.output_shape)
    body = query.response(op, output, "RID", "http://queue.amazonaws.com/doc/2012-11-05/")
    parsed = parsers.create_parser("query").parse(
        {"status_code": 200, "headers": {}, "body": body}, op.output_shape
    )
    assert normal(parsed) == normal(output)


@pytest.mark.parametrize(("service", "name"), operations("scheduler"))
def test_rest_json_requests_and_answers_round_trip(service: str, name: str) -> None:
    model = service_model(service)
    op = model.operation_model(name)
    params = sample(op.input_shape) if op.input_shape is not None else {}
    request = serialize.create_serializer(
        "rest-json", include_validation=False
    ).serialize_to_request(params, op)
    path = request["url_path"].split("?")[0]
    q = {k: v if isinstance(v, list) else [v] for k, v in request["query_string"].items()}
    headers = {k.lower(): v for k, v in request["headers"].items()}
    found = uri.match(uri.routes(model), request["method"], path, q, headers)
    assert found is not None and found[0] == name
    body = request["body"] if isinstance(request["body"], bytes) else request["body"].encode()
    assert normal(restjson.parse(op, found[1], q, headers, body)) == normal(params)
    if op.output_shape is None:
        return
    output = sample(op.output_shape)
    status, out_headers, out_body = restjson.response(op, output)
    parsed = parsers.create_parser("rest-json").parse(
        {"status_code": status or 200, "headers": dict(out_headers), "body": out_body},
        op.output_shape,
    )
    assert normal(parsed) == normal(output)


@pytest.mark.parametrize("protocol", ["json", "query", "rest-json", "rest-xml"])
def test_errors_are_read_by_botocore_as_sent(protocol: str) -> None:
    from lambox.edge import restxml
    from lambox.errors import ServiceFault

    fault = ServiceFault("QueueDoesNotExist", "The specified queue does not exist.", 400)
    if protocol == "json":
        headers, body = awsjson.error(fault, "1.0")
    elif protocol == "query":
        headers, body = [], query.error(fault, "RID", "http://queue.amazonaws.com/doc/2012-11-05/")
    elif protocol == "rest-json":
        headers, body = restjson.error(fault)
    else:
        headers, body = [], restxml.error_document(fault, "RID")
    parsed = parsers.create_parser(protocol).parse(
        {"status_code": 400, "headers": HeadersDict(headers), "body": body}, None
    )
    assert parsed["Error"]["Code"] == "QueueDoesNotExist"
    assert parsed["Error"]["Message"] == "The specified queue does not exist."
