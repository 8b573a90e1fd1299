"""AWS JSON shapes of lambox objects (what GetFunction and friends answer)."""

from __future__ import annotations

import hashlib
from typing import Any

from lambox.arns import Arns
from lambox.model import FunctionConfig, State, UpdateStatus


def configuration(config: FunctionConfig, arns: Arns) -> dict[str, Any]:
    """FunctionConfiguration as AWS renders it for Create/Get/Update/List."""
    runtime_digest = hashlib.sha256(config.runtime.encode()).hexdigest()
    view: dict[str, Any] = {
        "FunctionName": config.name,
        "FunctionArn": arns.function(config.name),
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
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": config.revision_id,
        "State": config.state.value,
        "PackageType": "Zip",
        "Architectures": list(config.architectures),
        "EphemeralStorage": {"Size": config.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "RuntimeVersionConfig": {
            "RuntimeVersionArn": f"arn:aws:lambda:{arns.region}::runtime:{runtime_digest}"
        },
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{config.name}"},
    }
    if config.environment:
        view["Environment"] = {"Variables": dict(config.environment)}
    if config.state is State.PENDING:
        view["StateReason"] = "The function is being created."
        view["StateReasonCode"] = "Creating"
    elif config.state is State.FAILED:
        view["StateReason"] = "The function's runtime is not available on this lambox server."
        view["StateReasonCode"] = "InvalidRuntime"
    else:
        view["LastUpdateStatus"] = config.last_update_status.value
        if config.last_update_status is UpdateStatus.IN_PROGRESS:
            view["LastUpdateStatusReason"] = "The function is being created."
            view["LastUpdateStatusReasonCode"] = "Creating"
    return view


def function(config: FunctionConfig, arns: Arns, base_url: str) -> dict[str, Any]:
    """GetFunction: configuration, where to download the code, and tags."""
    view: dict[str, Any] = {
        "Configuration": configuration(config, arns),
        "Code": {
            "RepositoryType": "S3",
            "Location": f"{base_url}/lambox/v1/code/{config.code_key}.zip",
        },
    }
    if config.tags:
        view["Tags"] = dict(config.tags)
    return view
