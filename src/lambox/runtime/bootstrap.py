"""The Python runtime's main loop: import the handler once, then serve INVOKE frames.

Runs inside the sandbox process under whatever interpreter the function asked for, so it
uses the standard library and ``lambox.runtime.wire`` only. Failures are reported with
the names and messages Lambda's Python runtime uses, because functions and their callers
match on them. Nothing a handler does may end the loop; only the host closing the wire
(or the process dying) does.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import mmap
import os
import resource
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, NoReturn

from lambox.runtime import logs, snapstart, wire
from lambox.runtime.context import (
    ContextError,
    FunctionInfo,
    LambdaContext,
    decode_client_context,
)
from lambox.runtime.logs import (
    LOG_FD_ENV,
    Capture,
    LambdaHandler,
    format_error,
    install_logging,
    write_all,
)
from lambox.runtime.traceenv import TraceEnv

Handler = Callable[[Any, LambdaContext], Any]
ErrorObject = dict[str, Any]

IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"
RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"
UNHANDLED = "Unhandled"
READ_BUFFER = 256 << 10
WIRE_FD_ENV = "LAMBOX_WIRE_FD"
# What the host tells the runtime through its environment; never the function's to see.
RUNTIME_SETTINGS = (WIRE_FD_ENV, snapstart.SNAPSHOT_FD_ENV, wire.PEAK_BY_HOST_ENV, LOG_FD_ENV)
HEADER_SIZE = wire.HEADER.size


class Fault(Exception):
    """A failure the runtime itself names, carrying Lambda's type, message and trace."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace

    def error(self, request_id: str = "") -> ErrorObject:
        return make_error(self.message, self.error_type, self.trace, request_id)


class ProtocolError(Exception):
    """The host sent something other than the frame the protocol allows next."""


def make_error(
    message: str, error_type: str, trace: list[str] | None, request_id: str = ""
) -> ErrorObject:
    """The error object of the Lambda invoke API, keys in the order Lambda emits them."""
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": trace or [],
    }


def _describe(exc: BaseException) -> str:
    """``str(exc)``, surviving exceptions whose ``__str__`` itself raises."""
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__} object>"


def user_trace(tb: TracebackType | None) -> list[str]:
    """Formatted frames of a traceback without the runtime's own leading frames.

    Frames are formatted from plain tuples so the lines carry no column markers, the
    shape Lambda puts in ``stackTrace``. If every frame is the runtime's (a handler that
    is not callable, say) they are all kept, so the trace is never empty for no reason.
    """
    start = tb
    while start is not None and start.tb_frame.f_globals.get("__name__") == __name__:
        start = start.tb_next
    frames = traceback.extract_tb(start if start is not None else tb)
    return traceback.format_list([(f.filename, f.lineno or 0, f.name, f.line) for f in frames])


def exception_error(exc: BaseException, request_id: str = "") -> ErrorObject:
    """The error object for an exception raised by user code."""
    return make_error(_describe(exc), type(exc).__name__, user_trace(exc.__traceback__), request_id)


def load_handler(spec: str) -> Handler:
    """Import the handler module and find the function, failing as Lambda fails.

    ``spec`` is ``module.function``; the module part may use dots for packages or ``/``
    for a subdirectory. ImportError and SyntaxError become runtime faults; any other
    exception from module-level code propagates and is reported under its own type.
    """
    try:
        modname, fname = spec.rsplit(".", 1)
    except ValueError as e:
        raise Fault(MALFORMED_HANDLER_NAME, f"Bad handler '{spec}': {e}") from None
    if modname.split(".")[0] in sys.builtin_module_names:
        raise Fault(
            BUILT_IN_MODULE_CONFLICT, f"Cannot use built-in module {modname} as a handler module"
        )
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise Fault(IMPORT_MODULE_ERROR, f"Unable to import module '{modname}': {e}") from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise Fault(
            USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{modname}': {e}", trace
        ) from None
    try:
        handler: Handler = getattr(module, fname)
    except AttributeError:
        raise Fault(HANDLER_NOT_FOUND, f"Handler '{fname}' missing on module '{modname}'") from None
    return handler


