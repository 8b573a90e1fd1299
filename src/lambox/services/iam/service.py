"""IAM's operations: users, access keys, roles with trust policies, managed and inline
policies and their attachments. One handler per operation, named as AWS names it.

Policy documents are returned URL-encoded, as IAM returns them (boto3 decodes them).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from lambox.edge.identity import Principal
from lambox.edge.queryapp import Handler, QueryCall
from lambox.errors import ServiceFault
from lambox.services.iam.groups import Groups
from lambox.services.iam.managed import MANAGED, PREFIX, managed
from lambox.services.iam.store import IamStore, new_id


def _no_such(message: str) -> ServiceFault:
    return ServiceFault("NoSuchEntity", message, 404)


def _exists(message: str) -> ServiceFault:
    return ServiceFault("EntityAlreadyExists", message, 409)


def check_document(text: str) -> dict[str, Any]:
    """A policy document, parsed; MalformedPolicyDocument unless it is one."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise ServiceFault(
            "MalformedPolicyDocument", "This policy contains invalid Json", 400
        ) from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise ServiceFault("MalformedPolicyDocument", "Syntax errors in policy.", 400)
    statements = document["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise ServiceFault("MalformedPolicyDocument", "Syntax errors in policy.", 400)
    return document


def _boundary_view(arn: str) -> dict[str, str]:
    return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn}


def _path(params: dict[str, Any]) -> str:
    path = str(params.get("Path") or "/")
    if not (path.startswith("/") and path.endswith("/")):
        raise ServiceFault("ValidationError", "The specified value for path is invalid.", 400)
    return path


