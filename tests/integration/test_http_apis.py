"""API Gateway HTTP APIs (apigatewayv2): the control API with boto3 and the AWS CLI, requests
through http.client and curl, routes, stages, payload formats 2.0 and 1.0, and API Gateway's
error answers."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from tests.conftest import (
    CLIENT_ENV,
    ROLE,
    LamboxServer,
    make_zip,
    start_server,
    stop_server,
    unique,
)

HANDLER = """import json


def handler(event, context):
    if event.get("rawPath", event.get("path", "")).endswith("/fail"):
        raise RuntimeError("boom")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(event),
    }
"""


def call(endpoint: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    url = urlparse(endpoint)
    conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=60)
    headers = {"Host": url.netloc, "Content-Type": "application/json"}
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def clients(url: str) -> tuple[Any, Any]:
    import boto3

    kw = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    return boto3.client("lambda", **kw), boto3.client("apigatewayv2", **kw)


@pytest.fixture(scope="module")
def function_arn(lambda_client: Any) -> Iterator[str]:
    name = unique("http-api")
    arn = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": HANDLER})},
    )["FunctionArn"]
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    yield str(arn)
    lambda_client.delete_function(FunctionName=name)


@pytest.fixture(scope="module")
def gateway(server: LamboxServer) -> Any:
    return clients(server.url)[1]


@pytest.fixture(scope="module")
def routed(gateway: Any, function_arn: str) -> dict[str, Any]:
    """An API with a 2.0 route with a parameter, a greedy 1.0 route and a named stage."""
    api = gateway.create_api(Name="routed", ProtocolType="HTTP")
    api_id = api["ApiId"]
    v2 = gateway.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=function_arn,
        PayloadFormatVersion="2.0",
    )
    v1 = gateway.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=function_arn,
        PayloadFormatVersion="1.0",
    )
    gateway.create_route(
        ApiId=api_id, RouteKey="GET /items/{id}", Target=f"integrations/{v2['IntegrationId']}"
    )
    gateway.create_route(
        ApiId=api_id, RouteKey="GET /items/special", Target=f"integrations/{v2['IntegrationId']}"
    )
    gateway.create_route(
        ApiId=api_id, RouteKey="ANY /{proxy+}", Target=f"integrations/{v1['IntegrationId']}"
    )
    gateway.create_stage(ApiId=api_id, StageName="prod", StageVariables={"env": "production"})
    return api  # type: ignore[no-any-return]


def test_quick_create_answers_every_path_with_a_2_0_event(gateway: Any, function_arn: str) -> None:
    api = gateway.create_api(Name="quick", ProtocolType="HTTP", Target=function_arn)
    assert api["ApiEndpoint"] == f"http://{api['ApiId']}.execute-api.localhost:" + str(
        urlparse(api["ApiEndpoint"]).port
    )
    assert [r["RouteKey"] for r in gateway.get_routes(ApiId=api["ApiId"])["Items"]] == ["$default"]
    assert [s["StageName"] for s in gateway.get_stages(ApiId=api["ApiId"])["Items"]] == ["$default"]
    out = subprocess.run(
        ["curl", "-s", f"{api['ApiEndpoint']}/any/path?q=1"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    event = json.loads(out)
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/any/path" and event["queryStringParameters"] == {"q": "1"}
    ctx = event["requestContext"]
    assert ctx["apiId"] == api["ApiId"] and ctx["stage"] == "$default"
    assert ctx["accountId"] == "000000000000"


def test_routes_stages_and_path_parameters(routed: dict[str, Any]) -> None:
    status, body = call(routed["ApiEndpoint"], "GET", "/prod/items/42")
    assert status == 200
    event = json.loads(body)
    assert event["routeKey"] == "GET /items/{id}"
    assert event["pathParameters"] == {"id": "42"}
    assert event["stageVariables"] == {"env": "production"}
    assert event["requestContext"]["stage"] == "prod"
    assert event["rawPath"] == "/prod/items/42"
    # A literal route wins over a parameter, a parameter over a greedy one.
    assert (
        json.loads(call(routed["ApiEndpoint"], "GET", "/prod/items/special")[1])["routeKey"]
        == "GET /items/special"
    )


def test_payload_format_1_0_has_the_multi_value_maps(routed: dict[str, Any]) -> None:
    status, body = call(routed["ApiEndpoint"], "POST", "/prod/a/b?x=1&x=2", b'{"k": 1}')
    assert status == 200
    event = json.loads(body)
    assert event["version"] == "1.0"
    assert event["resource"] == "/{proxy+}" and event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["multiValueHeaders"]["host"] == [event["headers"]["host"]]
    assert event["requestContext"]["resourceId"] == "ANY /{proxy+}"
    assert event["body"] == '{"k": 1}' and event["isBase64Encoded"] is False


def test_no_api_stage_or_route_is_api_gateways_404(routed: dict[str, Any]) -> None:
    endpoint = routed["ApiEndpoint"]
    for path in ("/items/42", "/dev/items/42"):  # no $default stage; no stage "dev"
        assert call(endpoint, "GET", path) == (404, b'{"message":"Not Found"}')
    other = endpoint.replace(routed["ApiId"], "nosuchapi0")
    assert call(other, "GET", "/") == (404, b'{"message":"Not Found"}')


def test_function_error_is_500(routed: dict[str, Any]) -> None:
    status, body = call(routed["ApiEndpoint"], "GET", "/prod/x/fail")
    assert (status, body) == (500, b'{"message":"Internal Server Error"}')


def test_integrations_lambox_does_not_run_are_refused_when_created(
    gateway: Any, routed: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as exc:
        gateway.create_integration(
            ApiId=routed["ApiId"],
            IntegrationType="HTTP_PROXY",
            IntegrationUri="http://example.com",
            IntegrationMethod="ANY",
            PayloadFormatVersion="1.0",
        )
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    assert "HTTP_PROXY" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        gateway.create_api(
            Name="ws", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
        )
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as exc:
        gateway.get_api(ApiId="nosuchapi0")
    assert exc.value.response["Error"]["Code"] == "NotFoundException"


def test_aws_cli_lists_the_apis(server: LamboxServer, routed: dict[str, Any]) -> None:
    out = subprocess.run(
        ["/usr/bin/aws", "--endpoint-url", server.url, "apigatewayv2", "get-apis"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, **CLIENT_ENV},
    ).stdout
    assert routed["ApiId"] in [a["ApiId"] for a in json.loads(out)["Items"]]


def test_apis_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        functions, gateway = clients(server.url)
        name = unique("http-api")
        arn = functions.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": make_zip({"app.py": HANDLER})},
        )["FunctionArn"]
        functions.get_waiter("function_active_v2").wait(FunctionName=name)
        api = gateway.create_api(Name="durable", ProtocolType="HTTP", Target=arn)
    finally:
        stop_server(server)
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        _, gateway = clients(server.url)
        again = gateway.get_api(ApiId=api["ApiId"])
        assert again["Name"] == "durable"
        # The endpoint names the port the server listens on now.
        assert urlparse(again["ApiEndpoint"]).port == urlparse(server.url).port
        assert call(again["ApiEndpoint"], "GET", "/again")[0] == 200
    finally:
        stop_server(server)


def test_cors_configuration_answers_preflights_and_tags_answers(
    gateway: Any, function_arn: str
) -> None:
    api = gateway.create_api(
        Name="cors",
        ProtocolType="HTTP",
        Target=function_arn,
        CorsConfiguration={
            "AllowOrigins": ["https://app.example"],
            "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["content-type"],
            "MaxAge": 60,
        },
    )
    url = urlparse(api["ApiEndpoint"])

    def request(method: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=60)
        conn.request(method, "/items", headers={"Host": url.netloc, **headers})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp

    pre = request(
        "OPTIONS", {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    )
    assert pre.status == 204
    assert pre.getheader("Access-Control-Allow-Origin") == "https://app.example"
    assert pre.getheader("Access-Control-Allow-Methods") == "GET,POST"
    assert pre.getheader("Access-Control-Max-Age") == "60"
    got = request("GET", {"Origin": "https://app.example"})
    assert got.status == 200
    assert got.getheader("Access-Control-Allow-Origin") == "https://app.example"
    assert (
        request("GET", {"Origin": "https://evil.example"}).getheader("Access-Control-Allow-Origin")
        is None
    )


AUTHORIZER = """def handler(event, context):
    token = event["identitySource"][0]
    assert event["type"] == "REQUEST" and event["routeArn"].startswith("arn:aws:execute-api:")
    return {"isAuthorized": token == "let-me-in", "context": {"user": "alice"}}
