"""The process environment of a sandbox: the variables Lambda sets, then the user's.

``sandbox_env`` is the Python runtime's; ``runtime_api_env`` that of runtimes speaking the
Lambda Runtime API (custom ``provided.*`` bootstraps and lambox's Node client). Every
function, whatever its runtime, finds in its environment what an AWS SDK needs to call
lambox with no configuration (``SandboxContext``): the region, temporary credentials of
the function's execution role (as AWS gives them), and ``AWS_ENDPOINT_URL``, lambox's own
address as a function on this machine reaches it.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lambox.model import FunctionVersion

RUNTIME_DIR = str(Path(__file__).resolve().parents[2])
_KEY_CHARS = string.ascii_uppercase + string.digits

RoleCredentials = Callable[[str, str], tuple[str, str, str] | None]
"""(role ARN, function name) -> (access key, secret, session token) of a session of that
role, or None when the role cannot be assumed."""


InitSpill = Callable[[FunctionVersion, str, str], Callable[[bytes], None]]
"""(version, log stream, init type) -> where that sandbox's init writes its output past what
its log pipe keeps: the function's log, as it comes (``invoke.service.InitSpill``). A
provisioned-concurrency init, which no invocation's log begins with, writes all of it there."""


@dataclass(frozen=True, slots=True)
class SandboxContext:
    """What lambox tells every function about where it runs: the endpoint and credentials
    through which it reaches lambox's API ("" for none), and the ``sys.path`` entry of the
    libraries the Python runtime provides (``sandbox.pylibs``; "" for none). With
    ``role_credentials`` a function gets a session of its execution role; the context's own
    key is what it gets when there is none (or the role cannot be assumed). An init's log
    past what a sandbox keeps in memory goes to ``init_spill`` (None: its oldest part is
    dropped)."""

    endpoint_url: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    session_token: str = ""
    python_libs: str = ""
    role_credentials: RoleCredentials | None = None
    init_spill: InitSpill | None = None

    @classmethod
    def for_server(cls, host: str, port: int) -> SandboxContext:
        """The context of a server listening on ``host``:``port``, with fresh credentials
        shaped as AWS's temporary ones (signatures are not checked, so any key works)."""
        return cls(
            endpoint_url=endpoint_url(host, port),
            access_key_id="ASIA" + "".join(secrets.choice(_KEY_CHARS) for _ in range(16)),
            secret_access_key=secrets.token_urlsafe(30)[:40],
            session_token=secrets.token_urlsafe(96),
        )

    def aws_variables(self, role: str = "", function: str = "") -> dict[str, str]:
        if not self.endpoint_url:
            return {}
        key, secret, token = self.access_key_id, self.secret_access_key, self.session_token
        if self.role_credentials is not None and role:
            issued = self.role_credentials(role, function)
            if issued is not None:
                key, secret, token = issued
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_SESSION_TOKEN": token,
        }


NO_CONTEXT = SandboxContext()


def endpoint_url(host: str, port: int) -> str:
    """lambox's address as a function on this machine reaches it: a wildcard listening
    address means every local address, of which loopback is the one always there."""
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def log_stream_name(version: str) -> str:
    """A fresh CloudWatch-style stream name, one per execution environment."""
    return time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{version}]{secrets.token_hex(16)}"


def sandbox_env(
    fv: FunctionVersion,
    log_stream: str,
    init_type: str = "on-demand",
    context: SandboxContext = NO_CONTEXT,
    opt_root: str | None = None,
) -> dict[str, str]:
    """The environment of a Python sandbox, as the AWS Python runtimes define it.

    ``opt_root`` is where the sandbox sees the function's layers: ``/opt`` in a jail; by
    default the merged tree's own path (plain processes see the host's filesystem)."""
    config = fv.config
    task = fv.code_dir
    opt = opt_root if opt_root is not None else (str(fv.opt_dir) if fv.opt_dir else "")
    python_path = [RUNTIME_DIR, *_python_layers(fv, opt)]
    if context.python_libs:
        python_path.append(context.python_libs)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin" + (f":{opt}/bin" if opt else ""),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": ":".join(python_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(fv.code_dir),
        "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
        "LD_LIBRARY_PATH": f"/lib64:/usr/lib64:{RUNTIME_DIR}:{task}:{task}/lib:{opt or '/opt'}/lib",
        "_HANDLER": config.handler,
        "AWS_REGION": fv.region,
        "AWS_DEFAULT_REGION": fv.region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_VERSION": config.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
        "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
        "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "SHLVL": "0",
        **context.aws_variables(config.role, config.name),
    }
    if config.log_format == "JSON":
        # What Lambda's runtimes read to log JSON records at the function's level.
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        env["AWS_LAMBDA_LOG_LEVEL"] = config.application_log_level or "INFO"
    env.update(config.environment)
    return env


def _python_layers(fv: FunctionVersion, opt: str) -> list[str]:
    """A Python function's layer directories, for the process backend, where /opt is not
    the layers (in a jail the runtime puts /opt/python on sys.path itself)."""
    if not opt or not fv.config.runtime.startswith("python"):
        return []
    return [f"{opt}/python/lib/{fv.config.runtime}/site-packages", f"{opt}/python"]


def runtime_api_env(
    fv: FunctionVersion,
    log_stream: str,
    init_type: str,
    runtime_api: str,
    path_prefix: str = "",
    context: SandboxContext = NO_CONTEXT,
) -> dict[str, str]:
    """The environment of a Runtime API sandbox (``provided.*``, ``nodejs*``): Lambda's
    variables and ``AWS_LAMBDA_RUNTIME_API``, without the Python runtime's own variables
    (unless the function sets them); ``path_prefix`` goes first on PATH."""
    env = sandbox_env(fv, log_stream, init_type, context)
    opt = str(fv.opt_dir) if fv.opt_dir else ""
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
        layers = f"{opt}/nodejs/node_modules:" if opt else ""
        env["NODE_PATH"] = f"{layers}{fv.code_dir}/node_modules:{fv.code_dir}"
    env["AWS_LAMBDA_RUNTIME_API"] = runtime_api
    return env
