"""Durable executions in SQLite: each execution, its operations (the checkpoints), its
history events and its open callbacks, in one file (``durable.db``).

Every checkpoint is committed before it is acknowledged (WAL, synchronous=NORMAL: it
survives a kill -9 of the server). An execution that waits holds no sandbox: its next
invocation is the ``wake`` column (epoch seconds), which the durable ticker reads; an
invocation in flight is ``invoking=1``, turned back into a due wake at start-up, so an
execution whose server died mid-invocation is invoked again and replays its checkpoints.

Operations are stored in botocore's wire shape (``Operation`` of the Lambda model) with
timestamps as epoch seconds. ``touched`` is the execution's change counter at the
operation's last change; ``seen`` is how far the current invocation has been told, so a
checkpoint answers with what changed since (its own updates and what a callback or a timer
changed meanwhile).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambox.errors import (
    CallbackTimeout,
    DurableExecutionAlreadyStarted,
    InvalidParameterValue,
    ResourceConflict,
    ResourceNotFound,
)
from lambox.store.sqlite import Guarded, connect

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED")
INVOCATION_ATTEMPTS = 3  # a failing invocation is retried, then fails the execution
ERROR_FIELDS = ("ErrorMessage", "ErrorType", "ErrorData", "StackTrace")
TIMED_OUT_ERROR = {
    "ErrorType": "Execution.TimedOut",
    "ErrorMessage": "The durable execution exceeded its ExecutionTimeout.",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
  arn TEXT PRIMARY KEY, name TEXT NOT NULL, function_name TEXT NOT NULL,
  function_arn TEXT NOT NULL, qualifier TEXT, version TEXT NOT NULL, status TEXT NOT NULL,
  input TEXT NOT NULL, result TEXT, error TEXT, started REAL NOT NULL, ended REAL,
  timeout INTEGER NOT NULL, retention INTEGER NOT NULL, invocation TEXT NOT NULL DEFAULT '',
  wake REAL, invoking INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
  clock INTEGER NOT NULL DEFAULT 0, seen INTEGER NOT NULL DEFAULT 0,
  external INTEGER NOT NULL DEFAULT 0, invocations INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS executions_by_name ON executions (function_name, name);
CREATE INDEX IF NOT EXISTS executions_by_wake ON executions (wake) WHERE wake IS NOT NULL;
CREATE TABLE IF NOT EXISTS operations (
  arn TEXT NOT NULL, id TEXT NOT NULL, pos INTEGER NOT NULL, touched INTEGER NOT NULL,
  doc TEXT NOT NULL, PRIMARY KEY (arn, id));
CREATE TABLE IF NOT EXISTS events (
  arn TEXT NOT NULL, event_id INTEGER NOT NULL, doc TEXT NOT NULL,
  PRIMARY KEY (arn, event_id));
CREATE TABLE IF NOT EXISTS replies (
  arn TEXT PRIMARY KEY, token TEXT NOT NULL, reply TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chained (
  arn TEXT NOT NULL, op_id TEXT NOT NULL, function_name TEXT NOT NULL, payload TEXT,
  PRIMARY KEY (arn, op_id));
CREATE TABLE IF NOT EXISTS callbacks (
  callback_id TEXT PRIMARY KEY, arn TEXT NOT NULL, op_id TEXT NOT NULL, deadline REAL,
  heartbeat INTEGER, heartbeat_deadline REAL);
"""

_COLUMNS = (
    "arn, name, function_name, function_arn, qualifier, version, status, input, result,"
    " error, started, ended, timeout, retention, invocation, wake, invoking, attempts, clock,"
    " seen, external, invocations"
)


@dataclass(frozen=True)
class Execution:
    """One durable execution as stored."""

    arn: str
    name: str
    function_name: str
    function_arn: str
    qualifier: str | None
    version: str
    status: str
    input: str
    result: str | None
    error: dict[str, Any] | None
    started: float
    ended: float | None
    timeout: int
    retention: int
    invocation: str
    wake: float | None
    invoking: bool
    attempts: int
    clock: int
    seen: int
    external: int
    invocations: int


@dataclass(frozen=True)
class Begun:
    """An invocation the engine is about to make: its token and the state it carries."""

    execution: Execution
    token: str
    operations: list[dict[str, Any]]


def _execution(row: Sequence[Any]) -> Execution:
    values = list(row)
    values[9] = json.loads(values[9]) if values[9] else None
    values[16] = bool(values[16])
    return Execution(*values)


def error_object(value: Any) -> dict[str, Any]:
    """An ``ErrorObject`` of the model from what a client or the SDK sent."""
    if not isinstance(value, Mapping):
        return {}
    return {k: value[k] for k in ERROR_FIELDS if value.get(k) is not None}


