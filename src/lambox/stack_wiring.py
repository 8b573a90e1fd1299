"""How CloudFormation is wired into a server (called by ``server.py`` on first use): the
resource handlers that provision stacks through the Lambda control plane, S3, SQS, event
source mappings, permissions, API Gateway and the services with an operation table, and
the service itself over the stack store.

``server.py`` builds it on CloudFormation's first request, an example stack, or at start-up
when a deployment was interrupted: the engine, its handlers and YAML were a tenth of the
time to a server's first answer, for a service most servers never use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from lambox.api import views
from lambox.arns import Arns
from lambox.config import Settings
from lambox.control.aliases import AliasService
from lambox.control.event_sources import EventSourceService
from lambox.control.functions import FunctionService
from lambox.control.layers import LayerService
from lambox.control.policies import PolicyService
from lambox.control.urls import UrlService
from lambox.control.versions import VersionService
from lambox.errors import ServiceFault
from lambox.invoke.ids import new_request_id
from lambox.logs import LogSink
from lambox.services.cloudformation.nested import NestedStackHandler
from lambox.services.cloudformation.resources import (
    Handler,
    ReadObject,
)
from lambox.services.cloudformation.service import CloudFormationService
from lambox.services.cloudformation.store import StackStore
from lambox.services.iam.service import IamService
from lambox.services.s3.calls import Call as S3Call
from lambox.services.s3.service import S3Service
from lambox.services.s3.store import ObjectStore
from lambox.services.sqs.queues import Queues
from lambox.stack_services import Operations, lambda_operations, service_handlers, sqs_operations


def cloudformation(
    store: StackStore,
    settings: Settings,
    *,
    functions: FunctionService,
    versions: VersionService,
    aliases: AliasService,
    layers: LayerService,
    s3: S3Service,
    objects: ObjectStore,
    logs: LogSink,
    arns: Arns,
    iam: IamService,
    queues: Queues,
    mappings: EventSourceService,
    policies: PolicyService,
    urls: UrlService,
    operations: Mapping[str, Operations],
) -> CloudFormationService:
    """The CloudFormation service over ``store``, with every resource handler; a deployment
    a crash interrupted is marked failed on its stack (``restore``). ``operations``: the
    operation tables of the services whose resources a template may declare generically
    (``stack_services``)."""
    read_object, stack_operations = _stack_operations(
        functions, versions, aliases, layers, s3, objects, logs, arns
    )
    handlers: dict[str, Handler] = {}
    service = CloudFormationService(
        store, handlers, read_object, settings.region, settings.account_id
    )
    # Nested stacks deploy through the service itself (the handler map is the engine's).
    handlers["AWS::CloudFormation::Stack"] = NestedStackHandler(service)
    service.restore()
    services = {
        **operations,
        "lambda": {**lambda_operations(urls, mappings, policies), **stack_operations["lambda"]},
        "s3": stack_operations["s3"],
        "sqs": sqs_operations(queues, settings.base_url),
    }
    handlers.update(
        service_handlers(settings.account_id, settings.region, services, iam.operations)
    )
    return service


def _stack_operations(
    functions: FunctionService,
    versions: VersionService,
    aliases: AliasService,
    layers: LayerService,
    s3: S3Service,
    objects: ObjectStore,
    logs: LogSink,
    arns: Arns,
) -> tuple[ReadObject, dict[str, Operations]]:
    """S3 as the service reads templates, and the Lambda control plane's and S3's
    operations that the table's rows call (function, version, alias, layer, bucket)."""

    def bare(function: str) -> str:
        return arns.parse(function)[0]

    def but(p: Mapping[str, Any], *members: str) -> dict[str, Any]:
        return {k: v for k, v in p.items() if k not in members}

    async def create_function(p: dict[str, Any]) -> dict[str, Any]:
        return views.configuration(await functions.create(p), arns)

    async def update_code(p: dict[str, Any]) -> dict[str, Any]:
        config = await functions.update_code(p["FunctionName"], but(p, "FunctionName"))
        return views.configuration(config, arns)

    async def update_configuration(p: dict[str, Any]) -> dict[str, Any]:
        config = await functions.update_configuration(p["FunctionName"], but(p, "FunctionName"))
        return views.configuration(config, arns)

    def delete_function(p: dict[str, Any]) -> dict[str, Any]:
        if p.get("Qualifier"):
            versions.delete(bare(p["FunctionName"]), p["Qualifier"])
        else:
            functions.delete(p["FunctionName"])
            logs.delete(p["FunctionName"])  # as DeleteFunction does
        return {}

    def publish_version(p: dict[str, Any]) -> dict[str, Any]:
        return views.configuration(
            versions.publish(p["FunctionName"], but(p, "FunctionName")), arns
        )

    def create_alias(p: dict[str, Any]) -> dict[str, Any]:
        return views.alias(aliases.create(p["FunctionName"], but(p, "FunctionName")), arns)

    def update_alias(p: dict[str, Any]) -> dict[str, Any]:
        params = but(p, "FunctionName", "Name")
        return views.alias(aliases.update(p["FunctionName"], p["Name"], params), arns)

    def delete_alias(p: dict[str, Any]) -> dict[str, Any]:
        aliases.delete(bare(p["FunctionName"]), p["Name"])
        return {}

    async def publish_layer(p: dict[str, Any]) -> dict[str, Any]:
        return await layers.publish(p["LayerName"], but(p, "LayerName"))

    def delete_layer(p: dict[str, Any]) -> dict[str, Any]:
        layers.delete(p["LayerName"], p["VersionNumber"])
        return {}

    lambda_operations: dict[str, Callable[[Any], Any]] = {
        "CreateFunction": create_function,
        "GetFunctionConfiguration": lambda p: views.configuration(
            functions.get(p["FunctionName"]), arns
        ),
        "UpdateFunctionCode": update_code,
        "UpdateFunctionConfiguration": update_configuration,
        "DeleteFunction": delete_function,
        "PublishVersion": publish_version,
        "CreateAlias": create_alias,
        "UpdateAlias": update_alias,
        "DeleteAlias": delete_alias,
        "PublishLayerVersion": publish_layer,
        "DeleteLayerVersion": delete_layer,
    }

    def call(params: dict[str, Any]) -> S3Call:
        async def nothing() -> AsyncIterator[bytes]:
            return
            yield b""

        return S3Call(params, nothing(), new_request_id(), "127.0.0.1", arns.region)

    async def create_bucket(p: dict[str, Any]) -> dict[str, Any]:
        await s3.create_bucket(call(p))
        return {}

    async def delete_bucket(p: dict[str, Any]) -> dict[str, Any]:
        await s3.delete_bucket(call(p))
        return {}

    def put_notification(p: dict[str, Any]) -> dict[str, Any]:
        s3.set_notification(p["Bucket"], p["NotificationConfiguration"])
        return {}

    async def read_object(bucket: str, key: str) -> bytes:
        stored = objects.get(bucket, key)
        if stored is None:
            raise ServiceFault("NoSuchKey", f"s3://{bucket}/{key} does not exist", 404)
        return await asyncio.to_thread(stored.path.read_bytes)

    async def get_object(p: dict[str, Any]) -> dict[str, Any]:
        return {"Body": await read_object(p["Bucket"], p["Key"])}

    s3_operations: dict[str, Callable[[Any], Any]] = {
        "CreateBucket": create_bucket,
        "DeleteBucket": delete_bucket,
        "PutBucketNotificationConfiguration": put_notification,
        "GetObject": get_object,
    }
    return read_object, {"lambda": lambda_operations, "s3": s3_operations}
