"""The process environment of a sandbox: the variables Lambda sets, then the user's.

``sandbox_env`` is the Python runtime's; ``runtime_api_env`` that of runtimes speaking the
Lambda Runtime API (custom ``provided.*`` bootstraps and lambox's Node client).
"""

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


def runtime_api_env(
    fv: FunctionVersion,
    log_stream: str,
    init_type: str,
    runtime_api: str,
    path_prefix: str = "",
) -> dict[str, str]:
    """The environment of a Runtime API sandbox (``provided.*``, ``nodejs*``): Lambda's
    variables and ``AWS_LAMBDA_RUNTIME_API``, without the Python runtime's own variables
    (unless the function sets them); ``path_prefix`` goes first on PATH."""
    env = sandbox_env(fv, log_stream, init_type)
    user = fv.config.environment
    python_only = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    # AWS_EXECUTION_ENV is not defined for OS-only runtimes (the provided family).
    os_only = ("AWS_EXECUTION_ENV",) if fv.config.runtime.startswith("provided") else ()
    for key in (*python_only, *os_only):
        if key not in user:
            del env[key]
    if path_prefix and "PATH" not in user:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    if fv.config.runtime.startswith("nodejs") and "NODE_PATH" not in user:
        env["NODE_PATH"] = f"{fv.code_dir}/node_modules:{fv.code_dir}"
    env["AWS_LAMBDA_RUNTIME_API"] = runtime_api
    return env
