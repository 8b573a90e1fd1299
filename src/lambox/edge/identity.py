"""Who a request is from: principals, the credentials that prove them, and the keyring.

The edge verifies a signature with the secret the keyring gives for the request's access
key, and hands the services the ``Principal`` that key belongs to (``scope["lambox.principal"]``).
The keyring is a small protocol so the edge knows nothing of where keys live (IAM's store,
STS's sessions, the root key file): ``server.py`` wires the one that does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: ``arn`` is what a policy and an access-denied message name
    (``arn:aws:iam::<account>:root``, ``...:user/<name>``, ``arn:aws:sts::<account>:
    assumed-role/<role>/<session>``); ``user_id`` what GetCallerIdentity answers; ``role``
    the ARN of the role an assumed-role session acts as ("" otherwise)."""

    account: str
    arn: str
    user_id: str
    kind: str  # root | user | assumed-role
    role: str = ""
    # AssumeRole's session policies (Policy, PolicyArns): the session may do only what
    # these allow too
    session_policies: tuple[str, ...] = ()

    @property
    def is_root(self) -> bool:
        return self.kind == "root"


def root_principal(account: str) -> Principal:
    return Principal(account, f"arn:aws:iam::{account}:root", account, "root")


def anonymous_principal(account: str) -> Principal:
    """The caller of an unsigned request to a public path (the strict posture's health
    check): it may do nothing a policy must allow."""
    return Principal(account, "anonymous", "anonymous", "anonymous")


@dataclass(frozen=True, slots=True)
class Credential:
    """One access key: its secret, whose it is, and for temporary credentials the session
    token that must come with it and when it stops working (epoch seconds; 0 = never)."""

    access_key: str
    secret: str
    principal: Principal
    session_token: str = ""
    expires: float = 0.0


class Keyring(Protocol):
    """Where the edge finds the secret of an access key."""

    def lookup(self, access_key: str) -> Credential | None:
        """The credential of ``access_key``, or None when no such key exists (or it was
        deleted or deactivated). Called on every signed request: must be cheap and must not
        block on I/O for long (an in-memory map in front of the store)."""
        ...


class StaticKeyring:
    """A fixed set of keys (the root key; unit tests)."""

    def __init__(self, credentials: list[Credential]) -> None:
        self._keys = {c.access_key: c for c in credentials}

    def lookup(self, access_key: str) -> Credential | None:
        return self._keys.get(access_key)

    def add(self, credential: Credential) -> None:
        self._keys[credential.access_key] = credential


class ChainKeyring:
    """The first keyring that knows a key answers for it."""

    def __init__(self, *keyrings: Keyring) -> None:
        self._keyrings = keyrings

    def lookup(self, access_key: str) -> Credential | None:
        for keyring in self._keyrings:
            found = keyring.lookup(access_key)
            if found is not None:
                return found
        return None
