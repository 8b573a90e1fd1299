"""Functions' execution roles: checked when a function names one, and assumed for each
function so that its sandboxes sign as ``assumed-role/<role>/<function>``.

Open posture: a role of this account that does not exist yet is created (trusting
``lambda.amazonaws.com``, with AWSLambdaBasicExecutionRole only: it may write its logs and
nothing else) and a warning says so. Strict posture: the role must exist and trust
``lambda.amazonaws.com``, as on AWS, or CreateFunction is refused.

A session lasts 12 hours (``LAMBOX_ROLE_SESSION``); the same one is handed to every new
sandbox of a function while more than three quarters of it is left, so a cold start seldom
writes the store. The scheduler retires a sandbox once it is half a session old, so the
credentials a sandbox holds always have a quarter of a session left: that is their renewal,
as AWS recycles an execution environment rather than change its credentials.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from lambox.errors import InvalidParameterValue
from lambox.services.iam.store import IamStore, new_id

log = logging.getLogger(__name__)
SESSION_SECONDS = 12 * 3600
LAMBDA_SERVICE = "lambda.amazonaws.com"
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": LAMBDA_SERVICE},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def trusts_service(trust: str, service: str) -> bool:
    """Whether a trust policy allows ``service`` (a service principal) sts:AssumeRole."""
    try:
        document = json.loads(trust)
    except (ValueError, RecursionError):
        return False
    allowed = False
    for statement in _listed(document.get("Statement", [])):
        actions = _listed(statement.get("Action", []))
        if not {"sts:AssumeRole", "sts:*", "*"} & set(actions):
            continue
        principal = statement.get("Principal", {})
        names = _listed(principal.get("Service", [])) if isinstance(principal, dict) else []
        if service in names or principal == "*":
            if statement.get("Effect") == "Deny":
                return False
            allowed = statement.get("Effect") == "Allow" or allowed
    return allowed


class ExecutionRoles:
    """``check`` for the control plane, ``credentials`` for the sandboxes."""

    def __init__(self, store: IamStore, strict: bool, session: float = SESSION_SECONDS) -> None:
        self._store = store
        self._strict = strict
        self._session = max(1, int(session))
        self._renew_below = self._session * 3 / 4
        self._sessions: dict[tuple[str, str], tuple[str, str, str, float]] = {}
        self._lock = threading.Lock()

    def _name(self, role_arn: str) -> str | None:
        prefix = f"arn:aws:iam::{self._store.account}:role/"
        return role_arn.rsplit("/", 1)[-1] if role_arn.startswith(prefix) else None

    def check(self, role_arn: str) -> None:
        """Called when a function is created or its Role changes."""
        name = self._name(role_arn)
        role = self._store.role(name) if name else None
        if not self._strict:
            if name and role is None:
                self._create(name, role_arn)
            return
        if role is None or not trusts_service(role.trust, LAMBDA_SERVICE):
            raise InvalidParameterValue(
                "The role defined for the function cannot be assumed by Lambda."
            )

    def _create(self, name: str, role_arn: str) -> None:
        path = role_arn.split(":role", 1)[1][: -len(name)] or "/"
        self._store.write(
            (
                "INSERT OR IGNORE INTO roles (name, id, path, trust, description, max_session,"
                " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    new_id("AROA"),
                    path,
                    LAMBDA_TRUST,
                    "Created by lambox for a function that named it",
                    SESSION_SECONDS,
                    time.time(),
                ),
            ),
            (
                "INSERT OR IGNORE INTO attachments (kind, owner, policy) VALUES ('role', ?, ?)",
                (name, BASIC_EXECUTION),
            ),
        )
        log.warning(
            "execution role %s did not exist: created with AWSLambdaBasicExecutionRole only"
            " (its functions may write their logs and call nothing else: attach the policies"
            " they need)",
            role_arn,
        )

    def credentials(self, role_arn: str, function: str) -> tuple[str, str, str] | None:
        """A session of the function's role (None if the role does not exist, or does not
        trust Lambda in the strict posture)."""
        name = self._name(role_arn)
        if name is None:
            return None
        now = time.time()
        with self._lock:
            cached = self._sessions.get((name, function))
            if cached is not None and cached[3] - now > self._renew_below:
                return cached[:3]
        role = self._store.role(name)
        if role is None or (self._strict and not trusts_service(role.trust, LAMBDA_SERVICE)):
            return None
        session = function[:64] if len(function) >= 2 else f"{function}-fn"
        cred = self._store.add_session(name, session, self._session)
        with self._lock:
            self._sessions[(name, function)] = (
                cred.access_key,
                cred.secret,
                cred.session_token,
                cred.expires,
            )
        return cred.access_key, cred.secret, cred.session_token
