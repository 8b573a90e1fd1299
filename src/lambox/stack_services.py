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

from lambox.api.urls import UrlApi
from lambox.control.event_sources import EventSourceService
from lambox.control.policies import PolicyService
from lambox.control.urls import UrlService
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
from lambox.services.sqs.calls import Call
from lambox.services.sqs.queues import Queues

Operations = Mapping[str, Callable[[Any], Any]]


def lambda_operations(
    urls: UrlService, mappings: EventSourceService, policies: PolicyService
) -> dict[str, Callable[[Any], Any]]:
    """The Lambda operations stacks use (function URLs, event source mappings, permissions),
    on the params' FunctionName or UUID, as the Lambda API runs them."""
    api = UrlApi(urls)

    def create_url(p: dict[str, Any]) -> dict[str, Any]:
        return api.view(urls.create(p["FunctionName"], p.get("Qualifier"), p), read=False)

    def update_url(p: dict[str, Any]) -> dict[str, Any]:
        return api.view(urls.update(p["FunctionName"], p.get("Qualifier"), p), read=False)

    def delete_url(p: dict[str, Any]) -> dict[str, Any]:
        urls.delete(p["FunctionName"], p.get("Qualifier"))
        return {}

    def update_mapping(p: dict[str, Any]) -> dict[str, Any]:
        params = {k: v for k, v in p.items() if k != "UUID"}
        return mappings.view(mappings.update(p["UUID"], params))

    def delete_mapping(p: dict[str, Any]) -> dict[str, Any]:
        mappings.delete(p["UUID"])
        return {}

    def add_permission(p: dict[str, Any]) -> dict[str, Any]:
        return {"Statement": policies.add(p["FunctionName"], p.get("Qualifier"), p)}

    def remove_permission(p: dict[str, Any]) -> dict[str, Any]:
        policies.remove(p["FunctionName"], p["StatementId"], p.get("Qualifier"), None)
        return {}

    return {
        "CreateFunctionUrlConfig": create_url,
        "UpdateFunctionUrlConfig": update_url,
        "DeleteFunctionUrlConfig": delete_url,
        "CreateEventSourceMapping": lambda p: mappings.view(mappings.create(p)),
        "UpdateEventSourceMapping": update_mapping,
        "DeleteEventSourceMapping": delete_mapping,
        "AddPermission": add_permission,
        "RemovePermission": remove_permission,
    }


def sqs_operations(queues: Queues, endpoint: str) -> dict[str, Callable[[Any], Any]]:
    """SQS's queue operations, as sent by CloudFormation to ``endpoint`` (queue URLs are
    built on it)."""

    def sent(handler: Callable[[Call], Any]) -> Callable[[Any], Any]:
        return lambda p: handler(Call(p, endpoint, "cloudformation"))

    return {
        "CreateQueue": sent(queues.create_queue),
        "GetQueueAttributes": sent(queues.get_queue_attributes),
        "SetQueueAttributes": sent(queues.set_queue_attributes),
        "DeleteQueue": sent(queues.delete_queue),
    }


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
