"""The composition root: Settings -> store -> control -> scheduler -> invoke -> api.

The only module that builds the object graph; ``lambox serve`` is its only importer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import hashlib
import io
import json
import logging
import re
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette

from lambox import lineage
from lambox.api.app import LamboxApp
from lambox.api.capacity import CapacityApi
from lambox.api.code_signing import CodeSigningApi
from lambox.api.concurrency import ConcurrencyApi
from lambox.api.connection import HeaderLimits, guarded_protocol
from lambox.api.cost import CostApi
from lambox.api.event_config import EventConfigApi
from lambox.api.event_sources import EventSourceApi
from lambox.api.function_settings import FunctionSettingsApi
from lambox.api.function_urls import FunctionUrlEndpoint
from lambox.api.ingest import IngestApi
from lambox.api.invoke import PREFIX as INVOKE_PREFIX
from lambox.api.invoke import InvokeEndpoint, is_invoke
from lambox.api.invoke_async import InvokeAsyncApi
from lambox.api.layers import LayersApi
from lambox.api.management import ManagementApi
from lambox.api.policies import PolicyApi
from lambox.api.releases import ReleasesApi
from lambox.api.streaming import StreamInvokeEndpoint
from lambox.api.urls import UrlApi
from lambox.arns import Arns
from lambox.config import Settings
from lambox.control.aliases import AliasService
from lambox.control.capacity import CapacityService
from lambox.control.capacity import ceilings as scaling_ceilings
from lambox.control.code_signing import CodeSigningService
from lambox.control.concurrency import ConcurrencyService
from lambox.control.deletion import FunctionDeletion
from lambox.control.event_config import EventConfigService
from lambox.control.event_sources import EventSourceService
from lambox.control.function_settings import FunctionSettingsService
from lambox.control.functions import FunctionService
from lambox.control.layers import LayerService
from lambox.control.policies import PolicyService
from lambox.control.runtimes import RuntimeCatalog
from lambox.control.urls import UrlService
from lambox.control.versions import VersionService
from lambox.deferred import Deferred
from lambox.durable_wiring import Durable, build_durable
from lambox.edge import triggers
from lambox.edge.auth import Authenticator
from lambox.edge.authorize import Authorizer
from lambox.edge.identity import ChainKeyring, Credential, StaticKeyring, root_principal
from lambox.edge.lambda_actions import LambdaActions
from lambox.edge.lazy import LazyApp
from lambox.edge.public import PublicRequests, ingest_token
from lambox.edge.queryapp import QueryApp, QueryCall
from lambox.edge.router import EXECUTE_API, FUNCTION_URL, URL_HOST_MARK, Edge
from lambox.edge.serviceapp import JsonServiceApp, RestJsonServiceApp
from lambox.edge.url_auth import UrlGuard
from lambox.errors import LamboxError, ServiceFault, TooManyRequests
from lambox.events.clock import ScaledClock
from lambox.events.delivery import Deliverer, Policy
from lambox.events.relay import Relay
from lambox.events.sqs_poller import SqsPollers, Throttled
from lambox.events.ticker import Delivery, Ticker
from lambox.invoke.destinations import Destinations
from lambox.invoke.ids import new_request_id
from lambox.invoke.retries import RetryPolicy
from lambox.invoke.service import SYNC_PAYLOAD_LIMIT, InitSpill, InvokeService
from lambox.invoke.worker import AsyncWorker
from lambox.listening import ListeningServer
from lambox.log_groups import LogGroups
from lambox.logs import LogSink
from lambox.metrics.aggregator import Aggregator
from lambox.metrics.endpoint import PrometheusEndpoint
from lambox.metrics.recorder import Recorder
from lambox.metrics.store import MetricStore
from lambox.model import LATEST, FunctionVersion, Invocation, InvocationType, State
from lambox.sandbox.api import SandboxFactory
from lambox.sandbox.backends import Probe, sandbox_factory, sandbox_uids
from lambox.sandbox.dispatch import DispatchingSandboxFactory
from lambox.sandbox.environment import SandboxContext
from lambox.sandbox.launch import launcher_for
from lambox.sandbox.runtime_api_sandbox import RuntimeApiSandboxFactory
from lambox.scheduler.capacity import cores, default_sandbox_limit, mem_total_kib
from lambox.scheduler.pools import Scheduler
from lambox.services.apigatewayv2.app import control_app
from lambox.services.apigatewayv2.gateway import HttpApiGateway
from lambox.services.apigatewayv2.rest import RestApiService
from lambox.services.apigatewayv2.rest_updates import RestApiUpdates
from lambox.services.apigatewayv2.service import HttpApiService
from lambox.services.apigatewayv2.store import ApiStore
from lambox.services.apigatewayv2.updates import HttpApiUpdates
from lambox.services.cloudformation.store import StackStore
from lambox.services.events.schedule import RuleTimetable
from lambox.services.events.senders import TargetSender
from lambox.services.events.service import EventsService
from lambox.services.events.store import EventsStore
from lambox.services.events.store import OutboxRecord as EventsOutboxRecord
from lambox.services.iam import root as root_key
from lambox.services.iam.execution import LAMBDA_TRUST, ExecutionRoles, trusts_service
from lambox.services.iam.service import IamService
from lambox.services.iam.store import IamStore
from lambox.services.s3.app import S3App
from lambox.services.s3.calls import Call as S3Call
from lambox.services.s3.service import S3Service
from lambox.services.s3.store import ObjectStore
from lambox.services.s3.uploads import UploadStore
from lambox.services.scheduler.service import SchedulerService
from lambox.services.scheduler.store import SchedulerStore
from lambox.services.scheduler.timetable import ScheduleTimetable
from lambox.services.sns.app import SnsApp
from lambox.services.sns.http import HttpDeliveries
from lambox.services.sns.service import SnsService
from lambox.services.sns.store import TopicStore
from lambox.services.sqs.app import SqsApp, traced_message
from lambox.services.sqs.calls import Call
from lambox.services.sqs.consumer import QueueConsumer
from lambox.services.sqs.messages import Messages
from lambox.services.sqs.moves import Moves
from lambox.services.sqs.queues import Queues
from lambox.services.sqs.service import SqsService
from lambox.services.sqs.store import QueueStore
from lambox.services.sqs.waiters import Waiters
from lambox.services.sts.service import StsService
from lambox.signer_wiring import Signer
from lambox.store.capacity_providers import SqliteCapacityProviderStore
from lambox.store.code import CodeStore
from lambox.store.code_signing import SqliteCodeSigningStore
from lambox.store.event_configs import SqliteEventConfigStore
from lambox.store.event_sources import SqliteMappingStore
from lambox.store.events import SqliteEventQueue
from lambox.store.function_settings import SqliteSettingsStore
from lambox.store.functions import SqliteFunctionStore
from lambox.store.layers import SqliteLayerStore
from lambox.store.policies import SqlitePolicyStore
from lambox.store.urls import SqliteUrlStore
from lambox.tracing.otlp import tracer
from lambox.watch import Change, ChangeFeed, Removed

if TYPE_CHECKING:
    from lambox.services.cloudformation.app import CloudFormationApp
    from lambox.services.cloudformation.service import CloudFormationService
    from lambox.services.cloudwatch.app import CloudWatchApp
    from lambox.services.logs.service import LogsService

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
    policies: PolicyService
    urls: UrlService
    arns: Arns
    objects: ObjectStore
    s3: S3Service
    s3_relay: Relay
    http_apis: HttpApiService
    rest_apis: RestApiService
    queues: QueueStore
    sqs: SqsService
    mappings: EventSourceService
    pollers: SqsPollers
    topics: TopicStore
    sns_relay: Relay
    sns_http: HttpDeliveries
    edge: Edge
    iam: IamService
    iam_store: IamStore
    eventbridge: EventsService
    eventbridge_store: EventsStore
    eventbridge_relay: Relay
    rule_ticker: Ticker
    schedules: SchedulerService
    scheduler_store: SchedulerStore
    schedule_ticker: Ticker
    metrics: Aggregator
    durable: Durable | None = None
    cloudformation: Deferred[CloudFormationService] | None = None
    signer: Signer | None = None
    code_signing: CodeSigningService | None = None
    sandboxes: SandboxFactory | None = None
    # The uids a connection is a sandbox's from, in the open posture (api.connection).
    sandbox_uids: frozenset[int] = frozenset()


class Readiness:
    """Change-feed subscriber between the control plane and the sandbox backend: a version
    published ``Pending`` (SnapStart) turns ``Active`` once the backend is ready for it (its
    snapshot taken, or found impossible for a reason of lambox's), ``Failed`` when the
    function made its snapshot fail (its init raised, exited or timed out); a deleted one is
    let go of."""

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
        failure = None
        try:
            failure = await self._factory.prepare(version)
        except Exception:  # prepare never raises; if it did, the version must not hang
            log.exception("getting ready for %s failed", version.arn)
        if failure is None:
            self._versions.activate(version.config)
        else:
            self._versions.fail(version.config, failure.reason_code, failure.reason)


def build(settings: Settings, probe: Probe | None = None) -> Server:
    """Every object of a server with ``settings`` (``probe``: the sandbox backend's
    namespace probe, when ``lambox serve`` started it already)."""
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    arns = Arns(settings.region, settings.account_id)
    store = SqliteFunctionStore(data / "state.db")
    code = CodeStore(data / "code")
    feed = ChangeFeed()
    runtimes = RuntimeCatalog(settings.runtime_map)
    runtimes.announce()
    iam_store = IamStore(data / "iam.db", settings.account_id)
    roles = ExecutionRoles(iam_store, settings.strict_auth, settings.role_session)
    layers = LayerService(SqliteLayerStore(data / "layers.db"), code, arns, settings.base_url)
    functions = FunctionService(
        store,
        code,
        feed,
        runtimes,
        arns,
        roles.check,
        layers.resolve,
        layer_code=layers.uses_code,
        layer_sizes=layers.unzipped_total,
    )
    versions = VersionService(store, feed, functions, arns)
    settings_store = SqliteSettingsStore(data / "state.db")
    concurrency = ConcurrencyService(
        store,
        feed,
        functions,
        arns,
        settings.concurrency_limit,
        ceilings=functools.partial(scaling_ceilings, settings_store),
    )
    capacity = CapacityService(
        SqliteCapacityProviderStore(data / "state.db"),
        settings_store,
        functions,
        store,
        arns,
        concurrency.publish_limits,
    )
    function_settings = FunctionSettingsService(settings_store, functions, arns)
    code_signing = CodeSigningService(
        SqliteCodeSigningStore(data / "state.db"), settings_store, functions, arns
    )
    aliases = AliasService(store, feed, functions, concurrency, arns)
    logs = LogSink(data / "logs", settings.log_retention_bytes)
    # DeleteFunction, one operation for the Lambda API and the stacks.
    deletion = FunctionDeletion(functions, versions, function_settings, arns, logs.delete)
    context = dataclasses.replace(
        SandboxContext.for_server(settings.host, settings.port),
        role_credentials=roles.credentials,
        init_spill=InitSpill(logs, arns),
    )
    python = sandbox_factory(
        settings.sandbox,
        data,
        data / "code" / "tree",
        settings.cpu_mode,
        context,
        settings.init_timeout,
        probe,
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
        max_age=settings.role_session / 2,
        concurrency_limit=settings.concurrency_limit,
        sandbox_limit=settings.sandbox_limit
        or default_sandbox_limit(settings.concurrency_limit, mem_total_kib(), cores()),
        wait_queue=settings.wait_queue,
    )
    events = SqliteEventQueue(
        data / "events.db", settings.async_queue_limit, settings.events_synchronous
    )
    recorder = Recorder()
    metrics = Aggregator(
        recorder,
        MetricStore(data / "metrics.db", settings.metrics_retention_days),
        settings.metrics_flush_interval,
    )
    invoke = InvokeService(
        scheduler,
        logs,
        arns,
        events,
        tracer(settings),
        recorder,
        loop_allowed=function_settings.loop_allowed,
    )
    event_configs = EventConfigService(SqliteEventConfigStore(data / "state.db"), functions, arns)
    policies = PolicyService(SqlitePolicyStore(data / "state.db"), functions, aliases, arns)
    urls = UrlService(SqliteUrlStore(data / "state.db"), functions, aliases, arns, settings.port)
    policy = RetryPolicy(settings.async_retry_delay, settings.async_throttle_backoff)
    worker = AsyncWorker(
        events,
        invoke,
        event_configs.lookup,
        Destinations(events, arns),
        arns,
        policy,
        settings.async_concurrency,
        recorder,
    )
    feed.subscribe(invoke.on_change)
    invoke.load_with(functions.load)
    feed.subscribe(scheduler.on_change)
    feed.subscribe(event_configs.on_change)
    feed.subscribe(policies.on_change)
    feed.subscribe(urls.on_change)
    feed.subscribe(worker.on_change)
    feed.subscribe(Readiness(factory, versions).on_change)
    log_groups = LogGroups(logs)
    feed.subscribe(log_groups.on_change)
    queues = QueueStore(data / "sqs")
    waiters = Waiters()
    queue_service = Queues(queues, settings.region, settings.account_id, waiters)
    messages = Messages(queue_service, waiters)
    sqs = SqsService(queue_service, messages, Moves(queue_service, waiters))
    consumer = QueueConsumer(queue_service, messages)

    async def invoke_batch(
        name: str, qualifier: str | None, payload: bytes, trace: str | None
    ) -> tuple[bool, bytes]:
        event = Invocation(new_request_id(), payload, qualifier=qualifier, trace_header=trace)
        try:
            result = await invoke.invoke(name, event)
        except TooManyRequests as exc:
            raise Throttled(str(exc)) from exc
        except LamboxError as exc:
            log.warning("event source batch for %s not invoked: %s", name, exc.message)
            return False, b""
        return result.function_error is None, result.payload

    iam = IamService(iam_store)
    sts = StsService(iam_store, iam.document)

    def resource_policy(function_arn: str) -> str | None:
        """The function's resource policy (AddPermission) the authorizer weighs."""
        try:
            name, qualifier = arns.parse(function_arn)
        except LamboxError:
            return None
        document = policies.lookup(name, qualifier)
        return None if document is None else json.dumps(document)

    authorizer = Authorizer(
        iam.policies_for,
        resource_policy=resource_policy,
        enforced=settings.iam_enforced,
        limits_of=iam.limits_for,
        services_enforced=settings.service_grants_enforced,
    )

    def function_capacity(name: str) -> int:
        reserved = concurrency.get_reserved(name)
        return concurrency.unreserved() if reserved is None else reserved

    pollers = SqsPollers(consumer, invoke_batch, function_capacity, settings.region, recorder)
    mappings = EventSourceService(
        SqliteMappingStore(data / "state.db"),
        functions,
        arns,
        consumer.exists,
        consumer.is_fifo,
        pollers.apply,
        pollers.remove,
        triggers.role_allows(authorizer, settings.account_id),
    )
    # S3's objects and Signer's keys before the Lambda API: it reads code from S3 and
    # checks its signature.
    objects = ObjectStore(data / "s3")
    clock = ScaledClock(settings.clock_speed, settings.clock_offset)
    signer = Signer.open(data, clock.now)
    routes = [
        *EventSourceApi(mappings).routes(),
        *ManagementApi(
            functions,
            versions,
            concurrency,
            code,
            logs,
            arns,
            settings.base_url,
            function_settings,
            code_url_signer(settings) if settings.strict_auth else None,
            deletion=deletion,
            code_signing=code_signing,
            layer_storage=layers.stored_code_size,
            capacity=capacity,
            s3_code=signer.s3_code(objects),
        ).routes(),
        *CapacityApi(capacity).routes(),
        *FunctionSettingsApi(function_settings).routes(),
        *CodeSigningApi(code_signing).routes(),
        *ReleasesApi(versions, aliases, arns).routes(),
        *ConcurrencyApi(concurrency, invoke, arns).routes(),
        *EventConfigApi(event_configs, worker, functions, arns).routes(),
        *PolicyApi(policies).routes(),
        *UrlApi(urls).routes(),
        *IngestApi(invoke).routes(),
        *CostApi(metrics, invoke).routes(),
        *InvokeAsyncApi(invoke).routes(),
        *LayersApi(layers).routes(),
    ]
    invoke_endpoint = InvokeEndpoint(invoke)
    app = LamboxApp(
        invoke_endpoint, routes, StreamInvokeEndpoint(invoke, settings.stream_response_limit)
    )

    async def deliver(function_arn: str, payload: bytes, trace: str | None = None) -> None:
        name, qualifier = arns.parse(function_arn)
        event = Invocation(
            new_request_id(),
            payload,
            InvocationType.EVENT,
            qualifier=qualifier,
            # An event a relay delivers continues the chain it was caused in.
            trace_header=trace if trace is not None else lineage.current(),
        )
        await invoke.invoke(name, event)

    def function_exists(function_arn: str) -> bool:
        try:
            functions.get(arns.parse(function_arn)[0])
        except LamboxError:
            return False
        return True

    s3_relay = Relay(
        objects,
        triggers.gated(deliver, authorizer, triggers.S3, triggers.s3_source, settings.account_id),
        "s3",
    )
    s3 = S3Service(
        objects,
        UploadStore(data / "s3"),
        function_exists,
        s3_relay.kick,
        lambda arn, bucket: authorizer.service_permits(
            arn, triggers.S3, f"arn:aws:s3:::{bucket}", settings.account_id
        ),
    )
    eventbridge_store = EventsStore(data / "eventbridge" / "events.db")

    async def send_message(params: dict[str, Any]) -> Any:
        # The chain of the event being delivered goes on with the message (loop detection).
        params = traced_message(params, lineage.current())
        return await messages.send_message(Call(params, settings.base_url, "events"))

    async def publish(params: dict[str, Any]) -> Any:
        return await sns.publish(params)

    async def dead_letter(queue_arn: str, body: str, attributes: dict[str, str]) -> None:
        shown = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v}
        name = queue_arn.rsplit(":", 1)[-1]
        url = f"/{settings.account_id}/{name}"
        await send_message({"QueueUrl": url, "MessageBody": body, "MessageAttributes": shown})

    def retry_later(arn: str, payload: bytes, policy: Policy, due: float) -> None:
        eventbridge_store.retry_later(arn, payload, policy.dump(), due)
        eventbridge_relay.kick()

    sender = TargetSender(settings.account_id, send_message, publish, deliver)
    deliverer = Deliverer(sender.send, dead_letter, retry_later, time.time)

    async def deliver_record(record: EventsOutboxRecord) -> None:
        with lineage.tracing(record.trace):
            await deliverer.deliver(record.target, record.payload, Policy.load(record.meta))

    async def deliver_target(delivery: Delivery) -> None:
        await deliverer.deliver(delivery.target, delivery.payload, delivery.policy)

    eventbridge_relay = Relay(
        eventbridge_store,
        deliver,
        "events",
        deliver_record=deliver_record,
        next_due=eventbridge_store.next_due,
    )
    tickers: list[Ticker] = []

    def reschedule() -> None:
        for ticker in tickers:
            ticker.kick()

    eventbridge = EventsService(
        eventbridge_store,
        settings.region,
        settings.account_id,
        clock.now,
        eventbridge_relay.kick,
        reschedule,
        lambda arn, rule: authorizer.service_permits(
            arn, triggers.EVENTS, rule, settings.account_id
        ),
    )
    rule_ticker = Ticker(
        "events", RuleTimetable(eventbridge_store, eventbridge), clock, deliver_target
    )
    scheduler_store = SchedulerStore(data / "scheduler" / "scheduler.db")
    schedules = SchedulerService(
        scheduler_store, settings.region, settings.account_id, clock.now, reschedule
    )
    schedule_ticker = Ticker(
        "scheduler",
        ScheduleTimetable(
            scheduler_store,
            schedules,
            triggers.role_may_invoke(
                authorizer, settings.account_id, iam_store.trust_of, trusts_service
            ),
        ),
        clock,
        deliver_target,
    )
    tickers.extend([rule_ticker, schedule_ticker])
    function_urls = FunctionUrlEndpoint(
        invoke,
        urls.by_id,
        settings.account_id,
        settings.stream_response_limit,
        UrlGuard(authorizer, settings.region, settings.account_id),
    )

    async def run_http(
        function_arn: str, payload: bytes, trace: str | None
    ) -> tuple[bytes, str | None]:
        name, qualifier = arns.parse(function_arn)
        event = Invocation(new_request_id(), payload, qualifier=qualifier, trace_header=trace)
        result = await invoke.invoke(name, event)
        return result.payload, result.function_error

    def api_endpoint(api_id: str) -> str:
        return f"http://{api_id}.execute-api.localhost:{settings.port}"

    http_apis = HttpApiService(ApiStore(data / "state.db"), api_endpoint)
    HttpApiUpdates(http_apis)
    rest_apis = RestApiService(ApiStore(data / "state.db", "rest_apis", "id"), api_endpoint)
    RestApiUpdates(rest_apis)

    async def to_queue(
        arn: str, body: str, attributes: dict[str, Any], group: str | None, dedup: str
    ) -> None:
        name = queue_service.name_of_arn(arn)
        params: dict[str, Any] = {"QueueUrl": f"/{settings.account_id}/{name}", "MessageBody": body}
        if attributes:
            params["MessageAttributes"] = attributes
        if group and arn.endswith(".fifo"):  # the FIFO topic's (or publisher's) ids
            params["MessageGroupId"] = group
            params["MessageDeduplicationId"] = dedup
        params = traced_message(params, lineage.current())
        await messages.send_message(Call(params, settings.base_url, "sns"))

    topics = TopicStore(data / "sns")
    sns_http = HttpDeliveries(topics, settings.sns_http_retry_delay)
    sns_relay = Relay(
        topics,
        triggers.gated(deliver, authorizer, triggers.SNS, triggers.sns_source, settings.account_id),
        "sns",
    )
    sns = SnsService(
        topics,
        settings.region,
        settings.account_id,
        settings.base_url,
        function_exists,
        consumer.exists,
        to_queue,
        sns_relay.kick,
        sns_http,
    )

    def logs_service() -> LogsService:
        # CloudWatch Logs has no background work: built on its first request or stack.
        from lambox.services.logs.service import LogsService
        from lambox.services.logs.store import LogsStore

        return LogsService(
            logs,
            LogsStore(data / "cloudwatch" / "logs.db"),
            settings.region,
            settings.account_id,
            log_groups,
        )

    def metrics_app() -> CloudWatchApp:
        from lambox.services.cloudwatch.app import CloudWatchApp
        from lambox.services.cloudwatch.service import CloudWatchService

        return CloudWatchApp(CloudWatchService(metrics).operations, authorizer)

    cloudwatch_logs = Deferred(logs_service)
    stack_store = StackStore(data / "cloudformation.db")

    def stacks() -> CloudFormationService:
        # CloudFormation (its engine, handlers and YAML) is built on first use: its first
        # request, an example stack, or a deployment a crash interrupted (below).
        from lambox.stack_wiring import cloudformation

        return cloudformation(
            stack_store,
            settings,
            functions=functions,
            versions=versions,
            aliases=aliases,
            layers=layers,
            s3=s3,
            objects=objects,
            deletion=deletion,
            arns=arns,
            iam=iam,
            queues=queue_service,
            mappings=mappings,
            policies=policies,
            urls=urls,
            concurrency=concurrency,
            function_settings=function_settings,
            code_signing=code_signing,
            s3_code=signer.s3_code(objects),
            operations={
                "sns": sns.operations,
                "logs": cloudwatch_logs.get().operations,
                "events": eventbridge.operations,
                "scheduler": schedules.operations,
                "apigatewayv2": http_apis.operations,
                "apigateway": rest_apis.operations,
            },
        )

    def stacks_app() -> CloudFormationApp:
        from lambox.services.cloudformation.app import CloudFormationApp

        return CloudFormationApp(cloudformation.get())

    cloudformation = Deferred(stacks)
    if stack_store.interrupted():
        cloudformation.get()  # says so on the stacks now, as AWS would have
    durable = build_durable(data, invoke, functions, arns, clock)
    signing = signer.connect(settings, objects, s3)
    edge = Edge(
        durable.app(app),
        {
            # Each service's protocol side is built on its first request (edge/lazy.py).
            "s3": LazyApp(lambda: S3App(s3, settings.region, authorizer)),
            "iam": LazyApp(
                lambda: QueryApp(
                    "iam", iam.operations, settings.account_id, authorizer, iam.resource
                )
            ),
            "sts": LazyApp(
                lambda: QueryApp(
                    "sts", sts.operations, settings.account_id, authorizer, sts.resource
                )
            ),
            "events": LazyApp(
                lambda: JsonServiceApp(
                    "events", eventbridge.operations, authorizer, eventbridge.resource
                )
            ),
            "scheduler": LazyApp(
                lambda: RestJsonServiceApp(
                    "scheduler", schedules.operations, authorizer, schedules.resource
                )
            ),
            "signer": LazyApp(
                lambda: RestJsonServiceApp(
                    "signer", signing.operations, authorizer, signing.resource
                )
            ),
            FUNCTION_URL: function_urls,
            "apigateway": LazyApp(
                lambda: control_app(
                    http_apis.operations, rest_apis.operations, authorizer, settings.region
                )
            ),
            EXECUTE_API: HttpApiGateway(
                http_apis, run_http, settings.account_id, rest_apis, settings.region
            ),
            "sqs": LazyApp(lambda: SqsApp(sqs, settings.account_id, authorizer, settings.region)),
            "sns": LazyApp(lambda: SnsApp(sns, authorizer)),
            "cloudformation": LazyApp(stacks_app),
            "logs": LazyApp(
                lambda: JsonServiceApp(
                    "logs",
                    cloudwatch_logs.get().operations,
                    authorizer,
                    cloudwatch_logs.get().resource,
                )
            ),
            "monitoring": LazyApp(metrics_app),
        },
        authenticator(settings, context, iam_store),
        authorizer,
        LambdaActions(settings.region, settings.account_id),
        direct=[(is_invoke, invoke_endpoint.answer)],  # the warm Invoke: no app, no cycle
        hosted={FUNCTION_URL: (function_urls.answers_whole, function_urls.answer)},
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
        policies,
        urls,
        arns,
        objects,
        s3,
        s3_relay,
        http_apis,
        rest_apis,
        queues,
        sqs,
        mappings,
        pollers,
        topics,
        sns_relay,
        sns_http,
        edge,
        iam,
        iam_store,
        eventbridge,
        eventbridge_store,
        eventbridge_relay,
        rule_ticker,
        schedules,
        scheduler_store,
        schedule_ticker,
        metrics,
        durable,
        cloudformation,
        signer,
        code_signing,
        factory,
        frozenset() if settings.strict_auth else sandbox_uids(python),
    )


