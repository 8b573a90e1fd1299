"""What IAM authorizes for an SQS request: ``sqs:<Action>`` on the queue's ARN.

A batch is authorized as the action it repeats (``SendMessageBatch`` needs
``sqs:SendMessage``), as AWS does; operations on no one queue (``ListQueues``, the move
tasks named by handle) act on ``*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BATCHES = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def action_of(
    operation: str, params: Mapping[str, Any], region: str, account: str
) -> tuple[str, str]:
    """``(sqs:<Action>, resource ARN)`` of one parsed SQS request."""
    action = "sqs:" + BATCHES.get(operation, operation)
    url = params.get("QueueUrl")
    if url:
        parts = str(url).rstrip("/").split("/")
        owner = parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else account
        return action, f"arn:aws:sqs:{region}:{owner}:{parts[-1]}"
    if params.get("QueueName"):
        owner = str(params.get("QueueOwnerAWSAccountId") or account)
        return action, f"arn:aws:sqs:{region}:{owner}:{params['QueueName']}"
    if params.get("SourceArn"):  # StartMessageMoveTask, ListMessageMoveTasks
        return action, str(params["SourceArn"])
    return action, "*"