"""


def test_lambda_request_authorizer_with_simple_responses(
    lambda_client: Any, gateway: Any, function_arn: str
) -> None:
    name = unique("authorizer")
    auth_arn = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": AUTHORIZER})},
    )["FunctionArn"]
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    api = gateway.create_api(Name="guarded", ProtocolType="HTTP")
    api_id = api["ApiId"]
    authorizer = gateway.create_authorizer(
        ApiId=api_id,
        Name="tokens",
        AuthorizerType="REQUEST",
        AuthorizerUri=auth_arn,
        AuthorizerPayloadFormatVersion="2.0",
        EnableSimpleResponses=True,
        IdentitySource=["$request.header.Authorization"],
    )
    integration = gateway.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=function_arn,
        PayloadFormatVersion="2.0",
    )
    gateway.create_route(
        ApiId=api_id,
        RouteKey="GET /secret",
        Target=f"integrations/{integration['IntegrationId']}",
        AuthorizationType="CUSTOM",
        AuthorizerId=authorizer["AuthorizerId"],
    )
    gateway.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    url = urlparse(api["ApiEndpoint"])

    def get(headers: dict[str, str]) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=60)
        conn.request("GET", "/secret", headers={"Host": url.netloc, **headers})
        resp = conn.getresponse()
        out = resp.status, resp.read()
        conn.close()
        return out

    assert get({}) == (401, b'{"message":"Unauthorized"}')
    assert get({"Authorization": "wrong"}) == (403, b'{"message":"Forbidden"}')
    status, body = get({"Authorization": "let-me-in"})
    assert status == 200
    assert json.loads(body)["requestContext"]["authorizer"] == {"lambda": {"user": "alice"}}
    lambda_client.delete_function(FunctionName=name)


COUNTING_AUTHORIZER = """import uuid