def code_url_signer(settings: Settings) -> Callable[[str], str]:
    """Presigns GetFunction's Code.Location with the root key for 10 minutes (SigV4 query),
    so the caller GetFunction answered may download the code without credentials, as from
    AWS's presigned S3 URL."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    root = root_key.load_or_create(settings.data_dir, settings.account_id, strict=True)
    signer = SigV4QueryAuth(
        Credentials(root.access_key, root.secret), "lambda", settings.region, expires=600
    )

    def sign(url: str) -> str:
        request = AWSRequest(method="GET", url=url)
        signer.add_auth(request)
        return str(request.url)

    return sign


def authenticator(settings: Settings, context: SandboxContext, iam: IamStore) -> Authenticator:
    """The edge's authenticator: the root key of the data directory, IAM's keys and sessions
    and, in the open posture only, the key a function gets when its role cannot be assumed
    (it acts as the account's root, as any local request may there; in the strict posture
    no root secret reaches a sandbox). A sandbox's own connections sign with IAM's keys
    only (``sandbox_keyring``), in either posture."""
    strict = settings.strict_auth
    root = root_key.load_or_create(settings.data_dir, settings.account_id, strict)
    keys = [root]
    if context.access_key_id and not strict:
        principal = root_principal(settings.account_id)
        keys.append(
            Credential(
                context.access_key_id,
                context.secret_access_key,
                principal,
                context.session_token,
            )
        )
    log.info("authentication posture: %s", "strict" if strict else "open (loopback)")
    keyring = ChainKeyring(StaticKeyring(keys), iam)
    public = PublicRequests(ingest_token(settings.data_dir))
    return Authenticator(
        keyring, settings.account_id, open_posture=not strict, public=public, sandbox_keyring=iam
    )


def zip_directory(path: Path) -> bytes:
    """The directory's files as a zip, as a user would upload them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            if (
                file.is_file()
                and file.name
                not in (
                    "function.json",
                    "bucket.json",
                    "rule.json",
                    "url.json",
                    "api.json",
                    "queues.json",
                    "role.json",
                    "signed.json",
                    ".vendored",
                )
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
        role_spec = spec_path.parent / "role.json"
        try:
            if role_spec.exists():
                _example_role(server, json.loads(role_spec.read_text()))
            try:
                current = server.functions.get(name)
            except LamboxError:
                await server.functions.create({**spec, "Code": {"ZipFile": blob}})
            else:
                if current.role != spec["Role"]:
                    await server.functions.update_configuration(name, {"Role": spec["Role"]})
                    await _settled(server, name)
                await server.functions.update_code(name, {"ZipFile": blob})
        except (LamboxError, ServiceFault) as exc:
            log.error("example %s not deployed: %s", name, exc.message)
            continue
        deployed.append(name)
        bucket_spec = spec_path.parent / "bucket.json"
        if bucket_spec.exists():
            await _example_bucket(server, json.loads(bucket_spec.read_text()))
        rule_spec = spec_path.parent / "rule.json"
        if rule_spec.exists():
            _example_rule(server, json.loads(rule_spec.read_text()))
        url_spec = spec_path.parent / "url.json"
        if url_spec.exists():
            _example_url(server, name, json.loads(url_spec.read_text()))
        api_spec = spec_path.parent / "api.json"
        if api_spec.exists():
            _example_api(server, name, json.loads(api_spec.read_text()))
        queues_spec = spec_path.parent / "queues.json"
        if queues_spec.exists():
            await _example_queues(server, json.loads(queues_spec.read_text()), name)
    return deployed


