"""Authorization: may this principal take this action on this resource?

The account's root may do anything. A user or an assumed role is allowed what its identity
policies allow (IAM's inline and attached policies, ``PoliciesOf``) or, for a Lambda
function, what the function's resource policy grants it (``ResourcePolicy``), unless either
explicitly denies it (``edge.policy``). Every service asks the same question with AWS's
action name and resource ARN and answers a refusal in its own shape, with AWS's message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from lambox.edge import policy
from lambox.edge.identity import Principal

PoliciesOf = Callable[[Principal], list[str]]
"""The identity policy documents of a principal (users and assumed roles)."""

LimitsOf = Callable[[Principal], "list[tuple[str, list[str]]]"]
"""What caps a principal's identity policies: (its name in a refusal, its documents) for a
permissions boundary and for session policies; the request must be allowed by each."""

ResourcePolicy = Callable[[str], "str | None"]
"""The resource policy document of a Lambda function, version or alias, by its (qualified)
ARN; None when it has none. AddPermission/RemovePermission keep it; wire their store's
getter here (``Authorizer(..., resource_policy=...)`` in ``server.py``)."""

_TYPES = {"user": "User", "assumed-role": "AssumedRole", "root": "Account"}


def context_of(principal: Principal, source_ip: str) -> dict[str, Any]:
    """The global condition keys of a request."""
    now = time.time()
    context: dict[str, Any] = {
        "aws:PrincipalArn": principal.role or principal.arn,
        "aws:PrincipalAccount": principal.account,
        "aws:PrincipalType": _TYPES.get(principal.kind, principal.kind),
        "aws:userid": principal.user_id,
        "aws:SourceIp": source_ip,
        "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "aws:EpochTime": int(now),
        "aws:SecureTransport": "false",
    }
    if principal.kind == "user":
        context["aws:username"] = principal.arn.rsplit("/", 1)[1]
    return context


class Authorizer:
    """``denial`` answers None (allowed) or AWS's access-denied message."""

    def __init__(
        self,
        policies_of: PoliciesOf,
        resource_policy: ResourcePolicy | None = None,
        enforced: bool = True,
        limits_of: LimitsOf | None = None,
        services_enforced: bool | None = None,
    ) -> None:
        self._policies_of = policies_of
        self._limits_of = limits_of
        self._resource_policy = resource_policy
        self.enforced = enforced
        """Whether users' and roles' requests are held to their policies."""
        self.services_enforced = enforced if services_enforced is None else services_enforced
        """Whether services are held to their grants (triggers' and public URLs' resource
        policies, the roles services act with): off on loopback by default
        (``Settings.service_grants_enforced``)."""

    def denial(
        self,
        principal: Principal,
        action: str,
        resource: str,
        source_ip: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> str | None:
        if not self.enforced or principal.is_root:
            return None
        context = context_of(principal, source_ip)
        if extra:
            context.update(extra)
        request = policy.Request(action, resource, principal.arn, principal.account, "", context)
        identity = policy.evaluate(self._policies_of(principal), request)
        capped_by = ""
        if self._limits_of is not None and identity is not policy.Decision.DENY:
            for name, documents in self._limits_of(principal):
                limit = policy.evaluate(documents, request)
                if limit is policy.Decision.DENY:
                    identity, capped_by = policy.Decision.DENY, name
                    break
                if limit is not policy.Decision.ALLOW and identity is policy.Decision.ALLOW:
                    identity, capped_by = policy.Decision.IMPLICIT, name
        resource_decision = policy.Decision.IMPLICIT
        if self._resource_policy is not None and resource.startswith("arn:aws:lambda:"):
            document = self._resource_policy(resource)
            if document:
                resource_decision = policy.evaluate([document], request, resource_policy=True)
        decision = policy.combine(identity, resource_decision)
        if decision is policy.Decision.ALLOW:
            return None
        kind = capped_by or "identity-based policy"
        article = "an" if kind[0] in "aeiou" else "a"
        why = (
            f"with an explicit deny in {article} {kind}"
            if identity is policy.Decision.DENY
            else f"because no {kind} allows the {action} action"
        )
        return (
            f"User: {principal.arn} is not authorized to perform: {action} on resource:"
            f" {resource} {why}"
        )

    def service_permits(
        self, function_arn: str, service: str, source_arn: str, source_account: str
    ) -> bool:
        """Whether the function's resource policy lets a service principal (S3's
        ``s3.amazonaws.com``, ``sns.amazonaws.com``, ``events.amazonaws.com``) invoke it on
        behalf of ``source_arn`` (the bucket, topic or rule), as AWS checks a trigger's
        invocation. Always true where services' grants are not enforced."""
        if not self.services_enforced:
            return True
        if self._resource_policy is None:
            return False
        document = self._resource_policy(function_arn)
        if not document:
            return False
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account}
        request = policy.Request(
            "lambda:InvokeFunction", function_arn, service=service, context=context
        )
        return policy.evaluate([document], request, resource_policy=True) is policy.Decision.ALLOW

    def public_permits(self, action: str, function_arn: str, context: Mapping[str, Any]) -> bool:
        """Whether the function's resource policy allows an unauthenticated caller (a
        statement whose Principal is ``*``) ``action``. Always true where services' grants
        are not enforced."""
        if not self.services_enforced:
            return True
        document = self._resource_policy(function_arn) if self._resource_policy else None
        if not document:
            return False
        request = policy.Request(action, function_arn, "*", "", "", context)
        return policy.evaluate([document], request, resource_policy=True) is policy.Decision.ALLOW

    def denial_in(self, scope: Mapping[str, Any], action: str, resource: str) -> str | None:
        """``denial`` for an edge request: the principal the edge authenticated and the
        client's address from the ASGI scope (None when no one was authenticated)."""
        principal = scope.get("lambox.principal")
        if principal is None:
            return None
        client = scope.get("client") or ("", 0)
        return self.denial(principal, action, resource, str(client[0]))