def exit_like(exc: SystemExit) -> NoReturn:
    """``sys.exit`` in function code ends the execution environment, as on Lambda: the host
    reports ``Runtime.ExitError`` with the exit status."""
    code = exc.code
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        write_all(2, f"{code}\n".encode())
        status = 1
    os._exit(status)


def initialize(spec: str) -> tuple[Handler | None, ErrorObject | None]:
    """The handler, or the error object that every invocation will answer with."""
    try:
        return load_handler(spec), None
    except Fault as f:
        return None, f.error()
    except SystemExit as e:
        exit_like(e)
    except BaseException as e:
        return None, exception_error(e)


def _decimal_default(o: object) -> object:
    """Let handlers return ``Decimal`` (as DynamoDB hands them out); anything else unknown
    fails with the standard library's message, which is what Lambda reports."""
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(o, decimal.Decimal):
        if o.is_finite() and o == o.to_integral_value():
            return int(o)
        return float(o)
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def make_marshal(env: Mapping[str, str]) -> Callable[[Any], bytes]:
    """The response encoder: C-accelerated JSON, raw ``bytes`` passed through untouched.

    Non-ASCII text is escaped except on the python3.12 runtime identity, mirroring the
    bytes Lambda's own encoder produces for each runtime. The C encoder is built once
    here, where ``JSONEncoder.encode`` builds one (and two Python frames) on every call;
    its circular-reference markers are emptied after a failure, which leaves them behind.
    """
    ascii_only = env.get("AWS_EXECUTION_ENV") != "AWS_Lambda_python3.12"
    ready: Callable[[Any], bytes] | None = _ready.pop(f"marshal-{ascii_only}", None)
    if ready is not None:
        return ready
    encoder = json.JSONEncoder(ensure_ascii=ascii_only, default=_decimal_default)
    markers: dict[int, Any] = {}
    make = getattr(json.encoder, "c_make_encoder", None)
    quote = json.encoder.encode_basestring_ascii if ascii_only else json.encoder.encode_basestring
    if make is None:  # an interpreter without the C accelerator
        encode: Callable[[Any], str] = encoder.encode
    else:
        chunks = make(
            markers,
            _decimal_default,
            quote,
            None,
            encoder.key_separator,
            encoder.item_separator,
            False,
            False,
            True,
        )

        def encode(result: Any) -> str:
            return "".join(chunks(result, 0))

    def marshal(result: Any) -> bytes:
        if result is None:
            return b"null"
        if isinstance(result, bytes):
            return result
        try:
            return encode(result).encode("utf-8", "surrogatepass")
        except Exception as e:
            markers.clear()
            raise Fault(MARSHAL_ERROR, f"Unable to marshal response: {_describe(e)}") from None

    return marshal


def make_decoder() -> Callable[[str], Any]:
    """``json.loads`` for text: the C scanner straight on text that is one value from its
    first character to its last (every payload the host sends, usually); the full decoder,
    for its whitespace handling and its error messages, otherwise. Errors raised by the scan
    itself are the ones the full decoder would raise, at the same positions."""
    ready: list[Callable[[str], Any]] | None = _ready.get("decoders")
    if ready:
        return ready.pop()
    decoder = json.JSONDecoder()
    scan: Callable[[str, int], tuple[Any, int]] = getattr(decoder, "scan_once")  # noqa: B009
    full = decoder.decode

    def decode(text: str) -> Any:
        try:
            value, end = scan(text, 0)
        except StopIteration:
            return full(text)
        return value if end == len(text) else full(text)

    return decode