def _example_role(server: Server, spec: dict[str, Any]) -> None:
    """An example's execution role, made as a tutorial makes one: trusting Lambda, with the
    managed and inline policies its function needs and nothing more (created once; its
    policies are set again at each start)."""
    root = root_principal(server.settings.account_id)

    def call(operation: str, params: dict[str, Any]) -> None:
        server.iam.operations[operation](QueryCall(root, params, "127.0.0.1", new_request_id()))

    name = spec["RoleName"]
    try:
        call("GetRole", {"RoleName": name})
    except ServiceFault:
        call("CreateRole", {"RoleName": name, "AssumeRolePolicyDocument": LAMBDA_TRUST})
    for arn in spec.get("ManagedPolicyArns", []):
        call("AttachRolePolicy", {"RoleName": name, "PolicyArn": arn})
    for policy in spec.get("Policies", []):
        document = json.dumps(policy["PolicyDocument"])
        call(
            "PutRolePolicy",
            {"RoleName": name, "PolicyName": policy["PolicyName"], "PolicyDocument": document},
        )


async def _settled(server: Server, name: str) -> None:
    """Wait (a few seconds at most) for a configuration update of an example to settle."""
    for _ in range(100):
        if server.functions.get(name).last_update_status != "InProgress":
            return
        await asyncio.sleep(0.05)


