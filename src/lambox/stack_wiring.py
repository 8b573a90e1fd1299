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
from collections.abc import AsyncIterator, Mapping
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
from lambox.errors import InvalidParameterValue, ServiceFault
from lambox.invoke.ids import new_request_id
from lambox.logs import LogSink
from lambox.model import State
from lambox.services.cloudformation.nested import NestedStackHandler
from lambox.services.cloudformation.resources import (
    AliasHandler,
    BucketHandler,
    FunctionHandler,
    Handler,
    LambdaCalls,
    LayerVersionHandler,
    RecordedBucketPolicy,
    S3Calls,
    VersionHandler,
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
    handlers, s3_calls = _stack_handlers(
        functions, versions, aliases, layers, s3, objects, logs, arns
    )
    service = CloudFormationService(store, handlers, s3_calls, settings.region, settings.account_id)
    # Nested stacks deploy through the service itself (the handler map is the engine's).
    handlers["AWS::CloudFormation::Stack"] = NestedStackHandler(service)
    service.restore()
    services = {
        **operations,
        "lambda": lambda_operations(urls, mappings, policies),
        "sqs": sqs_operations(queues, settings.base_url),
    }
    handlers.update(service_handlers(settings.account_id, services, iam.operations))
    return service


def _stack_handlers(
    functions: FunctionService,
    versions: VersionService,
    aliases: AliasService,
    layers: LayerService,
    s3: S3Service,
    objects: ObjectStore,
    logs: LogSink,
    arns: Arns,
) -> tuple[dict[str, Handler], S3Calls]:
    """CloudFormation's resource handlers, wired to the Lambda control plane and to S3."""

    async def create_function(params: dict[str, Any]) -> dict[str, Any]:
        return views.configuration(await functions.create(params), arns)

    async def update_code(name: str, params: dict[str, Any]) -> dict[str, Any]:
        return views.configuration(await functions.update_code(name, params), arns)

    async def update_configuration(name: str, params: dict[str, Any]) -> dict[str, Any]:
        return views.configuration(await functions.update_configuration(name, params), arns)

    async def settled(name: str) -> None:
        for _ in range(3000):  # a create or update settles on the next loop iterations
            config = functions.get(name)
            if config.state is State.FAILED:
                raise InvalidParameterValue(f"Function {name} failed: its runtime is missing")
            if config.state is State.ACTIVE and config.last_update_status.value != "InProgress":
                return
            await asyncio.sleep(0.01)
        raise InvalidParameterValue(f"Function {name} did not become Active")

    def bare(function: str) -> str:
        return arns.parse(function)[0]

    def delete_function(name: str) -> None:
        functions.delete(name)
        logs.delete(name)  # as DeleteFunction does

    lambda_calls = LambdaCalls(
        create_function=create_function,
        update_code=update_code,
        update_configuration=update_configuration,
        settled=settled,
        delete_function=delete_function,
        publish_version=lambda name, params: views.configuration(
            versions.publish(name, params), arns
        ),
        delete_version=lambda function, version: versions.delete(bare(function), version),
        create_alias=lambda function, params: views.alias(aliases.create(function, params), arns),
        update_alias=lambda function, name, params: views.alias(
            aliases.update(function, name, params), arns
        ),
        delete_alias=lambda function, name: aliases.delete(bare(function), name),
        publish_layer=layers.publish,
        delete_layer=layers.delete,
    )

    def call(params: dict[str, Any]) -> S3Call:
        async def nothing() -> AsyncIterator[bytes]:
            return
            yield b""

        return S3Call(params, nothing(), new_request_id(), "127.0.0.1", arns.region)

    async def create_bucket(name: str) -> None:
        await s3.create_bucket(call({"Bucket": name}))

    async def delete_bucket(name: str) -> None:
        await s3.delete_bucket(call({"Bucket": name}))

    async def read_object(bucket: str, key: str) -> bytes:
        stored = objects.get(bucket, key)
        if stored is None:
            raise ServiceFault("NoSuchKey", f"s3://{bucket}/{key} does not exist", 404)
        return await asyncio.to_thread(stored.path.read_bytes)

    s3_calls = S3Calls(create_bucket, s3.set_notification, delete_bucket, read_object)
    handlers: dict[str, Handler] = {
        "AWS::Lambda::Function": FunctionHandler(lambda_calls, s3_calls),
        "AWS::Lambda::Version": VersionHandler(lambda_calls),
        "AWS::Lambda::Alias": AliasHandler(lambda_calls),
        "AWS::Lambda::LayerVersion": LayerVersionHandler(lambda_calls, s3_calls),
        "AWS::S3::Bucket": BucketHandler(s3_calls, arns.region),
        "AWS::S3::BucketPolicy": RecordedBucketPolicy(),
    }
    return handlers, s3_calls
