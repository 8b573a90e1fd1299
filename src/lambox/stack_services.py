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
from lambox.control.urls import UrlService
from lambox.edge.identity import root_principal
from lambox.edge.models import service_model
from lambox.edge.queryapp import QueryCall
from lambox.errors import ServiceFault
from lambox.invoke.ids import new_request_id
from lambox.services.cloudformation import service_resources as kinds
from lambox.services.cloudformation.resources import Handler, coerce

Operations = Mapping[str, Callable[[Any], Any]]


def _url_operations(urls: UrlService) -> dict[str, Callable[[Any], Any]]:
    """The function URL operations the Lambda API serves, on the params' FunctionName."""
    api = UrlApi(urls)

    def create(p: dict[str, Any]) -> dict[str, Any]:
        return api.view(urls.create(p["FunctionName"], p.get("Qualifier"), p), read=False)

    def update(p: dict[str, Any]) -> dict[str, Any]:
        return api.view(urls.update(p["FunctionName"], p.get("Qualifier"), p), read=False)

    def delete(p: dict[str, Any]) -> dict[str, Any]:
        urls.delete(p["FunctionName"], p.get("Qualifier"))
        return {}

    return {
        "CreateFunctionUrlConfig": create,
        "UpdateFunctionUrlConfig": update,
        "DeleteFunctionUrlConfig": delete,
    }


def service_handlers(
    account: str, urls: UrlService, services: Mapping[str, Operations], iam: Operations
) -> dict[str, Handler]:
    """The handlers of the table's resource types over ``services`` (name -> operations;
    IAM's, which take a ``QueryCall``, apart)."""
    maps: dict[str, Operations] = {**services, "lambda": _url_operations(urls)}
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
        "AWS::Lambda::Url": kinds.URL,
        "AWS::SNS::Topic": kinds.TOPIC,
        "AWS::SNS::Subscription": kinds.SUBSCRIPTION,
        "AWS::Events::Rule": kinds.RULE,
        "AWS::Logs::LogGroup": kinds.LOG_GROUP,
        "AWS::Scheduler::Schedule": kinds.SCHEDULE,
        "AWS::IAM::Policy": kinds.POLICY,
        "AWS::IAM::ManagedPolicy": kinds.MANAGED_POLICY,
        "AWS::ApiGatewayV2::Integration": kinds.INTEGRATION,
        "AWS::ApiGatewayV2::Route": kinds.ROUTE,
    }
    return {kind: kinds.TableHandler(row, call) for kind, row in table.items()}