async def deploy_example_stacks(server: Server, root: Path) -> None:
    """Deploy each ``examples/<dir>/template.yaml`` as a stack (after the server is up: a
    stack takes a while, and its functions are created through the same planes)."""
    for template in sorted(root.glob("*/template.yaml")):
        try:
            await _example_stack(server, template)
        except (LamboxError, ServiceFault) as exc:
            log.error("example stack %s not deployed: %s", template.parent.name, exc.message)
            continue
        log.warning(
            "example stack deployed: aws --endpoint-url %s cloudformation describe-stacks"
            " --stack-name %s",
            server.settings.base_url,
            template.parent.name,
        )


EXAMPLE_ARTIFACTS = "lambox-example-artifacts"
_LOCAL_URI = re.compile(r"^(\s*(?:CodeUri|ContentUri):\s*)([\w./-]+/)\s*$", re.MULTILINE)


async def _example_stack(server: Server, template: Path) -> None:
    """Deploy ``examples/<dir>/template.yaml`` as the stack ``<dir>``, as ``sam deploy``
    would: each local ``CodeUri``/``ContentUri`` directory zipped into lambox's S3, the
    template pointed at the zips, then a create (or an update: "no updates" is fine)."""
    assert server.cloudformation is not None
    stacks = server.cloudformation.get()
    folder = template.parent
    server.objects.create_bucket(EXAMPLE_ARTIFACTS, server.settings.region)  # if missing
    text = template.read_text()
    for directory in sorted({m.group(2) for m in _LOCAL_URI.finditer(text)}):
        blob = zip_directory(folder / directory)
        key = f"{folder.name}/{hashlib.sha256(blob).hexdigest()[:16]}.zip"

        async def body(data: bytes = blob) -> AsyncIterator[bytes]:
            yield data

        upload = {"Bucket": EXAMPLE_ARTIFACTS, "Key": key}
        call = S3Call(upload, body(), new_request_id(), "127.0.0.1", server.settings.region)
        await server.s3.put_object(call)
        text = re.sub(
            rf"^(\s*(?:CodeUri|ContentUri):\s*){re.escape(directory)}\s*$",
            rf"\g<1>s3://{EXAMPLE_ARTIFACTS}/{key}",
            text,
            flags=re.MULTILINE,
        )
    params: dict[str, Any] = {
        "StackName": folder.name,
        "TemplateBody": text,
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    }
    described = (await stacks.describe_stacks({}))["Stacks"]
    live = [s for s in described if s["StackStatus"] != "DELETE_COMPLETE"]
    if any(s["StackName"] == folder.name for s in live):
        try:
            await stacks.update_stack(params)
        except ServiceFault as exc:
            if "No updates" not in exc.message:
                raise
    else:
        await stacks.create_stack(params)


