"""The composition root: Settings -> store -> control -> scheduler -> invoke -> api.

The only module that builds the object graph; ``lambox serve`` is its only importer.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import sys
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from lambox.api import views
from lambox.api.app import LamboxApp
from lambox.api.concurrency import ConcurrencyApi
from lambox.api.connection import HeaderLimits, guarded_protocol
from lambox.api.event_config import EventConfigApi
from lambox.api.ingest import IngestApi
from lambox.api.invoke import InvokeEndpoint
from lambox.api.layers import LayersApi
from lambox.api.management import ManagementApi
from lambox.api.releases import ReleasesApi
from lambox.arns import Arns
from lambox.config import Settings
from lambox.control import shapes
from lambox.control.aliases import AliasService
from lambox.control.concurrency import ConcurrencyService
from lambox.control.event_config import EventConfigService
from lambox.control.functions import FunctionService
from lambox.control.layers import LayerService
from lambox.control.runtimes import RuntimeCatalog
from lambox.control.versions import VersionService
from lambox.edge.router import Edge
from lambox.errors import InvalidParameterValue, LamboxError, ServiceFault
from lambox.events.relay import Relay
from lambox.invoke.destinations import Destinations
from lambox.invoke.ids import new_request_id
from lambox.invoke.retries import RetryPolicy
from lambox.invoke.service import InvokeService
from lambox.invoke.worker import AsyncWorker
from lambox.logs import LogSink
from lambox.model import LATEST, FunctionVersion, Invocation, InvocationType, State
from lambox.sandbox.api import SandboxFactory
from lambox.sandbox.backends import sandbox_factory
from lambox.sandbox.dispatch import DispatchingSandboxFactory
from lambox.sandbox.environment import SandboxContext
from lambox.sandbox.launch import launcher_for
from lambox.sandbox.runtime_api_sandbox import RuntimeApiSandboxFactory
from lambox.scheduler.pools import Scheduler
from lambox.services.cloudformation.app import CloudFormationApp
from lambox.services.cloudformation.resources import (
    AliasHandler,
    BucketHandler,
    FunctionHandler,
    Handler,
    LambdaCalls,
    LayerVersionHandler,
    RecordedRole,
    S3Calls,
    VersionHandler,
)
from lambox.services.cloudformation.service import CloudFormationService
from lambox.services.cloudformation.store import StackStore
from lambox.services.s3.app import S3App
from lambox.services.s3.calls import Call as S3Call
from lambox.services.s3.service import S3Service
from lambox.services.s3.store import ObjectStore
from lambox.services.s3.uploads import UploadStore
from lambox.store.code import CodeStore
from lambox.store.event_configs import SqliteEventConfigStore
from lambox.store.events import SqliteEventQueue
from lambox.store.functions import SqliteFunctionStore
from lambox.store.layers import SqliteLayerStore
from lambox.watch import Change, ChangeFeed, Removed

log = logging.getLogger("lambox")


@dataclass
class Server:
    """Every long-lived object of one lambox server, wired together."""

    settings: Settings
    store: SqliteFunctionStore
    code: CodeStore
    feed: ChangeFeed
    functions: FunctionService
    aliases: AliasService
    concurrency: ConcurrencyService
    scheduler: Scheduler
    invoke: InvokeService
    logs: LogSink
    app: LamboxApp
    events: SqliteEventQueue
    worker: AsyncWorker
    event_configs: EventConfigService
    arns: Arns
    objects: ObjectStore
    s3: S3Service
    s3_relay: Relay
    edge: Edge


class Readiness:
    """Change-feed subscriber between the control plane and the sandbox backend: a version
    published ``Pending`` (SnapStart) turns ``Active`` once the backend is ready for it (its
    snapshot taken, or found impossible); a deleted one is let go of."""

    def __init__(self, factory: SandboxFactory, versions: VersionService) -> None:
        self._factory = factory
        self._versions = versions
        self._tasks: set[asyncio.Task[None]] = set()

    def on_change(self, change: Change) -> None:
        if isinstance(change, Removed):
            self._factory.retire(change.name, change.qualifier)
        elif (
            isinstance(change, FunctionVersion)
            and change.config.state is State.PENDING
            and change.config.version != LATEST
        ):
            task = asyncio.get_running_loop().create_task(self._activate(change))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _activate(self, version: FunctionVersion) -> None:
        try:
            await self._factory.prepare(version)
        except Exception:  # prepare never raises; if it did, the version must not hang
            log.exception("getting ready for %s failed", version.arn)
        self._versions.activate(version.config)


def build(settings: Settings) -> Server:
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    arns = Arns(settings.region, settings.account_id)
    store = SqliteFunctionStore(data / "state.db")
    code = CodeStore(data / "code")
    feed = ChangeFeed()
    runtimes = RuntimeCatalog(settings.runtime_map)
    runtimes.announce(r for r in shapes.runtimes() if r not in shapes.DEPRECATED_RUNTIMES)
    layers = LayerService(SqliteLayerStore(data / "layers.db"), code, arns, settings.base_url)
    functions = FunctionService(
        store,
        code,
        feed,
        runtimes,
        arns,
        layers.resolve,
        layer_code=layers.uses_code,
        layer_sizes=layers.unzipped_total,
    )
    versions = VersionService(store, feed, functions, arns)
    concurrency = ConcurrencyService(store, feed, functions, arns, settings.concurrency_limit)
    aliases = AliasService(store, feed, functions, concurrency, arns)
    context = SandboxContext.for_server(settings.host, settings.port)
    python = sandbox_factory(
        settings.sandbox, data, data / "code" / "tree", settings.cpu_mode, context
    )
    factory = DispatchingSandboxFactory(
        python,
        RuntimeApiSandboxFactory(
            path_prefix=str(Path(sys.executable).parent),
            launcher=launcher_for(python, data / "code" / "tree"),
            context=context,
        ),
    )
    scheduler = Scheduler(
        factory,
        keep_alive=settings.keep_alive,
        concurrency_limit=settings.concurrency_limit,
        sandbox_limit=settings.sandbox_limit,
        wait_queue=settings.wait_queue,
    )
    logs = LogSink(data / "logs", settings.log_retention_bytes)
    events = SqliteEventQueue(
        data / "events.db", settings.async_queue_limit, settings.events_synchronous
    )
    invoke = InvokeService(scheduler, logs, arns, events)
    event_configs = EventConfigService(SqliteEventConfigStore(data / "state.db"), functions, arns)
    policy = RetryPolicy(settings.async_retry_delay, settings.async_throttle_backoff)
    worker = AsyncWorker(
        events,
        invoke,
        event_configs.lookup,
        Destinations(events, arns),
        arns,
        policy,
        settings.async_concurrency,
    )
    feed.subscribe(invoke.on_change)
    feed.subscribe(scheduler.on_change)
    feed.subscribe(event_configs.on_change)
    feed.subscribe(worker.on_change)
    feed.subscribe(Readiness(factory, versions).on_change)
    routes = [
        *ManagementApi(
            functions, versions, concurrency, code, logs, arns, settings.base_url
        ).routes(),
        *ReleasesApi(versions, aliases, arns).routes(),
        *ConcurrencyApi(concurrency, invoke, arns).routes(),
        *EventConfigApi(event_configs, worker, functions, arns).routes(),
        *IngestApi(invoke).routes(),
        *LayersApi(layers).routes(),
    ]
    app = LamboxApp(InvokeEndpoint(invoke), routes)

    async def deliver(function_arn: str, payload: bytes) -> None:
        name, qualifier = arns.parse(function_arn)
        event = Invocation(new_request_id(), payload, InvocationType.EVENT, qualifier=qualifier)
        await invoke.invoke(name, event)

    def function_exists(function_arn: str) -> bool:
        try:
            functions.get(arns.parse(function_arn)[0])
        except LamboxError:
            return False
        return True

    objects = ObjectStore(data / "s3")
    s3_relay = Relay(objects, deliver, "s3")
    s3 = S3Service(objects, UploadStore(data / "s3"), function_exists, s3_relay.kick)
    cloudformation = CloudFormationService(
        StackStore(data / "cloudformation.db"),
        *_stack_handlers(functions, versions, aliases, layers, s3, objects, logs, arns),
        settings.region,
        settings.account_id,
    )
    cloudformation.restore()
    edge = Edge(
        app,
        {"s3": S3App(s3, settings.region), "cloudformation": CloudFormationApp(cloudformation)},
    )
    return Server(
        settings,
        store,
        code,
        feed,
        functions,
        aliases,
        concurrency,
        scheduler,
        invoke,
        logs,
        app,
        events,
        worker,
        event_configs,
        arns,
        objects,
        s3,
        s3_relay,
        edge,
    )


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
        "AWS::IAM::Role": RecordedRole(arns.account_id),
    }
    return handlers, s3_calls


def zip_directory(path: Path) -> bytes:
    """The directory's files as a zip, as a user would upload them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            if (
                file.is_file()
                and file.name not in ("function.json", "bucket.json", ".vendored")
                and "__pycache__" not in file.parts
            ):
                zf.write(file, file.relative_to(path).as_posix())
    return buf.getvalue()