def _result_frame(error: bool, log: bytes, payload: bytes, duration_ms: float, rss: bool) -> bytes:
    """One RESULT frame. The meta is written by hand: it is fixed-shape, and json.dumps
    would be the largest cost on the warm path for a tiny payload. ``rss``: report the
    process's peak RSS; without it 0, for a host that measures the sandbox's peak itself
    (``wire.PEAK_BY_HOST_ENV``), which spares a system call per invocation."""
    if len(log) + len(payload) > wire.MAX_BODY:
        error = True
        payload = json.dumps(
            make_error(
                f"Response payload size exceeded maximum allowed payload size "
                f"({wire.MAX_BODY - len(log)} bytes).",
                RESPONSE_TOO_LARGE,
                None,
            )
        ).encode()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if rss else 0
    kind = f'"{UNHANDLED}"' if error else "null"
    meta = (
        f'{{"error":{kind},"log_len":{len(log)},'
        f'"duration_ms":{duration_ms:.3f},"max_rss_kb":{peak}}}'
    ).encode()
    header = wire.HEADER.pack(wire.RESULT, len(meta), len(log) + len(payload))
    return b"".join((header, meta, log, payload))


class FrameReader:
    """Host frames off the wire, usually with a single ``recv``.

    The host writes each frame whole and waits for the answer before the next, so one
    ``recv_into`` a reusable buffer normally yields header, meta and body together where
    ``wire.recv_frame`` needs two. The header is unpacked in place and meta is decoded as
    text by ``make_decoder``, skipping the encoding sniffing ``json.loads`` does on bytes.
    Frames larger than the buffer are completed with exact reads; bytes past the end of a
    frame are kept for the next one.
    """

    def __init__(self, sock: socket.socket, size: int = READ_BUFFER) -> None:
        self._recv_into = sock.recv_into
        self._sock = sock
        # An anonymous mapping, not a bytearray: its pages are faulted in only as frames
        # fill them, where zeroing a bytearray would touch all of them on every cold start.
        self._buf = mmap.mmap(-1, size)
        self._view = memoryview(self._buf)
        self._have = 0
        self._decode = make_decoder()
        self._unpack = wire.HEADER.unpack_from

    def _fill(self, have: int, need: int) -> int:
        view = self._view
        while have < need:
            got = self._recv_into(view[have:])
            if not got:
                raise EOFError("wire closed")
            have += got
        return have

    def read(self) -> tuple[int, dict[str, Any], bytes]:
        """The next whole frame; EOFError when the host has closed the wire."""
        hsize = HEADER_SIZE
        have = self._fill(self._have, hsize)
        kind, meta_len, body_len = self._unpack(self._buf)
        if meta_len > wire.MAX_META or body_len > wire.MAX_BODY:
            raise ValueError(f"frame too large: meta {meta_len} body {body_len}")
        end = hsize + meta_len + body_len
        if end <= len(self._buf):
            have = self._fill(have, end)
            data = self._view
        else:
            data = memoryview(bytes(self._view[:have]) + wire.recv_exact(self._sock, end - have))
            have = end
        meta: dict[str, Any] = self._decode(str(data[hsize : hsize + meta_len], "utf-8"))
        body = bytes(data[hsize + meta_len : end])
        if have > end:
            self._buf[: have - end] = self._buf[end:have]
        self._have = have - end
        return kind, meta, body

    def next_invoke(self) -> tuple[dict[str, Any], bytes]:
        """The next INVOKE frame; anything else breaks the protocol."""
        kind, meta, body = self.read()
        if kind != wire.INVOKE:
            raise ProtocolError(f"expected INVOKE, got frame kind {kind}")
        return meta, body


