"""IAM policy evaluation, as AWS evaluates a request within one account: an explicit Deny in
any applicable policy wins, then an Allow in any, else the request is implicitly denied.

A statement applies when its Action (or NotAction) matches the action, case-insensitively,
with ``*`` and ``?`` wildcards; its Resource (or NotResource) matches the resource ARN,
case-sensitively; its Principal (or NotPrincipal; resource policies only) names the caller;
and every condition holds. Conditions: the String*, Arn*, Numeric*, Date*, Bool, IpAddress /
NotIpAddress and Null operators, their ``...IfExists`` forms and the ``ForAnyValue:`` /
``ForAllValues:`` set prefixes, over the request context's keys (compared case-insensitively:
``aws:SourceArn``, ``aws:SourceAccount``, ``aws:PrincipalArn``, ``aws:SourceIp``,
``aws:CurrentTime``...). A key missing from the context fails a condition, except under
``IfExists``, ``Null``, and the negated operators (``StringNotEquals``...), which hold.

No well-kept library evaluates conditions this way (policyuniverse parses and expands
policies, moto's evaluator ignores most condition operators), so this module does.
"""

from __future__ import annotations

import datetime as dt
import enum
import fnmatch
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"  # an explicit Deny
    IMPLICIT = "implicit"  # nothing allowed it


@dataclass(frozen=True, slots=True)
class Request:
    """What a policy is evaluated against: the action, the resource ARN, the caller (its
    ARN, account, and the service principal for a service's request) and the context keys."""

    action: str
    resource: str
    principal_arn: str = ""
    principal_account: str = ""
    service: str = ""  # e.g. s3.amazonaws.com, for a service principal's request
    context: Mapping[str, Any] | None = None

    def key(self, name: str) -> Any:
        if self.context is None:
            return None
        lowered = name.lower()
        for key, value in self.context.items():
            if key.lower() == lowered:
                return value
        return None


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE if ignore_case else 0)


def wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: ``*`` any run of characters, ``?`` one character."""
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    escaped = pattern.replace("[", "[[]")
    return _pattern(escaped, ignore_case).match(value) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: the six colon-separated parts matched one by one."""
    p_parts, v_parts = pattern.split(":", 5), value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return wildcard(pattern, value)
    return all(wildcard(p, v) for p, v in zip(p_parts, v_parts, strict=True))


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    number = _number(value)
    if number is not None:
        return number
    try:
        text = str(value).replace("Z", "+00:00")
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _ip(pattern: Any, value: Any) -> bool:
    try:
        return ipaddress.ip_address(str(value)) in ipaddress.ip_network(str(pattern), False)
    except ValueError:
        return False


def _bool(pattern: Any, value: Any) -> bool:
    return str(pattern).lower() == str(value).lower()


Compare = Callable[[Any, Any], bool]


def _numeric(op: Callable[[float, float], bool]) -> Compare:
    def compare(pattern: Any, value: Any) -> bool:
        a, b = _number(value), _number(pattern)
        return a is not None and b is not None and op(a, b)

    return compare


def _dated(op: Callable[[float, float], bool]) -> Compare:
    def compare(pattern: Any, value: Any) -> bool:
        a, b = _date(value), _date(pattern)
        return a is not None and b is not None and op(a, b)

    return compare


