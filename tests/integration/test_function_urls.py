"""Function URLs through real HTTP clients (http.client and curl): the payload format 2.0
event, the response mapping, CORS, and AWS's error answers."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.integration.urls import Url, public_url, python_function

HANDLER = """import base64, json


def handler(event, context):
    path = event["rawPath"]
    if path == "/event":
        return {"statusCode": 200, "body": json.dumps(event)}
    if path == "/bare":
        body = event["body"]
        return json.loads(base64.b64decode(body) if event["isBase64Encoded"] else body)
    if path == "/binary":
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/octet-stream", "X-Custom": "yes"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": base64.b64encode(bytes(range(256))).decode(),
            "isBase64Encoded": True,
        }
    if path == "/fail":
        raise RuntimeError("boom")
    if path == "/cors":
        return {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "http://x"}}
    if path == "/version":
        return context.function_version
    return {"statusCode": 404, "body": "no route"}
"""
CORS = {
    "AllowOrigins": ["https://app.example"],
    "AllowMethods": ["GET", "POST"],
    "AllowHeaders": ["x-token"],
    "ExposeHeaders": ["x-custom"],
    "MaxAge": 300,
    "AllowCredentials": True,
}


@pytest.fixture(scope="module")
def function(lambda_client: Any) -> Iterator[str]:
    with python_function(lambda_client, "url", HANDLER) as name:
        yield name


@pytest.fixture(scope="module")
def url(lambda_client: Any, function: str) -> Url:
    return public_url(lambda_client, function, Cors=CORS)


def test_function_url_is_a_localhost_name_of_this_server(url: Url, server: Any) -> None:
    parsed = urlparse(url.url)
    url_id, rest = parsed.netloc.split(".", 1)
    assert len(url_id) == 32 and url_id.isalnum() and url_id.islower()
    assert rest == f"lambda-url.us-east-1.localhost:{urlparse(server.url).port}"
    assert parsed.scheme == "http" and parsed.path == "/"


def test_event_is_payload_format_2(url: Url) -> None:
    status, _, body = url.call(
        "POST",
        "/event?x=1&x=2&empty=",
        b'{"k": 1}',
        {"Content-Type": "application/json", "Cookie": "s=1; t=2", "User-Agent": "test/1"},
    )
    assert status == 200
    event = json.loads(body)
    assert list(event) == [
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "cookies",
        "headers",
        "queryStringParameters",
        "requestContext",
        "body",
        "isBase64Encoded",
    ]
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/event" and event["rawQueryString"] == "x=1&x=2&empty="
    assert event["cookies"] == ["s=1", "t=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")
    assert event["queryStringParameters"] == {"x": "1,2", "empty": ""}
    assert event["body"] == '{"k": 1}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    url_id = url.host.split(".", 1)[0]
    assert ctx["accountId"] == "anonymous"
    assert ctx["apiId"] == ctx["domainPrefix"] == url_id
    assert ctx["domainName"] == url.host.rsplit(":", 1)[0]
    assert ctx["http"] == {
        "method": "POST",
        "path": "/event",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "test/1",
    }
    assert ctx["routeKey"] == ctx["stage"] == "$default"
    assert isinstance(ctx["timeEpoch"], int) and ctx["time"].endswith(" +0000")


def test_event_without_query_cookies_or_body_leaves_them_out(url: Url) -> None:
    status, _, body = url.call("GET", "/event")
    assert status == 200
    event = json.loads(body)
    for absent in ("cookies", "queryStringParameters", "body"):
        assert absent not in event
    assert event["isBase64Encoded"] is False


def test_binary_request_body_arrives_base64(url: Url) -> None:
    data = bytes(range(256)) * 4
    _, _, body = url.call("POST", "/event", data, {"Content-Type": "application/octet-stream"})
    event = json.loads(body)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data


@pytest.mark.parametrize("value", [{"hello": "world"}, "hello", 3, 3.1, True, ["hello", 3, True]])
def test_a_bare_value_is_a_200_json_response(url: Url, value: Any) -> None:
    status, headers, body = url.call("POST", "/bare", json.dumps(value).encode())
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    # A string is its text; any other value the JSON the function returned.
    assert body == (value.encode() if isinstance(value, str) else json.dumps(value).encode())


def test_structured_response_with_cookies_and_base64_body(url: Url) -> None:
    status, headers, body = url.call("GET", "/binary")
    assert status == 201
    assert body == bytes(range(256))
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["X-Custom"] == "yes"
    assert headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert headers["x-amzn-RequestId"]


def test_function_error_is_502(url: Url) -> None:
    status, _, body = url.call("GET", "/fail")
    assert status == 502
    assert body == b"Internal Server Error"


def test_body_over_6_mb_is_413(url: Url) -> None:
    status, headers, _ = url.call("POST", "/event", b"x" * (6 * 1024 * 1024 + 1))
    assert status == 413
    assert headers["x-amzn-ErrorType"] == "RequestTooLargeException"


def test_unknown_url_is_403_forbidden(url: Url) -> None:
    other = Url(url.url.replace(url.host.split(".", 1)[0], "a" * 32))
    status, headers, body = other.call("GET", "/")
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert json.loads(body) == {
        "Message": "Forbidden. For troubleshooting Function URL authorization issues, see:"
        " https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
    }


def test_cors_preflight_is_answered_from_the_config(url: Url) -> None:
    status, headers, body = url.call(
        "OPTIONS",
        "/event",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert status == 200 and body == b""  # the function did not run
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert headers["Access-Control-Allow-Headers"] == "x-token"
    assert headers["Access-Control-Max-Age"] == "300"
    assert headers["Access-Control-Allow-Credentials"] == "true"


def test_cors_headers_of_the_config_replace_the_functions(url: Url) -> None:
    _, headers, _ = url.call("GET", "/cors", headers={"Origin": "https://app.example"})
    assert headers.get_all("Access-Control-Allow-Origin") == ["https://app.example"]
    assert headers["Access-Control-Expose-Headers"] == "x-custom"
    _, headers, _ = url.call("GET", "/cors", headers={"Origin": "https://other.example"})
    assert headers.get_all("Access-Control-Allow-Origin") is None


def test_throttled_function_is_429(lambda_client: Any) -> None:
    with python_function(lambda_client, "url-throttled", HANDLER) as name:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        status, headers, _ = public_url(lambda_client, name).call("GET", "/event")
        assert status == 429
        assert headers["x-amzn-ErrorType"] == "TooManyRequestsException"


def test_curl_reaches_the_url_by_name(url: Url) -> None:
    out = subprocess.run(
        ["curl", "-s", "-i", f"{url.url}bare", "-d", '"from curl"'],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.startswith(b"HTTP/1.1 200")
    assert out.endswith(b"\r\n\r\nfrom curl")


def test_alias_url_runs_the_alias_and_goes_with_it(lambda_client: Any, function: str) -> None:
    version = lambda_client.publish_version(FunctionName=function)["Version"]
    lambda_client.create_alias(FunctionName=function, Name="live", FunctionVersion=version)
    config = lambda_client.create_function_url_config(
        FunctionName=function, Qualifier="live", AuthType="NONE"
    )
    assert config["FunctionArn"].endswith(f":{function}:live")
    alias_url = Url(config["FunctionUrl"])
    assert alias_url.call("GET", "/version")[2] == version.encode()
    lambda_client.delete_alias(FunctionName=function, Name="live")
    assert alias_url.call("GET", "/version")[0] == 403


def test_aws_cli_manages_urls_and_permissions(server: Any, function: str, url: Url) -> None:
    from tests.integration.test_aws_cli import aws

    aws(
        server,
        "add-permission",
        "--function-name",
        function,
        "--statement-id",
        "public",
        "--action",
        "lambda:InvokeFunctionUrl",
        "--principal",
        "*",
        "--function-url-auth-type",
        "NONE",
    )
    policy = json.loads(
        json.loads(aws(server, "get-policy", "--function-name", function).stdout)["Policy"]
    )
    assert policy["Statement"][0]["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}
    }
    listed = json.loads(
        aws(server, "list-function-url-configs", "--function-name", function).stdout
    )
    assert [c["AuthType"] for c in listed["FunctionUrlConfigs"]] == ["NONE"]
    aws(server, "remove-permission", "--function-name", function, "--statement-id", "public")
    gone = aws(server, "get-policy", "--function-name", function, check=False)
    assert gone.returncode != 0 and "ResourceNotFoundException" in gone.stderr
