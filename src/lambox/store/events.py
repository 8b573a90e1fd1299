"""The durable queue of asynchronous invocations: the ``EventQueue`` protocol and SQLite.

An ``Event`` invocation is answered 202 only once ``put`` has returned, and ``put`` returns
only once the event is committed. Delivery is at least once: an event leaves the queue when
the worker finished with it (``complete``), and an event claimed by a worker that never
finished becomes claimable again (``recover`` at start-up, or its lease running out).

Row lifecycle (``status``)::

    put --> pending --claim--> in-flight --complete--> (row deleted)
               ^                   |  |
               +----retry----------+  +--fail--> failed --redrive--> pending
               +----recover / lease expiry (claims of a server that died)
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from lambox.errors import StorageError, TooManyRequests
from lambox.store.sqlite import connect, ensure_column

log = logging.getLogger(__name__)


class EventStatus(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in-flight"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An accepted asynchronous invocation, before it has a place in the queue."""

    request_id: str
    function: str
    qualifier: str | None
    payload: bytes
    client_context: str | None = None
    # The caller's X-Amzn-Trace-Id, carried to the run (None: the run starts a trace).
    trace_header: str | None = None
    # X-Amz-Tenant-Id of an event for a function with tenant isolation, run by a sandbox
    # of that tenant.
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the last run of an event answered (kept for the invocation record)."""

    status_code: int
    executed_version: str
    function_error: str | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """One stored event. ``attempts`` counts runs of the function (approximateInvokeCount);
    ``throttles`` counts consecutive deliveries that could not run it (backoff exponent)."""

    id: int
    request_id: str
    function: str
    qualifier: str | None
    payload: bytes
    client_context: str | None
    enqueued_at: float
    not_before: float
    attempts: int
    throttles: int
    status: EventStatus
    last: Attempt | None
    condition: str | None
    trace_header: str | None = None
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """Events handed to one worker, and when the next not-yet-due event of the function
    becomes due (None: no pending event left)."""

    events: list[QueuedEvent]
    next_due: float | None


class EventQueue(Protocol):
    """A durable, at-least-once queue of events per function.

    Every method is a coroutine that returns once its change is committed (durable as the
    backend defines it). Methods on unknown ids change nothing and do not raise, so a late
    ``complete`` of an event that was purged meanwhile is harmless.

    - ``put`` stores events; on return they survive a crash. Raises TooManyRequests at once
      (without waiting) when the queue is full.
    - ``watch`` registers a listener called, on the event loop, with the name of every
      function that just got new pending events (by ``put`` or ``redrive``).
    - ``claim`` moves up to ``limit`` due pending events of one function to in-flight for
      ``lease`` seconds and returns them; a claim whose lease ran out is claimable again.
    - ``complete`` removes an event; ``retry`` makes it pending again, due at ``not_before``;
      ``fail`` keeps it with status failed (to be inspected with ``counts`` and
      ``events``, and made pending again with ``redrive``); ``purge`` drops a function's events.
    - ``recover`` makes every in-flight claim pending again. Only for a backend owned by one
      server, at its start-up (claims of the previous run are dead); a shared backend relies
      on lease expiry instead.
    - ``close`` finishes committed work and releases the backend; nothing may be called after.
    """

    def watch(self, listener: Callable[[str], None]) -> None: ...
    async def put(self, events: Sequence[NewEvent]) -> None: ...
    async def claim(self, function: str, limit: int, lease: float) -> Claim: ...
    async def complete(self, event_id: int) -> None: ...
    async def retry(
        self, event_id: int, not_before: float, attempts: int, throttles: int, last: Attempt | None
    ) -> None: ...
    async def fail(self, event_id: int, condition: str, last: Attempt | None) -> None: ...
    async def recover(self) -> int: ...
    async def functions_with_work(self) -> list[str]: ...
    async def counts(self, function: str) -> dict[EventStatus, int]: ...
    async def events(self, function: str, limit: int) -> list[QueuedEvent]: ...
    async def redrive(self, function: str) -> int: ...
    async def purge(self, function: str) -> int: ...
    def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    function TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    client_context TEXT,
    enqueued_at REAL NOT NULL,
    not_before REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    throttles INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    lease_until REAL,
    status_code INTEGER,
    executed_version TEXT,
    function_error TEXT,
    response BLOB,
    condition TEXT,
    trace_header TEXT,
    tenant_id TEXT
);
CREATE INDEX IF NOT EXISTS events_due ON events (function, status, not_before);
"""
_COLUMNS = (
    "id, request_id, function, qualifier, payload, client_context, enqueued_at, not_before,"
    " attempts, throttles, status, status_code, executed_version, function_error, response,"
    " condition, trace_header, tenant_id"
)
INSERT = (
    "INSERT INTO events (request_id, function, qualifier, payload, client_context,"
    " enqueued_at, not_before, trace_header, tenant_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_Op = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Pending:
    op: _Op
    future: asyncio.Future[Any]
    woke: tuple[str, ...] = ()


def _row(r: sqlite3.Row | tuple[Any, ...]) -> QueuedEvent:
    last = None if r[11] is None else Attempt(int(r[11]), str(r[12]), r[13], bytes(r[14] or b""))
    return QueuedEvent(
        id=int(r[0]),
        request_id=str(r[1]),
        function=str(r[2]),
        qualifier=r[3],
        payload=bytes(r[4]),
        client_context=r[5],
        enqueued_at=float(r[6]),
        not_before=float(r[7]),
        attempts=int(r[8]),
        throttles=int(r[9]),
        status=EventStatus(r[10]),
        last=last,
        condition=r[15],
        trace_header=r[16],
        tenant_id=r[17],
    )


class SqliteEventQueue:
    """EventQueue on its own SQLite file, with group commit on the event loop.

    Durability: WAL with ``synchronous=NORMAL`` (the default) makes a commit survive a crash
    or ``kill -9`` of the lambox process, because COMMIT returns only after the transaction
    is written to the WAL file (the operating system holds it from then on); an
    operating-system crash or power loss may lose the last commits. ``synchronous=FULL``
    also fsyncs the WAL on every commit and survives those too, at a lower accept rate.

    Group commit: an operation joins the batch of the current event-loop iteration, and the
    batch is committed as one transaction by a callback that runs after every request that
    arrived together has been parsed; then all of its futures are resolved. Under
    ``NORMAL`` a commit is a write into the WAL, tens of microseconds, so it runs on the
    event loop itself: handing it to a thread costs more (the thread and the loop take
    turns on the GIL). Reads that may scan many rows (``counts``, ``events``,
    ``functions_with_work``) use a second connection in a worker thread.
    """

    def __init__(self, path: Path, limit: int = 1_000_000, synchronous: str = "NORMAL") -> None:
        mode = synchronous.upper()
        if mode not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._limit = limit
        # Used from the event loop only; the flag lets the loop run in another thread than
        # the one that built the server.
        self._db = connect(path, mode)
        self._db.executescript(SCHEMA)
        # A queue written before traces were carried lacks the column.
        ensure_column(self._db, "events", "trace_header", "TEXT")
        # ... and one written before tenants were carried, this one.
        ensure_column(self._db, "events", "tenant_id", "TEXT")
        self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._reader_lock = threading.Lock()
        self._depth: int = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        self._listeners: list[Callable[[str], None]] = []
        self._batch: list[_Pending] = []
        self._closed = False

    @property
    def depth(self) -> int:
        """Events stored (pending, in flight or failed)."""
        return self._depth

    def watch(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    # -- operations -----------------------------------------------------------------------

    async def put(self, events: Sequence[NewEvent]) -> None:
        if self._depth + len(events) > self._limit:
            raise TooManyRequests("Rate Exceeded.")
        now = time.time()
        rows = [
            (
                e.request_id,
                e.function,
                e.qualifier,
                e.payload,
                e.client_context,
                now,
                now,
                e.trace_header,
                e.tenant_id,
            )
            for e in events
        ]

        def op(db: sqlite3.Connection) -> None:
            db.executemany(INSERT, rows)
            self._depth += len(rows)

        await self._submit(op, tuple({e.function for e in events}))

    async def claim(self, function: str, limit: int, lease: float) -> Claim:
        def op(db: sqlite3.Connection) -> Claim:
            now = time.time()
            rows = db.execute(
                f"UPDATE events SET status = 'in-flight', lease_until = ? WHERE id IN ("
                " SELECT id FROM events WHERE function = ? AND status = 'pending'"
                " AND not_before <= ? ORDER BY not_before LIMIT ?)"
                f" RETURNING {_COLUMNS}",
                (now + lease, function, now, limit),
            ).fetchall()
            if len(rows) < limit:
                rows += db.execute(
                    f"UPDATE events SET lease_until = ? WHERE id IN ("
                    " SELECT id FROM events WHERE function = ? AND status = 'in-flight'"
                    " AND lease_until < ? LIMIT ?)"
                    f" RETURNING {_COLUMNS}",
                    (now + lease, function, now, limit - len(rows)),
                ).fetchall()
            due = db.execute(
                "SELECT MIN(not_before) FROM events WHERE function = ? AND status = 'pending'",
                (function,),
            ).fetchone()[0]
            events = sorted((_row(r) for r in rows), key=lambda e: (e.not_before, e.id))
            return Claim(events, None if due is None else float(due))

        claim: Claim = await self._submit(op)
        return claim

    async def complete(self, event_id: int) -> None:
        def op(db: sqlite3.Connection) -> None:
            self._depth -= db.execute("DELETE FROM events WHERE id = ?", (event_id,)).rowcount

        await self._submit(op)

    async def retry(
        self, event_id: int, not_before: float, attempts: int, throttles: int, last: Attempt | None
    ) -> None:
        def op(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE events SET status = 'pending', lease_until = NULL, not_before = ?,"
                " attempts = ?, throttles = ? WHERE id = ?",
                (not_before, attempts, throttles, event_id),
            )
            _record(db, event_id, last)

        await self._submit(op)

    async def fail(self, event_id: int, condition: str, last: Attempt | None) -> None:
        def op(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE events SET status = 'failed', lease_until = NULL, condition = ?"
                " WHERE id = ?",
                (condition, event_id),
            )
            _record(db, event_id, last)

        await self._submit(op)

    async def recover(self) -> int:
        def op(db: sqlite3.Connection) -> int:
            return db.execute(
                "UPDATE events SET status = 'pending', lease_until = NULL"
                " WHERE status = 'in-flight'"
            ).rowcount

        recovered: int = await self._submit(op)
        return recovered

    async def functions_with_work(self) -> list[str]:
        def op(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT DISTINCT function FROM events WHERE status != 'failed'"
            ).fetchall()
            return [str(r[0]) for r in rows]

        names: list[str] = await self._read(op)
        return names

    async def counts(self, function: str) -> dict[EventStatus, int]:
        def op(db: sqlite3.Connection) -> dict[EventStatus, int]:
            rows = db.execute(
                "SELECT status, COUNT(*) FROM events WHERE function = ? GROUP BY status",
                (function,),
            ).fetchall()
            found = {EventStatus(r[0]): int(r[1]) for r in rows}
            return {s: found.get(s, 0) for s in EventStatus}

        counts: dict[EventStatus, int] = await self._read(op)
        return counts

    async def events(self, function: str, limit: int) -> list[QueuedEvent]:
        def op(db: sqlite3.Connection) -> list[QueuedEvent]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE function = ? ORDER BY id LIMIT ?",
                (function, limit),
            ).fetchall()
            return [_row(r) for r in rows]

        events: list[QueuedEvent] = await self._read(op)
        return events

    async def redrive(self, function: str) -> int:
        def op(db: sqlite3.Connection) -> int:
            now = time.time()
            return db.execute(
                "UPDATE events SET status = 'pending', condition = NULL, attempts = 0,"
                " throttles = 0, enqueued_at = ?, not_before = ?"
                " WHERE function = ? AND status = 'failed'",
                (now, now, function),
            ).rowcount

        moved: int = await self._submit(op, (function,))
        return moved

    async def purge(self, function: str) -> int:
        def op(db: sqlite3.Connection) -> int:
            removed = db.execute("DELETE FROM events WHERE function = ?", (function,)).rowcount
            self._depth -= removed
            return removed

        removed: int = await self._submit(op)
        return removed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._flush()
        self._db.close()
        self._reader.close()

    # -- group commit ---------------------------------------------------------------------

    def _submit(self, op: _Op, woke: tuple[str, ...] = ()) -> asyncio.Future[Any]:
        if self._closed:
            raise RuntimeError("the event queue is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._batch:
            loop.call_soon(self._flush)
        self._batch.append(_Pending(op, future, woke))
        return future

    async def _read(self, op: _Op) -> Any:
        def run() -> Any:
            with self._reader_lock:
                return op(self._reader)

        return await asyncio.to_thread(run)

    def _flush(self) -> None:
        """Commit the operations of one loop iteration as one transaction, then resolve them.

        Each operation's outcome (result or exception) is its own: a failing statement only
        undoes itself, the others still commit. If the commit fails, every operation of the
        batch gets that error (nothing of it was stored).
        """
        batch, self._batch = self._batch, []
        if not batch:
            return
        outcomes: list[tuple[bool, Any]] = []
        depth = self._depth
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for pending in batch:
                try:
                    outcomes.append((True, pending.op(self._db)))
                except Exception as exc:
                    outcomes.append((False, exc))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("event queue commit failed: %s", exc)
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._depth = depth
            outcomes = [(False, exc)] * len(batch)
        woke: set[str] = set()
        for pending, (ok, value) in zip(batch, outcomes, strict=True):
            if pending.future.done():  # the caller went away; the change stands
                continue
            if ok:
                pending.future.set_result(value)
                woke.update(pending.woke)
            else:
                pending.future.set_exception(_storage_error(value))
        for name in woke:
            for listener in self._listeners:
                try:
                    listener(name)
                except Exception:
                    log.exception("event queue listener failed for %s", name)


def _record(db: sqlite3.Connection, event_id: int, last: Attempt | None) -> None:
    """Keep the answer of the latest run (an attempt that did not run keeps the previous)."""
    if last is not None:
        db.execute(
            "UPDATE events SET status_code = ?, executed_version = ?, function_error = ?,"
            " response = ? WHERE id = ?",
            (last.status_code, last.executed_version, last.function_error, last.payload, event_id),
        )


def _storage_error(exc: BaseException) -> BaseException:
    """A failing database (full disk, I/O error) as the StorageError callers answer with."""
    if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
        error = StorageError(f"lambox could not store the event queue's change: {exc}.")
        error.__cause__ = exc
        return error
    return exc
