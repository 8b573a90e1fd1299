"""Function URLs and API Gateway endpoints reached by path on lambox's own address
(``/lambox/v1/lambda-url/<url-id>/...``, ``/lambox/v1/execute-api/<api-id>/...``), with
urllib, whose resolver (glibc's) does not map ``*.localhost`` to loopback."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlparse

from tests.conftest import ROLE, LamboxServer, aws_client, make_zip, unique

ECHO = """import json


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event)}
"""


def fetch(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=60) as answer:
        assert answer.status == 200
        return json.loads(answer.read())  # type: ignore[no-any-return]


def test_urls_and_apis_by_path(server: LamboxServer, lambda_client: Any) -> None:
    name = unique("by-path")
    arn = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": ECHO})},
    )["FunctionArn"]
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)

    url = lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")
    url_id = urlparse(url["FunctionUrl"]).hostname.split(".")[0]  # type: ignore[union-attr]
    event = fetch(f"{server.url}/lambox/v1/lambda-url/{url_id}/hello/there?x=1")
    assert event["rawPath"] == "/hello/there" and event["rawQueryString"] == "x=1"

    http_api = aws_client(server, "apigatewayv2", retries=True).create_api(
        Name=unique("by-path"), ProtocolType="HTTP", Target=arn
    )
    event = fetch(f"{server.url}/lambox/v1/execute-api/{http_api['ApiId']}/items/7")
    assert event["rawPath"] == "/items/7" and event["routeKey"] == "$default"

    rest = aws_client(server, "apigateway", retries=True)
    api = rest.create_rest_api(name=unique("by-path"))
    proxy = rest.create_resource(
        restApiId=api["id"], parentId=api["rootResourceId"], pathPart="{proxy+}"
    )
    rest.put_method(
        restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE"
    )
    rest.put_integration(
        restApiId=api["id"],
        resourceId=proxy["id"],
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=arn,
    )
    rest.create_deployment(restApiId=api["id"], stageName="prod")
    event = fetch(f"{server.url}/lambox/v1/execute-api/{api['id']}/prod/a/b")
    assert event["path"] == "/a/b" and event["pathParameters"] == {"proxy": "a/b"}
