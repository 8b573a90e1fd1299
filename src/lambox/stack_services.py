"""Wiring of CloudFormation's table-driven resource types (services/cloudformation/
service_resources.py) to the services' own ``operations`` maps.

A resource's call names a service and one of its operations; the parameters are coerced to
that service's botocore model and handed to the same handler the service's API runs, so a
stack's topic, rule or log group is exactly what the API would have made.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from lambox.edge.identity import root_principal
from lambox.edge.models import service_model
from lambox.edge.queryapp import QueryCall
from lambox.errors import ServiceFault
from lambox.invoke.ids import new_request_id
from lambox.services.cloudformation import event_resources as events
from lambox.services.cloudformation import http_api_resources as http_apis
from lambox.services.cloudformation import lambda_resources as functions
from lambox.services.cloudformation import rest_api_resources as rest_apis
from lambox.services.cloudformation import service_resources as kinds
from lambox.services.cloudformation.resources import Handler, coerce

Operations = Mapping[str, Callable[[Any], Any]]


def service_handlers(
    account: str, region: str, maps: Mapping[str, Operations], iam: Operations
) -> dict[str, Handler]:
    """The handlers of the table's resource types over ``maps`` (service name -> its
    operations; IAM's, which take a ``QueryCall``, apart)."""
    root = root_principal(account)

    async def call(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        shape = service_model(service).operation_model(operation).input_shape
        params = dict(coerce(shape, params))
        if service == "iam":
            answer = iam[operation](QueryCall(root, params, "127.0.0.1", new_request_id()))
        elif operation in maps.get(service, {}):
            answer = maps[service][operation](params)
        else:
            raise ServiceFault("InternalFailure", f"{service}:{operation} is not served", 500)
        if inspect.isawaitable(answer):
            answer = await answer
        return dict(answer or {})

    table = {
        "AWS::Lambda::Function": functions.FUNCTION,
        "AWS::Lambda::Version": functions.VERSION,
        "AWS::Lambda::Alias": functions.ALIAS,
        "AWS::Lambda::LayerVersion": functions.LAYER_VERSION,
        "AWS::Lambda::Url": kinds.URL,
        "AWS::SNS::Topic": kinds.TOPIC,
        "AWS::SNS::Subscription": kinds.SUBSCRIPTION,
        "AWS::Events::Rule": kinds.RULE,
        "AWS::Logs::LogGroup": kinds.LOG_GROUP,
        "AWS::Scheduler::Schedule": kinds.SCHEDULE,
        "AWS::IAM::Policy": kinds.POLICY,
        "AWS::IAM::ManagedPolicy": kinds.MANAGED_POLICY,
        "AWS::IAM::Role": kinds.ROLE,
        "AWS::S3::Bucket": kinds.bucket(region),
        "AWS::S3::BucketPolicy": kinds.BUCKET_POLICY,
        "AWS::ApiGatewayV2::Integration": kinds.INTEGRATION,
        "AWS::ApiGatewayV2::Route": kinds.ROUTE,
        "AWS::SQS::Queue": events.QUEUE,
        "AWS::Lambda::EventSourceMapping": events.EVENT_SOURCE_MAPPING,
        "AWS::Lambda::Permission": events.PERMISSION,
        "AWS::ApiGatewayV2::Api": http_apis.HTTP_API,
        "AWS::ApiGatewayV2::Stage": http_apis.HTTP_STAGE,
        "AWS::ApiGateway::RestApi": rest_apis.REST_API,
        "AWS::ApiGateway::Deployment": rest_apis.DEPLOYMENT,
        "AWS::ApiGateway::Stage": rest_apis.STAGE,
    }
    return {kind: kinds.TableHandler(row, call) for kind, row in table.items()}