def _context(
    info: FunctionInfo, request_id: str, meta: dict[str, Any], tenant_id: str | None
) -> LambdaContext:
    """The invocation's context object; a client context that does not decode is the
    runtime's ``LambdaContextUnmarshalError``. ``tenant_id`` is the meta's, read once by
    the loop (its log records carry it too)."""
    encoded = meta.get("client_context")
    try:
        client_context = decode_client_context(encoded) if encoded else None
    except ContextError as e:
        raise Fault(CONTEXT_UNMARSHAL_ERROR, str(e)) from None
    return LambdaContext(
        info,
        request_id,
        int(meta.get("deadline_ms") or 0),
        meta.get("arn"),
        client_context,
        tenant_id,
        meta.get("version"),
    )


def serve(
    sock: socket.socket,
    reader: FrameReader,
    handler: Handler,
    capture: Capture,
    log_handler: LambdaHandler,
    info: FunctionInfo,
    marshal: Callable[[Any], bytes],
    rss: bool = True,
) -> None:
    """Answer INVOKE frames until the host closes the wire.

    Everything an invocation does not need anew is bound once, before the loop: the
    decoder, the trace header's buffer (``TraceEnv``), the wire's methods. ``rss``: report
    the peak RSS in each RESULT (see ``_result_frame``)."""
    perf_counter = time.perf_counter
    decode_event = make_decoder()
    sendall = sock.sendall
    take = capture.take
    next_invoke = reader.next_invoke
    set_trace_id = TraceEnv().set
    while True:
        meta, body = next_invoke()
        request_id: str = meta["id"]
        log_handler.request_id = request_id
        tenant_id = log_handler.tenant_id = meta.get("tenant_id")
        set_trace_id(meta.get("trace_id"))
        error: ErrorObject | None = None
        start = perf_counter()
        try:
            context = _context(info, request_id, meta, tenant_id)
            try:
                event = decode_event(str(body, "utf-8")) if body else {}
            except ValueError as e:
                raise Fault(UNMARSHAL_ERROR, f"Unable to unmarshal input: {e}") from None
            payload = marshal(handler(event, context))
        except Fault as f:
            error = f.error(request_id)
        except SystemExit as e:
            exit_like(e)
        except BaseException as e:
            error = exception_error(e, request_id)
        duration_ms = (perf_counter() - start) * 1000.0
        if error is not None:
            write_all(1, format_error(error))
            payload = json.dumps(error).encode()
        sendall(_result_frame(error is not None, take(), payload, duration_ms, rss))


def serve_failed(
    sock: socket.socket,
    reader: FrameReader,
    error: ErrorObject,
    capture: Capture,
    log_handler: LambdaHandler,
) -> None:
    """After a failed init, answer every invocation with the init error, logged again as
    it would be when the failed init is retried for that invocation."""
    while True:
        meta, _ = reader.next_invoke()
        request_id: str = meta["id"]
        log_handler.request_id = request_id
        answer = dict(error, requestId=request_id)
        write_all(1, format_error(answer))
        payload = json.dumps(answer).encode()
        sock.sendall(_result_frame(True, capture.take(), payload, 0.0, True))


def runtime_path(path: list[str], libs: str = "") -> list[str]:
    """``path`` up to the standard library: what ``site`` appended after it (site-packages
    and what their .pth files added) is dropped, and so is the working directory. What
    stays is what PYTHONPATH put first (the lambox runtime, the runtime's libraries), then
    ``libs`` if given (where a zygote's sandboxes find the runtime's libraries) and the
    standard library. lambox's own dependencies, and whatever else is installed in the
    interpreter, are not a function's to import, as on AWS."""
    key = (tuple(path), libs)
    known = _paths.get(key)
    if known is None:
        known = _split_path(path)
        if len(_paths) < 8:
            _paths[key] = known
    before, standard = known
    cwd = os.getcwd()
    kept = [p for p in before if p != cwd]
    return kept + ([libs] if libs and libs not in kept else []) + list(standard)


