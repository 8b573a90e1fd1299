"""STS's operations: GetCallerIdentity and AssumeRole.

AssumeRole issues temporary credentials (``ASIA...`` key, secret, session token, expiry)
that the edge then verifies as the role's session ``arn:aws:sts::<account>:assumed-role/
<role>/<session>``. The role's trust policy must name the caller (its ARN, its account's
root, or ``*``) in an Allow statement for ``sts:AssumeRole``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lambox.edge.identity import Principal
from lambox.edge.queryapp import Handler, QueryCall
from lambox.errors import ServiceFault
from lambox.services.iam.store import IamStore


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def trusts(trust: str, principal: Principal, action: str = "sts:AssumeRole") -> bool:
    """Whether a trust policy lets ``principal`` (an AWS principal) take ``action``; an
    explicit Deny wins."""
    try:
        document = json.loads(trust)
    except (ValueError, RecursionError):
        return False
    allowed = False
    for statement in _listed(document.get("Statement", [])):
        actions = _listed(statement.get("Action", []))
        if action not in actions and "sts:*" not in actions and "*" not in actions:
            continue
        names = statement.get("Principal", {})
        aws = _listed(names.get("AWS", [])) if isinstance(names, dict) else _listed(names)
        if principal_matches(aws, principal):
            if statement.get("Effect") == "Deny":
                return False
            allowed = True
    return allowed


def principal_matches(names: list[Any], principal: Principal) -> bool:
    root = f"arn:aws:iam::{principal.account}:root"
    targets = {principal.arn, principal.role} if principal.role else {principal.arn}
    return any(name in ("*", principal.account, root) or name in targets for name in names)


class StsService:
    """The handlers of STS's query API."""

    def __init__(
        self, store: IamStore, document: Callable[[str], str | None] = lambda arn: None
    ) -> None:
        self._store = store
        self._document = document  # a managed policy's document, by ARN (PolicyArns)
        self.operations: dict[str, Handler] = {
            "GetCallerIdentity": self.get_caller_identity,
            "AssumeRole": self.assume_role,
        }

    @staticmethod
    def resource(operation: str, params: dict[str, Any]) -> str:
        return str(params.get("RoleArn") or "*")

    def get_caller_identity(self, call: QueryCall) -> dict[str, Any]:
        p = call.principal
        return {"UserId": p.user_id, "Account": p.account, "Arn": p.arn}

    def _session_policies(self, call: QueryCall) -> list[str]:
        """AssumeRole's session policies (the inline ``Policy`` and the managed
        ``PolicyArns``): the session may do only what they allow as well."""
        documents: list[str] = []
        inline = call.params.get("Policy")
        if inline:
            try:
                parsed = json.loads(str(inline))
            except ValueError as exc:
                raise ServiceFault(
                    "MalformedPolicyDocument", "The policy is not in the valid JSON format.", 400
                ) from exc
            if not isinstance(parsed, dict):
                raise ServiceFault(
                    "MalformedPolicyDocument", "The policy is not in the valid JSON format.", 400
                )
            documents.append(str(inline))
        for entry in call.params.get("PolicyArns") or []:
            arn = str((entry or {}).get("arn", ""))
            found = self._document(arn)
            if found is None:
                raise ServiceFault("InvalidParameterValue", f"Policy {arn} does not exist.", 400)
            documents.append(found)
        return documents

    def assume_role(self, call: QueryCall) -> dict[str, Any]:
        arn = str(call.params["RoleArn"])
        session = str(call.params["RoleSessionName"])
        name = arn.rsplit("/", 1)[-1]
        role = (
            self._store.role(name)
            if arn.startswith(f"arn:aws:iam::{self._store.account}:role/")
            else None
        )
        if role is None or not trusts(role.trust, call.principal):
            raise ServiceFault(
                "AccessDenied",
                f"User: {call.principal.arn} is not authorized to perform: sts:AssumeRole on"
                f" resource: {arn}",
                403,
            )
        seconds = int(call.params.get("DurationSeconds", 3600))
        if not 900 <= seconds <= role.max_session:
            raise ServiceFault(
                "ValidationError",
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this"
                " role." if seconds > role.max_session else
                f"1 validation error detected: Value '{seconds}' at 'durationSeconds' failed"
                " to satisfy constraint: Member must have value greater than or equal to 900",
                400,
            )  # fmt: skip
        cred = self._store.add_session(name, session, seconds, self._session_policies(call))
        return {
            "Credentials": {
                "AccessKeyId": cred.access_key,
                "SecretAccessKey": cred.secret,
                "SessionToken": cred.session_token,
                "Expiration": cred.expires,
            },
            "AssumedRoleUser": {
                "AssumedRoleId": cred.principal.user_id,
                "Arn": cred.principal.arn,
            },
            "PackedPolicySize": 0,
        }
