"""The smallest useful function: greets, counts warm invocations, logs."""

import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)

invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    logger.info("greeting %s", name)
    return {
        "message": f"Hello, {name}!",
        "warm_invocations": invocations,
        "function": context.function_name,
        "request_id": context.aws_request_id,
        "region": os.environ["AWS_REGION"],
    }
