"""``lambox dev PATH --function NAME``: the function runs the code in PATH, and every change
there reaches it without a deploy command.

The command watches PATH (a poll of every file's size and modification time, so it needs no
inotify and sees editors that replace files) and, once a change has been quiet for one
poll, zips the directory as a user's deployment package and sends it as UpdateFunctionCode.
lambox then retires the function's sandboxes with the old code: the next invocation, and
every new sandbox, run the changed code. A function that does not exist yet is created
from PATH with ``--runtime`` and ``--handler``.
"""

from __future__ import annotations

import base64
import io
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx

SKIPPED = frozenset({"__pycache__", ".git", ".aws-sam", ".venv", "node_modules/.cache"})
Fingerprint = dict[str, tuple[int, int]]


def fingerprint(root: Path) -> Fingerprint:
    """Every file under ``root`` with its size and modification time."""
    found: Fingerprint = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIPPED]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path)
            except OSError:
                continue  # removed while we looked: the next poll sees it gone
            found[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return found


def package(root: Path) -> bytes:
    """PATH as a deployment package (file modes kept, so executables stay executable)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(fingerprint(root)):
            path = root / rel
            info = zipfile.ZipInfo.from_file(path, rel)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


class DevSession:
    """One ``lambox dev``: keeps function ``name`` running the code in ``root``."""

    def __init__(
        self,
        client: httpx.Client,
        root: Path,
        name: str,
        runtime: str,
        handler: str,
        role: str,
        say: Callable[[str], None],
    ) -> None:
        self._client = client
        self._root = root
        self._name = name
        self._runtime = runtime
        self._handler = handler
        self._role = role
        self._say = say

    def start(self) -> Fingerprint:
        """Create the function from PATH, or push PATH as its code; what was pushed."""
        seen = fingerprint(self._root)
        code = base64.b64encode(package(self._root)).decode()
        r = self._client.get(f"/2015-03-31/functions/{self._name}/configuration")
        if r.status_code == 404:
            body = {
                "FunctionName": self._name,
                "Runtime": self._runtime,
                "Handler": self._handler,
                "Role": self._role,
                "Code": {"ZipFile": code},
            }
            self._check(self._client.post("/2015-03-31/functions", json=body))
            self._say(f"created {self._name} from {self._root}")
        else:
            self._check(r)
            self._push(code)
        return seen

    def _push(self, code: str) -> None:
        path = f"/2015-03-31/functions/{self._name}/code"
        for _ in range(200):  # an update still settling answers 409 for a moment
            r = self._client.put(path, json={"ZipFile": code})
            if r.status_code != 409:
                break
            time.sleep(0.05)
        self._check(r)
        self._say(f"reloaded {self._name} ({r.json().get('CodeSize', 0)} bytes)")

    def _check(self, r: httpx.Response) -> None:
        if r.status_code >= 300:
            try:
                body = r.json()
                message = body.get("message") or body.get("Message") or r.text
            except ValueError:
                message = r.text
            raise RuntimeError(f"{r.status_code}: {message}")

    def watch(self, seen: Fingerprint, interval: float, rounds: int | None = None) -> None:
        """Push every change, once it has been quiet for one ``interval``."""
        n = 0
        while rounds is None or n < rounds:
            n += 1
            time.sleep(interval)
            now = fingerprint(self._root)
            if now == seen:
                continue
            time.sleep(interval)
            settled = fingerprint(self._root)
            if settled != now:
                continue  # still being written: look again next round
            seen = settled
            try:
                self._push(base64.b64encode(package(self._root)).decode())
            except (RuntimeError, httpx.HTTPError, OSError) as exc:
                self._say(f"reload of {self._name} failed: {exc}")
