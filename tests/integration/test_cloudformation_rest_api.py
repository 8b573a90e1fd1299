"""A SAM template with ``Api`` events (REST APIs) through CloudFormation against a real
server: AWS::ApiGateway::RestApi from SAM's OpenAPI body, its Deployment and Stage, answering
on the invoke URL; an update that adds a path, a refused integration, and the delete."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import LamboxServer, aws_client, make_zip, start_server, stop_server, unique
from tests.integration.test_cloudformation import FAST, outputs, status

HANDLER = (
    "import json\n"
    "def handler(event, context):\n"
    "    return {'statusCode': 200, 'headers': {'content-type': 'application/json'},\n"
    "            'body': json.dumps({'resource': event['resource'], 'path': event['path'],\n"
    "                                'params': event['pathParameters'],\n"
    "                                'stage': event['requestContext']['stage']})}\n"
)


def template(*events: tuple[str, str, str]) -> str:
    """A SAM function with one ``Api`` event per (name, path, method)."""
    return json.dumps(
        {
            "Transform": "AWS::Serverless-2016-10-31",
            "Resources": {
                "Fn": {
                    "Type": "AWS::Serverless::Function",
                    "Properties": {
                        "Runtime": "python3.11",
                        "Handler": "index.handler",
                        "InlineCode": HANDLER,
                        "Events": {
                            name: {"Type": "Api", "Properties": {"Path": path, "Method": method}}
                            for name, path, method in events
                        },
                    },
                }
            },
            "Outputs": {
                "ApiId": {"Value": {"Ref": "ServerlessRestApi"}},
                "Url": {
                    "Value": {
                        "Fn::Sub": "https://${ServerlessRestApi}.execute-api"
                        ".${AWS::Region}.amazonaws.com/Prod/"
                    }
                },
            },
        }
    )


@pytest.fixture(scope="module")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path_factory.mktemp("cfnrest") / "data", {"LAMBOX_SANDBOX": "process"})
    yield srv
    stop_server(srv)


def call(server: LamboxServer, api_id: str, path: str) -> httpx.Response:
    """A request to the API's invoke URL (the execute-api host names the API)."""
    host = f"{api_id}.execute-api.localhost"
    return httpx.get(f"{server.url}{path}", headers={"Host": host}, timeout=60)


