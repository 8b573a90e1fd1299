"""The function lifecycle: create, read, update, delete, and the snapshots they publish.

Creation and updates follow AWS's visible state machine: CreateFunction answers with
``State: Pending`` and the function becomes ``Active`` once its code is unpacked and its
runtime resolved; an update answers ``LastUpdateStatus: InProgress`` and becomes
``Successful`` when the new snapshot is published. Until then the data plane keeps
serving the previous snapshot, as AWS does.

A create publishes its ``Pending`` snapshot before it answers, so from the moment a client
knows the function exists the data plane knows it too: an Invoke sent straight after
CreateFunction is refused as AWS refuses it (ResourceConflictException naming the state)
until the ``Active`` snapshot follows, and is never told the function does not exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes, tenancy
from lambox.control import tags as tagging
from lambox.control.observability import logging_changes, tracing_mode
from lambox.control.runtimes import RuntimeCatalog
from lambox.errors import (
    AccessDenied,
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    ValidationError,
)
from lambox.model import (
    LATEST,
    FunctionConfig,
    FunctionVersion,
    State,
    UpdateStatus,
    VpcConfig,
    frozen_map,
)
from lambox.store.code import CodeStore
from lambox.store.functions import FunctionStore
from lambox.watch import ChangeFeed, Removed

ENV_LIMIT = 4096
RESERVED_ENV = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
LayerResolver = Callable[[Sequence[str], str], tuple[tuple[tuple[str, int], ...], str]]
"""A function's ``Layers`` and its code key -> (its layer refs, its /opt tree key)."""
DEFAULT_MAX_ITEMS = 50
CODE_GRACE_SECONDS = 60.0
MAX_MEMORY = 10_240
MAX_TIMEOUT = 900
MAX_WITH_LAYERS = 262_144_000  # unzipped bytes of a function's code and its layers