def _example_api(server: Server, name: str, spec: dict[str, Any]) -> None:
    """An example's HTTP API, quick-created with the function as its target (once)."""
    apis = server.http_apis
    existing = [a for a in apis.get_apis({})["Items"] if a["Name"] == spec["Name"]]
    try:
        api = (
            existing[0]
            if existing
            else apis.create_api({**spec, "Target": server.arns.function(name)})
        )
    except LamboxError as exc:
        log.error("example %s: HTTP API not created: %s", name, exc.message)
        return
    log.warning("example HTTP API: curl %s/items", api["ApiEndpoint"])


def _example_url(server: Server, name: str, spec: dict[str, Any]) -> None:
    """An example's function URL, with the public-access permission AWS's console adds for
    AuthType NONE; logs the URL to curl."""
    try:
        try:
            config = server.urls.get(name, None)
        except LamboxError:
            config = server.urls.create(name, None, spec)
        if spec.get("AuthType") == "NONE" and server.policies.lookup(name) is None:
            server.policies.add(
                name,
                None,
                {
                    "StatementId": "FunctionURLAllowPublicAccess",
                    "Action": "lambda:InvokeFunctionUrl",
                    "Principal": "*",
                    "FunctionUrlAuthType": "NONE",
                },
            )
    except LamboxError as exc:
        log.error("example %s: function URL not set: %s", name, exc.message)
        return
    log.warning("example function URL: curl %sitems", server.urls.url(config))


