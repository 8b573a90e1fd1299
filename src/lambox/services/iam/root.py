"""The account's root access key, kept in the data directory readable by root only.

A fresh data directory served in the open (loopback) posture gets the well-known key
``test``/``test`` that local tools and tutorials use; in the strict posture a well-known key
is never kept: a random one is generated at first start (and replaces ``test`` if the
directory was first served open). ``lambox credentials`` prints it.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

from lambox.edge.identity import Credential, root_principal

FILE = "root-credentials.json"
WELL_KNOWN = ("test", "test")
_KEY_CHARS = string.ascii_uppercase + string.digits


def load_or_create(data_dir: Path, account: str, strict: bool) -> Credential:
    """The root credential of ``data_dir``, created (mode 0600) when missing."""
    path = data_dir / FILE
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    if not stored or (strict and stored.get("AccessKeyId") == WELL_KNOWN[0]):
        if strict:
            key = "AKIA" + "".join(secrets.choice(_KEY_CHARS) for _ in range(16))
            secret = secrets.token_urlsafe(30)[:40]
        else:
            key, secret = WELL_KNOWN
        stored = {"AccessKeyId": key, "SecretAccessKey": secret, "Account": account}
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(stored, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    os.chmod(path, 0o600)
    return Credential(stored["AccessKeyId"], stored["SecretAccessKey"], root_principal(account))