# operator -> (comparison of one policy value with one request value, negated)
OPERATORS: dict[str, tuple[Compare, bool]] = {
    "StringEquals": (lambda p, v: str(p) == str(v), False),
    "StringNotEquals": (lambda p, v: str(p) == str(v), True),
    "StringEqualsIgnoreCase": (lambda p, v: str(p).lower() == str(v).lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: str(p).lower() == str(v).lower(), True),
    "StringLike": (lambda p, v: wildcard(str(p), str(v)), False),
    "StringNotLike": (lambda p, v: wildcard(str(p), str(v)), True),
    "ArnEquals": (lambda p, v: _arn_like(str(p), str(v)), False),
    "ArnLike": (lambda p, v: _arn_like(str(p), str(v)), False),
    "ArnNotEquals": (lambda p, v: _arn_like(str(p), str(v)), True),
    "ArnNotLike": (lambda p, v: _arn_like(str(p), str(v)), True),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
    "DateEquals": (_dated(lambda a, b: a == b), False),
    "DateNotEquals": (_dated(lambda a, b: a == b), True),
    "DateLessThan": (_dated(lambda a, b: a < b), False),
    "DateLessThanEquals": (_dated(lambda a, b: a <= b), False),
    "DateGreaterThan": (_dated(lambda a, b: a > b), False),
    "DateGreaterThanEquals": (_dated(lambda a, b: a >= b), False),
    "Bool": (_bool, False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
    "BinaryEquals": (lambda p, v: str(p) == str(v), False),
}


def _condition(operator: str, key: str, patterns: list[Any], request: Request) -> bool:
    value = request.key(key)
    qualifier = ""
    if ":" in operator and operator.split(":", 1)[0] in ("ForAnyValue", "ForAllValues"):
        qualifier, operator = operator.split(":", 1)
    if operator == "Null":
        return any(_bool(p, value is None) for p in patterns)
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    found = OPERATORS.get(operator)
    if found is None:
        return False  # an operator AWS does not have never holds
    compare, negated = found
    if value is None:
        if qualifier == "ForAllValues":
            return True
        return if_exists or negated
    values = _listed(value)

    def one(v: Any) -> bool:
        hit = any(compare(p, v) for p in patterns)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def _conditions(block: Any, request: Request) -> bool:
    if not block:
        return True
    if not isinstance(block, dict):
        return False
    for operator, keys in block.items():
        if not isinstance(keys, dict):
            return False
        for key, patterns in keys.items():
            if not _condition(operator, key, _listed(patterns), request):
                return False
    return True


def _principal_matches(block: Any, request: Request) -> bool:
    if block == "*":
        return True
    if not isinstance(block, dict):
        return False
    for kind, names in block.items():
        for name in _listed(names):
            if kind == "Service" and request.service and name == request.service:
                return True
            if kind == "AWS" and not request.service:
                if name == "*" or name == request.principal_arn:
                    return True
                root = f"arn:aws:iam::{request.principal_account}:root"
                if name in (request.principal_account, root):
                    return True
    return False


def _statement_applies(statement: dict[str, Any], request: Request, resource_policy: bool) -> bool:
    if "Action" in statement:
        if not any(wildcard(str(a), request.action, True) for a in _listed(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(wildcard(str(a), request.action, True) for a in _listed(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(wildcard(str(r), request.resource) for r in _listed(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(wildcard(str(r), request.resource) for r in _listed(statement["NotResource"])):
            return False
    elif not resource_policy:
        return False
    if resource_policy:
        if "Principal" in statement:
            if not _principal_matches(statement["Principal"], request):
                return False
        elif "NotPrincipal" in statement:
            if _principal_matches(statement["NotPrincipal"], request):
                return False
        else:
            return False
    return _conditions(statement.get("Condition"), request)


def parse(document: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy document (text or parsed); [] for one that is not."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            return []
    if not isinstance(document, Mapping):
        return []
    return [s for s in _listed(document.get("Statement")) if isinstance(s, dict)]


def evaluate(
    documents: Iterable[str | Mapping[str, Any]], request: Request, resource_policy: bool = False
) -> Decision:
    """The decision of a set of policies (all identity policies, or one resource policy)."""
    allowed = False
    for document in documents:
        for statement in parse(document):
            if not _statement_applies(statement, request, resource_policy):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.DENY
            if statement.get("Effect") == "Allow":
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT


def combine(identity: Decision, resource: Decision) -> Decision:
    """Within one account: a Deny in either wins; an Allow in either allows."""
    if Decision.DENY in (identity, resource):
        return Decision.DENY
    if Decision.ALLOW in (identity, resource):
        return Decision.ALLOW
    return Decision.IMPLICIT