class DurableStore:
    """Executions, operations, history and callbacks; one short transaction per call."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "durable executions")
        self._db.executescript(_SCHEMA)

    # ---- executions -------------------------------------------------------------------

    def create(
        self,
        *,
        name: str,
        function_name: str,
        function_arn: str,
        qualifier: str | None,
        version: str,
        payload: str,
        timeout: int,
        retention: int,
        now: float,
    ) -> tuple[Execution, bool]:
        """Start an execution (due at once), or return the one of the same name that
        already exists (a retried Invoke starts nothing new): (execution, created). The
        same name with another payload is refused, as Lambda refuses it."""
        # The EXECUTION operation's Id is the ARN's last segment: the SDK finds it so.
        invocation_id = str(uuid.uuid4())
        arn = f"{function_arn}/durable-execution/{name}/{invocation_id}"
        with self._lock:
            existing = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE function_name=? AND name=?",
                (function_name, name),
            ).fetchone()
            if existing is not None:
                found = _execution(existing)
                if found.input != payload:
                    raise DurableExecutionAlreadyStarted(
                        f"Durable execution {name} has already been started with a"
                        " different payload."
                    )
                return found, False
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO executions (arn, name, function_name, function_arn, qualifier,"
                " version, status, input, started, timeout, retention, wake, clock)"
                " VALUES (?,?,?,?,?,?,'RUNNING',?,?,?,?,?,1)",
                (
                    arn,
                    name,
                    function_name,
                    function_arn,
                    qualifier,
                    version,
                    payload,
                    now,
                    timeout,
                    retention,
                    now,
                ),
            )
            op = {
                "Id": invocation_id,
                "Name": name,
                "Type": "EXECUTION",
                "StartTimestamp": now,
                "Status": "STARTED",
                "ExecutionDetails": {"InputPayload": payload},
            }
            self._put_op(arn, op, 1, pos=0)
            self._event(
                arn,
                "ExecutionStarted",
                op,
                now,
                {
                    "ExecutionStartedDetails": {
                        "Input": {"Payload": payload},
                        "ExecutionTimeout": timeout,
                    }
                },
            )
            self._db.execute("COMMIT")
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)
            ).fetchone()
        return _execution(row), True

    def get(self, arn: str) -> Execution:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)
            ).fetchone()
        if row is None:
            raise ResourceNotFound(f"Durable execution not found: {arn}")
        return _execution(row)

    def listing(
        self,
        function_name: str,
        *,
        qualifier: str | None = None,
        name: str | None = None,
        statuses: Sequence[str] = (),
        after: float | None = None,
        before: float | None = None,
        reverse: bool = False,
    ) -> list[Execution]:
        where = ["function_name=?"]
        args: list[Any] = [function_name]
        if qualifier is not None:
            where.append("qualifier IS ?")
            args.append(qualifier)
        if name is not None:
            where.append("name=?")
            args.append(name)
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if after is not None:
            where.append("started>?")
            args.append(after)
        if before is not None:
            where.append("started<?")
            args.append(before)
        order = "DESC" if reverse else "ASC"
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE {' AND '.join(where)}"
                f" ORDER BY started {order}, rowid {order}",
                args,
            ).fetchall()
        return [_execution(row) for row in rows]

    def operations(self, arn: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._ops(arn)

    def history(self, arn: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc FROM events WHERE arn=? ORDER BY event_id", (arn,)
            ).fetchall()
        return [json.loads(doc) for (doc,) in rows]

    # ---- the ticker's timetable --------------------------------------------------------

    def earliest(self) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(wake) FROM executions WHERE wake IS NOT NULL AND status='RUNNING'"
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def due(self, now: float, limit: int) -> list[tuple[str, float]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT arn, wake FROM executions WHERE wake IS NOT NULL AND wake<=?"
                " AND status='RUNNING' ORDER BY wake LIMIT ?",
                (now, limit),
            ).fetchall()
        return [(str(arn), float(wake)) for arn, wake in rows]

    def advance(self, arn: str, slot: float, now: float) -> bool:
        """Take a due execution for an invocation (compare-and-set on its wake): complete
        the waits, step retries and callback timeouts that are due, time the execution out
        past its ExecutionTimeout. True when it is to be invoked."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE arn=? AND wake=? AND status='RUNNING'",
                (arn, slot),
            ).fetchone()
            if row is None:
                self._db.execute("COMMIT")
                return False
            execution = _execution(row)
            if now >= execution.started + execution.timeout:
                self._finish(execution, "TIMED_OUT", None, TIMED_OUT_ERROR, now)
                self._db.execute("COMMIT")
                return False
            self._fire_due(execution, now)
            self._db.execute("UPDATE executions SET wake=NULL, invoking=1 WHERE arn=?", (arn,))
            self._db.execute("COMMIT")
        return True

    def expire(self, arn: str, now: float) -> Execution | None:
        """End a live execution past its ExecutionTimeout, even mid-invocation (the running
        invocation's checkpoints and answer are refused from now on, as after a stop); the
        execution when this ended it, None when it had already ended or is not yet due."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)
            ).fetchone()
            if row is None:
                self._db.execute("COMMIT")
                return None
            execution = _execution(row)
            live = execution.status in ("RUNNING", "PAUSED")
            if not live or now < execution.started + execution.timeout:
                self._db.execute("COMMIT")
                return None
            self._finish(execution, "TIMED_OUT", None, TIMED_OUT_ERROR, now)
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)
            ).fetchone()
            self._db.execute("COMMIT")
        return _execution(row)

    def recover(self, now: float) -> int:
        """At start-up: an invocation that was in flight when the server stopped is due
        again (its sandbox is gone); the number of such executions."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE executions SET invoking=0, wake=? WHERE invoking=1"
                " AND status IN ('RUNNING', 'PAUSED')",
                (now,),
            )
        return cursor.rowcount

    # ---- invocations -------------------------------------------------------------------

    def begin(self, arn: str, now: float) -> Begun | None:
        """A new invocation of a taken execution: a fresh checkpoint token (every older
        token is refused from now on) and the whole state; None when it has ended."""
        invocation = uuid.uuid4().hex
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)
            ).fetchone()
            if row is None or row[6] != "RUNNING":
                self._db.execute("COMMIT")
                return None
            self._db.execute(
                "UPDATE executions SET invocation=?, seen=clock, invoking=1,"
                " invocations=invocations+1 WHERE arn=?",
                (invocation, arn),
            )
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)
            ).fetchone()
            ops = self._ops(arn)
            self._db.execute("COMMIT")
        execution = _execution(row)
        return Begun(execution, f"{invocation}x{execution.clock}", ops)

    def settle(
        self,
        arn: str,
        invocation: str,
        external: int,
        outcome: str,
        result: str | None,
        error: dict[str, Any] | None,
        now: float,
    ) -> Execution:
        """Record how an invocation ended: ``SUCCEEDED``/``FAILED`` end the execution,
        ``PENDING`` schedules its next invocation (at once when something changed while it
        ran, else at its earliest timer), ``RETRY`` (the invocation itself failed) tries
        again with a back-off, up to ``INVOCATION_ATTEMPTS`` times; ``THROTTLED`` (the
        function's concurrency was exhausted) tries again a second later."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            execution = _execution(
                self._db.execute(
                    f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)
                ).fetchone()
            )
            live = execution.status in ("RUNNING", "PAUSED")  # paused mid-invocation
            if not live or execution.invocation != invocation:
                self._db.execute("COMMIT")
                return execution
            self._event(
                arn,
                "InvocationCompleted",
                None,
                now,
                {
                    "InvocationCompletedDetails": {
                        "StartTimestamp": now,
                        "EndTimestamp": now,
                        "RequestId": invocation,
                        **({"Error": {"Payload": error}} if outcome == "RETRY" and error else {}),
                    }
                },
            )
            if outcome == "SUCCEEDED":
                self._finish(execution, "SUCCEEDED", result, None, now)
            elif outcome == "FAILED":
                self._finish(execution, "FAILED", None, error or {}, now)
            elif outcome == "THROTTLED":  # no sandbox to be had: again soon, not a failure
                self._db.execute(
                    "UPDATE executions SET invoking=0, wake=? WHERE arn=?", (now + 1.0, arn)
                )
            elif outcome == "RETRY":
                attempts = execution.attempts + 1
                if attempts >= INVOCATION_ATTEMPTS:
                    self._finish(execution, "FAILED", None, error or {}, now)
                else:
                    self._db.execute(
                        "UPDATE executions SET invoking=0, attempts=?, wake=? WHERE arn=?",
                        (attempts, now + 2.0**attempts - 1, arn),
                    )
            else:
                wake = now if execution.external != external else self._earliest(execution)
                self._db.execute(
                    "UPDATE executions SET invoking=0, attempts=0, wake=? WHERE arn=?",
                    (wake, arn),
                )
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)
            ).fetchone()
            self._db.execute("COMMIT")
        return _execution(row)

    # ---- the SDK's calls ---------------------------------------------------------------

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[Mapping[str, Any]], now: float
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """Apply a batch of ``OperationUpdate``s atomically: (the next token, or None when
        the batch ended the execution; the operations changed since the caller last saw).

        Every token is issued once, so a token seen again is the same request retried (by
        the client after a lost answer): it gets the first answer again, applied once."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            cached = self._db.execute(
                "SELECT reply FROM replies WHERE arn=? AND token=?", (arn, token)
            ).fetchone()
            if cached is not None:
                self._db.execute("COMMIT")
                next_token, ops = json.loads(cached[0])
                return next_token, ops
            execution = self._current(arn, token)
            clock = execution.clock + 1
            self._db.execute("UPDATE executions SET clock=? WHERE arn=?", (clock, arn))
            ended = False
            for update in updates:
                ended = self._apply(execution, update, clock, now) or ended
            changed = self._changed(arn, execution.seen)
            self._db.execute("UPDATE executions SET seen=clock WHERE arn=?", (arn,))
            next_token = None if ended else f"{execution.invocation}x{clock}"
            self._db.execute(
                "INSERT OR REPLACE INTO replies (arn, token, reply) VALUES (?,?,?)",
                (arn, token, json.dumps([next_token, changed], separators=(",", ":"))),
            )
            self._db.execute("COMMIT")
        return next_token, changed

    def state(self, arn: str, token: str) -> list[dict[str, Any]]:
        with self._lock:
            self._current(arn, token)
            return self._ops(arn)

    def complete_callback(
        self,
        callback_id: str,
        status: str,
        result: str | None,
        error: dict[str, Any] | None,
        now: float,
    ) -> None:
        """A callback's answer: its operation succeeds or fails, and its execution is due
        (or, while an invocation runs, is invoked again once it ends)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            arn, op = self._callback(callback_id, now)
            details = dict(op.get("CallbackDetails") or {})
            if result is not None:
                details["Result"] = result
            if error:
                details["Error"] = error
            op = {**op, "Status": status, "EndTimestamp": now, "CallbackDetails": details}
            self._touch_external(arn, op, now)
            kind = "CallbackSucceeded" if status == "SUCCEEDED" else "CallbackFailed"
            detail = (
                {"Result": {"Payload": result}}
                if status == "SUCCEEDED"
                else {"Error": {"Payload": error}}
            )
            self._event(arn, kind, op, now, {f"{kind}Details": detail})
            self._db.execute("DELETE FROM callbacks WHERE callback_id=?", (callback_id,))
            self._db.execute("COMMIT")

    def chained(self) -> list[tuple[str, str, str, str | None]]:
        """Chained invokes started and not yet answered: (arn, op id, function, payload)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT arn, op_id, function_name, payload FROM chained ORDER BY rowid"
            ).fetchall()
        return [(str(a), str(o), str(f), p) for a, o, f, p in rows]

    def complete_chained(
        self,
        arn: str,
        op_id: str,
        status: str,
        result: str | None,
        error: dict[str, Any] | None,
        now: float,
    ) -> bool:
        """A chained invoke's answer: its operation ends and its execution is due. False
        when it was already answered (or its execution ended)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            gone = self._db.execute(
                "DELETE FROM chained WHERE arn=? AND op_id=?", (arn, op_id)
            ).rowcount
            op = self._op(arn, op_id)
            if not gone or op is None or op.get("Status") != "STARTED":
                self._db.execute("COMMIT")
                return False
            details: dict[str, Any] = {}
            if result is not None:
                details["Result"] = result
            if error:
                details["Error"] = error
            op = {**op, "Status": status, "EndTimestamp": now, "ChainedInvokeDetails": details}
            self._touch_external(arn, op, now)
            kind = "ChainedInvokeSucceeded" if status == "SUCCEEDED" else "ChainedInvokeFailed"
            detail = (
                {"Result": {"Payload": result}}
                if status == "SUCCEEDED"
                else {"Error": {"Payload": error or {}}}
            )
            self._event(arn, kind, op, now, {f"{kind}Details": detail})
            self._db.execute("COMMIT")
        return True

    def heartbeat(self, callback_id: str, now: float) -> None:
        """A callback's heartbeat: its heartbeat deadline moves, and so does the
        execution's next wake when it was that deadline (no needless invocation)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            arn, _ = self._callback(callback_id, now)
            self._db.execute(
                "UPDATE callbacks SET heartbeat_deadline=?+heartbeat WHERE callback_id=?"
                " AND heartbeat IS NOT NULL",
                (now, callback_id),
            )
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)
            ).fetchone()
            execution = _execution(row)
            if execution.status == "RUNNING" and not execution.invoking:
                self._db.execute(
                    "UPDATE executions SET wake=? WHERE arn=?", (self._earliest(execution), arn)
                )
            self._db.execute("COMMIT")

    # ---- control -----------------------------------------------------------------------

    def stop(self, arn: str, error: dict[str, Any] | None, now: float) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)
            ).fetchone()
            if row is None:
                self._db.execute("COMMIT")
                raise ResourceNotFound(f"Durable execution not found: {arn}")
            execution = _execution(row)
            if execution.status in TERMINAL:
                self._db.execute("COMMIT")
                raise ResourceConflict(
                    f"Durable execution {arn} has already ended: {execution.status}"
                )
            self._finish(execution, "STOPPED", None, error or {}, now)
            self._db.execute("COMMIT")

    def delete(self, arn: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT status FROM executions WHERE arn=?", (arn,)).fetchone()
            if row is None:
                self._db.execute("COMMIT")
                raise ResourceNotFound(f"Durable execution not found: {arn}")
            if row[0] not in TERMINAL:
                self._db.execute("COMMIT")
                raise ResourceConflict(
                    f"Durable execution {arn} is {row[0]}: stop it before deleting it"
                )
            for table in ("executions", "operations", "events", "callbacks", "chained", "replies"):
                self._db.execute(f"DELETE FROM {table} WHERE arn=?", (arn,))
            self._db.execute("COMMIT")

    def pause(self, arn: str, paused: bool, reason: str | None, now: float) -> None:
        """Pause (no invocation starts; what is due waits; one in flight ends as it ends) or
        resume an execution, with its history event."""
        want, to = ("RUNNING", "PAUSED") if paused else ("PAUSED", "RUNNING")
        with self._lock:
            row = self._db.execute("SELECT status FROM executions WHERE arn=?", (arn,)).fetchone()
            if row is None:
                raise ResourceNotFound(f"Durable execution not found: {arn}")
            if row[0] != want:
                raise ResourceConflict(f"Durable execution {arn} is {row[0]}, not {want}")
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE executions SET status=? WHERE arn=?", (to, arn))
            details: dict[str, Any]
            if paused:
                kind = "ExecutionPaused"
                details = {"PauseRequestTimestamp": now, "ExecutionTimeoutPaused": False}
            else:
                kind = "ExecutionResumed"
                details = {"ResumeRequestTimestamp": now}
            if reason:
                details["Reason"] = {"Payload": reason}
            self._event(arn, kind, None, now, {f"{kind}Details": details})
            self._db.execute("COMMIT")

    def purge(self, now: float) -> int:
        """Forget ended executions older than their retention period."""
        with self._lock:
            rows = self._db.execute(
                "SELECT arn FROM executions WHERE ended IS NOT NULL"
                " AND ended + retention*86400 < ?",
                (now,),
            ).fetchall()
            for (arn,) in rows:
                for table in (
                    "executions",
                    "operations",
                    "events",
                    "callbacks",
                    "chained",
                    "replies",
                ):
                    self._db.execute(f"DELETE FROM {table} WHERE arn=?", (arn,))
        return len(rows)

    # ---- inside a transaction ----------------------------------------------------------

    def _ops(self, arn: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT doc FROM operations WHERE arn=? ORDER BY pos", (arn,)
        ).fetchall()
        return [json.loads(doc) for (doc,) in rows]

    def _changed(self, arn: str, seen: int) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT doc FROM operations WHERE arn=? AND touched>? ORDER BY pos", (arn, seen)
        ).fetchall()
        return [json.loads(doc) for (doc,) in rows]

    def _op(self, arn: str, op_id: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT doc FROM operations WHERE arn=? AND id=?", (arn, op_id)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def _put_op(
        self, arn: str, op: Mapping[str, Any], touched: int, pos: int | None = None
    ) -> None:
        doc = json.dumps(op, separators=(",", ":"))
        updated = self._db.execute(
            "UPDATE operations SET doc=?, touched=? WHERE arn=? AND id=?",
            (doc, touched, arn, op["Id"]),
        ).rowcount
        if not updated:
            if pos is None:
                row = self._db.execute(
                    "SELECT COALESCE(MAX(pos), -1) + 1 FROM operations WHERE arn=?", (arn,)
                ).fetchone()
                pos = int(row[0])
            self._db.execute(
                "INSERT INTO operations (arn, id, pos, touched, doc) VALUES (?,?,?,?,?)",
                (arn, op["Id"], pos, touched, doc),
            )

    def _event(
        self,
        arn: str,
        kind: str,
        op: Mapping[str, Any] | None,
        now: float,
        details: Mapping[str, Any],
    ) -> None:
        row = self._db.execute(
            "SELECT COALESCE(MAX(event_id), 0) + 1 FROM events WHERE arn=?", (arn,)
        ).fetchone()
        event: dict[str, Any] = {"EventType": kind, "EventId": int(row[0]), "EventTimestamp": now}
        if op is not None:
            for key in ("Id", "Name", "ParentId", "SubType"):
                if op.get(key):
                    event[key] = op[key]
        event.update(details)
        self._db.execute(
            "INSERT INTO events (arn, event_id, doc) VALUES (?,?,?)",
            (arn, event["EventId"], json.dumps(event, separators=(",", ":"))),
        )

    def _end(self) -> None:
        """Close the transaction a failing check leaves open (reads run outside one)."""
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def _current(self, arn: str, token: str) -> Execution:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM executions WHERE arn=?", (arn,)).fetchone()
        if row is None:
            self._end()
            raise ResourceNotFound(f"Durable execution not found: {arn}")
        execution = _execution(row)
        invocation = token.partition("x")[0]  # hex, "x", the clock
        if (
            execution.status not in ("RUNNING", "PAUSED")  # paused mid-invocation: it ends
            or not execution.invocation
            or invocation != execution.invocation
        ):
            self._end()
            raise InvalidParameterValue("Invalid checkpoint token")
        return execution

    def _callback(self, callback_id: str, now: float) -> tuple[str, dict[str, Any]]:
        row = self._db.execute(
            "SELECT arn, op_id, deadline, heartbeat_deadline FROM callbacks WHERE callback_id=?",
            (callback_id,),
        ).fetchone()
        if row is None:
            self._end()
            raise ResourceNotFound(f"Callback not found: {callback_id}")
        arn, op_id, deadline, heartbeat_deadline = row
        op = self._op(arn, op_id)
        status = self._db.execute("SELECT status FROM executions WHERE arn=?", (arn,)).fetchone()
        if op is None or op.get("Status") != "STARTED" or status is None or status[0] in TERMINAL:
            self._end()
            raise ResourceNotFound(f"Callback not found: {callback_id}")
        late = [t for t in (deadline, heartbeat_deadline) if t is not None and t <= now]
        if late:
            self._end()
            raise CallbackTimeout(f"Callback {callback_id} timed out")
        return str(arn), op

    def _touch_external(self, arn: str, op: Mapping[str, Any], now: float) -> None:
        """An operation changed outside an invocation (callback, timer): a new clock tick,
        and the execution due now unless an invocation runs (it is re-invoked after)."""
        self._db.execute(
            "UPDATE executions SET clock=clock+1, external=external+1,"
            " wake=CASE WHEN invoking=1 THEN wake ELSE ? END WHERE arn=?",
            (now, arn),
        )
        clock = self._db.execute("SELECT clock FROM executions WHERE arn=?", (arn,)).fetchone()[0]
        self._put_op(arn, op, int(clock))

    def _finish(
        self,
        execution: Execution,
        status: str,
        result: str | None,
        error: dict[str, Any] | None,
        now: float,
    ) -> None:
        arn = execution.arn
        self._db.execute(
            "UPDATE executions SET status=?, result=?, error=?, ended=?, wake=NULL, invoking=0,"
            " clock=clock+1 WHERE arn=?",
            (status, result, json.dumps(error) if error is not None else None, now, arn),
        )
        ops = self._ops(arn)
        if ops and ops[0].get("Type") == "EXECUTION":
            clock = self._db.execute("SELECT clock FROM executions WHERE arn=?", (arn,)).fetchone()[
                0
            ]
            self._put_op(arn, {**ops[0], "Status": status, "EndTimestamp": now}, int(clock))
        self._db.execute("DELETE FROM callbacks WHERE arn=?", (arn,))
        self._db.execute("DELETE FROM chained WHERE arn=?", (arn,))
        kind = {
            "SUCCEEDED": "ExecutionSucceeded",
            "FAILED": "ExecutionFailed",
            "TIMED_OUT": "ExecutionTimedOut",
            "STOPPED": "ExecutionStopped",
        }[status]
        detail: dict[str, Any] = (
            {"Result": {"Payload": result}}
            if status == "SUCCEEDED"
            else {"Error": {"Payload": error}}
        )
        self._event(arn, kind, ops[0] if ops else None, now, {f"{kind}Details": detail})

    def _fire_due(self, execution: Execution, now: float) -> None:
        """Waits whose time has come succeed, step retries become READY, callbacks past
        their timeout or heartbeat time out."""
        arn = execution.arn
        for op in self._ops(arn):
            kind, status = op.get("Type"), op.get("Status")
            if kind == "WAIT" and status == "STARTED":
                end = (op.get("WaitDetails") or {}).get("ScheduledEndTimestamp")
                if end is not None and end <= now:
                    done = {**op, "Status": "SUCCEEDED", "EndTimestamp": now}
                    self._touch_external(arn, done, now)
                    self._event(
                        arn,
                        "WaitSucceeded",
                        done,
                        now,
                        {"WaitSucceededDetails": {"Duration": round(now - op["StartTimestamp"])}},
                    )
            elif kind == "STEP" and status == "PENDING":
                at = (op.get("StepDetails") or {}).get("NextAttemptTimestamp")
                if at is None or at <= now:
                    self._touch_external(arn, {**op, "Status": "READY"}, now)
        rows = self._db.execute(
            "SELECT callback_id, op_id, deadline, heartbeat_deadline FROM callbacks WHERE arn=?",
            (arn,),
        ).fetchall()
        for callback_id, op_id, deadline, heartbeat_deadline in rows:
            late = [t for t in (deadline, heartbeat_deadline) if t is not None and t <= now]
            found = self._op(arn, op_id)
            if not late or found is None:
                continue
            op = found
            which = (
                "Heartbeat"
                if heartbeat_deadline is not None and heartbeat_deadline <= now
                else "Timeout"
            )
            error = {
                "ErrorType": f"Callback.{which}",
                "ErrorMessage": f"Callback {which.lower()} exceeded",
            }
            details = {**(op.get("CallbackDetails") or {}), "Error": error}
            done = {**op, "Status": "TIMED_OUT", "EndTimestamp": now, "CallbackDetails": details}
            self._touch_external(arn, done, now)
            self._event(
                arn,
                "CallbackTimedOut",
                done,
                now,
                {"CallbackTimedOutDetails": {"Error": {"Payload": error}}},
            )
            self._db.execute("DELETE FROM callbacks WHERE callback_id=?", (callback_id,))

    def _earliest(self, execution: Execution) -> float:
        """When the execution must next be invoked: its earliest timer, at the latest its
        ExecutionTimeout (it times out then)."""
        times = [execution.started + execution.timeout]
        for op in self._ops(execution.arn):
            kind, status = op.get("Type"), op.get("Status")
            if kind == "WAIT" and status == "STARTED":
                end = (op.get("WaitDetails") or {}).get("ScheduledEndTimestamp")
                if end is not None:
                    times.append(float(end))
            elif kind == "STEP" and status == "PENDING":
                at = (op.get("StepDetails") or {}).get("NextAttemptTimestamp")
                times.append(float(at) if at is not None else 0.0)
            elif kind == "STEP" and status == "READY":
                times.append(0.0)
        row = self._db.execute(
            "SELECT MIN(MIN(COALESCE(deadline, 1e18), COALESCE(heartbeat_deadline, 1e18)))"
            " FROM callbacks WHERE arn=?",
            (execution.arn,),
        ).fetchone()
        if row is not None and row[0] is not None and row[0] < 1e18:
            times.append(float(row[0]))
        return min(times)

    def _apply(
        self, execution: Execution, update: Mapping[str, Any], clock: int, now: float
    ) -> bool:
        """One ``OperationUpdate``; True when it ended the execution."""
        arn = execution.arn
        op_id = str(update.get("Id") or "")
        kind = str(update.get("Type") or "")
        action = str(update.get("Action") or "")
        if not op_id or not kind or not action:
            self._db.execute("ROLLBACK")
            raise InvalidParameterValue("An update needs its Id, Type and Action.")
        payload = update.get("Payload")
        error = error_object(update.get("Error")) or None
        if kind == "EXECUTION":
            if action == "SUCCEED":
                self._finish(execution, "SUCCEEDED", payload, None, now)
            elif action == "FAIL":
                self._finish(execution, "FAILED", None, error or {}, now)
            else:
                self._db.execute("ROLLBACK")
                raise InvalidParameterValue(f"Invalid action {action} for an EXECUTION update.")
            return True
        current = self._op(arn, op_id)
        op: dict[str, Any] = (
            dict(current)
            if current is not None
            else {
                "Id": op_id,
                "Type": kind,
                "StartTimestamp": now,
            }
        )
        for key in ("ParentId", "Name", "SubType"):
            if update.get(key):
                op[key] = update[key]
        event: tuple[str, dict[str, Any]] | None = None
        status_of = {"START": "STARTED", "SUCCEED": "SUCCEEDED", "FAIL": "FAILED"}
        if kind == "STEP":
            details = dict(op.get("StepDetails") or {"Attempt": 0})
            details.pop("NextAttemptTimestamp", None)
            if action == "START":
                op["Status"] = "STARTED"
                event = ("StepStarted", {"StepStartedDetails": {}})
            elif action in ("SUCCEED", "FAIL", "RETRY"):
                details["Attempt"] = int(details.get("Attempt", 0)) + 1
                if payload is not None:
                    details["Result"] = payload
                if error:
                    details["Error"] = error
                retry = {"CurrentAttempt": details["Attempt"]}
                if action == "RETRY":
                    delay = int(
                        (update.get("StepOptions") or {}).get("NextAttemptDelaySeconds") or 0
                    )
                    op["Status"] = "PENDING"
                    details["NextAttemptTimestamp"] = now + delay
                    retry["NextAttemptDelaySeconds"] = delay
                    event = (
                        "StepFailed",
                        {
                            "StepFailedDetails": {
                                "Error": {"Payload": error or {}},
                                "RetryDetails": retry,
                            }
                        },
                    )
                elif action == "SUCCEED":
                    op["Status"] = "SUCCEEDED"
                    details.pop("Error", None)
                    event = (
                        "StepSucceeded",
                        {
                            "StepSucceededDetails": {
                                "Result": {"Payload": payload},
                                "RetryDetails": retry,
                            }
                        },
                    )
                else:
                    op["Status"] = "FAILED"
                    event = (
                        "StepFailed",
                        {
                            "StepFailedDetails": {
                                "Error": {"Payload": error or {}},
                                "RetryDetails": retry,
                            }
                        },
                    )
            else:
                self._bad(action, kind)
            op["StepDetails"] = details
        elif kind == "WAIT":
            if action == "START":
                seconds = int((update.get("WaitOptions") or {}).get("WaitSeconds") or 0)
                op["Status"] = "STARTED"
                op["StartTimestamp"] = now
                op["WaitDetails"] = {"ScheduledEndTimestamp": now + seconds}
                event = (
                    "WaitStarted",
                    {
                        "WaitStartedDetails": {
                            "Duration": seconds,
                            "ScheduledEndTimestamp": now + seconds,
                        }
                    },
                )
            elif action == "CANCEL":
                op["Status"] = "CANCELLED"
                event = ("WaitCancelled", {"WaitCancelledDetails": {}})
            else:
                self._bad(action, kind)
        elif kind == "CALLBACK":
            if action != "START":
                self._bad(action, kind)
            if current is None:
                options = update.get("CallbackOptions") or {}
                timeout = int(options.get("TimeoutSeconds") or 0)
                heartbeat = int(options.get("HeartbeatTimeoutSeconds") or 0)
                callback_id = uuid.uuid4().hex + uuid.uuid4().hex
                op["Status"] = "STARTED"
                op["CallbackDetails"] = {"CallbackId": callback_id}
                self._db.execute(
                    "INSERT INTO callbacks (callback_id, arn, op_id, deadline, heartbeat,"
                    " heartbeat_deadline) VALUES (?,?,?,?,?,?)",
                    (
                        callback_id,
                        arn,
                        op_id,
                        now + timeout if timeout else None,
                        heartbeat or None,
                        now + heartbeat if heartbeat else None,
                    ),
                )
                started: dict[str, Any] = {"CallbackId": callback_id}
                if timeout:
                    started["Timeout"] = timeout
                if heartbeat:
                    started["HeartbeatTimeout"] = heartbeat
                event = ("CallbackStarted", {"CallbackStartedDetails": started})
        elif kind == "CONTEXT":
            if action not in status_of:
                self._bad(action, kind)
            op["Status"] = status_of[action]
            details = dict(op.get("ContextDetails") or {})
            if (update.get("ContextOptions") or {}).get("ReplayChildren"):
                details["ReplayChildren"] = True
            if payload is not None:
                details["Result"] = payload
            if error:
                details["Error"] = error
            op["ContextDetails"] = details
            name = {
                "START": "ContextStarted",
                "SUCCEED": "ContextSucceeded",
                "FAIL": "ContextFailed",
            }[action]
            body: dict[str, Any] = {}
            if action == "SUCCEED":
                body = {"Result": {"Payload": payload}}
            elif action == "FAIL":
                body = {"Error": {"Payload": error or {}}}
            event = (name, {f"{name}Details": body})
        elif kind == "CHAINED_INVOKE":
            if action != "START":
                self._bad(action, kind)
            if current is None:
                options = update.get("ChainedInvokeOptions") or {}
                target = str(options.get("FunctionName") or "")
                if not target:
                    self._db.execute("ROLLBACK")
                    raise InvalidParameterValue("ChainedInvokeOptions.FunctionName is required.")
                op["Status"] = "STARTED"
                self._db.execute(
                    "INSERT INTO chained (arn, op_id, function_name, payload) VALUES (?,?,?,?)",
                    (arn, op_id, target, payload),
                )
                started = {"FunctionName": target, "Input": {"Payload": payload}}
                event = ("ChainedInvokeStarted", {"ChainedInvokeStartedDetails": started})
        else:
            self._db.execute("ROLLBACK")
            raise InvalidParameterValue(f"Unknown operation type {kind}.")
        if op.get("Status") in (*TERMINAL, "CANCELLED"):
            op["EndTimestamp"] = now
        self._put_op(arn, op, clock)
        if event is not None:
            self._event(arn, event[0], op, now, event[1])
        return False

    def _bad(self, action: str, kind: str) -> None:
        self._db.execute("ROLLBACK")
        raise InvalidParameterValue(f"Invalid action {action} for a {kind} operation.")
