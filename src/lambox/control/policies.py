"""Resource policies: AddPermission, RemovePermission and GetPolicy, and the lookup that
authorization reads.

Each check comes in AWS's order, with AWS's words (recorded in ``permissions-urls-tags``,
``TestLambdaPermissions``): the model (StatementId and Qualifier patterns), a qualifier in
the name that differs from the Qualifier parameter, ``$LATEST`` (AddPermission only), the
function, the version or alias, the principal, the RevisionId, then a Sid already taken.

A policy belongs to the qualifier it was added with: the unqualified function's policy does
not apply to its published versions or aliases, and each has its own (as on AWS). The
RevisionId precondition compares with the policy's RevisionId, or, before the target has a
policy, with the RevisionId of the function version or alias itself.

This service keeps every policy in memory and is the only writer of the store; ``lookup``
is the read-only view the edge's authorization asks ("the resource policy of F:Q").
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.aliases import AliasService
from lambox.control.functions import FunctionService
from lambox.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from lambox.model import LATEST
from lambox.store.policies import PolicyStore, ResourcePolicy, Statement
from lambox.watch import Change, Removed

_SERVICE = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.amazon(aws)?\.com(\.cn)?")
_ACCOUNT = re.compile(r"\d{12}")
_IAM_ARN = re.compile(r"arn:aws[a-z-]*:(iam|sts)::\d{12}:.+")
_ALIAS = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9-_]+")
_NOT_FOUND = "The resource you requested does not exist."
_STRING_EQUALS = (
    ("SourceAccount", "AWS:SourceAccount"),
    ("FunctionUrlAuthType", "lambda:FunctionUrlAuthType"),
    ("PrincipalOrgID", "aws:PrincipalOrgID"),
    ("EventSourceToken", "lambda:EventSourceToken"),
)


def principal(value: str, partition: str = "aws") -> str | dict[str, str]:
    """The statement's Principal for AddPermission's ``Principal`` parameter: ``*``, a
    service (``s3.amazonaws.com``), an account id (its root) or an IAM ARN."""
    if value == "*":
        return "*"
    if _ACCOUNT.fullmatch(value):
        return {"AWS": f"arn:{partition}:iam::{value}:root"}
    if _IAM_ARN.fullmatch(value):
        return {"AWS": value}
    if _SERVICE.fullmatch(value):
        return {"Service": value}
    raise InvalidParameterValue(
        "The provided principal was invalid. Please check the principal and try again."
    )


def statement(params: Mapping[str, Any], resource: str) -> Statement:
    """One statement as AWS writes it from AddPermission's parameters (key order matters:
    GetPolicy's JSON keeps it)."""
    body: Statement = {
        "Sid": params["StatementId"],
        "Effect": "Allow",
        "Principal": principal(str(params["Principal"])),
        "Action": params["Action"],
        "Resource": resource,
    }
    condition: dict[str, dict[str, str]] = {}
    equals = {key: params[name] for name, key in _STRING_EQUALS if params.get(name)}
    if equals:
        condition["StringEquals"] = equals
    if params.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
    if condition:
        body["Condition"] = condition
    return body


