"""CloudWatch Logs' operations over two sources: the functions' log files (``LogSink``:
group ``/aws/lambda/<function>``, one stream per sandbox, one event per line of a record,
stamped when the record was written) and the groups code creates itself (``LogsStore``).

A function's group exists once the function has written a record, as on Lambda. Reads
merge both sources by timestamp; a group's retention hides older events. Tokens are
positions in the merged, ordered list (``f/<n>``, ``b/<n>``, ``p/<n>``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from lambox.errors import ServiceFault
from lambox.logs import LogSink
from lambox.services.logs import scan
from lambox.services.logs.filters import compile_pattern
from lambox.services.logs.store import LogsStore, now_ms

FUNCTION_GROUP = "/aws/lambda/"
MAX_LIMIT = 10_000
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FunctionGroups(Protocol):
    """Which log group each function writes to (its LoggingConfig's LogGroup)."""

    def by_group(self) -> dict[str, str]: ...

    def of(self, function: str) -> str: ...


TOO_OLD_MS = 14 * 86_400_000
TOO_NEW_MS = 2 * 3_600_000


@dataclass(frozen=True, slots=True)
class Event:
    stream: str
    timestamp: int
    ingested: int
    message: str
    event_id: str


def _invalid(message: str) -> ServiceFault:
    return ServiceFault("InvalidParameterException", message)


def _bad_token() -> ServiceFault:
    return _invalid("The specified nextToken is invalid.")


def _no_group() -> ServiceFault:
    return ServiceFault("ResourceNotFoundException", "The specified log group does not exist.")


def _no_stream() -> ServiceFault:
    return ServiceFault("ResourceNotFoundException", "The specified log stream does not exist.")


def _limit(params: dict[str, Any], default: int, field: str = "limit") -> int:
    limit = params.get(field)
    if limit is None:
        return default
    if limit > MAX_LIMIT:
        raise _invalid(
            f"1 validation error detected: Value '{limit}' at '{field}' failed to satisfy"
            f" constraint: Member must have value less than or equal to {MAX_LIMIT}"
        )
    if limit < 1:
        raise _invalid(
            f"1 validation error detected: Value '{limit}' at '{field}' failed to satisfy"
            " constraint: Member must have value greater than or equal to 1"
        )
    return int(limit)


def _position(token: str | None, prefix: str) -> int | None:
    if token is None:
        return None
    m = re.fullmatch(re.escape(prefix) + r"/(\d{1,18})", token)
    if m is None:
        raise _bad_token()
    return int(m.group(1))


class LogsService:
    """The ``logs`` service (json protocol, ``Logs_20140328``)."""

    def __init__(
        self,
        sink: LogSink,
        store: LogsStore,
        region: str,
        account: str,
        function_groups: FunctionGroups | None = None,
    ) -> None:
        self._sink = sink
        self._store = store
        self._function_groups = function_groups
        self._arn = f"arn:aws:logs:{region}:{account}:log-group:"
        self.operations: dict[str, Handler] = {
            "CreateLogGroup": self.create_log_group,
            "DeleteLogGroup": self.delete_log_group,
            "DescribeLogGroups": self.describe_log_groups,
            "PutRetentionPolicy": self.put_retention_policy,
            "DeleteRetentionPolicy": self.delete_retention_policy,
            "CreateLogStream": self.create_log_stream,
            "DeleteLogStream": self.delete_log_stream,
            "DescribeLogStreams": self.describe_log_streams,
            "PutLogEvents": self.put_log_events,
            "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events,
        }

    def resource(self, operation: str, params: dict[str, Any]) -> str:
        """The ARN IAM authorizes ``logs:<operation>`` on, as CloudWatch Logs names it: a
        stream's (``log-group:<group>:log-stream:<stream>``) for PutLogEvents and
        GetLogEvents, else the group's (``log-group:<group>:*``); DescribeLogGroups acts on
        every group (``log-group:*``)."""
        name = params.get("logGroupName") or params.get("logGroupIdentifier")
        if not isinstance(name, str) or not name:
            return f"{self._arn}*"
        group = name[len(self._arn) :].removesuffix(":*") if name.startswith(self._arn) else name
        stream = params.get("logStreamName")
        if operation in ("PutLogEvents", "GetLogEvents") and isinstance(stream, str):
            return f"{self._arn}{group}:log-stream:{stream}"
        return f"{self._arn}{group}:*"

    # -- what exists ---------------------------------------------------------------------

    def _group_name(self, function: str) -> str:
        if self._function_groups is None:
            return FUNCTION_GROUP + function
        return self._function_groups.of(function)

    def _groups(self) -> dict[str, int]:
        groups = {self._group_name(fn): int(t * 1000) for fn, t in self._sink.functions()}
        groups.update(self._store.groups())
        return groups

    def _group_of(self, params: dict[str, Any]) -> str:
        name = params.get("logGroupName")
        ident = params.get("logGroupIdentifier")
        if name is not None and ident is not None:
            raise ServiceFault(
                "ValidationException",
                "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
            )
        group = name if name is not None else (ident or "")
        if group.startswith(self._arn):
            group = group[len(self._arn) :].removesuffix(":*")
        if group not in self._groups():
            raise _no_group()
        return str(group)

    def _function(self, group: str) -> str | None:
        """The function whose log file is ``group`` (by its LoggingConfig's LogGroup)."""
        if self._function_groups is not None:
            function = self._function_groups.by_group().get(group)
            if function is not None:
                return function
        if not group.startswith(FUNCTION_GROUP):
            return None
        function = group[len(FUNCTION_GROUP) :]
        return function if self._group_name(function) == group else None

    def _parts(self, group: str) -> list[tuple[int, scan.Buffer]]:
        """The function's log as (position of its first byte, mapped part): positions run on
        from the rotated file into the current one, as one log's would."""
        function = self._function(group)
        parts: list[tuple[int, scan.Buffer]] = []
        base = 0
        for part in [] if function is None else self._sink.parts(function):
            parts.append((base, part))
            base += len(part)
        return parts

    def _window(self, group: str, params: dict[str, Any]) -> tuple[int, int]:
        """[startTime, endTime] of a read, its start moved past what retention hides."""
        lo = params.get("startTime")
        hi = params.get("endTime")
        low = -(1 << 62) if lo is None else int(lo)
        days = self._store.retention().get(group)
        if days is not None:
            low = max(low, now_ms() - days * 86_400_000)
        return low, (1 << 62) if hi is None else int(hi)

    def _stored(self, group: str, window: tuple[int, int]) -> list[Event]:
        """The events PutLogEvents wrote into ``group`` within ``window``, oldest first."""
        return [
            Event(stream, ts, ingested, message, f"{ts:020d}{rid:036d}")
            for rid, stream, ts, ingested, message in self._store.events(group)
            if window[0] <= ts <= window[1]
        ]

    def _streams(self, group: str) -> dict[str, dict[str, Any]]:
        streams: dict[str, dict[str, Any]] = {}
        for name, created in self._store.streams(group).items():
            streams[name] = {"logStreamName": name, "creationTime": created}
        stamps = [
            (stream, ms)
            for _, part in self._parts(group)
            for _, ms, stream, _ in scan.records(part)
        ]
        stamps += [(e.stream, e.timestamp) for e in self._stored(group, (-(1 << 62), 1 << 62))]
        for stream, ms in stamps:
            if not stream:
                continue
            s = streams.setdefault(stream, {"logStreamName": stream, "creationTime": ms})
            s["firstEventTimestamp"] = min(ms, s.get("firstEventTimestamp", ms))
            s["lastEventTimestamp"] = max(ms, s.get("lastEventTimestamp", ms))
            s["lastIngestionTime"] = s["lastEventTimestamp"]
        for name, s in streams.items():
            s["arn"] = f"{self._arn}{group}:log-stream:{name}"
            s["storedBytes"] = 0
        return streams

    # -- groups --------------------------------------------------------------------------

    def create_log_group(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["logGroupName"]
        if len(name) > 512:
            raise _invalid(
                "Invalid LogGroup or LogStream, both must have length less than or equal to 512."
            )
        if name in self._groups() or not self._store.add_group(name):
            raise ServiceFault(
                "ResourceAlreadyExistsException", "The specified log group already exists"
            )
        return {}

    def delete_log_group(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_of(params)
        self._store.remove_group(group)
        function = self._function(group)
        if function is not None:
            self._sink.delete(function)
        return {}

    def describe_log_groups(self, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("logGroupNamePrefix")
        pattern = params.get("logGroupNamePattern")
        if prefix is not None and pattern is not None:
            raise _invalid(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
            )
        limit = _limit(params, 50)
        if limit > 50:
            raise _invalid(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy"
                " constraint: Member must have value less than or equal to 50"
            )
        retention = self._store.retention()
        names = sorted(
            n
            for n in self._groups()
            if (prefix is None or n.startswith(prefix))
            and (pattern is None or pattern.lower() in n.lower())
        )
        groups = self._groups()
        start = _position(params.get("nextToken"), "g") or 0
        page = names[start : start + limit]
        out: list[dict[str, Any]] = []
        for n in page:
            g: dict[str, Any] = {
                "logGroupName": n,
                "creationTime": groups[n],
                "metricFilterCount": 0,
                "arn": f"{self._arn}{n}:*",
                "storedBytes": 0,
                "logGroupClass": "STANDARD",
                "logGroupArn": f"{self._arn}{n}",
            }
            if n in retention:
                g["retentionInDays"] = retention[n]
            out.append(g)
        answer: dict[str, Any] = {"logGroups": out}
        if start + limit < len(names):
            answer["nextToken"] = f"g/{start + limit}"
        return answer

    def put_retention_policy(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_of(params)
        self._store.set_retention(group, int(params["retentionInDays"]))
        return {}

    def delete_retention_policy(self, params: dict[str, Any]) -> dict[str, Any]:
        self._store.set_retention(self._group_of(params), None)
        return {}

    # -- streams -------------------------------------------------------------------------

    def create_log_stream(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_of(params)
        name = params["logStreamName"]
        exists = name in self._streams(group)
        if exists or not self._store.add_stream(group, name):
            raise ServiceFault(
                "ResourceAlreadyExistsException", "The specified log stream already exists"
            )
        return {}

    def delete_log_stream(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_of(params)
        if params["logStreamName"] not in self._store.streams(group):
            raise _no_stream()
        self._store.remove_stream(group, params["logStreamName"])
        return {}

    def describe_log_streams(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_of(params)
        streams = self._streams(group)
        prefix = params.get("logStreamNamePrefix") or ""
        by_time = params.get("orderBy") == "LastEventTime"
        if by_time and prefix:
            raise _invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        chosen = [s for n, s in streams.items() if n.startswith(prefix)]
        if by_time:
            chosen.sort(key=lambda s: s.get("lastEventTimestamp", 0))
        else:
            chosen.sort(key=lambda s: str(s["logStreamName"]))
        if params.get("descending"):
            chosen.reverse()
        limit = _limit(params, 50)
        start = _position(params.get("nextToken"), "s") or 0
        answer: dict[str, Any] = {"logStreams": chosen[start : start + limit]}
        if start + limit < len(chosen):
            answer["nextToken"] = f"s/{start + limit}"
        return answer

    # -- events --------------------------------------------------------------------------

    def put_log_events(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_of(params)
        stream = params["logStreamName"]
        if stream not in self._store.streams(group):
            raise _no_stream()
        entries = params["logEvents"]
        stamps = [int(e["timestamp"]) for e in entries]
        if stamps != sorted(stamps):
            raise _invalid(
                "Log events in a single PutLogEvents request must be in chronological order."
            )
        now = now_ms()
        rejected: dict[str, int] = {}
        kept: list[tuple[int, str]] = []
        for i, entry in enumerate(entries):
            ts = int(entry["timestamp"])
            if ts < now - TOO_OLD_MS:
                rejected["tooOldLogEventEndIndex"] = i + 1
            elif ts > now + TOO_NEW_MS:
                rejected.setdefault("tooNewLogEventStartIndex", i)
            else:
                kept.append((ts, entry["message"]))
        days = self._store.retention().get(group)
        if days is not None:
            cutoff = now - days * 86_400_000
            old = [i for i, e in enumerate(entries) if int(e["timestamp"]) < cutoff]
            if old:
                rejected["expiredLogEventEndIndex"] = old[-1] + 1
                kept = [(ts, m) for ts, m in kept if ts >= cutoff]
        self._store.put(group, stream, kept)
        answer: dict[str, Any] = {"nextSequenceToken": f"{now:056d}"}
        if rejected:
            answer["rejectedLogEventsInfo"] = rejected
        return answer

    def get_log_events(self, params: dict[str, Any]) -> dict[str, Any]:
        limit = _limit(params, MAX_LIMIT)
        group = self._group_of(params)
        stream = params["logStreamName"]
        if stream not in self._streams(group):
            raise _no_stream()
        window = self._window(group, params)
        events = [
            Event(stream, line.timestamp, line.timestamp, line.message, "")
            for _, part in self._parts(group)
            for line in scan.stream_lines(part, stream, window)
        ]
        stored = [e for e in self._stored(group, window) if e.stream == stream]
        if stored:
            events = sorted(events + stored, key=lambda e: e.timestamp)
        token = params.get("nextToken")
        if token is not None and not token.startswith(("f/", "b/")):
            raise _bad_token()
        if token is not None and token.startswith("f/"):
            start = min(_position(token, "f") or 0, len(events))
            end = min(start + limit, len(events))
        elif token is not None:
            end = min(_position(token, "b") or 0, len(events))
            start = max(0, end - limit)
        elif params.get("startFromHead"):
            start, end = 0, min(limit, len(events))
        else:
            end = len(events)
            start = max(0, end - limit)
        return {
            "events": [
                {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingested}
                for e in events[start:end]
            ],
            "nextForwardToken": f"f/{end}",
            "nextBackwardToken": f"b/{start}",
        }

    def filter_log_events(self, params: dict[str, Any]) -> dict[str, Any]:
        """The function's log is searched from a byte position (``scan.search``), the
        stored events from an index; both are merged by time. The token is both places."""
        limit = _limit(params, MAX_LIMIT)
        group = self._group_of(params)
        names = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise _invalid(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
            )
        token = params.get("nextToken")
        file_at, stored_at = 0, 0
        if token is not None:
            m = re.fullmatch(r"p/(\d{1,18})/(\d{1,18})", token)
            if m is None:
                raise _bad_token()
            file_at, stored_at = int(m.group(1)), int(m.group(2))
        pattern = compile_pattern(params.get("filterPattern") or "")
        wanted = set(names) if names is not None else None

        def chosen(stream: str) -> bool:
            if wanted is not None:
                return stream in wanted
            return prefix is None or stream.startswith(prefix)

        window = self._window(group, params)
        parts = self._parts(group)
        size = sum(len(part) for _, part in parts)
        if file_at > size:
            raise _bad_token()
        # Each hit with its part and where the part begins; positions are the log's.
        lines: list[tuple[scan.Line, scan.Buffer, int]] = []
        file_end = size
        for base, part in parts:
            if base + len(part) <= file_at or len(lines) == limit:
                continue
            hits, end = scan.search(
                part,
                max(0, file_at - base),
                pattern.match,
                pattern.hints,
                window,
                chosen,
                limit - len(lines),
            )
            lines += [(hit, part, base) for hit in hits]
            file_end = base + end
        stored = self._stored(group, window)
        if stored_at > len(stored):
            raise _bad_token()
        stored_hits: list[tuple[int, Event]] = []
        for i in range(stored_at, len(stored)):
            if len(stored_hits) == limit:
                break
            e = stored[i]
            if chosen(e.stream) and pattern.match(e.message):
                stored_hits.append((i, e))
        merged: list[tuple[int, int, Any]] = [(x[0].timestamp, 0, x) for x in lines]
        merged += [(e.timestamp, 1, (i, e)) for i, e in stored_hits]
        merged.sort(key=lambda t: (t[0], t[1]))
        taken = merged[:limit]
        found: list[dict[str, Any]] = []
        for _, source, item in taken:
            if source == 0:
                line, part, base = item
                event = Event(line.stream, line.timestamp, line.timestamp, line.message, "")
                event_id = line.event_id(part)
                file_at = base + line.end
            else:
                index, event = item
                event_id = event.event_id
                stored_at = index + 1
            found.append(
                {
                    "logStreamName": event.stream,
                    "timestamp": event.timestamp,
                    "message": event.message,
                    "ingestionTime": event.ingested,
                    "eventId": event_id,
                }
            )
        if len(taken) == len(merged):  # every hit answered: the searches' own ends
            file_end_all = file_end
            stored_end = stored_hits[-1][0] + 1 if len(stored_hits) == limit else len(stored)
            file_at, stored_at = file_end_all, stored_end
        answer: dict[str, Any] = {"events": found, "searchedLogStreams": []}
        if file_at < size or stored_at < len(stored):
            answer["nextToken"] = f"p/{file_at}/{stored_at}"
        return answer
