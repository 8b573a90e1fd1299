"""An event bus's resource policy: PutPermission (a statement letting an account, or every
account, put events on the bus; or a whole policy), RemovePermission (one statement, or all)
and the ``Policy`` DescribeEventBus shows, in AWS's words and shapes.

The policy is stored and shown; lambox has one account, so it grants nothing beyond what
the caller already may do (cross-account PutEvents is not served).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.events.store import EventsStore


def _not_found(message: str) -> ServiceFault:
    return ServiceFault("ResourceNotFoundException", message)


class BusPermissions:
    """PutPermission and RemovePermission over the buses of ``store``."""

    def __init__(
        self,
        store: EventsStore,
        bus_arn: Callable[[str], str],
        bus_of: Callable[[dict[str, Any]], str],
        exists: Callable[[str], bool],
    ) -> None:
        self._store = store
        self._bus_arn = bus_arn
        self._bus_of = bus_of
        self._exists = exists

    def _bus(self, params: dict[str, Any]) -> str:
        bus = self._bus_of(params)
        if not self._exists(bus):
            raise _not_found(f"Event bus {bus} does not exist.")
        return bus

    def policy(self, bus: str) -> str | None:
        """The bus's policy as DescribeEventBus shows it, if it has one."""
        return self._store.bus_policy(bus)

    def put_permission(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(params)
        if params.get("Policy"):
            try:
                document = json.loads(str(params["Policy"]))
            except ValueError as exc:
                raise ServiceFault("ValidationException", "Policy is not valid JSON.") from exc
            self._store.set_bus_policy(bus, json.dumps(document))
            return {}
        principal = str(params.get("Principal") or "")
        sid = str(params.get("StatementId") or "")
        if not principal or not sid:
            raise ServiceFault(
                "ValidationException",
                "Parameter(s) Principal, StatementId must be specified when Policy is not.",
            )
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": principal if principal == "*" else {
                "AWS": f"arn:aws:iam::{principal}:root"
            },
            "Action": str(params.get("Action") or "events:PutEvents"),
            "Resource": self._bus_arn(bus),
        }  # fmt: skip
        if params.get("Condition"):
            condition = params["Condition"]
            statement["Condition"] = {
                "StringEquals": {str(condition.get("Key")): condition.get("Value")}
            }
        document = self._document(bus)
        document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]
        document["Statement"].append(statement)
        self._store.set_bus_policy(bus, json.dumps(document))
        return {}

    def remove_permission(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(params)
        if params.get("RemoveAllPermissions"):
            self._store.set_bus_policy(bus, None)
            return {}
        sid = params.get("StatementId")
        document = self._document(bus)
        kept = [s for s in document["Statement"] if s.get("Sid") != sid]
        if not sid or len(kept) == len(document["Statement"]):
            raise _not_found("Statement with the provided id does not exist.")
        document["Statement"] = kept
        self._store.set_bus_policy(bus, json.dumps(document) if kept else None)
        return {}

    def _document(self, bus: str) -> dict[str, Any]:
        text = self._store.bus_policy(bus)
        document: dict[str, Any] = json.loads(text) if text else {}
        document.setdefault("Version", "2012-10-17")
        if not isinstance(document.get("Statement"), list):
            document["Statement"] = [document["Statement"]] if document.get("Statement") else []
        return document