async def deploy_examples(server: Server, root: Path) -> list[str]:
    """Create (or update the code of) each ``examples/<dir>`` that has a function.json."""
    deployed = []
    for spec_path in sorted(root.glob("*/function.json")):
        spec: dict[str, Any] = json.loads(spec_path.read_text())
        blob = zip_directory(spec_path.parent)
        name = spec["FunctionName"]
        try:
            try:
                server.functions.get(name)
            except LamboxError:
                await server.functions.create({**spec, "Code": {"ZipFile": blob}})
            else:
                await server.functions.update_code(name, {"ZipFile": blob})
        except LamboxError as exc:
            log.error("example %s not deployed: %s", name, exc.message)
            continue
        deployed.append(name)
        bucket_spec = spec_path.parent / "bucket.json"
        if bucket_spec.exists():
            await _example_bucket(server, json.loads(bucket_spec.read_text()))
    return deployed


async def _example_bucket(server: Server, spec: dict[str, Any]) -> None:
    """An example's bucket and the notification that triggers it (function names become
    the functions' ARNs)."""
    name = spec["Bucket"]
    server.objects.create_bucket(name, server.settings.region)
    config = spec.get("NotificationConfiguration", {})
    for rule in config.get("LambdaFunctionConfigurations", []):
        rule["LambdaFunctionArn"] = server.arns.function(rule["LambdaFunctionArn"])
    try:
        server.s3.set_notification(name, config)
    except LamboxError as exc:
        log.error("example bucket %s: notification not set: %s", name, exc.message)


