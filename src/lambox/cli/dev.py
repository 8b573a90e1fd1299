"""``lambox dev PATH --function NAME``: the function runs the code in PATH, and every change
there reaches it without a deploy command.

The command watches PATH (a poll of every file's size and modification time, so it needs no
inotify and sees editors that replace files) and, once a change has been quiet for one
poll, zips the directory as a user's deployment package and sends it as UpdateFunctionCode.
lambox then retires the function's sandboxes with the old code: the next invocation, and
every new sandbox, run the changed code. A function that does not exist yet is created
from PATH with ``--runtime`` and ``--handler``. The first package and upload (the one that
can take a while: a directory with its dependencies) show Rich progress bars of the files
packed and the bytes sent.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from rich.progress import Progress

CHUNK = 1 << 16
_JSON = {"Content-Type": "application/json"}

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


def package(root: Path, progress: Progress | None = None) -> bytes:
    """PATH as a deployment package (file modes kept, so executables stay executable);
    ``progress`` gets a bar of the files packed."""
    buf = io.BytesIO()
    files = sorted(fingerprint(root))
    task = progress.add_task("Packaging", total=len(files)) if progress is not None else None
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in files:
            path = root / rel
            info = zipfile.ZipInfo.from_file(path, rel)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
            if progress is not None and task is not None:
                progress.advance(task)
    return buf.getvalue()


def sent(body: bytes, progress: Progress) -> Iterator[bytes]:
    """``body`` in chunks, a bar of the bytes sent advancing as each is taken."""
    task = progress.add_task("Uploading", total=len(body))
    for start in range(0, len(body), CHUNK):
        chunk = body[start : start + CHUNK]
        yield chunk
        progress.advance(task, len(chunk))


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
        progress: Progress | None = None,
    ) -> None:
        self._progress = progress
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
        code = base64.b64encode(package(self._root, self._progress)).decode()
        r = self._client.get(f"/2015-03-31/functions/{self._name}/configuration")
        if r.status_code == 404:
            body = {
                "FunctionName": self._name,
                "Runtime": self._runtime,
                "Handler": self._handler,
                "Role": self._role,
                "Code": {"ZipFile": code},
            }
            self._check(self._send("POST", "/2015-03-31/functions", body))
            self._say(f"created {self._name} from {self._root}")
        else:
            self._check(r)
            self._push(code)
        self._progress = None  # later reloads are small and quick: no bars
        return seen

    def _send(self, method: str, path: str, body: Mapping[str, object]) -> httpx.Response:
        """A request with a JSON body, sent in chunks under a progress bar if there is one."""
        data = json.dumps(body).encode()
        if self._progress is None:
            return self._client.request(method, path, content=data, headers=_JSON)
        headers = {**_JSON, "Content-Length": str(len(data))}
        content = sent(data, self._progress)
        return self._client.request(method, path, content=content, headers=headers)

    def _push(self, code: str) -> None:
        path = f"/2015-03-31/functions/{self._name}/code"
        for _ in range(200):  # an update still settling answers 409 for a moment
            r = self._send("PUT", path, {"ZipFile": code})
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
