"""AWS JSON shapes of lambox objects (what GetFunction and friends answer)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from lambox.arns import Arns
from lambox.control.observability import logging_view
from lambox.model import (
    LATEST,
    Alias,
    FunctionConfig,
    ProvisionedConfig,
    State,
    UpdateStatus,
    VpcConfig,
)


def configuration(
    config: FunctionConfig,
    arns: Arns,
    qualifier: str | None = None,
    *,
    listing: bool = False,
    runtime_version: str | None = None,
) -> dict[str, Any]:
    """FunctionConfiguration as AWS renders it for Create/Get/Update/List.

    The ARN carries the qualifier the caller addressed the function by (an alias name shows
    the alias's ARN with the version's configuration); a published version's own ARN is
    qualified by its number. ``runtime_version`` is the runtime version ARN a Manual runtime
    management config pins (else one derived from the runtime's name)."""
    if qualifier is None and config.version != LATEST:
        qualifier = config.version
    view: dict[str, Any] = {
        "FunctionName": config.name,
        "FunctionArn": arns.function(config.name, qualifier),
        "Runtime": config.runtime,
        "Role": config.role,
        "Handler": config.handler,
        "CodeSize": config.code_size,
        "Description": config.description,
        "Timeout": config.timeout,
        "MemorySize": config.memory_size,
        "LastModified": config.last_modified,
        "CodeSha256": config.code_sha256,
        "Version": config.version,
        "TracingConfig": {"Mode": config.tracing_mode},
        "RevisionId": config.revision_id,
        "State": config.state.value,
        "PackageType": "Zip",
        "Architectures": list(config.architectures),
        "EphemeralStorage": {"Size": config.ephemeral_storage},
        "SnapStart": {
            "ApplyOn": "PublishedVersions" if config.snap_start else "None",
            "OptimizationStatus": "On" if config.snap_start and config.version != LATEST else "Off",
        },
        "RuntimeVersionConfig": {
            "RuntimeVersionArn": runtime_version or arns.runtime_version(config.runtime)
        },
        "LoggingConfig": logging_view(config),
    }
    if config.environment or config.has_environment:
        view["Environment"] = {"Variables": dict(config.environment)}
    if config.dead_letter_arn:
        view["DeadLetterConfig"] = {"TargetArn": config.dead_letter_arn}
    if config.vpc is not None:
        view["VpcConfig"] = vpc(config.vpc)
    if config.durable is not None:
        view["DurableConfig"] = {
            "ExecutionTimeout": config.durable[0],
            "RetentionPeriodInDays": config.durable[1],
        }
    if config.tenant_isolation:
        view["TenancyConfig"] = {"TenantIsolationMode": config.tenant_isolation}
    if config.layers:
        view["Layers"] = [{"Arn": arn, "CodeSize": size} for arn, size in config.layers]
    if listing:
        # ListFunctions and ListVersionsByFunction entries carry no state, as on AWS.
        for key in ("State", "RuntimeVersionConfig"):
            del view[key]
        return view
    if config.state is State.PENDING:
        view["StateReason"] = "The function is being created."
        view["StateReasonCode"] = "Creating"
    elif config.state is State.FAILED and config.state_reason_code:
        # A version whose SnapStart snapshot failed (its init raised or exited).
        view["StateReason"] = config.state_reason
        view["StateReasonCode"] = config.state_reason_code
        view["LastUpdateStatus"] = UpdateStatus.FAILED.value
        view["LastUpdateStatusReason"] = config.state_reason
        view["LastUpdateStatusReasonCode"] = config.state_reason_code
    elif config.state is State.FAILED:
        view["StateReason"] = "The function's runtime is not available on this lambox server."
        view["StateReasonCode"] = "InvalidRuntime"
    else:
        view["LastUpdateStatus"] = config.last_update_status.value
        if config.last_update_status is UpdateStatus.IN_PROGRESS:
            view["LastUpdateStatusReason"] = "The function is being created."
            view["LastUpdateStatusReasonCode"] = "Creating"
    return view


def vpc(config: VpcConfig) -> dict[str, Any]:
    """VpcConfigResponse. On AWS the VpcId is the VPC of the subnets; lambox has no VPCs, so
    it names one after the subnets (stable, "" without subnets, as AWS shows it then)."""
    subnets = config.subnet_ids
    digest = hashlib.sha256(",".join(sorted(subnets)).encode()).hexdigest()
    return {
        "SubnetIds": list(subnets),
        "SecurityGroupIds": list(config.security_group_ids),
        "VpcId": f"vpc-{digest[:17]}" if subnets else "",
        "Ipv6AllowedForDualStack": config.ipv6_allowed_for_dual_stack,
    }


def function(
    config: FunctionConfig,
    arns: Arns,
    base_url: str,
    qualifier: str | None = None,
    reserved: int | None = None,
    sign_url: Callable[[str], str] | None = None,
    runtime_version: str | None = None,
) -> dict[str, Any]:
    """GetFunction: configuration, where to download the code (presigned by ``sign_url``
    when the server needs signatures, as AWS presigns its S3 URL), tags and concurrency."""
    location = f"{base_url}/lambox/v1/code/{config.code_key}.zip"
    view: dict[str, Any] = {
        "Configuration": configuration(config, arns, qualifier, runtime_version=runtime_version),
        "Code": {
            "RepositoryType": "S3",
            "Location": sign_url(location) if sign_url is not None else location,
        },
    }
    if config.tags:
        view["Tags"] = dict(config.tags)
    if reserved is not None:
        view["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
    return view


def alias(a: Alias, arns: Arns) -> dict[str, Any]:
    """AliasConfiguration."""
    view: dict[str, Any] = {
        "AliasArn": arns.function(a.function, a.name),
        "Name": a.name,
        "FunctionVersion": a.function_version,
        "Description": a.description,
        "RevisionId": a.revision_id,
    }
    if a.additional_version:
        view["RoutingConfig"] = {
            "AdditionalVersionWeights": {a.additional_version: a.additional_weight}
        }
    return view


def provisioned(config: ProvisionedConfig, ready: int, arns: Arns | None = None) -> dict[str, Any]:
    """ProvisionedConcurrencyConfig; ``ready`` comes from the data plane."""
    ready = min(ready, config.requested)
    view: dict[str, Any] = {
        "RequestedProvisionedConcurrentExecutions": config.requested,
        "AvailableProvisionedConcurrentExecutions": ready,
        "AllocatedProvisionedConcurrentExecutions": ready,
        "Status": "READY" if ready >= config.requested else "IN_PROGRESS",
        "LastModified": config.last_modified,
    }
    if arns is not None:
        view = {"FunctionArn": arns.function(config.function, config.qualifier), **view}
    return view
