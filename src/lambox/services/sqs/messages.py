"""The message operations: send, receive (with long polling), delete, change visibility,
single and batched, with SQS's validation, limits and digests."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.sqs.calls import Call
from lambox.services.sqs.commits import GroupCommit
from lambox.services.sqs.digests import md5_of_attributes, md5_of_body
from lambox.services.sqs.errors import (
    PREFIX,
    bad_receipt,
    invalid,
    invalid_value,
    missing,
)
from lambox.services.sqs.queues import Queues
from lambox.services.sqs.store import NewMessage, Queue, Received, parse_receipt
from lambox.services.sqs.waiters import Waiters

MAX_BATCH = 10
MAX_BATCH_BYTES = 1048576
MAX_ATTRIBUTES = 10
_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# What SQS refuses: the complement of #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
# #x10000-#x10FFFF, written out (compiling the negated class took 5-7 ms of start-up).
_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_NAME = re.compile(r"^(?!aws\.|amazon\.)(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9_.-]{1,256}$", re.I)
SYSTEM_NAMES = {
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "MessageDeduplicationId",
    "MessageGroupId",
    "SequenceNumber",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def sequence_number(seq: int) -> str:
    return f"{seq:020d}"


class Messages:
    """Sends wake long-polling receivers of their queue through ``waiters``; ``on_send``
    tells event-source pollers a queue has new messages."""

    def __init__(
        self, queues: Queues, waiters: Waiters, on_send: Callable[[str], None] | None = None
    ) -> None:
        self._queues = queues
        self._store = queues.store
        self._waiters = waiters
        self._on_send = on_send
        self._commits = GroupCommit(self._store)

    # --- send ---------------------------------------------------------------------------

    def _message(self, queue: Queue, entry: Any, sender: str) -> NewMessage:
        settings = self._queues.settings(queue)
        body = entry.get("MessageBody")
        if body is None or body == "":
            raise missing("MessageBody")
        if _INVALID_CHARS.search(body):
            raise ServiceFault(
                "InvalidMessageContents",
                "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20"
                " to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
                400,
            )
        attributes = _message_attributes(entry.get("MessageAttributes") or {}, "user")
        system = _message_attributes(entry.get("MessageSystemAttributes") or {}, "system")
        limit = int(settings["MaximumMessageSize"])
        if _size(body, attributes) > limit:
            raise invalid(
                f"One or more parameters are invalid. Reason: Message must be shorter than"
                f" {limit} bytes."
            )
        delay = entry.get("DelaySeconds")
        group = entry.get("MessageGroupId")
        dedup = entry.get("MessageDeduplicationId")
        if queue.fifo:
            if delay is not None and delay != 0:
                raise invalid_value(
                    "DelaySeconds",
                    delay,
                    "The request include parameter that is not valid for this queue type.",
                )
            if not group:
                raise missing("MessageGroupId")
            if not dedup:
                if settings.get("ContentBasedDeduplication") != "true":
                    raise invalid(
                        "The queue should either have ContentBasedDeduplication enabled or"
                        " MessageDeduplicationId provided explicitly"
                    )
                dedup = hashlib.sha256(body.encode()).hexdigest()
            if settings.get("DeduplicationScope") == "messageGroup":
                dedup = f"{group}\x00{dedup}"
            delay = int(settings["DelaySeconds"])
        else:
            if dedup:
                raise invalid_value(
                    "MessageDeduplicationId",
                    dedup,
                    "The request include parameter that is not valid for this queue type",
                )
            if delay is None:
                delay = int(settings["DelaySeconds"])
            if not 0 <= delay <= 900:
                raise invalid_value("DelaySeconds", delay, "DelaySeconds must be >= 0 and <= 900.")
        return NewMessage(
            body, attributes, system, delay * 1000, sender, group or None, dedup or None
        )

    def _answer(self, message: NewMessage, message_id: str, seq: int, fifo: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MessageId": message_id,
            "MD5OfMessageBody": md5_of_body(message.body),
        }
        digest = md5_of_attributes(message.attributes)
        if digest:
            out["MD5OfMessageAttributes"] = digest
        system = md5_of_attributes(message.system)
        if system:
            out["MD5OfMessageSystemAttributes"] = system
        if fifo:
            out["SequenceNumber"] = sequence_number(seq)
        return out

    def _sent(self, queue: str) -> None:
        self._waiters.notify(queue)
        if self._on_send is not None:
            self._on_send(queue)

    async def send_message(self, call: Call) -> dict[str, Any]:
        queue = self._queues.find(call.params)
        message = self._message(queue, call.params, call.sender)
        (sent,) = await self._commits.send(queue.name, [message])
        self._sent(queue.name)
        return self._answer(message, sent.id, sent.seq, queue.fifo)

    async def send_message_batch(self, call: Call) -> dict[str, Any]:
        queue = self._queues.find(call.params)
        entries = _entries(call.params.get("Entries"), "SendMessageBatchRequestEntry")
        total = sum(
            _size(e.get("MessageBody") or "", e.get("MessageAttributes") or {}) for e in entries
        )
        if total > MAX_BATCH_BYTES:
            raise ServiceFault(
                PREFIX + "BatchRequestTooLong",
                f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent"
                f" {total} bytes.",
                400,
            )
        accepted: list[tuple[str, NewMessage]] = []
        failed = []
        for entry in entries:
            try:
                accepted.append((entry["Id"], self._message(queue, entry, call.sender)))
            except ServiceFault as fault:
                failed.append(_failure(entry["Id"], fault))
        sent = await self._commits.send(queue.name, [m for _, m in accepted]) if accepted else []
        if sent:
            self._sent(queue.name)
        successful = [
            {"Id": entry_id, **self._answer(m, s.id, s.seq, queue.fifo)}
            for (entry_id, m), s in zip(accepted, sent, strict=True)
        ]
        return {"Successful": successful, "Failed": failed}

    # --- receive ------------------------------------------------------------------------

    async def receive_message(self, call: Call) -> dict[str, Any]:
        queue = self._queues.find(call.params)
        settings = self._queues.settings(queue)
        params = call.params
        limit = params.get("MaxNumberOfMessages", 1)
        if not 1 <= limit <= 10:
            raise invalid_value(
                "MaxNumberOfMessages", limit, "Must be between 1 and 10, if provided."
            )
        wait = params.get("WaitTimeSeconds")
        wait = int(settings["ReceiveMessageWaitTimeSeconds"]) if wait is None else wait
        if not 0 <= wait <= 20:
            raise invalid_value("WaitTimeSeconds", wait, "Must be >= 0 and <= 20, if provided.")
        visibility = params.get("VisibilityTimeout")
        visibility = int(settings["VisibilityTimeout"]) if visibility is None else visibility
        if not 0 <= visibility <= 43200:
            raise invalid_value(
                "VisibilityTimeout", visibility, "Must be >= 0 and <= 43200, if provided."
            )
        got = await self.receive(queue, limit, visibility, float(wait))
        system = set(params.get("AttributeNames") or []) | set(
            params.get("MessageSystemAttributeNames") or []
        )
        names = list(params.get("MessageAttributeNames") or [])
        messages = [self._shape(queue, m, system, names) for m in got]
        return {"Messages": messages} if messages else {}

    async def receive(
        self, queue: Queue, limit: int, visibility: int, wait: float
    ) -> list[Received]:
        """Up to ``limit`` messages, waiting up to ``wait`` seconds for the first: asleep
        until a send wakes the queue or the next invisible message comes due."""
        deadline = time.monotonic() + wait
        redrive = self._queues.redrive(queue)
        retention = int(self._queues.settings(queue)["MessageRetentionPeriod"]) * 1000
        while True:
            ticket = self._waiters.ticket(queue.name)
            now = _now_ms()
            got = self._store.receive(
                queue.name,
                limit,
                visibility * 1000,
                now,
                fifo=queue.fifo,
                retention_ms=retention,
                redrive=redrive,
            )
            left = deadline - time.monotonic()
            if got or left <= 0:
                return got
            due = self._store.next_due(queue.name, now)
            if due is not None:
                left = min(left, max(0.01, (due - _now_ms()) / 1000))
            await self._waiters.wait(ticket, left)
            if self._store.queue(queue.name) is None:
                return []

    def _shape(
        self, queue: Queue, m: Received, system: set[str], names: Sequence[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MessageId": m.id,
            "ReceiptHandle": m.receipt,
            "MD5OfBody": md5_of_body(m.body),
            "Body": m.body,
        }
        attributes = system_attributes(m, queue.fifo)
        if "All" not in system:
            attributes = {k: v for k, v in attributes.items() if k in system}
        if attributes:
            out["Attributes"] = attributes
        chosen = _select(m.attributes, names)
        if chosen:
            out["MessageAttributes"] = chosen
            out["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
        return out

    # --- delete and visibility ----------------------------------------------------------

    def _handle(self, queue: Queue, handle: str | None) -> tuple[int, str]:
        if not handle:
            raise missing("ReceiptHandle")
        parsed = parse_receipt(handle)
        if parsed is None or parsed[0] != queue.name:
            raise bad_receipt(handle)
        return parsed[1], parsed[2]

    async def delete_message(self, call: Call) -> dict[str, Any]:
        queue = self._queues.find(call.params)
        seq, token = self._handle(queue, call.params.get("ReceiptHandle"))
        self._store.delete(queue.name, seq, token)
        return {}

    async def delete_message_batch(self, call: Call) -> dict[str, Any]:
        queue = self._queues.find(call.params)
        entries = _entries(call.params.get("Entries"), "DeleteMessageBatchRequestEntry")
        successful, failed = [], []
        handles = []
        for entry in entries:
            try:
                handles.append(self._handle(queue, entry.get("ReceiptHandle")))
            except ServiceFault as fault:
                failed.append(_failure(entry["Id"], fault))
                continue
            successful.append({"Id": entry["Id"]})
        self._store.delete_many(queue.name, handles)
        return {"Successful": successful, "Failed": failed}

    def _change(self, queue: Queue, handle: str | None, timeout: Any) -> None:
        seq, token = self._handle(queue, handle)
        if timeout is None:
            raise missing("VisibilityTimeout")
        if not 0 <= timeout <= 43200:
            raise invalid_value(
                "VisibilityTimeout",
                timeout,
                "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
            )
        if self._store.change_visibility(queue.name, seq, token, timeout * 1000, _now_ms()):
            self._waiters.notify(queue.name)

    async def change_message_visibility(self, call: Call) -> dict[str, Any]:
        queue = self._queues.find(call.params)
        self._change(queue, call.params.get("ReceiptHandle"), call.params.get("VisibilityTimeout"))
        return {}

    async def change_message_visibility_batch(self, call: Call) -> dict[str, Any]:
        queue = self._queues.find(call.params)
        entries = _entries(call.params.get("Entries"), "ChangeMessageVisibilityBatchRequestEntry")
        successful, failed = [], []
        for entry in entries:
            try:
                self._change(queue, entry.get("ReceiptHandle"), entry.get("VisibilityTimeout"))
            except ServiceFault as fault:
                failed.append(_failure(entry["Id"], fault))
                continue
            successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}


def system_attributes(m: Received, fifo: bool) -> dict[str, str]:
    """Every system attribute of a received message, as SQS names them."""
    out = {
        "SenderId": m.sender,
        "SentTimestamp": str(m.sent_ms),
        "ApproximateReceiveCount": str(m.receives),
        "ApproximateFirstReceiveTimestamp": str(m.first_receive_ms),
    }
    trace = m.system.get("AWSTraceHeader")
    if trace is not None:
        out["AWSTraceHeader"] = str(trace.get("StringValue", ""))
    if fifo:
        out["SequenceNumber"] = sequence_number(m.seq)
        if m.group_id is not None:
            out["MessageGroupId"] = m.group_id
        if m.dedup_id is not None:
            out["MessageDeduplicationId"] = m.dedup_id.rsplit("\x00", 1)[-1]
    return out


def _select(attributes: dict[str, dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    if not names or not attributes:
        return {}
    if "All" in names or ".*" in names:
        return dict(attributes)
    out = {}
    for name, value in attributes.items():
        for want in names:
            if want == name or (want.endswith(".*") and name.startswith(want[:-1])):
                out[name] = value
                break
    return out


def _size(body: str, attributes: dict[str, Any]) -> int:
    size = len(body.encode())
    for name, value in attributes.items():
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        if value.get("BinaryValue") is not None:
            size += len(value["BinaryValue"])
        else:
            size += len(str(value.get("StringValue") or "").encode())
    return size


def _message_attributes(given: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    if len(given) > MAX_ATTRIBUTES:
        raise invalid(
            f"Number of message attributes [{len(given)}] exceeds the allowed maximum"
            f" [{MAX_ATTRIBUTES}]."
        )
    out = {}
    for name, value in given.items():
        if kind == "user" and not _ATTR_NAME.match(name):
            raise invalid(f"Message (user) attribute name '{name}' is invalid.")
        if kind == "system" and name != "AWSTraceHeader":
            raise invalid(f"Message system attribute name '{name}' is invalid.")
        data_type = value.get("DataType") or ""
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid(
                f"The type of message ({kind}) attribute '{name}' is invalid. You must use only"
                " the following supported type prefixes: Binary, Number, String."
            )
        if base == "Binary":
            data = value.get("BinaryValue")
            if not data:
                raise invalid(
                    f"Message ({kind}) attribute '{name}' must contain a non-empty value of type"
                    " 'Binary'."
                )
            out[name] = {"DataType": data_type, "BinaryValue": bytes(data)}
        else:
            text = value.get("StringValue")
            if not text:
                raise invalid(
                    f"Message ({kind}) attribute '{name}' must contain a non-empty value of type"
                    " 'String'."
                )
            if base == "Number":
                try:
                    float(text)
                except ValueError:
                    raise invalid(
                        f"Could not cast message attribute '{name}' value to number."
                    ) from None
            out[name] = {"DataType": data_type, "StringValue": text}
    return out


def _entries(given: Any, what: str) -> list[Any]:
    entries: list[Any] = list(given or [])
    if not entries:
        raise ServiceFault(
            PREFIX + "EmptyBatchRequest",
            f"There should be at least one {what} in the request.",
            400,
        )
    if len(entries) > MAX_BATCH:
        raise ServiceFault(
            PREFIX + "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(entries)}.",
            400,
        )
    seen = set()
    for entry in entries:
        entry_id = entry.get("Id") or ""
        if not _ENTRY_ID.match(entry_id):
            raise ServiceFault(
                PREFIX + "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and"
                " underscores. It can be at most 80 letters long.",
                400,
            )
        if entry_id in seen:
            raise ServiceFault(PREFIX + "BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.", 400)
        seen.add(entry_id)
    return entries


def _failure(entry_id: str, fault: ServiceFault) -> dict[str, Any]:
    return {
        "Id": entry_id,
        "SenderFault": fault.status < 500,
        "Code": fault.aws_type,
        "Message": fault.message,
    }
