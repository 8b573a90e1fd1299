"""Log capture inside the sandbox: one byte stream behind fds 1 and 2.

The runtime owns the process's stdout and stderr. Both fds are pointed at one sink, which
makes every writer (``print``, ``sys.stderr``, raw ``os.write``, child processes that
inherit the fds, the logging handler) land in one byte stream, in write order, at no cost
beyond the write itself. The sink is the write end of a pipe the host drains as the function
writes (``LOG_FD_ENV`` names it; ``sandbox.logpipe`` on the host), so no log is ever held in
the sandbox's memory and the host cuts it into invocations when each result arrives; ``take``
then has nothing to hand over. Without one (the runtime run on its own, as the unit tests
do) the sink is a memfd opened O_APPEND that ``take`` reads and empties between
invocations, keeping its last ``LOG_CAP`` bytes.

The host's stderr (the server's log, inherited through the zygote) is kept only while no
function code has run: setup failures are reported there. ``install_logging``, the
runtime's last step before it imports the handler, closes it, so function code finds no
descriptor that reaches the server's log; a later fatal error goes to the function's log.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import os
import sys
import time
import traceback
from typing import Any, TextIO

LOG_CAP = 1 << 20
LOG_FD_ENV = "LAMBOX_LOG_FD"
FATAL_CAP = 16 << 10
TRUNCATED = b"... truncated\n"
ERROR_INDENT = "\u00a0"
LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until done: a short write must not silently drop the rest of a record."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_sink() -> int:
    """An anonymous file that lives in memory; a deleted temp file where memfd is missing
    (imported only then, as it costs every cold start otherwise)."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("lambox-log", os.MFD_CLOEXEC)
    import tempfile

    with tempfile.TemporaryFile() as f:
        return os.dup(f.fileno())


class _StdioFile(io.FileIO):
    """A raw fd writer that reports itself unseekable, as a pipe-backed stdout would be,
    so no library tries to seek or truncate the shared log file through sys.stdout."""

    def seekable(self) -> bool:
        return False


def _text_stream(fd: int, errors: str) -> TextIO:
    """A text stream with no buffer of its own, so writes reach the fd in program order.

    The same construction the interpreter uses for ``-u``; buffered stdio would reorder
    ``print`` against raw fd writes and hold output past the end of an invocation.
    """
    raw = _StdioFile(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors=errors, write_through=True)


