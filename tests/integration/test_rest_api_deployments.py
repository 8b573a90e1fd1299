"""REST APIs beyond the first request: deployment snapshots (a stage serves the deployment it
points to), the Update* operations' patches with API Gateway's refusals, and Lambda
authorizers (TOKEN and REQUEST, with their result cache), through boto3, the AWS CLI and
http.client."""

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

AUTHORIZER = """import uuid

BOOT = uuid.uuid4().hex
calls = 0


def handler(event, context):
    global calls
    calls += 1
    if event["type"] == "TOKEN":
        token = event["authorizationToken"]
    else:
        token = event["headers"].get("x-token", "") + ":" + event["queryStringParameters"]["q"]
    if token.startswith("raise"):
        raise Exception("Unauthorized")
    arn = event["methodArn"]
    resource = arn if token.startswith("narrow") else arn.split("/")[0] + "/*"
    return {
        "principalId": "user-" + token,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Deny" if token.startswith("deny") else "Allow",
                    "Resource": resource,
                }
            ],
        },
        "context": {"call": f"{BOOT}-{calls}", "type": event["type"], "n": 1, "ok": True}
        if not token.startswith("nested")
        else {"user": {"id": 1}},
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


def deploy_function(lambda_client: Any, code: str) -> str:
    name = unique("rest-fn")
    arn = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": code})},
    )["FunctionArn"]
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    return str(arn)


def invocation_uri(arn: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


@pytest.fixture(scope="module")
def echo(lambda_client: Any) -> str:
    return deploy_function(lambda_client, ECHO)


@pytest.fixture(scope="module")
def authorizer_fn(lambda_client: Any) -> str:
    return deploy_function(lambda_client, AUTHORIZER)


def add_method(
    rest: Any, api_id: str, resource_id: str, method: str, echo: str, **auth: Any
) -> None:
    rest.put_method(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod=method,
        authorizationType=auth.pop("authorizationType", "NONE"),
        **auth,
    )
    rest.put_integration(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod=method,
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=invocation_uri(echo),
    )


def call(
    server: LamboxServer, api_id: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", urlparse(server.url).port, timeout=60)
    conn.request(
        method, path, headers={"Host": f"{api_id}.execute-api.localhost", **(headers or {})}
    )
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(body or b"null")


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_a_stage_serves_the_deployment_it_points_to(
    server: LamboxServer, rest: Any, echo: str
) -> None:
    api = rest.create_rest_api(name=unique("snap"))
    api_id, root = api["id"], api["rootResourceId"]
    a = rest.create_resource(restApiId=api_id, parentId=root, pathPart="a")
    add_method(rest, api_id, a["id"], "GET", echo)
    first = rest.create_deployment(restApiId=api_id, stageName="prod")
    # Changed after the deployment: not served by prod until deployed.
    b = rest.create_resource(restApiId=api_id, parentId=root, pathPart="b")
    add_method(rest, api_id, b["id"], "GET", echo)
    status, headers, _ = call(server, api_id, "GET", "/prod/b")
    assert status == 403 and headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert call(server, api_id, "GET", "/prod/a")[0] == 200
    second = rest.create_deployment(restApiId=api_id, stageName="next")
    assert call(server, api_id, "GET", "/next/b")[0] == 200
    assert call(server, api_id, "GET", "/prod/b")[0] == 403
    # Moving prod to the second deployment (UpdateStage) publishes it; back again rolls back.
    rest.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[{"op": "replace", "path": "/deploymentId", "value": second["id"]}],
    )
    assert call(server, api_id, "GET", "/prod/b")[0] == 200
    with pytest.raises(ClientError) as exc:
        rest.delete_deployment(restApiId=api_id, deploymentId=second["id"])
    assert error_of(exc) == (
        "BadRequestException",
        "Active stages pointing to this deployment must be moved or deleted",
    )
    rest.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[{"op": "replace", "path": "/deploymentId", "value": first["id"]}],
    )
    assert call(server, api_id, "GET", "/prod/b")[0] == 403
    # Deleting a resource changes nothing served until a deployment.
    rest.delete_resource(restApiId=api_id, resourceId=a["id"])
    assert call(server, api_id, "GET", "/prod/a")[0] == 200
    assert rest.get_deployment(restApiId=api_id, deploymentId=first["id"])["id"] == first["id"]
    rest.delete_stage(restApiId=api_id, stageName="next")
    rest.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[{"op": "replace", "path": "/deploymentId", "value": second["id"]}],
    )
    rest.delete_deployment(restApiId=api_id, deploymentId=first["id"])
    ids = [d["id"] for d in rest.get_deployments(restApiId=api_id)["items"]]
    assert ids == [second["id"]]


def test_patch_updates_and_their_refusals(server: LamboxServer, rest: Any, echo: str) -> None:
    api = rest.create_rest_api(name=unique("patch"), description="old")
    api_id, root = api["id"], api["rootResourceId"]
    updated = rest.update_rest_api(
        restApiId=api_id,
        patchOperations=[
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "remove", "path": "/description"},
            {"op": "add", "path": "/binaryMediaTypes/image~1png"},
        ],
    )
    assert updated["name"] == "renamed" and "description" not in updated
    assert updated["binaryMediaTypes"] == ["image/png"]
    with pytest.raises(ClientError) as exc:
        rest.update_rest_api(
            restApiId=api_id,
            patchOperations=[
                {"op": "replace", "path": "/name", "value": "half-done"},
                {"op": "add", "path": "/binaryMediaTypes", "value": "-"},
            ],
        )
    assert error_of(exc) == ("BadRequestException", "Invalid patch path /binaryMediaTypes")
    assert rest.get_rest_api(restApiId=api_id)["name"] == "renamed"  # refused whole

    pets = rest.create_resource(restApiId=api_id, parentId=root, pathPart="pets")
    sub = rest.create_resource(restApiId=api_id, parentId=pets["id"], pathPart="sub")
    add_method(rest, api_id, sub["id"], "GET", echo)
    moved = rest.update_resource(
        restApiId=api_id,
        resourceId=pets["id"],
        patchOperations=[{"op": "replace", "path": "/pathPart", "value": "animals"}],
    )
    assert moved["path"] == "/animals"
    assert rest.get_resource(restApiId=api_id, resourceId=sub["id"])["path"] == "/animals/sub"
    with pytest.raises(ClientError) as exc:
        rest.update_resource(
            restApiId=api_id,
            resourceId=pets["id"],
            patchOperations=[{"op": "replace", "path": "/parentId", "value": sub["id"]}],
        )
    assert error_of(exc) == ("BadRequestException", "Resources cannot be cyclical.")
    with pytest.raises(ClientError) as exc:
        rest.update_resource(
            restApiId=api_id,
            resourceId=pets["id"],
            patchOperations=[{"op": "replace", "path": "/invalid", "value": "x"}],
        )
    assert error_of(exc) == (
        "BadRequestException",
        "Invalid patch path  '/invalid' specified for op 'replace'. Must be one of:"
        " [/parentId, /pathPart]",
    )
    with pytest.raises(ClientError) as exc:
        rest.update_resource(
            restApiId=api_id,
            resourceId=pets["id"],
            patchOperations=[{"op": "remove", "path": "/pathPart"}],
        )
    assert error_of(exc) == (
        "BadRequestException",
        "Invalid patch path  '/pathPart' specified for op 'remove'. Please choose supported"
        " operations",
    )

    method = rest.update_method(
        restApiId=api_id,
        resourceId=sub["id"],
        httpMethod="GET",
        patchOperations=[
            {"op": "add", "path": "/requestParameters/method.request.querystring.q"},
            {"op": "replace", "path": "/apiKeyRequired", "value": "true"},
        ],
    )
    assert method["requestParameters"] == {"method.request.querystring.q": False}
    assert method["apiKeyRequired"] is True
    with pytest.raises(ClientError) as exc:
        rest.update_method(
            restApiId=api_id,
            resourceId=sub["id"],
            httpMethod="GET",
            patchOperations=[
                {"op": "remove", "path": "/requestParameters/method.request.querystring.q"},
                {"op": "replace", "path": "/authorizationType", "value": "CUSTOM"},
            ],
        )
    assert error_of(exc)[1].startswith("Invalid authorizer ID specified.")
    kept = rest.get_method(restApiId=api_id, resourceId=sub["id"], httpMethod="GET")
    assert kept["authorizationType"] == "NONE"
    assert kept["requestParameters"] == {"method.request.querystring.q": False}
    with pytest.raises(ClientError) as exc:
        rest.update_method(
            restApiId=api_id,
            resourceId=sub["id"],
            httpMethod="GET",
            patchOperations=[{"op": "replace", "path": "/httpMethod", "value": "POST"}],
        )
    assert error_of(exc) == ("BadRequestException", "Invalid patch path /httpMethod")

    rest.create_deployment(restApiId=api_id, stageName="s1", variables={"a": "1", "b": "2"})
    stage = rest.update_stage(
        restApiId=api_id,
        stageName="s1",
        patchOperations=[
            {"op": "replace", "path": "/variables/a", "value": "one"},
            {"op": "remove", "path": "/variables/b"},
            {"op": "replace", "path": "/description", "value": "stage one"},
        ],
    )
    assert stage["variables"] == {"a": "one"} and stage["description"] == "stage one"
    status, _, event = call(server, api_id, "GET", "/s1/animals/sub")
    assert status == 200 and event["stageVariables"] == {"a": "one"}
    with pytest.raises(ClientError) as exc:
        rest.update_stage(
            restApiId=api_id,
            stageName="s1",
            patchOperations=[{"op": "replace", "path": "/tags/tag1", "value": "x"}],
        )
    code, message = error_of(exc)
    assert code == "BadRequestException"
    assert message.startswith("Invalid method setting path: /tags/tag1. Must be one of:")


def test_the_cli_patches_a_stage(server: LamboxServer, rest: Any, echo: str) -> None:
    api = rest.create_rest_api(name=unique("cli"))
    add_method(rest, api["id"], api["rootResourceId"], "GET", echo)
    rest.create_deployment(restApiId=api["id"], stageName="dev")
    done = subprocess.run(
        [
            "/usr/bin/aws",
            "--endpoint-url",
            server.url,
            "apigateway",
            "update-stage",
            "--rest-api-id",
            api["id"],
            "--stage-name",
            "dev",
            "--patch-operations",
            "op=add,path=/variables/color,value=blue",
        ],
        capture_output=True,
        text=True,
        env=CLIENT_ENV,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["variables"] == {"color": "blue"}
    assert call(server, api["id"], "GET", "/dev/")[2]["stageVariables"] == {"color": "blue"}


@pytest.fixture(scope="module")
def guarded(rest: Any, echo: str, authorizer_fn: str) -> dict[str, str]:
    """GET and POST /token (TOKEN authorizer, cached 300 s) and GET /request (REQUEST
    authorizer on a header and a query parameter, not cached), deployed to "prod"."""
    api = rest.create_rest_api(name=unique("auth"))
    api_id, root = api["id"], api["rootResourceId"]
    token = rest.create_authorizer(
        restApiId=api_id,
        name="token",
        type="TOKEN",
        authorizerUri=invocation_uri(authorizer_fn),
        identitySource="method.request.header.Authorization",
        identityValidationExpression="^[a-z-]+[0-9]*$",
    )
    assert token["authorizerResultTtlInSeconds"] == 300
    request = rest.create_authorizer(
        restApiId=api_id,
        name="request",
        type="REQUEST",
        authorizerUri=invocation_uri(authorizer_fn),
        identitySource="method.request.header.X-Token, method.request.querystring.q",
        authorizerResultTtlInSeconds=0,
    )
    by_token = rest.create_resource(restApiId=api_id, parentId=root, pathPart="token")
    by_request = rest.create_resource(restApiId=api_id, parentId=root, pathPart="request")
    for method in ("GET", "POST"):
        add_method(
            rest,
            api_id,
            by_token["id"],
            method,
            echo,
            authorizationType="CUSTOM",
            authorizerId=token["id"],
        )
    add_method(
        rest,
        api_id,
        by_request["id"],
        "GET",
        echo,
        authorizationType="CUSTOM",
        authorizerId=request["id"],
    )
    rest.create_deployment(restApiId=api_id, stageName="prod")
    return {"id": api_id}


def test_token_authorizer_allows_denies_and_caches(
    server: LamboxServer, guarded: dict[str, str]
) -> None:
    api_id = guarded["id"]
    status, headers, body = call(server, api_id, "GET", "/prod/token")
    assert (status, body) == (401, {"message": "Unauthorized"})
    assert headers["x-amzn-errortype"] == "UnauthorizedException"
    # A token the validation expression refuses never reaches the function.
    assert call(server, api_id, "GET", "/prod/token", {"Authorization": "NOT VALID"})[0] == 401
    status, _, event = call(server, api_id, "GET", "/prod/token", {"Authorization": "alice"})
    assert status == 200
    first = event["requestContext"]["authorizer"]
    assert first["principalId"] == "user-alice" and first["type"] == "TOKEN"
    assert (first["n"], first["ok"]) == ("1", "true")  # API Gateway passes strings
    status, headers, body = call(server, api_id, "GET", "/prod/token", {"Authorization": "nested"})
    assert (status, body) == (500, {"message": None})
    assert headers["x-amzn-errortype"] == "AuthorizerConfigurationException"
    # Cached for the token: the function is not called again, on either method.
    for method in ("GET", "POST"):
        again = call(server, api_id, method, "/prod/token", {"Authorization": "alice"})[2]
        assert again["requestContext"]["authorizer"]["call"] == first["call"]
    other = call(server, api_id, "GET", "/prod/token", {"Authorization": "bob"})[2]
    assert other["requestContext"]["authorizer"]["call"] != first["call"]
    status, headers, body = call(server, api_id, "GET", "/prod/token", {"Authorization": "deny"})
    assert status == 403
    assert body == {
        "Message": "User is not authorized to access this resource with an explicit deny"
    }
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    # A cached policy naming only GET's ARN refuses POST while it is cached, as on AWS.
    assert call(server, api_id, "GET", "/prod/token", {"Authorization": "narrow"})[0] == 200
    status, _, body = call(server, api_id, "POST", "/prod/token", {"Authorization": "narrow"})
    assert (status, body) == (403, {"Message": "User is not authorized to access this resource"})
    # The function's own "Unauthorized" error is a 401.
    assert call(server, api_id, "GET", "/prod/token", {"Authorization": "raise"})[0] == 401


def test_request_authorizer_reads_its_identity_sources_uncached(
    server: LamboxServer, guarded: dict[str, str]
) -> None:
    api_id = guarded["id"]
    assert call(server, api_id, "GET", "/prod/request?q=1")[0] == 401  # no X-Token
    assert call(server, api_id, "GET", "/prod/request", {"X-Token": "t"})[0] == 401  # no q
    calls = set()
    for _ in range(2):
        status, _, event = call(server, api_id, "GET", "/prod/request?q=1", {"X-Token": "t"})
        assert status == 200
        context = event["requestContext"]["authorizer"]
        assert context["principalId"] == "user-t:1" and context["type"] == "REQUEST"
        calls.add(context["call"])
    assert len(calls) == 2  # a TTL of 0: the function runs for every request
    status, _, _ = call(server, api_id, "GET", "/prod/request?q=2", {"X-Token": "deny"})
    assert status == 403


def test_authorizers_lambox_does_not_run_are_refused(
    rest: Any, guarded: dict[str, str], authorizer_fn: str
) -> None:
    with pytest.raises(ClientError) as exc:
        rest.create_authorizer(
            restApiId=guarded["id"],
            name="pool",
            type="COGNITO_USER_POOLS",
            providerARNs=["arn:aws:cognito-idp:us-east-1:000000000000:userpool/x"],
            identitySource="method.request.header.Authorization",
        )
    assert error_of(exc)[0] == "BadRequestException"
    assert "COGNITO_USER_POOLS" in error_of(exc)[1]
    names = sorted(a["name"] for a in rest.get_authorizers(restApiId=guarded["id"])["items"])
    assert names == ["request", "token"]
