"""The queue operations: create, find, list, attributes, tags, purge, delete."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

from lambox.errors import ServiceFault
from lambox.services.sqs import attributes as attrs
from lambox.services.sqs.calls import Call
from lambox.services.sqs.errors import PREFIX, invalid, invalid_value, missing, no_queue
from lambox.services.sqs.store import Queue, QueueStore, Redrive
from lambox.services.sqs.waiters import Waiters

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")
PURGE_INTERVAL = 60.0
MAX_TAGS = 50


class Queues:
    """Queue lifecycle and lookup, shared by the message operations and event sources."""

    def __init__(
        self, store: QueueStore, region: str, account: str, waiters: Waiters | None = None
    ) -> None:
        self.store = store
        self._waiters = waiters
        self.region = region
        self.account = account
        self._purged: dict[str, float] = {}
        self._settings: dict[str, tuple[Queue, dict[str, str]]] = {}

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{name}"

    def url(self, endpoint: str, name: str) -> str:
        return f"{endpoint}/{self.account}/{name}"

    def name_of_arn(self, arn: str) -> str | None:
        parts = arn.split(":")
        if len(parts) != 6 or parts[2] != "sqs" or parts[4] != self.account:
            return None
        return parts[5]

    def find(self, params: Any) -> Queue:
        """The queue a request's ``QueueUrl`` names."""
        url = params.get("QueueUrl")
        if not url:
            raise missing("QueueUrl")
        path = urlsplit(url).path if "://" in url else url
        parts = [p for p in path.split("/") if p]
        if not parts or (len(parts) > 1 and parts[-2] != self.account):
            raise no_queue()
        queue = self.store.queue(parts[-1])
        if queue is None:
            raise no_queue()
        return queue

    def by_name(self, name: str) -> Queue:
        queue = self.store.queue(name)
        if queue is None:
            raise no_queue()
        return queue

    def settings(self, queue: Queue) -> dict[str, str]:
        """The queue's attributes over the defaults (computed once per stored version of
        the queue; callers must not change the answer)."""
        cached = self._settings.get(queue.name)
        if cached is not None and cached[0] is queue:
            return cached[1]
        effective = attrs.effective(queue.attributes, queue.fifo)
        self._settings[queue.name] = (queue, effective)
        return effective

    def redrive(self, queue: Queue) -> Redrive | None:
        policy = self.settings(queue).get("RedrivePolicy")
        if not policy:
            return None
        document = json.loads(policy)
        target = self.name_of_arn(document["deadLetterTargetArn"])
        if target is None or self.store.queue(target) is None:
            return None
        return Redrive(target, int(document["maxReceiveCount"]))

    # --- operations ---------------------------------------------------------------------

    async def create_queue(self, call: Call) -> dict[str, Any]:
        name = call.params.get("QueueName") or ""
        given = dict(call.params.get("Attributes") or {})
        fifo = given.get("FifoQueue", "false").lower() == "true"
        if name.endswith(".fifo") and not fifo and "FifoQueue" not in given:
            fifo = True
        if not (_FIFO_NAME if fifo else _NAME).match(name):
            if fifo:
                raise invalid(
                    "The name of a FIFO queue can only include alphanumeric characters, hyphens,"
                    " or underscores, must end with .fifo suffix and be 1 to 80 in length."
                )
            raise invalid(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in"
                " length"
            )
        checked = attrs.validate(given, fifo)
        self._check_dead_letter(checked, fifo)
        now = int(time.time())
        tags = dict(call.params.get("tags") or {})
        existing = self.store.queue(name)
        if existing is None and self.store.create_queue(Queue(name, fifo, checked, tags, now, now)):
            return {"QueueUrl": self.url(call.endpoint, name)}
        existing = existing or self.by_name(name)
        current = self.settings(existing)
        for key, value in attrs.effective(checked, fifo).items():
            if key in attrs.SETTABLE | attrs.FIFO_ONLY and current.get(key) != value:
                raise ServiceFault(
                    "QueueAlreadyExists",
                    "A queue already exists with the same name and a different value for"
                    f" attribute {key}",
                    400,
                )
        return {"QueueUrl": self.url(call.endpoint, name)}

    def _check_dead_letter(self, checked: dict[str, str], fifo: bool) -> None:
        policy = checked.get("RedrivePolicy")
        if not policy:
            return
        target = self.name_of_arn(json.loads(policy)["deadLetterTargetArn"])
        dlq = self.store.queue(target) if target else None
        if dlq is None:
            raise invalid(
                f"Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead letter"
                " target does not exist."
            )
        if dlq.fifo != fifo:
            raise invalid(
                f"Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead-letter"
                " queue must be same type of queue as the source.."
            )

    async def get_queue_url(self, call: Call) -> dict[str, Any]:
        name = call.params.get("QueueName") or ""
        self.by_name(name)
        return {"QueueUrl": self.url(call.endpoint, name)}

    async def list_queues(self, call: Call) -> dict[str, Any]:
        prefix = call.params.get("QueueNamePrefix") or ""
        names = [n for n in self.store.names() if n.startswith(prefix)]
        token = call.params.get("NextToken")
        if token:
            try:
                after = base64.b64decode(token).decode()
            except ValueError:
                raise invalid("Invalid NextToken.") from None
            names = [n for n in names if n > after]
        limit = call.params.get("MaxResults")
        out: dict[str, Any] = {}
        if limit is not None:
            if not 1 <= limit <= 1000:
                raise invalid_value("MaxResults", limit, "MaxResults must be between 1 and 1000")
            if len(names) > limit:
                names = names[:limit]
                out["NextToken"] = base64.b64encode(names[-1].encode()).decode()
        if names:
            out["QueueUrls"] = [self.url(call.endpoint, n) for n in names]
        return out

    async def delete_queue(self, call: Call) -> dict[str, Any]:
        queue = self.find(call.params)
        self.store.delete_queue(queue.name)
        self._settings.pop(queue.name, None)
        if self._waiters is not None:  # long polls of the queue end now, empty
            self._waiters.notify(queue.name)
        return {}

    async def get_queue_attributes(self, call: Call) -> dict[str, Any]:
        queue = self.find(call.params)
        wanted = list(call.params.get("AttributeNames") or [])
        for name in wanted:
            if name not in attrs.READABLE:
                raise ServiceFault("InvalidAttributeName", f"Unknown Attribute {name}.", 400)
        if not wanted:
            return {}
        everything = self.describe(queue)
        if "All" in wanted:
            return {"Attributes": everything}
        chosen = {k: everything[k] for k in wanted if k in everything}
        return {"Attributes": chosen} if chosen else {}

    def describe(self, queue: Queue) -> dict[str, str]:
        visible, inflight, delayed = self.store.counts(queue.name, int(time.time() * 1000))
        out = dict(self.settings(queue))
        out.update(
            ApproximateNumberOfMessages=str(visible),
            ApproximateNumberOfMessagesNotVisible=str(inflight),
            ApproximateNumberOfMessagesDelayed=str(delayed),
            CreatedTimestamp=str(queue.created),
            LastModifiedTimestamp=str(queue.modified),
            QueueArn=self.arn(queue.name),
        )
        return dict(sorted(out.items()))

    async def set_queue_attributes(self, call: Call) -> dict[str, Any]:
        queue = self.find(call.params)
        given = dict(call.params.get("Attributes") or {})
        if queue.fifo and given.get("FifoQueue", "true").lower() != "true":
            raise ServiceFault(
                "InvalidAttributeValue",
                "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not"
                " supported.",
                400,
            )
        checked = attrs.validate(given, queue.fifo)
        self._check_dead_letter(checked, queue.fifo)
        merged = {**queue.attributes, **checked}
        if checked.get("KmsMasterKeyId") and "SqsManagedSseEnabled" not in checked:
            merged["SqsManagedSseEnabled"] = "false"
        self.store.update_queue(queue.name, merged, queue.tags, int(time.time()))
        return {}

    async def purge_queue(self, call: Call) -> dict[str, Any]:
        queue = self.find(call.params)
        now = time.monotonic()
        last = self._purged.get(queue.name)
        if last is not None and now - last < PURGE_INTERVAL:
            raise ServiceFault(
                PREFIX + "PurgeQueueInProgress",
                f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds.",
                403,
            )
        self._purged[queue.name] = now
        self.store.purge(queue.name)
        return {}

    async def tag_queue(self, call: Call) -> dict[str, Any]:
        queue = self.find(call.params)
        tags = {**queue.tags, **(call.params.get("Tags") or {})}
        if len(tags) > MAX_TAGS:
            raise invalid(f"Too many tags added for queue {queue.name}.")
        self.store.update_queue(queue.name, queue.attributes, tags, queue.modified)
        return {}

    async def untag_queue(self, call: Call) -> dict[str, Any]:
        queue = self.find(call.params)
        drop = set(call.params.get("TagKeys") or [])
        tags = {k: v for k, v in queue.tags.items() if k not in drop}
        self.store.update_queue(queue.name, queue.attributes, tags, queue.modified)
        return {}

    async def list_queue_tags(self, call: Call) -> dict[str, Any]:
        queue = self.find(call.params)
        return {"Tags": dict(queue.tags)} if queue.tags else {}

    async def list_dead_letter_source_queues(self, call: Call) -> dict[str, Any]:
        queue = self.find(call.params)
        arn = self.arn(queue.name)
        sources = []
        for name in self.store.names():
            other = self.store.queue(name)
            policy = other.attributes.get("RedrivePolicy") if other else None
            if policy and json.loads(policy).get("deadLetterTargetArn") == arn:
                sources.append(self.url(call.endpoint, name))
        return {"queueUrls": sources}

    # --- permissions (the queue's Policy attribute) ----------------------------------------

    async def add_permission(self, call: Call) -> dict[str, Any]:
        queue = self.find(call.params)
        label = call.params.get("Label") or ""
        arn = self.arn(queue.name)
        policy = json.loads(queue.attributes.get("Policy") or "null") or {
            "Version": "2008-10-17",
            "Id": f"{arn}/SQSDefaultPolicy",
            "Statement": [],
        }
        if any(s.get("Sid") == label for s in policy["Statement"]):
            raise invalid_value("Label", label, "Already exists.")
        principals = [f"arn:aws:iam::{a}:root" for a in call.params.get("AWSAccountIds") or []]
        actions = [f"SQS:{a}" for a in call.params.get("Actions") or []]
        policy["Statement"].append(
            {
                "Sid": label,
                "Effect": "Allow",
                "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                "Action": actions[0] if len(actions) == 1 else actions,
                "Resource": arn,
            }
        )
        attributes = {**queue.attributes, "Policy": json.dumps(policy)}
        self.store.update_queue(queue.name, attributes, queue.tags, int(time.time()))
        return {}

    async def remove_permission(self, call: Call) -> dict[str, Any]:
        queue = self.find(call.params)
        label = call.params.get("Label") or ""
        policy = json.loads(queue.attributes.get("Policy") or "null") or {"Statement": []}
        kept = [s for s in policy["Statement"] if s.get("Sid") != label]
        if len(kept) == len(policy["Statement"]):
            raise invalid_value("Label", label, "can't find label.")
        attributes = dict(queue.attributes)
        if kept:
            attributes["Policy"] = json.dumps({**policy, "Statement": kept})
        else:
            attributes.pop("Policy", None)
        self.store.update_queue(queue.name, attributes, queue.tags, int(time.time()))
        return {}