class Capture:
    """Owns fds 1 and 2 for the life of the process; hands out per-invocation bytes.

    ``sys.__stdout__``/``sys.__stderr__`` are replaced too: the interpreter's originals
    buffer, so text written through them would surface in some later invocation.
    """

    def __init__(self, log_fd: int | None = None) -> None:
        """``log_fd``: the host's log pipe; else the one ``LOG_FD_ENV`` names, if any."""
        global _current
        try:
            self.host_stderr: int | None = os.dup(2)
        except OSError:
            self.host_stderr = None
        _current = self
        if log_fd is None:
            named = os.environ.pop(LOG_FD_ENV, None)
            log_fd = None if named is None else int(named)
        self._fd = self._sink(log_fd)
        for stream in (sys.stdout, sys.stderr):
            _flush_quietly(stream)
        # The interpreter's own stdio objects stay referenced so their finalizers never run.
        self._replaced = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
        os.dup2(self._fd, 1)
        os.dup2(self._fd, 2)
        streams = _ready.pop("streams", None)
        if streams is None:
            streams = (_text_stream(1, "strict"), _text_stream(2, "backslashreplace"))
        self._stdout, self._stderr = streams
        sys.stdout = self._stdout
        sys.stderr = self._stderr
        setattr(sys, "__stdout__", self._stdout)  # noqa: B010
        setattr(sys, "__stderr__", self._stderr)  # noqa: B010

    def _sink(self, log_fd: int | None) -> int:
        """The host's pipe when there is one (``take`` then has nothing to read), else a
        memfd of our own."""
        self._streamed = log_fd is not None
        if log_fd is not None:
            os.set_inheritable(log_fd, False)
            return log_fd
        fd = _open_sink()
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        return fd

    def take(self) -> bytes:
        """Everything written since the last call (the last ``LOG_CAP`` bytes of it), then
        an empty file again. A zero offset means nothing was written: one cheap syscall.
        Streamed to the host's pipe, the log is the host's to cut: nothing to read here."""
        if sys.stdout is not self._stdout:
            _flush_quietly(sys.stdout)
        if sys.stderr is not self._stderr:
            _flush_quietly(sys.stderr)
        if self._streamed:
            return b""
        fd = self._fd
        end = os.lseek(fd, 0, os.SEEK_CUR)
        if not end:
            return b""
        if end <= LOG_CAP:
            data = os.pread(fd, end, 0)
        else:
            tail = os.pread(fd, LOG_CAP, end - LOG_CAP)
            cut = tail.find(b"\n", 0, 4096)
            data = TRUNCATED + (tail[cut + 1 :] if cut >= 0 else tail)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        return data

    def renew(self, log_fd: int | None = None) -> None:
        """A sink of its own behind fds 1 and 2 (the host's pipe ``log_fd``, else a memfd),
        for a process forked from one that had this capture (a restored sandbox must not
        share its snapshot's log) or a spare claimed for a function."""
        fd = self._sink(log_fd)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(self._fd)
        self._fd = fd

    def seal(self) -> None:
        """Close the host's stderr (idempotent); due before any function code runs."""
        fd, self.host_stderr = self.host_stderr, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def fatal(self, message: str) -> None:
        """Report a runtime failure: on the host's stderr, where an operator sees it, until
        ``seal``; after that, its last ``FATAL_CAP`` bytes in the function's log, as only
        a bounded path may remain once function code could have run."""
        data = message.encode("utf-8", "backslashreplace")
        if self.host_stderr is not None:
            write_all(self.host_stderr, data)
        else:
            with contextlib.suppress(OSError):
                write_all(self._fd, data[-FATAL_CAP:])


# The capture of this process (there is at most one: it owns fds 1 and 2), for the seal.
_current: Capture | None = None
# What ``prepare`` built in a zygote, each taken (once) by the first sandbox set-up that
# would build it: "streams" for ``Capture``, "handler" for ``install_logging``.
_ready: dict[str, Any] = {}


def prepare() -> None:
    """Build, in a zygote, the logging objects every sandbox forked from it would build
    the same way: the text streams behind fds 1 and 2 and the root logger's handler for
    the Text format, and make formatters UTC. A forked sandbox then only takes them; each
    construction it skips is pages of objects, code and allocator it does not copy from
    the zygote. The zygote itself never installs them, nor writes through them."""
    logging.Formatter.converter = time.gmtime
    with contextlib.suppress(OSError):  # no fd 1 or 2 here (a server run with them closed)
        _ready["streams"] = (_text_stream(1, "strict"), _text_stream(2, "backslashreplace"))
    _ready["handler"] = LambdaHandler("Text")


def _flush_quietly(stream: Any) -> None:
    """User code may replace sys.stdout with anything; a broken stream must not stop us.

    Only streams other than the runtime's need it: those write through to the fd.
    """
    with contextlib.suppress(Exception):
        stream.flush()


_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "aws_request_id",
    "tenant_id",
}
_log_format = "Text"


def _stamp(created: float) -> str:
    ms = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{ms:03d}Z"


class JsonFormatter(logging.Formatter):
    """The JSON record Lambda's Python runtime writes with LogFormat JSON: timestamp, level,
    message, logger and requestId (and tenantId in a tenant-isolated function), the
    exception's type, message and trace when there is one, and whatever the caller passed
    as ``extra``."""

    def format(self, record: logging.LogRecord) -> str:
        levelno = min(50, max(0, record.levelno)) // 10 * 10
        result: dict[str, Any] = {
            "timestamp": _stamp(record.created),
            "level": logging.getLevelName(levelno),
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", None) or None,
            "tenantId": getattr(record, "tenant_id", None),
        }
        if record.exc_info and record.exc_info[0] is not None:
            etype, value, tb = record.exc_info
            result["errorType"] = etype.__name__
            result["errorMessage"] = str(value)
            result["stackTrace"] = traceback.format_tb(tb)
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in result:
                result[key] = value
        return json.dumps(
            {k: v for k, v in result.items() if v is not None}, default=str, ensure_ascii=False
        )


