"""The operations of the services whose handlers do not take a plain parameter dict (the
Lambda control plane, S3, SQS), as CloudFormation's table rows call them: each wraps the
very code the service's API runs, so what a stack makes is what the API would have made.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from lambox.api import views
from lambox.api.management import S3Code
from lambox.api.urls import UrlApi
from lambox.arns import Arns
from lambox.control.aliases import AliasService
from lambox.control.code_signing import UNSIGNED, Checked, CodeSigningService
from lambox.control.concurrency import ConcurrencyService
from lambox.control.deletion import FunctionDeletion
from lambox.control.event_sources import EventSourceService
from lambox.control.function_settings import FunctionSettingsService
from lambox.control.functions import FunctionService
from lambox.control.layers import LayerService
from lambox.control.policies import PolicyService
from lambox.control.urls import UrlService
from lambox.control.versions import VersionService
from lambox.errors import ServiceFault
from lambox.invoke.ids import new_request_id
from lambox.services.cloudformation.resources import ReadObject
from lambox.services.s3.calls import Call as S3Call
from lambox.services.s3.service import S3Service
from lambox.services.s3.store import ObjectStore
from lambox.services.sqs.calls import Call
from lambox.services.sqs.queues import Queues
from lambox.stack_services import Operations


def but(p: Mapping[str, Any], *members: str) -> dict[str, Any]:
    """The params without the members the service method takes apart."""
    return {k: v for k, v in p.items() if k not in members}


def function_operations(
    functions: FunctionService,
    versions: VersionService,
    aliases: AliasService,
    layers: LayerService,
    deletion: FunctionDeletion,
    arns: Arns,
    code_signing: CodeSigningService,
    s3_code: S3Code,
) -> Operations:
    """Lambda's function, version, alias, tag and layer operations, on the params'
    FunctionName, Resource or LayerName, answering with the Lambda API's views.
    DeleteFunction is the API's own operation (``FunctionDeletion``), settings and logs
    included. Code given by S3 location is read by ``s3_code``, the API's reader, with its
    signature's check, and a code signing config applies as on the API."""

    def bare(function: str) -> str:
        return arns.parse(function)[0]

    async def package(code: Mapping[str, Any]) -> tuple[dict[str, Any] | None, Checked]:
        if "ZipFile" in code or "S3Bucket" not in code:
            return None, UNSIGNED
        version = code.get("S3ObjectVersion")
        data, checked = await s3_code(
            str(code["S3Bucket"]), str(code.get("S3Key", "")), str(version) if version else None
        )
        return {"ZipFile": data}, checked

    async def create_function(p: dict[str, Any]) -> dict[str, Any]:
        code, checked = await package(p.get("Code") or {})
        if code is not None:
            p = {**p, "Code": code}
        signing = code_signing.config_for_create(p, checked)
        config = await functions.create(p)
        if signing is not None:
            code_signing.bind(config.name, signing)
        return views.configuration(config, arns)

    def list_versions(p: dict[str, Any]) -> dict[str, Any]:
        page, _ = versions.list(p["FunctionName"], None, p.get("MaxItems"))
        return {"Versions": [views.configuration(c, arns, c.version, listing=True) for c in page]}

    def tag(p: dict[str, Any]) -> dict[str, Any]:
        functions.tag(p["Resource"], p["Tags"])
        return {}

    def untag(p: dict[str, Any]) -> dict[str, Any]:
        functions.untag(p["Resource"], list(p["TagKeys"]))
        return {}

    async def update_code(p: dict[str, Any]) -> dict[str, Any]:
        code, checked = await package(p)
        if code is not None:
            p = {**p, **code}
        code_signing.check_update(p["FunctionName"], checked)
        config = await functions.update_code(p["FunctionName"], but(p, "FunctionName"))
        return views.configuration(config, arns)

    async def update_configuration(p: dict[str, Any]) -> dict[str, Any]:
        config = await functions.update_configuration(p["FunctionName"], but(p, "FunctionName"))
        return views.configuration(config, arns)

    def delete_function(p: dict[str, Any]) -> dict[str, Any]:
        deletion.delete(p["FunctionName"], p.get("Qualifier"))
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

    return {
        "CreateFunction": create_function,
        "GetFunctionConfiguration": lambda p: views.configuration(
            functions.get(p["FunctionName"]), arns
        ),
        "UpdateFunctionCode": update_code,
        "UpdateFunctionConfiguration": update_configuration,
        "DeleteFunction": delete_function,
        "PublishVersion": publish_version,
        "ListVersionsByFunction": list_versions,
        "TagResource": tag,
        "UntagResource": untag,
        "CreateAlias": create_alias,
        "UpdateAlias": update_alias,
        "DeleteAlias": delete_alias,
        "PublishLayerVersion": publish_layer,
        "DeleteLayerVersion": delete_layer,
    }