def run(settings: Settings, examples: Path | None = None) -> None:
    """Serve until interrupted (``lambox serve``)."""
    server = build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        restored = server.functions.restore()
        server.aliases.restore()
        server.concurrency.restore()
        reaper = asyncio.get_running_loop().create_task(server.scheduler.run_reaper())
        await server.worker.start()
        server.s3_relay.start()
        log.info(
            "lambox on %s, data in %s, %d functions", settings.base_url, settings.data_dir, restored
        )
        if examples is not None:
            names = await deploy_examples(server, examples)
            for name in names:
                bucket = examples / name / "bucket.json"
                if bucket.exists():
                    log.warning(
                        "example deployed: aws --endpoint-url %s s3 cp photo.jpg"
                        " s3://%s/images/photo.jpg, then s3 ls s3://%s/thumbnails/",
                        settings.base_url,
                        *[json.loads(bucket.read_text())["Bucket"]] * 2,
                    )
                    continue
                log.warning(
                    "example deployed: aws --endpoint-url %s lambda invoke --function-name %s"
                    " --payload '{}' --cli-binary-format raw-in-base64-out out.json",
                    settings.base_url,
                    name,
                )
        try:
            yield
        finally:
            reaper.cancel()
            await server.s3_relay.close()
            await server.worker.close()
            await server.invoke.close()
            await server.scheduler.close()
            server.logs.close()
            server.events.close()
            server.event_configs.close()
            server.store.close()
            server.objects.close()

    server.app.set_lifespan(lifespan)
    limits = HeaderLimits(
        settings.header_timeout, settings.header_limit_bytes, settings.header_limit_count
    )
    config = uvicorn.Config(
        server.edge,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=guarded_protocol(limits),
        ws="none",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=settings.idle_timeout,
        proxy_headers=False,
        server_header=False,
    )
    uvicorn.Server(config).run()