def _split_path(path: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``runtime_path``'s two parts that depend on ``path`` alone: the entries before the
    standard library that may stay (the working directory is yet to be dropped), and the
    standard library's."""
    import site  # already imported at start-up, unless the interpreter ran with -S

    stdlib = os.path.dirname(os.__file__)
    version = f"{sys.version_info.major}{sys.version_info.minor}"
    stdlib_zip = os.path.join(os.path.dirname(stdlib), f"python{version}.zip")
    sites = set() if sys.flags.no_site else {*site.getsitepackages(), site.getusersitepackages()}
    sites = {os.path.normpath(p) for p in sites}

    def standard(entry: str) -> bool:
        entry = os.path.normpath(entry)
        inside = entry in (stdlib_zip, stdlib) or entry.startswith(stdlib + os.sep)
        return inside and entry not in sites  # Debian has a dist-packages in the stdlib

    ends = [i + 1 for i, p in enumerate(path) if p and standard(p)]
    start, end = (ends[0] - 1, ends[-1]) if ends else (len(path), len(path))
    before = tuple(p for p in path[:start] if p != "" and (ends or p not in sites))
    return before, tuple(path[start:end])


# ``_split_path``'s answers by ``runtime_path``'s inputs (the path and ``libs``): a zygote
# computes its own once (``prepare``) and its sandboxes find it here.
_paths: dict[tuple[tuple[str, ...], str], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def layer_path(runtime: str = "") -> list[str]:
    """Where a Python function finds its layers' packages, as on AWS: the site-packages of
    the function's runtime (a layer built for python3.12 names that directory even where
    lambox runs python3.12 functions on another interpreter), of this interpreter, and
    /opt/python."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    names = [runtime] if runtime.startswith("python") and runtime != version else []
    return [*(f"/opt/python/lib/{n}/site-packages" for n in (*names, version)), "/opt/python"]


def _set_path(task_root: str, runtime: str = "") -> None:
    """``sys.path`` in the order of AWS's Python runtimes: the function's code first, then
    its layers' (/opt/python), then the runtime's (``runtime_path``), so a package the
    function bundles wins over the runtime's copy (boto3 above all)."""
    layers = layer_path(runtime)
    rest = [p for p in runtime_path(sys.path) if p != task_root and p not in layers]
    sys.path[:] = [task_root, *layers, *rest]


def _restore(
    wire_fd: int, spec: dict[str, Any], capture: Capture
) -> tuple[socket.socket, FrameReader, ErrorObject | None]:
    """In a sandbox just forked from a SnapStart snapshot: a log and (on the Linux backend)
    a /tmp of its own, then, once the host says RESUME, the after-restore hooks. The
    wire, its reader and the hooks' error, if one raised."""
    capture.renew(spec.get("log_fd"))
    if spec.get("tmp_mb"):
        from lambox.runtime import jail

        jail.private_tmp(int(spec["tmp_mb"]), int(spec["uid"]), int(spec["gid"]))
    sock = socket.socket(fileno=wire_fd)
    reader = FrameReader(sock)
    kind, _, _ = reader.read()
    if kind != wire.RESUME:
        raise ProtocolError(f"expected RESUME, got frame kind {kind}")
    snapstart.reseed()
    hooks_ms, error = snapstart.timed(snapstart.run_after_restore, exception_error)
    if error is not None:
        write_all(1, format_error(error))
    ready = {"init_ms": round(hooks_ms, 3), "init_error": error, "restored": True}
    sock.sendall(wire.encode(wire.READY, ready, capture.take()))
    return sock, reader, error


def runtime_settings(env: dict[str, str]) -> dict[str, str]:
    """Take the variables meant for the runtime itself out of ``env`` (a sandbox's whole
    environment), so a zygote's child never installs them in ``os.environ`` only to
    remove them again: they are ``main``'s ``settings``."""
    return {name: env.pop(name) for name in RUNTIME_SETTINGS if name in env}


# What ``prepare`` built in a zygote, taken once by the first sandbox set-up that would
# build the same: "decoders" (``make_decoder``), "marshal-True"/"marshal-False"
# (``make_marshal`` with and without ASCII escapes).
_ready: dict[str, Any] = {}


def prepare() -> None:
    """In a zygote: build what each sandbox forked from it would build the same way at its
    start, so the sandbox takes it instead (see ``logs.prepare``): the logging streams and
    handler, the frame reader's and the invoke loop's JSON decoders, the response encoder
    for the runtimes that escape non-ASCII, and ``runtime_path``'s answer for this
    interpreter's path. Nothing here depends on a function or holds anything of one."""
    logs.prepare()
    _ready["decoders"] = [make_decoder(), make_decoder()]
    _ready["marshal-True"] = make_marshal({})
    with contextlib.suppress(OSError):  # a working directory gone: nothing to remember
        runtime_path(sys.path)


def main(
    on_init: Callable[[bool], dict[str, Any]] | None = None,
    capture: Capture | None = None,
    settings: dict[str, str] | None = None,
) -> int:
    """Run the sandbox side of the wire; the exit status for the interpreter.

    For zygote children: ``on_init`` is called with whether init succeeded, and what it
    returns is added to the READY meta (a first sandbox reports the modules init imported);
    ``capture`` is the log capture a spare set up before it was claimed; ``settings`` the
    runtime's own variables (``runtime_settings``), taken from ``os.environ`` otherwise.
    With ``LAMBOX_SNAPSHOT_FD`` set, a successful init makes this process a SnapStart
    snapshot (``runtime.snapstart``): it returns only when the host hangs up, and each
    sandbox it forks goes on below as a restored one."""
    env = os.environ
    source: dict[str, str] | os._Environ[str] = env if settings is None else settings
    fd = int(source.pop(WIRE_FD_ENV))
    snapshot_fd = source.pop(snapstart.SNAPSHOT_FD_ENV, None)
    rss = source.pop(wire.PEAK_BY_HOST_ENV, None) is None
    os.set_inheritable(fd, False)
    sock = socket.socket(fileno=fd)
    if capture is None:
        log_fd = None if settings is None else settings.get(LOG_FD_ENV)
        capture = Capture(None if log_fd is None else int(log_fd))
    reader = FrameReader(sock)
    try:
        log_handler = install_logging(
            env.get("AWS_LAMBDA_LOG_LEVEL"), env.get("AWS_LAMBDA_LOG_FORMAT")
        )
        runtime = env.get("AWS_EXECUTION_ENV", "").removeprefix("AWS_Lambda_")
        _set_path(env.get("LAMBDA_TASK_ROOT") or os.getcwd(), runtime)
        snapstart.expose_hooks()
        info = FunctionInfo.from_env(env)
        marshal = make_marshal(env)
        start = time.perf_counter()
        handler, error = initialize(env.get("_HANDLER", ""))
        if snapshot_fd is not None and handler is not None:
            _, error = snapstart.timed(snapstart.run_before_snapshot, exception_error)
            handler = handler if error is None else None
        init_ms = (time.perf_counter() - start) * 1000.0
        if error is not None:
            write_all(1, format_error(error))
        ready = {"init_ms": round(init_ms, 3), "init_error": error}
        if on_init is not None:
            ready.update(on_init(handler is not None))
        sock.sendall(wire.encode(wire.READY, ready, capture.take()))
        if snapshot_fd is not None and handler is not None:
            sock.close()
            control = socket.socket(fileno=int(snapshot_fd))
            restored = snapstart.RestoreLoop(control).serve()
            if restored is None:
                return 0
            sock, reader, error = _restore(*restored, capture)
            handler = handler if error is None else None
        if handler is None:
            assert error is not None
            serve_failed(sock, reader, error, capture, log_handler)
        else:
            serve(sock, reader, handler, capture, log_handler, info, marshal, rss)
    except (EOFError, ConnectionError):
        return 0
    except BaseException:
        capture.fatal("lambox runtime: fatal error\n" + traceback.format_exc())
        return 1
    return 0
