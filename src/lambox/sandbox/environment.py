"""The process environment of a sandbox: the variables Lambda sets, then the user's."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from lambox.model import FunctionVersion

RUNTIME_DIR = str(Path(__file__).resolve().parents[2])


def log_stream_name(version: str) -> str:
    """A fresh CloudWatch-style stream name, one per execution environment."""
    return time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{version}]{secrets.token_hex(16)}"


def sandbox_env(
    fv: FunctionVersion, log_stream: str, init_type: str = "on-demand"
) -> dict[str, str]:
    """The environment of a Python sandbox, as the AWS Python runtimes define it."""
    config = fv.config
    task = fv.code_dir
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": RUNTIME_DIR,
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(fv.code_dir),
        "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
        "LD_LIBRARY_PATH": f"/lib64:/usr/lib64:{RUNTIME_DIR}:{task}:{task}/lib:/opt/lib",
        "_HANDLER": config.handler,
        "AWS_REGION": fv.region,
        "AWS_DEFAULT_REGION": fv.region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_VERSION": config.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
        "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "SHLVL": "0",
    }
    env.update(config.environment)
    return env
