"""The Runtime API backend: sandboxes whose runtime speaks Lambda's HTTP Runtime API.

``provided.al2023`` / ``provided.al2`` run the function's own executable ``bootstrap`` from
the root of its code; ``nodejs*`` runs lambox's Node client (``runtime/node/bootstrap.mjs``)
on the node the runtime catalog resolved. Either way a sandbox is one runtime process whose
``AWS_LAMBDA_RUNTIME_API`` names a Runtime API server of its own: one ephemeral loopback port
per sandbox, so a runtime only ever sees its own invocations.

Where the process runs is the ``Launcher``'s business (``sandbox.launch``): on the Linux
backend it is jailed exactly like a Python sandbox (forked by the base zygote into its own
pid, mount, ipc, uts and cgroup namespaces under a tiny pid 1, code read-only at /var/task,
a private /tmp, the sandbox user, a cgroup with MemorySize, the pids limit and, once init is
over, the CPU quota); with ``LAMBOX_SANDBOX=process`` it is a plain process in its own
session, killed as a group. A function tagged ``lambox:network=none`` has only its own
loopback: its sandbox makes the listening socket there (127.0.0.1:9001) and the host serves
the API on that socket. Max Memory Used and out-of-memory deaths come from the launcher
(the cgroup's peak and OOM kills on Linux, as ``LinuxSandbox`` reports them).

Logs: the process's stdout and stderr are one pipe the host reads as output arrives
(``sandbox.logpipe``: never held in the sandbox, at most its last MB kept per segment). What
was read up to the runtime's first ``/next`` (or its ``/init/error``) is the init's log; what
was read from then to an invocation's ``/response`` or ``/error`` is that invocation's. The
pipe is drained at the moment the post arrives, so nothing the runtime wrote before posting
is missed; output written while idle goes to the next invocation. What outgrows the MB kept
is written to the function's log as it comes, whole lines at a time: an invocation's through
its ``InvokeRequest.log_spill``, an init's through the context's ``init_spill`` (to the
sandbox's stream, after INIT_START and ahead of the first invocation's START), so the log
is complete.

Failures, as in the process backend: no answer within the timeout is SandboxTimeout, the
process gone is SandboxDead with its exit status, and either destroys the sandbox. A runtime
that exits while idle is started again by the next invocation (whose log then begins with
the new init's output), as Lambda re-initializes an environment whose runtime exited. A
``provided`` function without a usable ``bootstrap`` starts fine and answers every
invocation with Lambda's ``Runtime.InvalidEntrypoint`` error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from lambox.errors import SandboxDead, SandboxError, SandboxOutOfMemory, SandboxTimeout
from lambox.model import FunctionVersion
from lambox.runtime.jail import TASK_ROOT
from lambox.sandbox.api import InitReport, InvokeRequest, PrepareFailure, RawResult
from lambox.sandbox.environment import (
    NO_CONTEXT,
    RUNTIME_DIR,
    SandboxContext,
    log_stream_name,
    runtime_api_env,
)
from lambox.sandbox.launch import Launcher, ProcessLauncher, Runtime, serve_on
from lambox.sandbox.logpipe import LogPipe
from lambox.sandbox.peers import Gate
from lambox.sandbox.runtime_api import BODY_LIMIT, UNHANDLED, Event, RuntimeApi, streams
from lambox.sandbox.runtime_api_server import ApiServer, serve
from lambox.sandbox.wired import INIT_TIMEOUT, logged_if_provisioned

NODE_BOOTSTRAP = str(Path(RUNTIME_DIR) / "lambox" / "runtime" / "node" / "bootstrap.mjs")
EXIT_GRACE = 1.0


class RuntimeApiSandbox:
    """One runtime process and the Runtime API endpoint that serves it."""

    def __init__(
        self,
        version: FunctionVersion,
        init_type: str,
        path_prefix: str,
        launcher: Launcher,
        context: SandboxContext = NO_CONTEXT,
    ) -> None:
        self.version = version
        self._init_type = init_type
        self._path_prefix = path_prefix
        self._context = context
        self._launcher = launcher
        self._stream = log_stream_name(version.config.version)
        self._proc: Runtime | None = None
        self._pidfd = -1
        self._api: RuntimeApi | None = None
        self._server: ApiServer | None = None
        self._log: LogPipe | None = None
        self._entrypoint: str | None = None
        self._exit_code: int | None = None
        self._exited = False
        self._destroyed = False
        # Learned when the runtime exited, before its resources (the cgroup) are released.
        self._out_of_memory = False
        self._peak_kb = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._init_spilled = False

    @property
    def alive(self) -> bool:
        """Until destroyed: a runtime that exited while idle is started again by the next
        ``invoke``, as Lambda re-initializes it."""
        return not self._destroyed

    async def start(self) -> InitReport:
        started = time.perf_counter()
        sink = self._init_spill()
        error = await self._launch(sink)
        init_ms = (time.perf_counter() - started) * 1000
        log = self._log.take_cut() if self._log is not None else b""
        report = InitReport(
            init_ms=init_ms,
            error=error,
            log=log,
            log_stream=self._stream,
            spilled=self._init_spilled,
        )
        return logged_if_provisioned(report, self._init_type, sink)

    async def invoke(self, request: InvokeRequest, timeout: float) -> RawResult:
        try:
            return await self._invoke(request, timeout)
        except SandboxDead as exc:
            if not self._out_of_memory or isinstance(exc, SandboxOutOfMemory):
                raise
            size = self.version.config.memory_size
            oom = SandboxOutOfMemory(
                f"{exc}: out of memory (MemorySize {size} MB)", exc.exit_code, self._peak_kb // 1024
            )
            oom.log = exc.log
            raise oom from None

    async def _invoke(self, request: InvokeRequest, timeout: float) -> RawResult:
        if self._destroyed:
            raise SandboxDead("sandbox is not running")
        if self._entrypoint is not None:
            return self._invalid_entrypoint(request.request_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        started = time.perf_counter()
        event = Event(request.request_id, request.payload, _event_headers(request))
        prefix = b""
        # Twice at most: a runtime that exits between invocations (before it took this one)
        # is started again and gets the invocation, as Lambda re-initializes it.
        for _ in range(2):
            if self._exited:
                self._teardown()
                # Its init's output past what is kept goes out after this invocation's START.
                error = await self._launch(request.log_spill)
                prefix += self._log.take_cut() if self._log is not None else b""
                if error is not None:
                    self._exited = True  # init again on the next invocation, as Lambda does
                    return RawResult(error, UNHANDLED, prefix, 0.0, 0)
            api, log = self._api, self._log
            assert api is not None and log is not None
            spill = request.log_spill
            if spill is not None and prefix:
                spill = _SpillAfter(prefix, spill)
            log.spill = spill
            answer = api.hand(event, request.sink)
            try:
                result = await asyncio.wait_for(answer, max(0.0, deadline - loop.time()))
            except TimeoutError:
                timed_out = SandboxTimeout("the runtime did not answer in time")
                # What it wrote before it was given up on.
                timed_out.log = _unspilled(prefix, spill) + log.take()
                await self.destroy()
                raise timed_out from None
            except SandboxDead as exc:
                if api.delivered or not self._exited:
                    exc.log = _unspilled(prefix, spill) + log.take()
                    await self.destroy()
                    raise
                prefix = _unspilled(prefix, spill)
                continue
            except SandboxError as exc:
                exc.log = _unspilled(prefix, spill) + log.take()
                await self.destroy()
                raise
            finally:
                log.spill = None
            return RawResult(
                payload=result.payload,
                error=result.error,
                log=_unspilled(prefix, spill) + log.take_cut(),
                duration_ms=(time.perf_counter() - started) * 1000,
                max_rss_kb=self._proc.max_rss_kb() if self._proc is not None else 0,
            )
        await self.destroy()
        raise SandboxDead("the runtime exited before taking the invocation", self._exit_code)

    async def destroy(self) -> None:
        if self._destroyed:
            return
        self._destroyed = True
        proc = self._teardown()
        if proc is not None:
            await proc.wait()

    # -- the runtime process -----------------------------------------------------------------

    def _init_spill(self) -> Callable[[bytes], None] | None:
        """Where an init's output past what the pipe keeps goes: the sandbox's stream of
        the function's log, ahead of what the first invocation writes there."""
        make = self._context.init_spill
        if make is None:
            return None
        spill = make(self.version, self._stream, self._init_type)

        def spilled(data: bytes) -> None:
            self._init_spilled = True
            spill(data)

        return spilled

    async def _launch(self, spill: Callable[[bytes], None] | None = None) -> bytes | None:
        """Start the runtime and wait for its init: None when it asked for its first
        invocation, the error payload when it posted /init/error. ``spill`` takes the init's
        output past what the log pipe keeps (None: the oldest part is dropped)."""
        fv = self.version
        command = self._command()
        if command is None:
            return None
        self._exited, self._exit_code = False, None
        self._out_of_memory, self._peak_kb = False, 0
        log = self._log = LogPipe()
        log.spill = spill
        api = self._api = RuntimeApi(log.cut)
        address = self._launcher.api_address(fv)
        gate = Gate()
        if address is None:
            self._server = await serve(api.handle, BODY_LIMIT, streams=streams, admit=gate.admits)
            address = self._server.address
        env = runtime_api_env(
            fv, self._stream, self._init_type, address, self._path_prefix, self._context
        )
        init_timeout = max(INIT_TIMEOUT, fv.config.timeout)
        try:
            self._proc = proc = await self._launcher.launch(fv, command, env, log.child_fd, gate)
        except OSError as exc:
            self._teardown()
            if fv.config.runtime.startswith("provided"):
                reason = (exc.strerror or str(exc)).lower()
                self._entrypoint = f"fork/exec {command[0]}: {reason}"
                return None
            raise SandboxError(f"cannot start {command[0]}: {exc}") from exc
        except BaseException:
            self._teardown()
            raise
        finally:
            log.started()
        try:
            self._watch(proc.pid)
            if self._server is None:
                sock = await proc.listener(init_timeout)
                assert sock is not None
                self._server = await serve_on(sock, api.handle, BODY_LIMIT)
            error = await asyncio.wait_for(api.init, init_timeout)
            log.spill = None
        except TimeoutError:
            await self.destroy()
            raise SandboxTimeout("the runtime did not finish its init in time") from None
        except SandboxError:
            if proc.exec_error is not None and fv.config.runtime.startswith("provided"):
                # execve failed inside the sandbox: what Popen would have raised above.
                path = command[0].replace(str(fv.code_dir), TASK_ROOT)
                self._entrypoint = f"fork/exec {path}: {proc.exec_error}"
                self._teardown()
                return None
            await self.destroy()
            raise
        proc.initialized()
        return error

    def _command(self) -> list[str] | None:
        fv = self.version
        if fv.config.runtime.startswith("nodejs"):
            if not fv.interpreter:
                raise SandboxError(f"no node for runtime {fv.config.runtime}")
            return [fv.interpreter, NODE_BOOTSTRAP]
        bootstrap = fv.code_dir / "bootstrap"
        if not bootstrap.is_file():
            self._entrypoint = f"Couldn't find valid bootstrap(s): [{bootstrap}]"
            return None
        return [str(bootstrap)]

    def _watch(self, pid: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            loop.call_soon(self._on_exit)  # it already exited (and was reaped by its zygote)
            return
        except OSError as exc:
            raise SandboxError(f"cannot watch the runtime process: {exc}") from exc
        loop.add_reader(self._pidfd, self._on_exit)

    def _on_exit(self) -> None:
        """The runtime process ended. What it left (OOM kills, peak memory) is read now,
        its exit status as soon as it is known."""
        self._unwatch()
        proc = self._proc
        if proc is None or self._exited:
            return
        self._exited = True
        self._out_of_memory = proc.out_of_memory()
        self._peak_kb = proc.max_rss_kb()
        task = asyncio.get_running_loop().create_task(self._after_exit(proc))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_exit(self, proc: Runtime) -> None:
        """A post the runtime made just before it exited may still be unread on its
        connection, so the pending call fails only once its connections closed."""
        code = await proc.exit_code()
        if proc is not self._proc:
            return
        self._exit_code = code
        if self._api is not None and self._server is not None:
            deadline = time.monotonic() + EXIT_GRACE
            self._fail_when_disconnected(self._api, self._server, code, deadline)
        elif self._api is not None:
            self._api.fail(SandboxDead("the runtime exited", exit_code=code))

    def _fail_when_disconnected(
        self, api: RuntimeApi, server: ApiServer, code: int | None, deadline: float
    ) -> None:
        """Fail ``api``'s pending call once ``server`` has no connection left (or at the
        deadline); a no-op once the runtime was started again or the sandbox destroyed."""
        if api is not self._api or self._destroyed:
            return
        if server.connections and time.monotonic() < deadline:
            loop = asyncio.get_running_loop()
            loop.call_later(0.005, self._fail_when_disconnected, api, server, code, deadline)
            return
        api.fail(SandboxDead("the runtime exited", exit_code=code))

    def _unwatch(self) -> None:
        if self._pidfd >= 0:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1

    def _teardown(self) -> Runtime | None:
        """Stop the endpoint and kill the runtime's process group (idempotent); the killed
        process is returned for the caller to reap (already reaped if it had exited)."""
        self._unwatch()
        if self._api is not None:
            self._api.close()
            self._api.fail(SandboxDead("sandbox destroyed"))
        if self._server is not None:
            self._server.close()
            self._server = None
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
        if self._log is not None:
            self._log.close()
        return proc

    def _invalid_entrypoint(self, request_id: str) -> RawResult:
        message = f"RequestId: {request_id} Error: {self._entrypoint}"
        payload = json.dumps({"errorType": "Runtime.InvalidEntrypoint", "errorMessage": message})
        log = f"{message}\nRuntime.InvalidEntrypoint\n".encode()
        return RawResult(payload.encode(), UNHANDLED, log, 0.0, 0)


class _SpillAfter:
    """An invocation's ``log_spill`` with ``prefix`` (the output of an init run within this
    invocation) put before its first part, so the log keeps the order it was written in."""

    __slots__ = ("_spill", "prefix")

    def __init__(self, prefix: bytes, spill: Callable[[bytes], None]) -> None:
        self.prefix = prefix
        self._spill = spill

    def __call__(self, data: bytes) -> None:
        if self.prefix:
            data, self.prefix = self.prefix + data, b""
        self._spill(data)


def _unspilled(prefix: bytes, spill: Callable[[bytes], None] | None) -> bytes:
    """What of ``prefix`` did not go out with a spilled part (and belongs in the result)."""
    return spill.prefix if isinstance(spill, _SpillAfter) else prefix


def _event_headers(request: InvokeRequest) -> tuple[tuple[str, str], ...]:
    headers = [
        ("Lambda-Runtime-Aws-Request-Id", request.request_id),
        ("Lambda-Runtime-Deadline-Ms", str(int(request.deadline * 1000))),
        ("Lambda-Runtime-Invoked-Function-Arn", request.invoked_arn),
        ("Lambda-Runtime-Trace-Id", request.trace_id),
    ]
    context = _client_context(request.client_context)
    if context is not None:
        headers.append(("Lambda-Runtime-Client-Context", context))
    if request.tenant_id is not None:
        headers.append(("Lambda-Runtime-Aws-Tenant-Id", request.tenant_id))
    return tuple(headers)


def _client_context(encoded: str | None) -> str | None:
    """The caller's base64 client context as the one-line JSON Lambda hands the runtime."""
    if not encoded:
        return None
    try:
        return json.dumps(json.loads(base64.b64decode(encoded)), separators=(",", ":"))
    except (binascii.Error, ValueError):
        return None


class RuntimeApiSandboxFactory:
    """SandboxFactory for runtimes speaking the Runtime API. ``path_prefix`` is put first on
    the sandboxes' PATH (lambox puts its own interpreter's directory there, so a bootstrap's
    ``python3`` is lambox's Python, with awslambdaric when the dev extra is installed);
    ``context`` goes into every sandbox's environment (and takes an init's log past what its
    log pipe keeps)."""

    name = "runtime-api"

    def __init__(
        self,
        path_prefix: str = "",
        launcher: Launcher | None = None,
        context: SandboxContext = NO_CONTEXT,
    ) -> None:
        self._path_prefix = path_prefix
        self._context = context
        self.launcher = launcher or ProcessLauncher()

    def create(self, version: FunctionVersion, init_type: str = "on-demand") -> RuntimeApiSandbox:
        return RuntimeApiSandbox(
            version, init_type, self._path_prefix, self.launcher, self._context
        )

    async def prepare(self, version: FunctionVersion) -> PrepareFailure | None:
        return None

    def retire(self, name: str, qualifier: str | None) -> None:
        return None

    def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