BOOT = uuid.uuid4().hex
calls = 0


def handler(event, context):
    global calls
    calls += 1
    return {"isAuthorized": True, "context": {"call": f"{BOOT}-{calls}"}}
"""


def test_authorizer_results_are_cached_for_their_ttl_by_identity(
    lambda_client: Any, gateway: Any, function_arn: str
) -> None:
    name = unique("counting")
    auth_arn = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": COUNTING_AUTHORIZER})},
    )["FunctionArn"]
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    api = gateway.create_api(Name="cached", ProtocolType="HTTP")
    api_id = api["ApiId"]
    integration = gateway.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=function_arn,
        PayloadFormatVersion="2.0",
    )
    for ttl, path in ((300, "/cached"), (0, "/fresh")):
        authorizer = gateway.create_authorizer(
            ApiId=api_id,
            Name=f"ttl{ttl}",
            AuthorizerType="REQUEST",
            AuthorizerUri=auth_arn,
            AuthorizerPayloadFormatVersion="2.0",
            EnableSimpleResponses=True,
            IdentitySource=["$request.header.Authorization"],
            AuthorizerResultTtlInSeconds=ttl,
        )
        gateway.create_route(
            ApiId=api_id,
            RouteKey=f"GET {path}",
            Target=f"integrations/{integration['IntegrationId']}",
            AuthorizationType="CUSTOM",
            AuthorizerId=authorizer["AuthorizerId"],
        )
    gateway.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    url = urlparse(api["ApiEndpoint"])

    def call_id(path: str, token: str) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=60)
        conn.request("GET", path, headers={"Host": url.netloc, "Authorization": token})
        resp = conn.getresponse()
        assert resp.status == 200
        body = json.loads(resp.read())
        conn.close()
        return str(body["requestContext"]["authorizer"]["lambda"]["call"])

    first = call_id("/cached", "a")
    assert call_id("/cached", "a") == first
    assert call_id("/cached", "b") != first
    assert call_id("/fresh", "a") != call_id("/fresh", "a")
    lambda_client.delete_function(FunctionName=name)