class LambdaHandler(logging.Handler):
    """Root-logger handler producing the Lambda text log line, one write per record.

    ``request_id`` is set by the invoke loop before each call; records emitted by
    background threads between invocations carry the most recent id, as on Lambda.
    """

    def __init__(self, log_format: str = "Text") -> None:
        super().__init__()
        self.request_id = ""
        # The tenant of the invocation (a tenant-isolated function's), set with request_id.
        self.tenant_id: str | None = None
        if log_format == "JSON":
            self.setFormatter(JsonFormatter())
        else:
            formatter = logging.Formatter(LOG_FORMAT, DATE_FORMAT)
            formatter.converter = time.gmtime
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.aws_request_id = self.request_id
            record.tenant_id = self.tenant_id
            text = self.format(record)
            if not text.endswith("\n"):  # a JSON record, or a text one ending in a traceback
                text += "\n"
            write_all(1, text.encode("utf-8", "backslashreplace"))
        except Exception:
            self.handleError(record)


def install_logging(level: str | None, log_format: str | None = None) -> LambdaHandler:
    """Attach the Lambda handler to the root logger.

    The root level stays at the interpreter default (WARNING) unless AWS_LAMBDA_LOG_LEVEL
    names a level, matching what functions observe on Lambda. ``Formatter.converter`` is
    made UTC for every formatter because Lambda's clock zone is UTC and user formatters
    should agree with ours even when the host runs in another zone.

    The runtime calls this right before it imports the handler, so it also seals the
    process's capture (``Capture.seal``): from here on function code may run.
    ``log_format`` "JSON" (AWS_LAMBDA_LOG_FORMAT) makes every record, and the runtime's
    own error records, one JSON object per line as Lambda's LogFormat JSON does.
    """
    global _log_format
    if _current is not None:
        _current.seal()
    if logging.Formatter.converter is not time.gmtime:
        logging.Formatter.converter = time.gmtime
    _log_format = "JSON" if (log_format or "").upper() == "JSON" else "Text"
    ready: LambdaHandler | None = _ready.pop("handler", None)
    handler = ready if ready is not None and _log_format == "Text" else LambdaHandler(_log_format)
    root = logging.getLogger()
    if level:
        name = level.upper()
        name = "DEBUG" if name == "TRACE" else name
        if name in logging.getLevelNamesMapping():
            root.setLevel(name)
    root.addHandler(handler)
    return handler


def format_error(error: dict[str, Any]) -> bytes:
    """The ``[ERROR] Type: message`` record the runtime logs for a failed init or invoke.

    One record spanning several lines; leading spaces of traceback lines become no-break
    spaces so log viewers that strip indentation keep the traceback readable. With LogFormat
    JSON it is one JSON object, as Lambda's runtime writes it.
    """
    if _log_format == "JSON":
        record = {"timestamp": _stamp(time.time()), "log_level": "ERROR", **error}
        text = json.dumps(record, default=str, ensure_ascii=False) + "\n"
        return text.encode("utf-8", "backslashreplace")
    head = "[ERROR]"
    etype = error.get("errorType")
    message = error.get("errorMessage")
    if etype:
        head += " " + etype
    if message:
        head += (":" if etype else "") + " " + message
    lines = [head]
    trace = error.get("stackTrace")
    if trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in trace:
            if element == "":
                lines.append("")
                continue
            for line in element.splitlines():
                stripped = line.lstrip(" ")
                lines.append(ERROR_INDENT * (len(line) - len(stripped)) + stripped)
    return ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")