def _example_rule(server: Server, spec: dict[str, Any]) -> None:
    """An example's EventBridge rule and its targets (function names become ARNs)."""
    params = {k: v for k, v in spec.items() if k != "Targets"}
    if isinstance(params.get("EventPattern"), dict):
        params["EventPattern"] = json.dumps(params["EventPattern"])
    targets = [{**t, "Arn": server.arns.function(t["Arn"])} for t in spec.get("Targets", [])]
    rule_arn = server.eventbridge.rule_arn("default", spec["Name"])
    for target in spec.get("Targets", []):
        _example_permission(server, target["Arn"], triggers.EVENTS, rule_arn)
    try:
        server.eventbridge.put_rule(params)
        server.eventbridge.put_targets({"Rule": spec["Name"], "Targets": targets})
    except LamboxError as exc:
        log.error("example rule %s not set: %s", spec.get("Name"), exc.message)


async def _example_queues(server: Server, spec: dict[str, Any], function: str) -> None:
    """An example's queues (a ``DeadLetterQueue`` name becomes its RedrivePolicy) and the
    event source mapping from one of them to the example's function."""
    queues = server.sqs.queues
    endpoint = server.settings.base_url
    try:
        for queue in spec.get("Queues", []):
            attributes = dict(queue.get("Attributes", {}))
            if "DeadLetterQueue" in queue:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": queues.arn(queue["DeadLetterQueue"]),
                        "maxReceiveCount": queue.get("MaxReceiveCount", 3),
                    }
                )
            call = Call({"QueueName": queue["QueueName"], "Attributes": attributes}, endpoint, "")
            await queues.create_queue(call)
        mapping = dict(spec.get("EventSourceMapping", {}))
        if mapping:
            source = queues.arn(mapping.pop("Queue"))
            existing, _ = server.mappings.list_page(function, source, None, None)
            if not existing:
                server.mappings.create(
                    {**mapping, "EventSourceArn": source, "FunctionName": function}
                )
    except LamboxError as exc:
        log.error("example queues for %s not set up: %s", function, exc.message)


