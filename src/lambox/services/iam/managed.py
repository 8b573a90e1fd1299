"""The AWS managed policies lambox knows (``arn:aws:iam::aws:policy/...``): the handful a
Lambda user attaches, with AWS's documents trimmed to the services lambox serves."""

from __future__ import annotations

import json


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action: object, resource: object = "*") -> dict[str, object]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]

MANAGED: dict[str, str] = {
    "AdministratorAccess": _doc(_allow("*")),
    "ReadOnlyAccess": _doc(
        _allow(["lambda:Get*", "lambda:List*", "s3:Get*", "s3:List*", "iam:Get*", "iam:List*"])
    ),
    "service-role/AWSLambdaBasicExecutionRole": _doc(_allow(_LOGS)),
    "service-role/AWSLambdaBasicDurableExecutionRolePolicy": _doc(
        _allow([*_LOGS, "lambda:CheckpointDurableExecution", "lambda:GetDurableExecutionState"])
    ),
    "service-role/AWSLambdaSQSQueueExecutionRole": _doc(
        _allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS])
    ),
    "AWSLambdaExecute": _doc(
        _allow("logs:*", "arn:aws:logs:*:*:*"),
        _allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::*"),
    ),
    "AWSLambda_FullAccess": _doc(_allow(["lambda:*", "s3:*", "iam:GetRole", "iam:ListRoles"])),
    "AWSLambda_ReadOnlyAccess": _doc(_allow(["lambda:Get*", "lambda:List*"])),
    "service-role/AWSLambdaRole": _doc(_allow("lambda:InvokeFunction")),
    "AmazonS3FullAccess": _doc(_allow("s3:*")),
    "AmazonS3ReadOnlyAccess": _doc(_allow(["s3:Get*", "s3:List*"])),
    "AmazonSQSFullAccess": _doc(_allow("sqs:*")),
}
PREFIX = "arn:aws:iam::aws:policy/"


def managed(arn: str) -> str | None:
    """The document of an AWS managed policy ARN, or None."""
    return MANAGED.get(arn[len(PREFIX) :]) if arn.startswith(PREFIX) else None
