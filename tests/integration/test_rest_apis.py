"""API Gateway REST APIs (apigateway): resources with ``{param}`` and ``{proxy+}``, methods
(ANY included), AWS_PROXY integrations with payload format 1.0, deployments and stages,
requests through http.client, and REST APIs' errors."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, LamboxServer, make_zip, unique

HANDLER = """import json


def handler(event, context):
    if event["path"].endswith("/fail"):
        raise RuntimeError("boom")
    return {
        "statusCode": 200,
        "multiValueHeaders": {"x-multi": ["1", "2"]},
        "body": json.dumps(event),
    }
"""


@pytest.fixture(scope="module")
def rest(server: LamboxServer) -> Any:
    import boto3

    return boto3.client(
        "apigateway",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def function_arn(lambda_client: Any) -> Iterator[str]:
    name = unique("rest-api")
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
def api(rest: Any, function_arn: str) -> dict[str, Any]:
    """GET /items/{id} and ANY /{proxy+}, deployed to the stage "prod"."""
    created = rest.create_rest_api(name=unique("rest"))
    api_id, root = created["id"], created["rootResourceId"]
    items = rest.create_resource(restApiId=api_id, parentId=root, pathPart="items")
    item = rest.create_resource(restApiId=api_id, parentId=items["id"], pathPart="{id}")
    proxy = rest.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")
    uri = (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )
    for resource, method in ((item, "GET"), (proxy, "ANY")):
        rest.put_method(
            restApiId=api_id,
            resourceId=resource["id"],
            httpMethod=method,
            authorizationType="NONE",
        )
        rest.put_integration(
            restApiId=api_id,
            resourceId=resource["id"],
            httpMethod=method,
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=uri,
        )
    rest.create_deployment(restApiId=api_id, stageName="prod", variables={"env": "p"})
    return {"id": api_id, "items": items, "item": item}


def call(server: LamboxServer, api_id: str, method: str, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", urlparse(server.url).port, timeout=60)
    conn.request(method, path, headers={"Host": f"{api_id}.execute-api.localhost"})
    resp = conn.getresponse()
    resp.body = resp.read()  # type: ignore[attr-defined]
    conn.close()
    return resp


def test_resource_with_a_parameter_gets_a_1_0_event(server: LamboxServer, api: Any) -> None:
    resp = call(server, api["id"], "GET", "/prod/items/7?a=1&a=2")
    assert resp.status == 200
    assert resp.headers.get_all("x-multi") == ["1", "2"]
    event = json.loads(resp.body)  # type: ignore[attr-defined]
    assert event["version"] == "1.0"
    assert event["resource"] == "/items/{id}" and event["path"] == "/items/7"
    assert event["httpMethod"] == "GET" and event["pathParameters"] == {"id": "7"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["stageVariables"] == {"env": "p"}
    ctx = event["requestContext"]
    assert ctx["resourcePath"] == "/items/{id}" and ctx["resourceId"] == api["item"]["id"]
    assert ctx["path"] == "/prod/items/7" and ctx["stage"] == "prod"


def test_greedy_proxy_resource_with_any(server: LamboxServer, api: Any) -> None:
    event = json.loads(call(server, api["id"], "DELETE", "/prod/a/b/c").body)  # type: ignore[attr-defined]
    assert event["resource"] == "/{proxy+}" and event["pathParameters"] == {"proxy": "a/b/c"}
    assert event["httpMethod"] == "DELETE"


def test_rest_api_errors(server: LamboxServer, api: Any) -> None:
    missing = call(server, api["id"], "POST", "/prod/items/7")  # no POST on /items/{id}...
    # ... but ANY /{proxy+} takes it, as API Gateway routes it.
    assert missing.status == 200
    none = call(server, api["id"], "GET", "/prod")
    assert none.status == 403
    assert none.getheader("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert json.loads(none.body) == {"message": "Missing Authentication Token"}  # type: ignore[attr-defined]
    assert call(server, api["id"], "GET", "/dev/items/7").status == 403
    failed = call(server, api["id"], "GET", "/prod/x/fail")
    assert failed.status == 502
    assert json.loads(failed.body) == {"message": "Internal server error"}  # type: ignore[attr-defined]


def test_integrations_lambox_does_not_run_are_refused_when_created(rest: Any, api: Any) -> None:
    rest.put_method(
        restApiId=api["id"],
        resourceId=api["items"]["id"],
        httpMethod="GET",
        authorizationType="NONE",
    )
    for kind, extra in (
        ("MOCK", {"requestTemplates": {"application/json": '{"statusCode": 200}'}}),
        ("HTTP_PROXY", {"integrationHttpMethod": "GET", "uri": "http://example.com"}),
        (
            "AWS",
            {"integrationHttpMethod": "POST", "uri": "arn:aws:apigateway:us-east-1:sqs:path/q"},
        ),
    ):
        with pytest.raises(ClientError) as exc:
            rest.put_integration(
                restApiId=api["id"],
                resourceId=api["items"]["id"],
                httpMethod="GET",
                type=kind,
                **extra,
            )
        assert exc.value.response["Error"]["Code"] == "BadRequestException"
        assert kind in exc.value.response["Error"]["Message"]


def test_control_reads(rest: Any, api: Any) -> None:
    paths = sorted(r["path"] for r in rest.get_resources(restApiId=api["id"])["items"])
    assert paths == ["/", "/items", "/items/{id}", "/{proxy+}"]
    assert [s["stageName"] for s in rest.get_stages(restApiId=api["id"])["item"]] == ["prod"]
    assert api["id"] in [a["id"] for a in rest.get_rest_apis()["items"]]
    with pytest.raises(ClientError) as exc:
        rest.get_rest_api(restApiId="nosuchapi0")
    assert exc.value.response["Error"]["Code"] == "NotFoundException"