def now_iso() -> str:
    """LastModified as AWS formats it: ``2024-01-02T03:04:05.678+0000``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _decode_zip(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise InvalidParameterValue("ZipFile must be base64-encoded zip bytes.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from exc


def _check_limits(params: Mapping[str, Any]) -> None:
    """Lambda's own limits where botocore's model is looser (it allows larger values that
    only other compute types accept): memory 128-10,240 MB, timeout 1-900 s."""
    failures = []
    for member, limit in (("MemorySize", MAX_MEMORY), ("Timeout", MAX_TIMEOUT)):
        value = params.get(member)
        if isinstance(value, int) and value > limit:
            location = member[0].lower() + member[1:]
            failures.append(
                f"Value '{value}' at '{location}' failed to satisfy constraint: Member must have"
                f" value less than or equal to {limit}"
            )
    if failures:
        count = len(failures)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(failures))


def _apply_on(params: Mapping[str, Any]) -> str | None:
    """``SnapStart.ApplyOn`` of a request, None when it has none (the model checked it)."""
    snap = params.get("SnapStart")
    return str(snap.get("ApplyOn", "None")) if isinstance(snap, Mapping) else None


def _snap_start(enabled: bool, runtime: str) -> bool:
    """SnapStart on or off, refused as AWS refuses it for runtimes without it (lambox has
    it for Python 3.12 and later, as Lambda does)."""
    if enabled and not _snap_start_runtime(runtime):
        raise InvalidParameterValue(f"{runtime} is not supported for SnapStart enabled functions.")
    return enabled


def _durable(
    given: Mapping[str, Any] | None, current: tuple[int, int] | None
) -> tuple[int, int] | None:
    """DurableConfig as (ExecutionTimeout, RetentionPeriodInDays), AWS's defaults filled in
    (86,400 s and 14 days); None when the request has none (the model checked the ranges)."""
    if given is None:
        return current
    timeout = int(given.get("ExecutionTimeout") or (current[0] if current else 86400))
    retention = int(given.get("RetentionPeriodInDays") or (current[1] if current else 14))
    return (timeout, retention)


def _tenant_isolation(params: Mapping[str, Any]) -> str:
    """``TenancyConfig.TenantIsolationMode`` of a CreateFunction ("" without one; the model
    checked the enum). Only a create sets it: UpdateFunctionConfiguration's model has no
    such member, so AWS cannot change it afterwards and neither can lambox."""
    given = params.get("TenancyConfig")
    if not isinstance(given, Mapping):
        return ""
    return str(given.get("TenantIsolationMode") or "")


def _snap_start_runtime(runtime: str) -> bool:
    major, _, minor = runtime.removeprefix("python").partition(".")
    return runtime.startswith("python") and major == "3" and minor.isdigit() and int(minor) >= 12


def _vpc(params: Mapping[str, Any]) -> VpcConfig | None:
    """The request's VpcConfig (the model checked its shape; AWS lets list elements be
    null, which name nothing). Kept as given: lambox has no VPCs to check IDs against."""
    given = params.get("VpcConfig")
    if not isinstance(given, Mapping):
        return None
    return VpcConfig(
        subnet_ids=tuple(str(s) for s in given.get("SubnetIds") or () if s is not None),
        security_group_ids=tuple(
            str(g) for g in given.get("SecurityGroupIds") or () if g is not None
        ),
        ipv6_allowed_for_dual_stack=bool(given.get("Ipv6AllowedForDualStack", False)),
    )


def _check_environment(variables: Mapping[str, str]) -> None:
    reserved = sorted(k for k in variables if k in RESERVED_ENV)
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment"
            " variables you have provided contains reserved keys that are currently not"
            f" supported for modification. Reserved keys used in this request: {','.join(reserved)}"
        )
    # A process environment cannot hold a NUL byte: refused here, never at the first invoke.
    nul = sorted(k for k, v in variables.items() if "\0" in str(v))
    if nul:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment"
            " variables you have provided contain a null character, which is not supported."
            f" Keys with a null character in their value: {','.join(nul)}"
        )
    measured = json.dumps(dict(variables), separators=(",", ":"))
    if len(measured.encode()) > ENV_LIMIT:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment"
            f" variables you have provided exceeded the 4KB limit. String measured: {measured}"
        )


class FunctionService:
    """The control plane for functions. The only writer of function state."""

    def __init__(
        self,
        store: FunctionStore,
        code: CodeStore,
        feed: ChangeFeed,
        runtimes: RuntimeCatalog,
        arns: Arns,
        role_check: Callable[[str], None] | None = None,
        layers: LayerResolver | None = None,
        layer_code: Callable[[str], bool] = lambda _key: False,
        layer_sizes: Callable[[Sequence[str]], int] = lambda _arns: 0,
    ) -> None:
        self._layer_sizes = layer_sizes
        self._layers = layers
        self._layer_code = layer_code
        self._store = store
        # Whether a Role may be a function's execution role (raises InvalidParameterValue).
        self._role_check = role_check
        self._code = code
        self._feed = feed
        self._runtimes = runtimes
        self._arns = arns
        self._tasks: set[asyncio.Task[None]] = set()
        # Functions whose every stored version the data plane has been handed (see load).
        self._loaded: set[str] = set()

    def restore(self) -> int:
        """Finish, at start-up, creations and updates a crash interrupted; how many
        functions there are. Nothing is published: a function's versions are handed to the
        data plane when it first needs them (``load``), so start-up does no work per
        function (with 10,000 functions, publishing them all took most of it)."""
        for config in self._store.unsettled():
            settled = replace(
                config, state=State.ACTIVE, last_update_status=UpdateStatus.SUCCESSFUL
            )
            self._store.replace(settled)
        return self._store.count_functions()

    def load(self, name: str) -> None:
        """Publish every stored version of ``name`` the data plane has not been handed
        yet (once per function; the data plane calls this on a miss, and every publish of
        one of its versions calls it first, so that a newer snapshot is never followed by
        an older one)."""
        if name in self._loaded:
            return
        self._loaded.add(name)
        for config in self._store.list_versions(name):
            self.publish_snapshot(config)

    def publish_snapshot(self, config: FunctionConfig) -> None:
        """Hand a settled configuration to the data plane (a Failed one if its runtime is
        missing, so invocations say why)."""
        self.load(config.name)
        try:
            self._publish(config)
        except InvalidParameterValue as exc:
            failed = replace(config, state=State.FAILED)
            self._store.replace(failed)
            self._publish_failed(failed, exc.message)

    def check_revision(self, config: FunctionConfig, revision_id: object) -> None:
        """AWS's RevisionId precondition."""
        self.check_revision_text(revision_id, config.revision_id)

    @staticmethod
    def check_revision_text(given: object, current: str) -> None:
        if given is not None and given != current:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the"
                " GetFunction/GetAlias API to retrieve the latest Revision Id"
            )

    # -- reads ---------------------------------------------------------------------------

    def get(self, function_name: str, qualifier: str | None = None) -> FunctionConfig:
        """The configuration of ``$LATEST``, of a published version, or of an alias's version."""
        name, qualifier = self._arns.parse(function_name, qualifier)
        version = qualifier or LATEST
        if qualifier and qualifier != LATEST and not qualifier.isdigit():
            alias = self._store.get_alias(name, qualifier)
            if alias is not None:
                version = alias.function_version
        config = self._store.get(name, version)
        if config is None:
            suffix = f":{qualifier}" if qualifier else ""
            raise ResourceNotFound(f"Function not found: {self._arns.function(name)}{suffix}")
        return config

    def list_page(
        self, marker: str | None, max_items: int | None
    ) -> tuple[list[FunctionConfig], str | None]:
        """One page of functions ordered by name; the marker is the last name returned."""
        limit = max_items or DEFAULT_MAX_ITEMS
        # One row past the page says whether there is a next one.
        configs = self._store.latest_page(_unmark(marker) if marker else None, limit + 1)
        page = configs[:limit]
        more = len(configs) > limit
        return page, (_mark(page[-1].name) if more and page else None)

    # -- writes --------------------------------------------------------------------------

    async def create(self, params: Mapping[str, Any]) -> FunctionConfig:
        shapes.validate("CreateFunction", params)
        if self._arns.foreign_account(str(params["FunctionName"])):
            # Authorization, which comes before any check of the function itself.
            raise AccessDenied()
        _check_limits(params)
        tagging.check_count(params.get("Tags") or {})
        runtime = str(params["Runtime"])
        shapes.check_runtime_supported(runtime)
        if params.get("PackageType", "Zip") != "Zip":
            raise InvalidParameterValue(
                "lambox runs Zip packages only; container images are not supported."
            )
        code = params.get("Code") or {}
        if "ZipFile" not in code:
            raise InvalidParameterValue(
                "lambox needs the code inline: pass Code.ZipFile (S3 code locations are not"
                " supported yet)."
            )
        variables = dict((params.get("Environment") or {}).get("Variables") or {})
        _check_environment(variables)
        self._runtimes.interpreter(runtime)
        name, _ = self._arns.parse(str(params["FunctionName"]))
        if self._store.get(name, LATEST) is not None:
            raise ResourceConflict(f"Function already exist: {name}")
        if self._role_check is not None:
            self._role_check(str(params["Role"]))
        blob = await asyncio.to_thread(self._code.put, _decode_zip(code["ZipFile"]))
        layers, opt_key = await self._resolve_layers(params.get("Layers"), blob.key)
        config = FunctionConfig(
            name=name,
            runtime=runtime,
            handler=str(params["Handler"]),
            role=str(params["Role"]),
            code_sha256=blob.sha256,
            code_size=blob.size,
            code_key=blob.key,
            revision_id=str(uuid.uuid4()),
            last_modified=now_iso(),
            memory_size=int(params.get("MemorySize", 128)),
            timeout=int(params.get("Timeout", 3)),
            description=str(params.get("Description", "")),
            environment=frozen_map(variables),
            has_environment="Environment" in params,
            ephemeral_storage=int((params.get("EphemeralStorage") or {}).get("Size", 512)),
            architectures=tuple(params.get("Architectures") or ("x86_64",)),
            tags=frozen_map(params.get("Tags") or {}),
            dead_letter_arn=str((params.get("DeadLetterConfig") or {}).get("TargetArn") or ""),
            snap_start=_snap_start(_apply_on(params) == "PublishedVersions", runtime),
            vpc=_vpc(params),
            state=State.PENDING,
            layers=layers,
            opt_key=opt_key,
            durable=_durable(params.get("DurableConfig"), None),
            tracing_mode=tracing_mode(params),
            tenant_isolation=_tenant_isolation(params),
        )
        config = replace(config, **logging_changes(params))
        if config.snap_start:
            tenancy.refuse(config, tenancy.SNAPSTART)
        self._store.insert(config)
        self._publish(config)
        self._settle_soon(name)
        return config

    async def update_code(self, function_name: str, params: Mapping[str, Any]) -> FunctionConfig:
        shapes.validate("UpdateFunctionCode", {"FunctionName": function_name, **params})
        current = self._updatable(function_name, params.get("RevisionId"))
        if "ZipFile" not in params:
            raise InvalidParameterValue(
                "lambox needs the code inline: pass ZipFile (S3 code locations are not"
                " supported yet)."
            )
        blob = await asyncio.to_thread(self._code.put, _decode_zip(params["ZipFile"]))
        if current.layers:
            await asyncio.to_thread(self._check_with_layers, blob.key, current.layers)
        updated = replace(
            current,
            # UpdateFunctionCode is where an existing function changes its architecture.
            architectures=tuple(params.get("Architectures") or current.architectures),
            code_sha256=blob.sha256,
            code_size=blob.size,
            code_key=blob.key,
            revision_id=str(uuid.uuid4()),
            last_modified=now_iso(),
            last_update_status=UpdateStatus.IN_PROGRESS,
        )
        self._store.replace(updated)
        self._settle_soon(updated.name)
        self._collect_later(current.code_key)
        return updated

    async def update_configuration(
        self, function_name: str, params: Mapping[str, Any]
    ) -> FunctionConfig:
        shapes.validate("UpdateFunctionConfiguration", {"FunctionName": function_name, **params})
        _check_limits(params)
        current = self._updatable(function_name, params.get("RevisionId"))
        changes: dict[str, Any] = {}
        if "Runtime" in params:
            shapes.check_runtime_supported(str(params["Runtime"]))
            self._runtimes.interpreter(str(params["Runtime"]))
            changes["runtime"] = str(params["Runtime"])
        simple = {
            "Handler": "handler",
            "Role": "role",
            "Description": "description",
            "MemorySize": "memory_size",
            "Timeout": "timeout",
        }
        for member, attr in simple.items():
            if member in params:
                changes[attr] = params[member]
        if "Role" in params and self._role_check is not None:
            self._role_check(str(params["Role"]))
        if "Environment" in params:
            variables = dict((params["Environment"] or {}).get("Variables") or {})
            _check_environment(variables)
            changes["environment"] = frozen_map(variables)
            changes["has_environment"] = True
        if "DeadLetterConfig" in params:
            target = (params["DeadLetterConfig"] or {}).get("TargetArn") or ""
            changes["dead_letter_arn"] = str(target)
        if "VpcConfig" in params:
            changes["vpc"] = _vpc(params)
        changes["tracing_mode"] = tracing_mode(params, current.tracing_mode)
        changes.update(logging_changes(params, current))
        if "Layers" in params:
            layers, opt_key = await self._resolve_layers(params["Layers"], current.code_key)
            changes["layers"] = layers
            changes["opt_key"] = opt_key
            if current.opt_key != opt_key:
                self._collect_later(current.opt_key)
        if "DurableConfig" in params:
            changes["durable"] = _durable(params["DurableConfig"], current.durable)
        if "EphemeralStorage" in params:
            changes["ephemeral_storage"] = int(params["EphemeralStorage"]["Size"])
        if "SnapStart" in params or "Runtime" in params:
            apply_on = _apply_on(params)
            enabled = current.snap_start if apply_on is None else apply_on == "PublishedVersions"
            runtime = str(changes.get("runtime", current.runtime))
            changes["snap_start"] = _snap_start(enabled, runtime)
            if enabled:
                tenancy.refuse(current, tenancy.SNAPSTART)
        updated = replace(
            current,
            **changes,
            revision_id=str(uuid.uuid4()),
            last_modified=now_iso(),
            last_update_status=UpdateStatus.IN_PROGRESS,
        )
        self._store.replace(updated)
        self._settle_soon(updated.name)
        return updated

    def delete(self, function_name: str) -> None:
        """Delete the function with every version, alias and setting."""
        name, _ = self._arns.parse(function_name)
        config = self.get(name)
        self._store.delete(name)
        self._loaded.discard(name)
        self._feed.publish(Removed(name, self._feed.next_generation()))
        self._collect_later(config.code_key)
        self._collect_later(config.opt_key)

    def tags(self, resource: str) -> Mapping[str, str]:
        """ListTags: the tags of the function a resource ARN names (see ``tags.py``)."""
        shapes.validate("ListTags", {"Resource": resource})
        return self._tagged(resource).tags

    def tag(self, resource: str, added: Mapping[str, str] | None) -> None:
        """TagResource: add or overwrite tags; like any change, it renews the RevisionId
        (recorded: each GetFunction after a tag change shows a new one)."""
        shapes.validate("TagResource", {"Resource": resource, "Tags": added})
        config = self._tagged(resource)
        kept = tagging.merged(config.tags, added or {})
        self._store.replace(replace(config, tags=frozen_map(kept), revision_id=str(uuid.uuid4())))

    def untag(self, resource: str, keys: list[str]) -> None:
        """UntagResource: remove tags; keys the function does not have are ignored."""
        shapes.validate("UntagResource", {"Resource": resource, "TagKeys": keys})
        config = self._tagged(resource)
        kept = {k: v for k, v in config.tags.items() if k not in keys}
        self._store.replace(replace(config, tags=frozen_map(kept), revision_id=str(uuid.uuid4())))

    def _tagged(self, resource: str) -> FunctionConfig:
        return self.get(tagging.function_name(resource, self._arns))

    # -- internals -----------------------------------------------------------------------

    def _updatable(self, function_name: str, revision_id: object) -> FunctionConfig:
        current = self.get(function_name)
        if current.last_update_status is UpdateStatus.IN_PROGRESS or current.state is State.PENDING:
            raise ResourceConflict(
                "The operation cannot be performed at this time. An update is in progress for"
                f" resource: {self._arns.function(current.name)}"
            )
        self.check_revision(current, revision_id)
        return current

    async def _resolve_layers(
        self, arns: object, code_key: str
    ) -> tuple[tuple[tuple[str, int], ...], str]:
        """A request's ``Layers`` checked and merged (in a thread: merging touches disk)."""
        names = [str(arn) for arn in arns or ()] if isinstance(arns, list) else []
        if not names:
            return (), ""
        if self._layers is None:
            raise InvalidParameterValue("This lambox server does not serve layers.")
        return await asyncio.to_thread(self._layers, names, code_key)

    def _check_with_layers(self, code_key: str, layers: Sequence[tuple[str, int]]) -> None:
        """New code and the function's layers together within AWS's 250 MB unzipped."""
        total = self._code.unzipped_size(code_key) + self._layer_sizes([a for a, _ in layers])
        if total > MAX_WITH_LAYERS:
            raise InvalidParameterValue(
                "Function code combined with layers exceeds the maximum allowed size of"
                f" {MAX_WITH_LAYERS} bytes. The actual size is {total} bytes."
            )

    def _settle_soon(self, name: str) -> None:
        """Finish a create/update after the API has answered, so clients see the transition."""
        task = asyncio.get_running_loop().create_task(self._settle(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, name: str) -> None:
        await asyncio.sleep(0)
        config = self._store.get(name, LATEST)
        if config is None:
            return
        settled = replace(
            config,
            state=State.ACTIVE,
            last_update_status=UpdateStatus.SUCCESSFUL,
            revision_id=str(uuid.uuid4()),
        )
        try:
            self._publish(settled)
        except InvalidParameterValue as exc:
            settled = replace(settled, state=State.FAILED, last_update_status=UpdateStatus.FAILED)
            self._publish_failed(settled, exc.message)
        self._store.replace(settled)

    def _snapshot(self, config: FunctionConfig, interpreter: str) -> FunctionVersion:
        return FunctionVersion(
            arn=self._arns.function(config.name),
            config=config,
            code_dir=self._code.get(config.code_key).code_dir,
            interpreter=interpreter,
            region=self._arns.region,
            generation=self._feed.next_generation(),
            opt_dir=self._code.tree(config.opt_key) if config.opt_key else None,
        )

    def _publish(self, config: FunctionConfig) -> None:
        self.load(config.name)
        self._feed.publish(self._snapshot(config, self._runtimes.interpreter(config.runtime)))

    def _publish_failed(self, config: FunctionConfig, reason: str) -> None:
        self.load(config.name)
        self._feed.publish(self._snapshot(config, ""))

    def _collect_later(self, code_key: str) -> None:
        """Drop unused code after a grace period: sandboxes of the old snapshot may still
        be finishing an invocation from that directory."""
        asyncio.get_running_loop().call_later(CODE_GRACE_SECONDS, self._collect, code_key)

    def _collect(self, code_key: str) -> None:
        """Remove a code tree (or a merged /opt tree) no function uses, unless it is also
        a layer version's content (the same zip may be both)."""
        if code_key and not self._store.code_in_use(code_key) and not self._layer_code(code_key):
            self._code.remove(code_key)


def _mark(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _unmark(marker: str) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameterValue("Invalid Marker.") from exc