def test_sam_api_events_deploy_answer_update_and_delete(rest_server: LamboxServer) -> None:
    cfn, apigw = aws_client(rest_server, "cloudformation"), aws_client(rest_server, "apigateway")
    name = unique("samrest")
    cfn.create_stack(
        StackName=name,
        TemplateBody=template(("Hello", "/hello/{who}", "get"), ("Rest", "/{proxy+}", "any")),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    out = outputs(cfn, name)
    api_id = out["ApiId"]
    assert out["Url"] == f"https://{api_id}.execute-api.us-east-1.amazonaws.com/Prod/"
    assert apigw.get_rest_api(restApiId=api_id)["name"] == name  # the body's title
    paths = {r["path"] for r in apigw.get_resources(restApiId=api_id)["items"]}
    assert {"/", "/hello", "/hello/{who}", "/{proxy+}"} <= paths
    # SAM's deployment makes the stage "Stage" too, as on AWS; the Prod stage is its own.
    stages = {s["stageName"] for s in apigw.get_stages(restApiId=api_id)["item"]}
    assert stages == {"Stage", "Prod"}
    types = {
        r["ResourceType"] for r in cfn.describe_stack_resources(StackName=name)["StackResources"]
    }
    assert {"AWS::ApiGateway::RestApi", "AWS::ApiGateway::Deployment"} <= types

    hello = call(rest_server, api_id, "/Prod/hello/ada")
    assert hello.status_code == 200, hello.text
    assert hello.json() == {
        "resource": "/hello/{who}",
        "path": "/hello/ada",
        "params": {"who": "ada"},
        "stage": "Prod",
    }
    greedy = call(rest_server, api_id, "/Prod/any/thing")
    assert greedy.status_code == 200, greedy.text
    assert greedy.json()["params"] == {"proxy": "any/thing"}

    # A new event changes the body: a new API with a new deployment and its Prod stage.
    cfn.update_stack(
        StackName=name,
        TemplateBody=template(("Hello", "/hello/{who}", "get"), ("Bye", "/bye", "post")),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    new_id = outputs(cfn, name)["ApiId"]
    bye = httpx.post(
        f"{rest_server.url}/Prod/bye",
        headers={"Host": f"{new_id}.execute-api.localhost"},
        timeout=60,
    )
    assert bye.status_code == 200, bye.text
    assert bye.json()["resource"] == "/bye"
    assert call(rest_server, new_id, "/Prod/any/thing").status_code != 200  # proxy gone

    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    for gone in {api_id, new_id}:
        with pytest.raises(ClientError) as caught:
            apigw.get_rest_api(restApiId=gone)
        assert caught.value.response["Error"]["Code"] == "NotFoundException"


def test_an_unserved_integration_fails_the_stack_with_the_reason(
    rest_server: LamboxServer,
) -> None:
    cfn = aws_client(rest_server, "cloudformation")
    name = unique("restmock")
    body = {
        "swagger": "2.0",
        "info": {"title": name},
        "paths": {"/x": {"get": {"x-amazon-apigateway-integration": {"type": "mock"}}}},
    }
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(
            {
                "Resources": {
                    "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": body}}
                }
            }
        ),
    )
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert status(cfn, name) == "ROLLBACK_COMPLETE"
    reasons = [
        e.get("ResourceStatusReason", "")
        for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
        if e["LogicalResourceId"] == "Api" and e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert reasons and "aws_proxy" in reasons[0]
    apis = aws_client(rest_server, "apigateway").get_rest_apis()["items"]
    assert name not in {a["name"] for a in apis}


def test_a_new_deployment_moves_the_stages_in_place(rest_server: LamboxServer) -> None:
    """A replaced Deployment (here: a new description) moves the Stage resource in place and
    takes over its own ``StageName`` stage; the old deployment goes, the stages stay."""
    cfn, apigw = aws_client(rest_server, "cloudformation"), aws_client(rest_server, "apigateway")
    lam = aws_client(rest_server, "lambda")
    name = unique("restdep")
    fn = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="index.handler",
        Role="arn:aws:iam::000000000000:role/r",
        Code={"ZipFile": make_zip({"index.py": HANDLER})},
    )["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn}/invocations"
    body = {
        "swagger": "2.0",
        "info": {"title": name},
        "paths": {
            "/x": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": uri}}}
        },
    }

    def template(description: str) -> str:
        return json.dumps(
            {
                "Resources": {
                    "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": body}},
                    "Deployment": {
                        "Type": "AWS::ApiGateway::Deployment",
                        "Properties": {
                            "RestApiId": {"Ref": "Api"},
                            "StageName": "Stage",
                            "Description": description,
                        },
                    },
                    "Prod": {
                        "Type": "AWS::ApiGateway::Stage",
                        "Properties": {
                            "RestApiId": {"Ref": "Api"},
                            "DeploymentId": {"Ref": "Deployment"},
                            "StageName": "Prod",
                        },
                    },
                },
                "Outputs": {
                    "ApiId": {"Value": {"Ref": "Api"}},
                    "DeploymentId": {"Value": {"Ref": "Deployment"}},
                },
            }
        )

    cfn.create_stack(StackName=name, TemplateBody=template("first"))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    first = outputs(cfn, name)
    cfn.update_stack(StackName=name, TemplateBody=template("second"))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    second = outputs(cfn, name)
    api_id = second["ApiId"]
    assert api_id == first["ApiId"]  # the API itself did not change
    assert second["DeploymentId"] != first["DeploymentId"]
    stages = {s["stageName"]: s["deploymentId"] for s in apigw.get_stages(restApiId=api_id)["item"]}
    assert stages == {"Stage": second["DeploymentId"], "Prod": second["DeploymentId"]}
    with pytest.raises(ClientError) as caught:
        apigw.get_deployment(restApiId=api_id, deploymentId=first["DeploymentId"])
    assert caught.value.response["Error"]["Code"] == "NotFoundException"
    answered = call(rest_server, api_id, "/Prod/x")
    assert answered.status_code == 200, answered.text
    assert answered.json()["stage"] == "Prod"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError):
        apigw.get_rest_api(restApiId=api_id)