class PolicyService:
    """The resource policies of functions, versions and aliases."""

    def __init__(
        self,
        store: PolicyStore,
        functions: FunctionService,
        aliases: AliasService,
        arns: Arns,
    ) -> None:
        self._store = store
        self._functions = functions
        self._aliases = aliases
        self._arns = arns
        self._policies = {(p.function, p.qualifier): p for p in store.all()}

    def lookup(self, function: str, qualifier: str | None = None) -> dict[str, Any] | None:
        """The policy document of ``function`` (a plain name) at ``qualifier`` (None or
        ``$LATEST`` for the unqualified function), or None when it has none. Read-only and
        from memory: cheap enough for every authorized request."""
        policy = self._policies.get((function, qualifier or LATEST))
        return None if policy is None else policy.document()

    def on_change(self, change: Change) -> None:
        """Change-feed subscriber: a deleted function, version or alias loses its policy."""
        if not isinstance(change, Removed):
            return
        if change.qualifier is None:
            self._store.delete_function(change.name)
            for key in [k for k in self._policies if k[0] == change.name]:
                del self._policies[key]
        else:
            self._store.delete(change.name, change.qualifier)
            self._policies.pop((change.name, change.qualifier), None)

    def close(self) -> None:
        """Release the store; nothing may be called after."""
        self._store.close()

    # -- operations -----------------------------------------------------------------------

    def add(self, function_name: str, qualifier: str | None, params: Mapping[str, Any]) -> str:
        """AddPermission: the new statement, as the JSON text AWS answers with."""
        shapes.validate(
            "AddPermission", {**params, "FunctionName": function_name, "Qualifier": qualifier}
        )
        name, qualifier = self._arns.parse(function_name, qualifier)
        if qualifier == LATEST:
            raise InvalidParameterValue("We currently do not support adding policies for $LATEST.")
        target_revision = self._target_revision(name, qualifier)
        key = qualifier or LATEST
        current = self._policies.get((name, key))
        new = statement(params, self._arns.function(name, qualifier))
        revision = params.get("RevisionId")
        if revision is not None and revision != (
            current.revision_id if current else target_revision
        ):
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the"
                " GetPolicy API to retrieve the latest Revision Id"
            )
        if current is not None and current.find(new["Sid"]) is not None:
            raise ResourceConflict(
                f"The statement id ({new['Sid']}) provided already exists. Please provide a new"
                " statement id, or remove the existing statement."
            )
        kept = current.statements if current else ()
        self._save(ResourcePolicy(name, key, str(uuid.uuid4()), (*kept, new)))
        return json.dumps(new, separators=(",", ":"))

    def get(self, function_name: str, qualifier: str | None) -> ResourcePolicy:
        """GetPolicy: a function, version or alias without a policy (or that does not exist)
        is one same not-found answer, as on AWS."""
        shapes.validate("GetPolicy", {"FunctionName": function_name, "Qualifier": qualifier})
        name, qualifier = self._arns.parse(function_name, qualifier)
        policy = self._policies.get((name, qualifier or LATEST))
        if policy is None:
            raise ResourceNotFound(_NOT_FOUND)
        return policy

    def remove(
        self, function_name: str, sid: str, qualifier: str | None, revision_id: str | None
    ) -> None:
        """RemovePermission: the last statement removed deletes the policy."""
        shapes.validate(
            "RemovePermission",
            {
                "FunctionName": function_name,
                "StatementId": sid,
                "Qualifier": qualifier,
                "RevisionId": revision_id,
            },
        )
        name, qualifier = self._arns.parse(function_name, qualifier)
        try:
            self._target_revision(name, qualifier)
        except ResourceNotFound as exc:
            if exc.message.startswith("Cannot find alias"):
                raise
            raise ResourceNotFound(
                f"No policy found for: {self._arns.function(name, qualifier)}"
            ) from exc
        key = qualifier or LATEST
        current = self._policies.get((name, key))
        if current is None:
            raise ResourceNotFound("No policy is associated with the given resource.")
        if current.find(sid) is None:
            raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")
        self._functions.check_revision_text(revision_id, current.revision_id)
        kept = tuple(s for s in current.statements if s["Sid"] != sid)
        if kept:
            self._save(ResourcePolicy(name, key, str(uuid.uuid4()), kept))
        else:
            self._store.delete(name, key)
            del self._policies[(name, key)]

    # -- whole documents (Put/Get/DeleteResourcePolicy) ------------------------------------

    def put_document(self, resource_arn: str, params: Mapping[str, Any]) -> ResourcePolicy:
        """PutResourcePolicy: the document's statements replace the resource's policy
        (statements AddPermission made included), under the same RevisionId precondition."""
        shapes.validate("PutResourcePolicy", {**params, "ResourceArn": resource_arn})
        name, key, target_revision = self._document_target(resource_arn)
        current = self._policies.get((name, key))
        revision = params.get("RevisionId")
        if revision is not None and revision != (
            current.revision_id if current else target_revision
        ):
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the"
                " GetResourcePolicy API to retrieve the latest Revision Id"
            )
        statements = _statements(str(params["Policy"]))
        policy = ResourcePolicy(name, key, str(uuid.uuid4()), statements)
        self._save(policy)
        return policy

    def get_document(self, resource_arn: str) -> ResourcePolicy:
        """GetResourcePolicy: the resource's policy, whichever operation wrote it."""
        shapes.validate("GetResourcePolicy", {"ResourceArn": resource_arn})
        name, key, _ = self._document_target(resource_arn)
        policy = self._policies.get((name, key))
        if policy is None:
            raise ResourceNotFound(_NOT_FOUND)
        return policy

    def delete_document(self, resource_arn: str, revision_id: str | None) -> None:
        """DeleteResourcePolicy: every statement of the resource's policy."""
        shapes.validate(
            "DeleteResourcePolicy", {"ResourceArn": resource_arn, "RevisionId": revision_id}
        )
        name, key, _ = self._document_target(resource_arn)
        current = self._policies.get((name, key))
        if current is None:
            raise ResourceNotFound("No policy is associated with the given resource.")
        self._functions.check_revision_text(revision_id, current.revision_id)
        self._store.delete(name, key)
        del self._policies[(name, key)]

    def _document_target(self, resource_arn: str) -> tuple[str, str, str]:
        """(function, qualifier key, target RevisionId) of a policy-document ResourceArn."""
        if ":runtime/" in resource_arn:
            raise InvalidParameterValue("lambox keeps no resource policies of runtimes.")
        name, qualifier = self._arns.parse(resource_arn)
        if qualifier == LATEST:
            raise InvalidParameterValue("We currently do not support adding policies for $LATEST.")
        return name, qualifier or LATEST, self._target_revision(name, qualifier)

    # -- internals --------------------------------------------------------------------------

    def _target_revision(self, name: str, qualifier: str | None) -> str:
        """The RevisionId of the function version or alias a policy is for, or AWS's
        not-found error for the function, the version or the alias."""
        latest = self._functions.get(name)
        if qualifier is None or qualifier == LATEST:
            return latest.revision_id
        if qualifier.isdigit() or not _ALIAS.fullmatch(qualifier):
            return self._functions.get(name, qualifier).revision_id
        return self._aliases.get(name, qualifier).revision_id

    def _save(self, policy: ResourcePolicy) -> None:
        self._store.put(policy)
        self._policies[(policy.function, policy.qualifier)] = policy


def _statements(text: str) -> tuple[Statement, ...]:
    """The statements of a policy document given as JSON text: an object whose
    ``Statement`` is one statement object or a list of them."""
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidParameterValue("The policy is not valid JSON.") from None
    found = document.get("Statement") if isinstance(document, dict) else None
    listed = [found] if isinstance(found, dict) else found
    if not isinstance(listed, list) or not listed or not all(isinstance(s, dict) for s in listed):
        raise InvalidParameterValue(
            "The policy must be a JSON object with a Statement: one statement object or a"
            " non-empty list of them."
        )
    return tuple(listed)