def _example_permission(server: Server, function: str, service: str, source_arn: str) -> None:
    """The AddPermission statement an example's trigger needs, as on AWS (once)."""
    statement_id = f"lambox-example-{service.split('.', 1)[0]}"
    policy = server.policies.lookup(function)
    if policy is not None and any(s.get("Sid") == statement_id for s in policy["Statement"]):
        return
    try:
        server.policies.add(
            function,
            None,
            {
                "StatementId": statement_id,
                "Action": "lambda:InvokeFunction",
                "Principal": service,
                "SourceArn": source_arn,
                "SourceAccount": server.settings.account_id,
            },
        )
    except LamboxError as exc:
        log.error("example %s: permission for %s not added: %s", function, service, exc.message)


async def _example_bucket(server: Server, spec: dict[str, Any]) -> None:
    """An example's bucket and the notification that triggers it (function names become
    the functions' ARNs)."""
    name = spec["Bucket"]
    server.objects.create_bucket(name, server.settings.region)
    config = spec.get("NotificationConfiguration", {})
    for rule in config.get("LambdaFunctionConfigurations", []):
        _example_permission(server, rule["LambdaFunctionArn"], triggers.S3, f"arn:aws:s3:::{name}")
        rule["LambdaFunctionArn"] = server.arns.function(rule["LambdaFunctionArn"])
    try:
        server.s3.set_notification(name, config)
    except LamboxError as exc:
        log.error("example bucket %s: notification not set: %s", name, exc.message)