def setting_operations(
    concurrency: ConcurrencyService,
    settings: FunctionSettingsService,
    code_signing: CodeSigningService,
) -> Operations:
    """The function settings Lambda keeps outside its configuration (reserved concurrency,
    recursion, runtime management, code signing), as the Lambda API sets them."""

    def put_concurrency(p: dict[str, Any]) -> dict[str, Any]:
        value = concurrency.put_reserved(p["FunctionName"], but(p, "FunctionName"))
        return {"ReservedConcurrentExecutions": value}

    def delete_concurrency(p: dict[str, Any]) -> dict[str, Any]:
        concurrency.delete_reserved(p["FunctionName"])
        return {}

    def put_recursion(p: dict[str, Any]) -> dict[str, Any]:
        return {"RecursiveLoop": settings.put_recursion(p["FunctionName"], but(p, "FunctionName"))}

    def put_runtime(p: dict[str, Any]) -> dict[str, Any]:
        params = but(p, "FunctionName", "Qualifier")
        return settings.put_runtime(p["FunctionName"], p.get("Qualifier"), params)

    def put_signing(p: dict[str, Any]) -> dict[str, Any]:
        return code_signing.put_function(p["FunctionName"], but(p, "FunctionName"))

    def delete_signing(p: dict[str, Any]) -> dict[str, Any]:
        code_signing.delete_function(p["FunctionName"])
        return {}

    return {
        "PutFunctionConcurrency": put_concurrency,
        "DeleteFunctionConcurrency": delete_concurrency,
        "PutFunctionRecursionConfig": put_recursion,
        "PutRuntimeManagementConfig": put_runtime,
        "PutFunctionCodeSigningConfig": put_signing,
        "DeleteFunctionCodeSigningConfig": delete_signing,
    }


def object_reader(objects: ObjectStore) -> ReadObject:
    """An object of lambox's S3 as bytes (templates, function and layer code)."""

    async def read_object(bucket: str, key: str) -> bytes:
        stored = objects.get(bucket, key)
        if stored is None:
            raise ServiceFault("NoSuchKey", f"s3://{bucket}/{key} does not exist", 404)
        return await asyncio.to_thread(stored.path.read_bytes)

    return read_object


def s3_operations(s3: S3Service, read_object: ReadObject, region: str) -> Operations:
    """S3's bucket operations stacks use, and GetObject answering with the whole Body."""

    def call(params: dict[str, Any]) -> S3Call:
        async def nothing() -> AsyncIterator[bytes]:
            return
            yield b""

        return S3Call(params, nothing(), new_request_id(), "127.0.0.1", region)

    async def create_bucket(p: dict[str, Any]) -> dict[str, Any]:
        await s3.create_bucket(call(p))
        return {}

    async def delete_bucket(p: dict[str, Any]) -> dict[str, Any]:
        await s3.delete_bucket(call(p))
        return {}

    def put_notification(p: dict[str, Any]) -> dict[str, Any]:
        s3.set_notification(p["Bucket"], p["NotificationConfiguration"])
        return {}

    async def get_object(p: dict[str, Any]) -> dict[str, Any]:
        return {"Body": await read_object(p["Bucket"], p["Key"])}

    return {
        "CreateBucket": create_bucket,
        "DeleteBucket": delete_bucket,
        "PutBucketNotificationConfiguration": put_notification,
        "GetObject": get_object,
    }


def trigger_operations(
    urls: UrlService, mappings: EventSourceService, policies: PolicyService
) -> Operations:
    """Lambda's function URL, event source mapping and permission operations, on the
    params' FunctionName or UUID, as the Lambda API runs them."""
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


def sqs_operations(queues: Queues, endpoint: str) -> Operations:
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
