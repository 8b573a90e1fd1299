"""SQS's operations by name: the queue, message and move-task handlers of one server."""

from __future__ import annotations

import re

from lambox.services.sqs.calls import Handler
from lambox.services.sqs.messages import Messages
from lambox.services.sqs.moves import Moves
from lambox.services.sqs.queues import Queues


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class SqsService:
    """``operations`` maps each served SQS operation to its handler."""

    def __init__(self, queues: Queues, messages: Messages, moves: Moves) -> None:
        self.queues = queues
        self.messages = messages
        self.moves = moves
        self.operations: dict[str, Handler] = {}
        for name in (
            "CreateQueue",
            "GetQueueUrl",
            "ListQueues",
            "DeleteQueue",
            "GetQueueAttributes",
            "SetQueueAttributes",
            "PurgeQueue",
            "TagQueue",
            "UntagQueue",
            "ListQueueTags",
            "ListDeadLetterSourceQueues",
            "AddPermission",
            "RemovePermission",
        ):
            self.operations[name] = getattr(queues, _snake(name))
        for name in (
            "SendMessage",
            "SendMessageBatch",
            "ReceiveMessage",
            "DeleteMessage",
            "DeleteMessageBatch",
            "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch",
        ):
            self.operations[name] = getattr(messages, _snake(name))
        for name in ("StartMessageMoveTask", "CancelMessageMoveTask", "ListMessageMoveTasks"):
            self.operations[name] = getattr(moves, _snake(name))
