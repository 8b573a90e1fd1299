"""SQS's errors: raised with the query protocol's code (what AWS CLI and boto3 users see as
``Error.Code``); the json protocol names the model's shape in ``__type`` and carries the
query code in ``x-amzn-query-error``, as SQS does for clients in query-compatible mode."""

from __future__ import annotations

from lambox.errors import ServiceFault

# query code -> the json protocol's __type, where they differ
JSON_TYPES = {
    "InvalidParameterValue": "InvalidParameterValueException",
    "MissingParameter": "MissingRequiredParameterException",
    "AWS.SimpleQueueService.NonExistentQueue": "QueueDoesNotExist",
    "QueueAlreadyExists": "QueueNameExists",
    "InvalidAction": "UnknownOperationException",
}
PREFIX = "AWS.SimpleQueueService."


def json_type(code: str) -> str:
    """The json protocol's ``__type`` of a query error code."""
    return JSON_TYPES.get(code) or code.removeprefix(PREFIX)


def invalid(message: str) -> ServiceFault:
    return ServiceFault("InvalidParameterValue", message, 400)


def invalid_value(name: str, value: object, reason: str) -> ServiceFault:
    return invalid(f"Value {value} for parameter {name} is invalid. Reason: {reason}")


def missing(name: str) -> ServiceFault:
    return ServiceFault("MissingParameter", f"The request must contain the parameter {name}.")


def no_queue() -> ServiceFault:
    return ServiceFault(PREFIX + "NonExistentQueue", "The specified queue does not exist.", 400)


def bad_receipt(handle: str) -> ServiceFault:
    return ServiceFault(
        "ReceiptHandleIsInvalid",
        f'The input receipt handle "{handle}" is not a valid receipt handle.',
        400,
    )
