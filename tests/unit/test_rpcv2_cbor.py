"""The rpc-v2-cbor protocol against botocore's own serializer and parser, for every
operation of CloudWatch (the service botocore speaks it to), and CloudWatch's query model
(what the AWS CLI v2.9 speaks) through the query layer."""

from __future__ import annotations

import math
import struct

import pytest
from botocore import parsers, serialize
from botocore.awsrequest import HeadersDict

from lambox.edge import cbor, query, rpcv2
from lambox.edge.models import service_model
from lambox.errors import ServiceFault
from tests.unit.test_protocols import normal, operations, sample

SERVED = ("GetMetricStatistics", "GetMetricData", "ListMetrics", "PutMetricData")


@pytest.mark.parametrize(("service", "name"), operations("cloudwatch"))
def test_cbor_requests_and_answers_round_trip(service: str, name: str) -> None:
    model = service_model(service)
    op = model.operation_model(name)
    params = sample(op.input_shape) if op.input_shape is not None else {}
    request = serialize.create_serializer(
        "smithy-rpc-v2-cbor", include_validation=False
    ).serialize_to_request(params, op)
    assert rpcv2.operation_of(request["url_path"], model.metadata["targetPrefix"]) == name
    assert normal(rpcv2.parse_body(op.input_shape, request["body"])) == normal(params)
    # The answers of the operations lambox serves (the sample values leave tagged unions
    # deeper down the alarm shapes empty, which no answer may hold).
    if op.output_shape is None or name not in SERVED:
        return
    output = sample(op.output_shape)
    headers, body = rpcv2.response(op.output_shape, output)
    parsed = parsers.create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": 200, "headers": HeadersDict(headers), "body": body}, op.output_shape
    )
    assert normal(parsed) == normal(output)


@pytest.mark.parametrize("name", ["GetMetricStatistics", "GetMetricData", "PutMetricData"])
def test_cloudwatch_query_round_trips(name: str) -> None:
    op = service_model("cloudwatch").operation_model(name)
    params = sample(op.input_shape)
    request = serialize.create_serializer("query", include_validation=False).serialize_to_request(
        params, op
    )
    form = {k: [str(v)] for k, v in request["body"].items()}
    assert normal(query.parse(op.input_shape, form)) == normal(params)
    output = sample(op.output_shape) if op.output_shape is not None else None
    if output is None:
        return
    body = query.response(op, output, "RID", "http://monitoring.amazonaws.com/doc/2010-08-01/")
    parsed = parsers.create_parser("query").parse(
        {"status_code": 200, "headers": {}, "body": body}, op.output_shape
    )
    assert normal(parsed) == normal(output)


def test_query_compatible_errors_carry_the_query_code() -> None:
    fault = ServiceFault("InvalidParameterValue", "The parameter StartTime must be less.", 400)
    shape = "com.amazonaws.cloudwatch.v2010_08_01#InvalidParameterValueException"
    headers, body = rpcv2.error(fault, shape, True)
    parsed = parsers.create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": 400, "headers": HeadersDict(headers), "body": body}, None
    )
    assert parsed["Error"]["Code"] == "InvalidParameterValue"
    assert parsed["Error"]["QueryErrorCode"] == "InvalidParameterValueException"
    assert parsed["Error"]["Type"] == "Sender"
    assert parsed["Error"]["Message"] == fault.message


def test_cbor_decodes_indefinite_lengths_and_half_floats() -> None:
    # {_ "a": [_ 1, -2], "b": 1.5 (half)}, "c": (_ h'01' h'02')
    data = (
        b"\xbf\x61a\x9f\x01\x21\xff\x61b\xf9"
        + struct.pack(">e", 1.5)
        + b"\x61c\x5f\x41\x01\x41\x02\xff\xff"
    )
    assert cbor.decode(data) == {"a": [1, -2], "b": 1.5, "c": b"\x01\x02"}
    assert math.isinf(cbor.decode(b"\xf9\x7c\x00"))


@pytest.mark.parametrize("data", [b"\x62a", b"\x01\x02", b"\xff", b"\x9f" * 100 + b"\xff" * 100])
def test_malformed_cbor_is_a_serialization_error(data: bytes) -> None:
    with pytest.raises(ServiceFault) as caught:
        cbor.decode(data)
    assert caught.value.aws_type == "SerializationException"


@pytest.mark.parametrize("protocol", ["json", "smithy-rpc-v2-cbor"])
def test_non_finite_doubles_are_read_as_botocore_sends_them(protocol: str) -> None:
    """botocore's json serializer writes NaN and the infinities as strings (Smithy's rule),
    its cbor serializer as floats; both read back as floats."""
    from lambox.edge import awsjson

    op = service_model("cloudwatch").operation_model("PutMetricData")
    data = [{"MetricName": "m", "Values": [math.nan, math.inf, -math.inf]}]
    request = serialize.create_serializer(protocol, include_validation=False).serialize_to_request(
        {"Namespace": "x", "MetricData": data}, op
    )
    parse = awsjson.parse_body if protocol == "json" else rpcv2.parse_body
    values = parse(op.input_shape, request["body"])["MetricData"][0]["Values"]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]
