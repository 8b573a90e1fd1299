"""Triggers invoke a function only if its resource policy lets their service do so.

On AWS a bucket notification, an SNS subscription or an EventBridge rule invokes a
function as a service principal (``s3.amazonaws.com``, ``sns.amazonaws.com``,
``events.amazonaws.com``) on behalf of a source (the bucket, topic or rule ARN, in the
account that owns it): the function's resource policy must allow that principal, with the
statement's ``SourceArn``/``SourceAccount`` conditions met, or the invocation fails.
``gated`` wraps a relay's ``deliver`` with that check for the services whose event names
its source (S3's bucket, SNS's topic); EventBridge asks ``Authorizer.service_permits``
itself when it matches a rule, since its (possibly transformed) event may not name it.
A refused delivery is dropped with a warning, as AWS drops an event it may not deliver.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from lambox.edge.authorize import Authorizer
from lambox.edge.identity import Principal

log = logging.getLogger(__name__)

S3 = "s3.amazonaws.com"
SNS = "sns.amazonaws.com"
EVENTS = "events.amazonaws.com"
SCHEDULER = "scheduler.amazonaws.com"

Deliver = Callable[[str, bytes, str | None], Awaitable[None]]
"""(function ARN, event, the trace header of the chain it belongs to) -> None."""


def _first_record(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except ValueError:
        return {}
    records = event.get("Records") if isinstance(event, dict) else None
    first = records[0] if isinstance(records, list) and records else {}
    return first if isinstance(first, dict) else {}


def s3_source(payload: bytes) -> str:
    """The bucket ARN of an S3 notification event."""
    bucket = (_first_record(payload).get("s3") or {}).get("bucket") or {}
    name = bucket.get("name", "")
    return str(bucket.get("arn") or f"arn:aws:s3:::{name}")


def sns_source(payload: bytes) -> str:
    """The topic ARN of an SNS event."""
    return str((_first_record(payload).get("Sns") or {}).get("TopicArn", ""))


def gated(
    deliver: Deliver,
    authorizer: Authorizer,
    service: str,
    source_of: Callable[[bytes], str],
    account: str,
) -> Deliver:
    """``deliver`` for the function deliveries of one service, refused unless the
    function's resource policy allows ``service`` for the event's source."""

    async def checked(function_arn: str, payload: bytes, trace: str | None = None) -> None:
        source = source_of(payload)
        if not authorizer.service_permits(function_arn, service, source, account):
            log.warning(
                "%s may not invoke %s for %s (no resource policy statement allows it):"
                " event dropped",
                service,
                function_arn,
                source,
            )
            return
        await deliver(function_arn, payload, trace)

    return checked


def role_allows(authorizer: Authorizer, account: str) -> Callable[[str, str, str], bool]:
    """(role ARN, action, resource): whether a session of the role may take the action, by
    the role's policies (and the resource's policy), as when a service acts with a role
    it was given (Scheduler's target role, a function's execution role polling a queue).
    Always true where services' grants are not enforced (``Authorizer.services_enforced``)."""
    prefix = f"arn:aws:iam::{account}:role/"

    def allows(role_arn: str, action: str, resource: str) -> bool:
        if not authorizer.services_enforced:
            return True
        if not role_arn.startswith(prefix):
            return False
        name = role_arn.rsplit("/", 1)[1]
        session = Principal(
            account,
            f"arn:aws:sts::{account}:assumed-role/{name}/lambox",
            f"lambox:{name}",
            "assumed-role",
            role_arn,
        )
        return authorizer.denial(session, action, resource) is None

    return allows


_TARGET_ACTIONS = {
    "lambda": "lambda:InvokeFunction",
    "sqs": "sqs:SendMessage",
    "sns": "sns:Publish",
}


def role_may_invoke(
    authorizer: Authorizer,
    account: str,
    trust_of: Callable[[str], str | None],
    trusts: Callable[[str, str], bool],
) -> Callable[[str, str], bool]:
    """EventBridge Scheduler's check of a function target: Scheduler assumes the target's
    ``RoleArn``, which must be a role of this account trusting ``scheduler.amazonaws.com``
    (``trust_of(name)`` its trust policy, ``trusts(trust, service)`` the test) and allowed
    ``lambda:InvokeFunction`` on the function by its policies (or by the function's
    resource policy); ``sqs:SendMessage`` on a queue, ``sns:Publish`` on a topic. A
    universal target's resource is in its Input: only the trust is checked for it. Always
    true where services' grants are not enforced."""
    prefix = f"arn:aws:iam::{account}:role/"
    allows = role_allows(authorizer, account)

    def may_invoke(function_arn: str, role_arn: str) -> bool:
        if not authorizer.services_enforced:
            return True
        if not role_arn.startswith(prefix):
            return False
        trust = trust_of(role_arn.rsplit("/", 1)[1])
        if trust is None or not trusts(trust, SCHEDULER):
            return False
        service = function_arn.split(":")[2] if function_arn.count(":") >= 2 else ""
        action = _TARGET_ACTIONS.get(service)
        return action is None or allows(role_arn, action, function_arn)

    return may_invoke
