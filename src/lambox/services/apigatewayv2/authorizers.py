"""Lambda authorizers' results: the cache API Gateway keeps of them, and how an IAM policy
an authorizer returned is weighed against the ARN of the method called.

API Gateway caches an authorizer's answer for ``authorizerResultTtlInSeconds`` (REST APIs,
300 by default) or ``AuthorizerResultTtlInSeconds`` (HTTP APIs, 0 by default), keyed by the
values of its identity sources (a TOKEN authorizer's token). A cached policy is weighed
again against each later request's method ARN: a policy that allows only the first
method denies the others while it is cached, as on AWS.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from typing import Any

CACHE_ENTRIES = 10_000
"""Answers kept at most (the oldest go first)."""


class ResultCache:
    """Authorizer answers by (API, authorizer, identity values), each until its TTL ends."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, ...], tuple[float, dict[str, Any]]] = OrderedDict()

    def get(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: tuple[str, ...], answer: dict[str, Any], ttl: int) -> None:
        if ttl <= 0:
            return
        self._entries[key] = (time.monotonic() + ttl, answer)
        self._entries.move_to_end(key)
        while len(self._entries) > CACHE_ENTRIES:
            self._entries.popitem(last=False)


def _pattern(resource: str) -> re.Pattern[str]:
    """An execute-api resource pattern (``*`` any run of characters, ``?`` one)."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource)
    )


def policy_effect(answer: dict[str, Any], method_arn: str) -> str | None:
    """``Deny`` when a statement denies ``method_arn``, else ``Allow`` when one allows it,
    else None: the decision of an authorizer's ``policyDocument``."""
    document = answer.get("policyDocument")
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements or []:
        if not isinstance(statement, dict):
            continue
        actions = statement.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if not any(_pattern(str(a).lower()).fullmatch("execute-api:invoke") for a in actions):
            continue
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        if not any(_pattern(str(r)).fullmatch(method_arn) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return "Deny"
        allowed = allowed or statement.get("Effect") == "Allow"
    return "Allow" if allowed else None
