"""HTTP APIs after their creation: deployments (a stage without AutoDeploy serves the
deployment it points to), the Update* operations and DeleteCorsConfiguration, through
boto3, the AWS CLI and http.client."""

from __future__ import annotations

import http.client
import json
import subprocess
from typing import Any
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CLIENT_ENV, ROLE, LamboxServer, make_zip, unique

ECHO = """import json


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event)}
"""


@pytest.fixture(scope="module")
def gateway(server: LamboxServer) -> Any:
    import boto3

    return boto3.client(
        "apigatewayv2",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def echo(lambda_client: Any) -> str:
    name = unique("v2-echo")
    arn = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": ECHO})},
    )["FunctionArn"]
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    return str(arn)


def request(
    endpoint: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    url = urlparse(endpoint)
    conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=60)
    conn.request(method, path, headers={"Host": url.netloc, **(headers or {})})
    resp = conn.getresponse()
    out = resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    conn.close()
    return out


def integration(gateway: Any, api_id: str, arn: str, version: str = "2.0") -> str:
    return str(
        gateway.create_integration(
            ApiId=api_id,
            IntegrationType="AWS_PROXY",
            IntegrationUri=arn,
            PayloadFormatVersion=version,
        )["IntegrationId"]
    )


def test_a_stage_without_auto_deploy_serves_its_deployment(gateway: Any, echo: str) -> None:
    api = gateway.create_api(Name=unique("deploy"), ProtocolType="HTTP")
    api_id, endpoint = api["ApiId"], api["ApiEndpoint"]
    target = f"integrations/{integration(gateway, api_id, echo)}"
    gateway.create_route(ApiId=api_id, RouteKey="GET /a", Target=target)
    gateway.create_stage(ApiId=api_id, StageName="prod")
    gateway.create_stage(ApiId=api_id, StageName="live", AutoDeploy=True)
    first = gateway.create_deployment(ApiId=api_id, StageName="prod")
    assert first["DeploymentStatus"] == "DEPLOYED"
    assert (
        gateway.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"] == first["DeploymentId"]
    )
    gateway.create_route(ApiId=api_id, RouteKey="GET /b", Target=target)
    assert request(endpoint, "GET", "/prod/a")[0] == 200
    status, _, body = request(endpoint, "GET", "/prod/b")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    assert request(endpoint, "GET", "/live/b")[0] == 200  # AutoDeploy: every change at once
    second = gateway.create_deployment(ApiId=api_id, StageName="prod", Description="with b")
    assert request(endpoint, "GET", "/prod/b")[0] == 200
    gateway.update_stage(ApiId=api_id, StageName="prod", DeploymentId=first["DeploymentId"])
    assert request(endpoint, "GET", "/prod/b")[0] == 404  # rolled back
    with pytest.raises(ClientError) as exc:
        gateway.delete_deployment(ApiId=api_id, DeploymentId=first["DeploymentId"])
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    gateway.delete_deployment(ApiId=api_id, DeploymentId=second["DeploymentId"])
    items = gateway.get_deployments(ApiId=api_id)["Items"]
    assert [d["DeploymentId"] for d in items] == [first["DeploymentId"]]


def test_updates_of_routes_integrations_and_stages(gateway: Any, echo: str) -> None:
    api = gateway.create_api(Name=unique("update"), ProtocolType="HTTP")
    api_id, endpoint = api["ApiId"], api["ApiEndpoint"]
    v2 = integration(gateway, api_id, echo)
    v1 = integration(gateway, api_id, echo, "1.0")
    route = gateway.create_route(ApiId=api_id, RouteKey="GET /x", Target=f"integrations/{v2}")
    gateway.create_stage(
        ApiId=api_id, StageName="$default", AutoDeploy=True, StageVariables={"a": "1", "b": "2"}
    )
    event = json.loads(request(endpoint, "GET", "/x")[2])
    assert event["version"] == "2.0" and event["stageVariables"] == {"a": "1", "b": "2"}
    updated = gateway.update_route(
        ApiId=api_id, RouteId=route["RouteId"], RouteKey="POST /y", Target=f"integrations/{v1}"
    )
    assert updated["RouteKey"] == "POST /y"
    stage = gateway.update_stage(
        ApiId=api_id, StageName="$default", StageVariables={"a": "one", "b": ""}
    )
    assert stage["StageVariables"] == {"a": "one"}
    assert request(endpoint, "GET", "/x")[0] == 404
    event = json.loads(request(endpoint, "POST", "/y")[2])
    assert event["version"] == "1.0" and event["stageVariables"] == {"a": "one"}
    changed = gateway.update_integration(
        ApiId=api_id, IntegrationId=v1, PayloadFormatVersion="2.0", TimeoutInMillis=5000
    )
    assert changed["PayloadFormatVersion"] == "2.0" and changed["TimeoutInMillis"] == 5000
    assert json.loads(request(endpoint, "POST", "/y")[2])["version"] == "2.0"
    with pytest.raises(ClientError) as exc:
        gateway.update_integration(ApiId=api_id, IntegrationId=v1, IntegrationType="HTTP_PROXY")
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    assert gateway.get_integration(ApiId=api_id, IntegrationId=v1)["IntegrationType"] == (
        "AWS_PROXY"
    )
    with pytest.raises(ClientError) as exc:
        gateway.update_route(
            ApiId=api_id, RouteId=route["RouteId"], RouteKey="GET /z", AuthorizationType="AWS_IAM"
        )
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    assert gateway.get_route(ApiId=api_id, RouteId=route["RouteId"])["RouteKey"] == "POST /y"


def test_cors_set_by_the_cli_then_deleted(server: LamboxServer, gateway: Any, echo: str) -> None:
    api = gateway.create_api(Name=unique("cors"), ProtocolType="HTTP", Target=echo)
    api_id, endpoint = api["ApiId"], api["ApiEndpoint"]
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    done = subprocess.run(
        [
            "/usr/bin/aws",
            "--endpoint-url",
            server.url,
            "apigatewayv2",
            "update-api",
            "--api-id",
            api_id,
            "--cors-configuration",
            "AllowOrigins=https://app.example,AllowMethods=GET,MaxAge=30",
        ],
        capture_output=True,
        text=True,
        env=CLIENT_ENV,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["CorsConfiguration"]["AllowOrigins"] == ["https://app.example"]
    status, headers, _ = request(endpoint, "OPTIONS", "/", preflight)
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-max-age"] == "30"
    gateway.delete_cors_configuration(ApiId=api_id)
    assert "CorsConfiguration" not in gateway.get_api(ApiId=api_id)
    status, headers, body = request(endpoint, "OPTIONS", "/", preflight)
    # No CORS configuration: the preflight goes to the function like any request.
    assert status == 200 and json.loads(body)["requestContext"]["http"]["method"] == "OPTIONS"
    assert "access-control-allow-origin" not in headers