def run(
    settings: Settings,
    examples: Path | None = None,
    probe: Probe | None = None,
    built: Server | None = None,
) -> None:
    """Serve until interrupted (``lambox serve``; ``probe`` as for ``build``; ``built``:
    the server, if the caller built it already)."""
    server = built if built is not None else build(settings, probe)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        restored = server.functions.restore()
        server.aliases.restore()
        server.concurrency.restore()
        reaper = asyncio.get_running_loop().create_task(server.scheduler.run_reaper())
        await server.worker.start()
        server.s3_relay.start()
        server.eventbridge_relay.start()
        server.rule_ticker.start()
        server.schedule_ticker.start()
        if server.durable is not None:
            server.durable.engine.start()
        server.pollers.start()
        server.sqs.moves.start()
        server.sns_relay.start()
        server.sns_http.start()
        server.mappings.restore()
        server.metrics.start()
        log.info(
            "lambox on %s, data in %s, %d functions", settings.base_url, settings.data_dir, restored
        )
        # What start-up made lives as long as the server: out of the collector's sight, a
        # young-generation pass no longer walks it (one took about 10 ms under load).
        gc.freeze()
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
        if examples is not None and server.signer and server.code_signing:
            for name in await server.signer.deploy_examples(
                examples, server.code_signing, server.functions, zip_directory
            ):
                log.warning("example deployed, signed: %s (see docs/signer.md)", name)
        stacks = None
        if examples is not None:
            stacks = asyncio.get_running_loop().create_task(deploy_example_stacks(server, examples))
        try:
            yield
        finally:
            if stacks is not None:
                stacks.cancel()
            reaper.cancel()
            await server.s3_relay.close()
            await server.rule_ticker.close()
            await server.schedule_ticker.close()
            if server.durable is not None:
                await server.durable.engine.close()
            await server.eventbridge_relay.close()
            await server.pollers.close()
            await server.sns_relay.close()
            await server.sns_http.close()
            await server.worker.close()
            await server.invoke.close()
            await server.scheduler.close()
            await server.metrics.close()
            server.logs.close()
            server.events.close()
            server.event_configs.close()
            server.policies.close()
            server.urls.close()
            server.store.close()
            server.objects.close()
            server.iam_store.close()
            server.eventbridge_store.close()
            server.scheduler_store.close()
            if server.signer is not None:
                server.signer.close()
            server.http_apis.close()
            server.rest_apis.close()
            server.queues.close()
            server.mappings.close()
            server.topics.close()

    server.app.set_lifespan(lifespan)
    limits = HeaderLimits(
        settings.header_timeout, settings.header_limit_bytes, settings.header_limit_count
    )
    config = uvicorn.Config(
        PrometheusEndpoint(server.edge, server.metrics, server.scheduler.busy_by_function),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=guarded_protocol(
            limits,
            server.edge,
            SYNC_PAYLOAD_LIMIT,
            INVOKE_PREFIX.encode(),
            URL_HOST_MARK,
            server.sandbox_uids,
        ),
        ws="none",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=settings.idle_timeout,
        proxy_headers=False,
        server_header=False,
    )
    ListeningServer(config, server.sandboxes.start if server.sandboxes else lambda: None).run()