class IamService:
    """The handlers of IAM's query API over an ``IamStore``."""

    def __init__(self, store: IamStore) -> None:
        self._store = store
        self._cache: dict[tuple[str, str], tuple[int, list[str]]] = {}
        self.operations: dict[str, Handler] = {
            "CreateUser": self.create_user,
            "GetUser": self.get_user,
            "ListUsers": self.list_users,
            "DeleteUser": self.delete_user,
            "CreateAccessKey": self.create_access_key,
            "ListAccessKeys": self.list_access_keys,
            "UpdateAccessKey": self.update_access_key,
            "DeleteAccessKey": self.delete_access_key,
            "CreateRole": self.create_role,
            "GetRole": self.get_role,
            "ListRoles": self.list_roles,
            "DeleteRole": self.delete_role,
            "UpdateAssumeRolePolicy": self.update_assume_role_policy,
            "CreatePolicy": self.create_policy,
            "GetPolicy": self.get_policy,
            "GetPolicyVersion": self.get_policy_version,
            "ListPolicies": self.list_policies,
            "DeletePolicy": self.delete_policy,
        }
        self.groups = Groups(store)
        self.operations.update(self.groups.operations)
        for kind, noun in (("user", "User"), ("role", "Role")):
            self.operations[f"Put{noun}PermissionsBoundary"] = self._put_boundary(kind)
            self.operations[f"Delete{noun}PermissionsBoundary"] = self._delete_boundary(kind)
        for kind, noun in (("user", "User"), ("role", "Role"), ("group", "Group")):
            self.operations.update(
                {
                    f"Put{noun}Policy": self._put_inline(kind),
                    f"Get{noun}Policy": self._get_inline(kind),
                    f"List{noun}Policies": self._list_inline(kind),
                    f"Delete{noun}Policy": self._delete_inline(kind),
                    f"Attach{noun}Policy": self._attach(kind),
                    f"Detach{noun}Policy": self._detach(kind),
                    f"ListAttached{noun}Policies": self._list_attached(kind),
                }
            )

    # ------------------------------------------------------------------ users

    def _user(self, name: str) -> dict[str, Any]:
        found = self._store.rows("SELECT id, path, created FROM users WHERE name = ?", name)
        if not found:
            raise _no_such(f"The user with name {name} cannot be found.")
        user_id, path, created = found[0]
        out: dict[str, Any] = {
            "Path": path,
            "UserName": name,
            "UserId": user_id,
            "Arn": self._store.user_arn(name, path),
            "CreateDate": created,
        }
        boundary = self._boundary("user", name)
        if boundary:
            out["PermissionsBoundary"] = _boundary_view(boundary)
        return out

    def create_user(self, call: QueryCall) -> dict[str, Any]:
        name = call.params["UserName"]
        path = _path(call.params)
        if self._store.rows("SELECT 1 FROM users WHERE name = ?", name):
            raise _exists(f"User with name {name} already exists.")
        self._store.write(
            (
                "INSERT INTO users (name, id, path, created) VALUES (?, ?, ?, ?)",
                (name, new_id("AIDA"), path, time.time()),
            )
        )
        if call.params.get("PermissionsBoundary"):
            self._set_boundary("user", name, str(call.params["PermissionsBoundary"]))
        return {"User": self._user(name)}

    def get_user(self, call: QueryCall) -> dict[str, Any]:
        name = call.params.get("UserName")
        if name is None:
            principal = call.principal
            if principal.kind == "user":
                name = principal.arn.rsplit("/", 1)[1]
            else:
                return {
                    "User": {
                        "Path": "/",
                        "UserName": "root" if principal.is_root else principal.user_id,
                        "UserId": principal.user_id,
                        "Arn": principal.arn,
                        "CreateDate": 0,
                    }
                }
        return {"User": self._user(name)}

    def list_users(self, call: QueryCall) -> dict[str, Any]:
        names = [n for (n,) in self._store.rows("SELECT name FROM users ORDER BY name")]
        return {"Users": [self._user(n) for n in names], "IsTruncated": False}

    def delete_user(self, call: QueryCall) -> dict[str, Any]:
        name = call.params["UserName"]
        self._user(name)
        if self._store.rows(
            "SELECT 1 FROM access_keys WHERE user = ? UNION ALL"
            " SELECT 1 FROM attachments WHERE kind = 'user' AND owner = ? UNION ALL"
            " SELECT 1 FROM inline_policies WHERE kind = 'user' AND owner = ? UNION ALL"
            " SELECT 1 FROM group_members WHERE user = ?",
            name,
            name,
            name,
            name,
        ):
            raise ServiceFault(
                "DeleteConflict",
                "Cannot delete entity, must delete access keys and policies and remove the"
                " user from its groups first.",
                409,
            )
        self._store.write(("DELETE FROM users WHERE name = ?", (name,)))
        self._store.forget_user_keys(name)
        return {}

    # ------------------------------------------------------------------ access keys

    def _caller_user(self, call: QueryCall) -> str:
        name = call.params.get("UserName")
        if name:
            self._user(name)
            return str(name)
        if call.principal.kind == "user":
            return call.principal.arn.rsplit("/", 1)[1]
        raise ServiceFault("ValidationError", "Must specify userName when calling with"
                           " non-User credentials", 400)  # fmt: skip

    def create_access_key(self, call: QueryCall) -> dict[str, Any]:
        user = self._caller_user(call)
        if len(self._store.rows("SELECT 1 FROM access_keys WHERE user = ?", user)) >= 2:
            raise ServiceFault("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
        key, secret, created = self._store.add_key(user)
        return {
            "AccessKey": {
                "UserName": user,
                "AccessKeyId": key,
                "Status": "Active",
                "SecretAccessKey": secret,
                "CreateDate": created,
            }
        }

    def list_access_keys(self, call: QueryCall) -> dict[str, Any]:
        user = self._caller_user(call)
        rows = self._store.rows(
            "SELECT key, status, created FROM access_keys WHERE user = ? ORDER BY created", user
        )
        return {
            "AccessKeyMetadata": [
                {"UserName": user, "AccessKeyId": k, "Status": s, "CreateDate": c}
                for k, s, c in rows
            ],
            "IsTruncated": False,
        }

    def update_access_key(self, call: QueryCall) -> dict[str, Any]:
        self._caller_user(call)
        key = call.params["AccessKeyId"]
        if not self._store.set_key_status(key, call.params["Status"]):
            raise _no_such(f"The Access Key with id {key} cannot be found.")
        return {}

    def delete_access_key(self, call: QueryCall) -> dict[str, Any]:
        user = self._caller_user(call)
        key = call.params["AccessKeyId"]
        if not self._store.delete_key(key, user):
            raise _no_such(f"The Access Key with id {key} cannot be found.")
        return {}

    # ------------------------------------------------------------------ roles

    def _role(self, name: str, listing: bool = False) -> dict[str, Any]:
        role = self._store.role(name)
        if role is None:
            raise _no_such(f"The role with name {name} cannot be found.")
        out: dict[str, Any] = {
            "Path": role.path,
            "RoleName": role.name,
            "RoleId": role.id,
            "Arn": self._store.role_arn(role.name, role.path),
            "CreateDate": role.created,
            "AssumeRolePolicyDocument": quote(role.trust),
            "MaxSessionDuration": role.max_session,
        }
        if role.description:
            out["Description"] = role.description
        boundary = self._boundary("role", name)
        if boundary:
            out["PermissionsBoundary"] = _boundary_view(boundary)
        if not listing:
            out["RoleLastUsed"] = {}
        return out

    def create_role(self, call: QueryCall) -> dict[str, Any]:
        name = call.params["RoleName"]
        trust = call.params["AssumeRolePolicyDocument"]
        check_document(trust)
        if self._store.role(name) is not None:
            raise _exists(f"Role with name {name} already exists.")
        self._store.write(
            (
                "INSERT INTO roles (name, id, path, trust, description, max_session, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    new_id("AROA"),
                    _path(call.params),
                    trust,
                    call.params.get("Description", ""),
                    int(call.params.get("MaxSessionDuration", 3600)),
                    time.time(),
                ),
            )
        )
        if call.params.get("PermissionsBoundary"):
            self._set_boundary("role", name, str(call.params["PermissionsBoundary"]))
        role = self._role(name)
        del role["MaxSessionDuration"], role["RoleLastUsed"]
        return {"Role": role}

    def get_role(self, call: QueryCall) -> dict[str, Any]:
        return {"Role": self._role(call.params["RoleName"])}

    def list_roles(self, call: QueryCall) -> dict[str, Any]:
        names = [n for (n,) in self._store.rows("SELECT name FROM roles ORDER BY name")]
        return {"Roles": [self._role(n, True) for n in names], "IsTruncated": False}

    def delete_role(self, call: QueryCall) -> dict[str, Any]:
        name = call.params["RoleName"]
        self._role(name)
        if self._store.rows(
            "SELECT 1 FROM attachments WHERE kind = 'role' AND owner = ? UNION ALL"
            " SELECT 1 FROM inline_policies WHERE kind = 'role' AND owner = ?",
            name,
            name,
        ):
            raise ServiceFault(
                "DeleteConflict", "Cannot delete entity, must detach all policies first.", 409
            )
        self._store.write(("DELETE FROM roles WHERE name = ?", (name,)))
        return {}

    def update_assume_role_policy(self, call: QueryCall) -> dict[str, Any]:
        name = call.params["RoleName"]
        self._role(name)
        check_document(call.params["PolicyDocument"])
        self._store.write(
            ("UPDATE roles SET trust = ? WHERE name = ?", (call.params["PolicyDocument"], name))
        )
        return {}

    # ------------------------------------------------------------------ managed policies

    def _policy_arn(self, name: str, path: str = "/") -> str:
        return f"arn:aws:iam::{self._store.account}:policy{path}{name}"

    def _policy(self, arn: str) -> dict[str, Any]:
        attached = len(self._store.rows("SELECT 1 FROM attachments WHERE policy = ?", arn))
        if managed(arn) is not None:
            name = arn.rsplit("/", 1)[1]
            path = arn[len(PREFIX) - 1 : -len(name)]
            created, description, policy_id = 0.0, "", "ANPA" + name.upper()[:17]
        else:
            found = self._store.rows(
                "SELECT name, id, path, description, created FROM policies WHERE arn = ?", arn
            )
            if not found:
                raise _no_such(f"Policy {arn} was not found.")
            name, policy_id, path, description, created = found[0]
        out: dict[str, Any] = {
            "PolicyName": name,
            "PolicyId": policy_id,
            "Arn": arn,
            "Path": path,
            "DefaultVersionId": "v1",
            "AttachmentCount": attached,
            "PermissionsBoundaryUsageCount": 0,
            "IsAttachable": True,
            "CreateDate": created,
            "UpdateDate": created,
        }
        if description:
            out["Description"] = description
        return out

    def create_policy(self, call: QueryCall) -> dict[str, Any]:
        name = call.params["PolicyName"]
        path = _path(call.params)
        document = call.params["PolicyDocument"]
        check_document(document)
        arn = self._policy_arn(name, path)
        if self._store.rows("SELECT 1 FROM policies WHERE arn = ?", arn):
            raise _exists(
                f"A policy called {name} already exists. Duplicate names are not allowed."
            )
        self._store.write(
            (
                "INSERT INTO policies (arn, name, id, path, document, description, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (arn, name, new_id("ANPA"), path, document, call.params.get("Description", ""),
                 time.time()),
            )
        )  # fmt: skip
        return {"Policy": self._policy(arn)}

    def get_policy(self, call: QueryCall) -> dict[str, Any]:
        return {"Policy": self._policy(call.params["PolicyArn"])}

    def document(self, arn: str) -> str | None:
        """The default version's document of a managed policy (AWS's or the account's)."""
        found = managed(arn)
        if found is not None:
            return found
        rows = self._store.rows("SELECT document FROM policies WHERE arn = ?", arn)
        return str(rows[0][0]) if rows else None

    def get_policy_version(self, call: QueryCall) -> dict[str, Any]:
        arn = call.params["PolicyArn"]
        policy = self._policy(arn)
        if call.params["VersionId"] != "v1":
            raise _no_such(f"Policy {arn} version {call.params['VersionId']} does not exist.")
        return {
            "PolicyVersion": {
                "Document": quote(self.document(arn) or "{}"),
                "VersionId": "v1",
                "IsDefaultVersion": True,
                "CreateDate": policy["CreateDate"],
            }
        }

    def list_policies(self, call: QueryCall) -> dict[str, Any]:
        scope = call.params.get("Scope", "All")
        arns: list[str] = []
        if scope in ("All", "AWS"):
            arns += [PREFIX + name for name in sorted(MANAGED)]
        if scope in ("All", "Local"):
            arns += [a for (a,) in self._store.rows("SELECT arn FROM policies ORDER BY name")]
        policies = [self._policy(a) for a in arns]
        if call.params.get("OnlyAttached"):
            policies = [p for p in policies if p["AttachmentCount"]]
        return {"Policies": policies, "IsTruncated": False}

    def delete_policy(self, call: QueryCall) -> dict[str, Any]:
        arn = call.params["PolicyArn"]
        self._policy(arn)
        if self._store.rows("SELECT 1 FROM attachments WHERE policy = ?", arn):
            raise ServiceFault(
                "DeleteConflict", "Cannot delete a policy attached to entities.", 409
            )
        if managed(arn) is not None:
            raise ServiceFault("AccessDenied", "Cannot delete an AWS managed policy.", 403)
        self._store.write(("DELETE FROM policies WHERE arn = ?", (arn,)))
        return {}

    # ------------------------------------------------------------------ per user / role

    def _owner(self, kind: str, params: dict[str, Any]) -> str:
        if kind == "user":
            name = str(params["UserName"])
            self._user(name)
        elif kind == "group":
            name = str(params["GroupName"])
            self.groups.group(name)
        else:
            name = str(params["RoleName"])
            self._role(name)
        return name

    def _put_inline(self, kind: str) -> Handler:
        def put(call: QueryCall) -> dict[str, Any]:
            owner = self._owner(kind, call.params)
            check_document(call.params["PolicyDocument"])
            self._store.write(
                (
                    "INSERT OR REPLACE INTO inline_policies (kind, owner, name, document)"
                    " VALUES (?, ?, ?, ?)",
                    (kind, owner, call.params["PolicyName"], call.params["PolicyDocument"]),
                )
            )
            return {}

        return put

    def _get_inline(self, kind: str) -> Handler:
        def get(call: QueryCall) -> dict[str, Any]:
            owner = self._owner(kind, call.params)
            name = call.params["PolicyName"]
            rows = self._store.rows(
                "SELECT document FROM inline_policies WHERE kind = ? AND owner = ? AND name = ?",
                kind,
                owner,
                name,
            )
            if not rows:
                raise _no_such(f"The {kind} policy with name {name} cannot be found.")
            key = {"user": "UserName", "group": "GroupName"}.get(kind, "RoleName")
            return {key: owner, "PolicyName": name, "PolicyDocument": quote(rows[0][0])}

        return get

    def _list_inline(self, kind: str) -> Handler:
        def list_(call: QueryCall) -> dict[str, Any]:
            owner = self._owner(kind, call.params)
            rows = self._store.rows(
                "SELECT name FROM inline_policies WHERE kind = ? AND owner = ? ORDER BY name",
                kind,
                owner,
            )
            return {"PolicyNames": [n for (n,) in rows], "IsTruncated": False}

        return list_

    def _delete_inline(self, kind: str) -> Handler:
        def delete(call: QueryCall) -> dict[str, Any]:
            owner = self._owner(kind, call.params)
            name = call.params["PolicyName"]
            if not self._store.write(
                (
                    "DELETE FROM inline_policies WHERE kind = ? AND owner = ? AND name = ?",
                    (kind, owner, name),
                )
            ):
                raise _no_such(f"The {kind} policy with name {name} cannot be found.")
            return {}

        return delete

    def _attach(self, kind: str) -> Handler:
        def attach(call: QueryCall) -> dict[str, Any]:
            owner = self._owner(kind, call.params)
            arn = call.params["PolicyArn"]
            self._policy(arn)
            self._store.write(
                (
                    "INSERT OR IGNORE INTO attachments (kind, owner, policy) VALUES (?, ?, ?)",
                    (kind, owner, arn),
                )
            )
            return {}

        return attach

    def _detach(self, kind: str) -> Handler:
        def detach(call: QueryCall) -> dict[str, Any]:
            owner = self._owner(kind, call.params)
            arn = call.params["PolicyArn"]
            if not self._store.write(
                (
                    "DELETE FROM attachments WHERE kind = ? AND owner = ? AND policy = ?",
                    (kind, owner, arn),
                )
            ):
                raise _no_such(f"Policy {arn} was not found.")
            return {}

        return detach

    def _list_attached(self, kind: str) -> Handler:
        def list_(call: QueryCall) -> dict[str, Any]:
            owner = self._owner(kind, call.params)
            rows = self._store.rows(
                "SELECT policy FROM attachments WHERE kind = ? AND owner = ? ORDER BY policy",
                kind,
                owner,
            )
            return {
                "AttachedPolicies": [
                    {"PolicyName": arn.rsplit("/", 1)[1], "PolicyArn": arn} for (arn,) in rows
                ],
                "IsTruncated": False,
            }

        return list_

    # ------------------------------------------------------------------ for authorization

    def resource(self, operation: str, params: dict[str, Any]) -> str:
        """The ARN an IAM operation acts on (``iam:CreateUser`` on the user's ARN...)."""
        if params.get("PolicyArn") and "User" not in operation and "Role" not in operation:
            return str(params["PolicyArn"])
        if params.get("UserName"):
            return self._store.user_arn(str(params["UserName"]))
        if params.get("RoleName"):
            return self._store.role_arn(str(params["RoleName"]))
        if params.get("GroupName"):
            return self.groups.arn(str(params["GroupName"]))
        if operation == "CreatePolicy" and params.get("PolicyName"):
            return self._policy_arn(str(params["PolicyName"]), str(params.get("Path") or "/"))
        return "*"

    def policies_for(self, principal: Principal) -> list[str]:
        """The identity policies of a user or of an assumed role's role (cached until the
        next IAM write)."""
        if principal.kind == "user":
            owner = ("user", principal.arn.rsplit("/", 1)[1])
        elif principal.kind == "assumed-role":
            owner = ("role", principal.role.rsplit("/", 1)[1])
        else:
            return []
        generation = self._store.generation
        cached = self._cache.get(owner)
        if cached is not None and cached[0] == generation:
            return cached[1]
        docs = self.policies_of(*owner)
        if owner[0] == "user":
            for group in self.groups.of_user(owner[1]):
                docs += self.policies_of("group", group)
        self._cache[owner] = (generation, docs)
        return docs

    def limits_for(self, principal: Principal) -> list[tuple[str, list[str]]]:
        """What caps a principal's identity policies, each as (what it is, its documents):
        its permissions boundary (a user's, or an assumed role's role's) and an assumed
        role's session policies. The request must be allowed by each."""
        limits: list[tuple[str, list[str]]] = []
        if principal.kind == "user":
            boundary = self._boundary("user", principal.arn.rsplit("/", 1)[1])
        elif principal.kind == "assumed-role":
            boundary = self._boundary("role", principal.role.rsplit("/", 1)[1])
        else:
            return limits
        if boundary:
            limits.append(("permissions boundary", [self.document(boundary) or "{}"]))
        if principal.session_policies:
            limits.append(("session policy", list(principal.session_policies)))
        return limits

    # ------------------------------------------------------------------ boundaries

    def _boundary(self, kind: str, owner: str) -> str:
        rows = self._store.rows(
            "SELECT policy FROM boundaries WHERE kind = ? AND owner = ?", kind, owner
        )
        return str(rows[0][0]) if rows else ""

    def _set_boundary(self, kind: str, owner: str, arn: str) -> None:
        if self.document(arn) is None:
            raise _no_such(f"Scope ARN: {arn} does not exist or is not attachable.")
        self._store.write(
            (
                "INSERT OR REPLACE INTO boundaries (kind, owner, policy) VALUES (?, ?, ?)",
                (kind, owner, arn),
            )
        )

    def _put_boundary(self, kind: str) -> Handler:
        def put(call: QueryCall) -> dict[str, Any]:
            owner = self._owner(kind, call.params)
            self._set_boundary(kind, owner, str(call.params["PermissionsBoundary"]))
            return {}

        return put

    def _delete_boundary(self, kind: str) -> Handler:
        def delete(call: QueryCall) -> dict[str, Any]:
            owner = self._owner(kind, call.params)
            self._store.write(
                ("DELETE FROM boundaries WHERE kind = ? AND owner = ?", (kind, owner))
            )
            return {}

        return delete

    def policies_of(self, kind: str, owner: str) -> list[str]:
        """Every identity policy document of a user or role: inline, then attached."""
        docs = [
            str(d)
            for (d,) in self._store.rows(
                "SELECT document FROM inline_policies WHERE kind = ? AND owner = ?", kind, owner
            )
        ]
        for (arn,) in self._store.rows(
            "SELECT policy FROM attachments WHERE kind = ? AND owner = ?", kind, owner
        ):
            doc = self.document(arn)
            if doc is not None:
                docs.append(doc)
        return docs
