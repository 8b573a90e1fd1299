"""IAM groups and permissions boundaries.

A group holds users and policies (inline and attached, through the same handlers as users'
and roles'); a user may do what its own policies or any of its groups' allow. A
permissions boundary is a managed policy set on a user or role: it allows nothing by
itself, it caps what the identity's policies allow (``IamService.limits_for``).
"""

from __future__ import annotations

import time
from typing import Any

from lambox.edge.queryapp import Handler, QueryCall
from lambox.errors import ServiceFault
from lambox.services.iam.store import IamStore, new_id


def _no_such(message: str) -> ServiceFault:
    return ServiceFault("NoSuchEntity", message, 404)


class Groups:
    """The group and boundary operations; ``operations`` maps their names to handlers."""

    def __init__(self, store: IamStore) -> None:
        self._store = store
        self.operations: dict[str, Handler] = {
            "CreateGroup": self.create_group,
            "GetGroup": self.get_group,
            "ListGroups": self.list_groups,
            "DeleteGroup": self.delete_group,
            "AddUserToGroup": self.add_user,
            "RemoveUserFromGroup": self.remove_user,
            "ListGroupsForUser": self.groups_for_user,
        }

    def arn(self, name: str, path: str = "/") -> str:
        return f"arn:aws:iam::{self._store.account}:group{path}{name}"

    def group(self, name: str) -> dict[str, Any]:
        found = self._store.rows("SELECT id, path, created FROM groups WHERE name = ?", name)
        if not found:
            raise _no_such(f"The group with name {name} cannot be found.")
        group_id, path, created = found[0]
        return {
            "Path": path,
            "GroupName": name,
            "GroupId": group_id,
            "Arn": self.arn(name, path),
            "CreateDate": created,
        }

    def create_group(self, call: QueryCall) -> dict[str, Any]:
        name = call.params["GroupName"]
        if self._store.rows("SELECT 1 FROM groups WHERE name = ?", name):
            raise ServiceFault(
                "EntityAlreadyExists", f"Group with name {name} already exists.", 409
            )
        path = str(call.params.get("Path") or "/")
        self._store.write(
            (
                "INSERT INTO groups (name, id, path, created) VALUES (?, ?, ?, ?)",
                (name, new_id("AGPA"), path, time.time()),
            )
        )
        return {"Group": self.group(name)}

    def get_group(self, call: QueryCall) -> dict[str, Any]:
        name = call.params["GroupName"]
        group = self.group(name)
        users = []
        for user, user_id, path, created in self._store.rows(
            "SELECT u.name, u.id, u.path, u.created FROM group_members m"
            " JOIN users u ON u.name = m.user WHERE m.grp = ? ORDER BY u.name",
            name,
        ):
            users.append(
                {
                    "Path": path,
                    "UserName": user,
                    "UserId": user_id,
                    "Arn": self._store.user_arn(user, path),
                    "CreateDate": created,
                }
            )
        return {"Group": group, "Users": users, "IsTruncated": False}

    def list_groups(self, call: QueryCall) -> dict[str, Any]:
        names = [n for (n,) in self._store.rows("SELECT name FROM groups ORDER BY name")]
        return {"Groups": [self.group(n) for n in names], "IsTruncated": False}

    def delete_group(self, call: QueryCall) -> dict[str, Any]:
        name = call.params["GroupName"]
        self.group(name)
        for sql, what in (
            ("SELECT 1 FROM group_members WHERE grp = ?", "must remove users from group first"),
            (
                "SELECT 1 FROM inline_policies WHERE kind = 'group' AND owner = ?",
                "must delete policies first",
            ),
            (
                "SELECT 1 FROM attachments WHERE kind = 'group' AND owner = ?",
                "must detach all policies first",
            ),
        ):
            if self._store.rows(sql, name):
                raise ServiceFault("DeleteConflict", f"Cannot delete entity, {what}.", 409)
        self._store.write(("DELETE FROM groups WHERE name = ?", (name,)))
        return {}

    def _user(self, name: str) -> None:
        if not self._store.rows("SELECT 1 FROM users WHERE name = ?", name):
            raise _no_such(f"The user with name {name} cannot be found.")

    def add_user(self, call: QueryCall) -> dict[str, Any]:
        group, user = call.params["GroupName"], call.params["UserName"]
        self.group(group)
        self._user(user)
        self._store.write(
            ("INSERT OR IGNORE INTO group_members (grp, user) VALUES (?, ?)", (group, user))
        )
        return {}

    def remove_user(self, call: QueryCall) -> dict[str, Any]:
        group, user = call.params["GroupName"], call.params["UserName"]
        self.group(group)
        self._user(user)
        if not self._store.write(
            ("DELETE FROM group_members WHERE grp = ? AND user = ?", (group, user))
        ):
            raise _no_such(f"The user with name {user} cannot be found in group {group}.")
        return {}

    def groups_for_user(self, call: QueryCall) -> dict[str, Any]:
        user = call.params["UserName"]
        self._user(user)
        names = [
            g
            for (g,) in self._store.rows(
                "SELECT grp FROM group_members WHERE user = ? ORDER BY grp", user
            )
        ]
        return {"Groups": [self.group(n) for n in names], "IsTruncated": False}

    def of_user(self, user: str) -> list[str]:
        """The names of the groups ``user`` belongs to."""
        return [
            g for (g,) in self._store.rows("SELECT grp FROM group_members WHERE user = ?", user)
        ]
