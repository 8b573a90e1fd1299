"""The libraries lambox's Python runtimes provide to functions, as AWS's do: the AWS SDK,
and the AWS Durable Execution SDK that AWS's managed runtimes bundle for durable functions.

AWS's Python runtimes ship boto3 and botocore (with what they need: s3transfer, jmespath,
python-dateutil, six, urllib3) after the function's code and layers on ``sys.path``, so a
function that bundles its own boto3 gets its own. lambox provides the copy installed with
lambox itself (its version is pinned with lambox's dependencies), and only that: a
function's ``sys.path`` holds /var/task, /opt/python, the runtime, the standard library and
these distributions, never lambox's other dependencies (see ``runtime.bootstrap``).

``find`` lists what those distributions installed at the top of site-packages (packages,
single-file modules, their ``.dist-info``); ``link`` makes a directory of symlinks to them
for the process backend, and the Linux backend binds each one into the sandbox's view
(``runtime.jail.build_view``), so nothing else of site-packages is reachable from there.
``remembered`` keeps ``find``'s answer in the data directory from one start to the next.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import importlib.metadata

log = logging.getLogger(__name__)

PROVIDED = ("boto3", "aws-durable-execution-sdk-python")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(roots: tuple[str, ...]) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``roots`` need, themselves included (extras ignored)."""
    import importlib.metadata  # with email, to parse METADATA: only when nothing is remembered

    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            log.warning("%s is not installed: functions will not find it", name)
            continue
        seen[name] = dist
        for requirement in dist.requires or ():
            match = _NAME.match(requirement)
            if match and "extra" not in requirement.partition(";")[2]:
                todo.append(match.group(1))
    return list(seen.values())


def _tops(dist: importlib.metadata.Distribution) -> set[str]:
    """The first component of every path ``dist`` installed, read from its RECORD's lines
    (``dist.files`` makes a path object of each of botocore's thousands of files: a tenth
    of the CPU of a server's start-up); from ``dist.files`` when there is no RECORD."""
    import csv

    record = dist.read_text("RECORD")
    if record is None:
        return {file.parts[0] for file in dist.files or () if file.parts}
    tops = set()
    for line in record.splitlines():
        # A path with a comma or a quote in it is CSV-quoted.
        path = next(csv.reader([line]))[0] if line.startswith('"') else line.partition(",")[0]
        if path.startswith((".", "/")):  # ./x, ../bin/x, /abs: as a path object sees them
            parts = PurePosixPath(path).parts
            top = parts[0] if parts else ""
        else:
            top = path.partition("/")[0]
        if top:
            tops.add(top)
    return tops


def find(roots: tuple[str, ...] = PROVIDED) -> list[str]:
    """Absolute paths of the top-level entries the distributions of ``roots`` installed
    (``boto3/``, ``six.py``, ``boto3-1.x.dist-info/`` ...), sorted; empty if none is."""
    entries: set[str] = set()
    for dist in _closure(roots):
        base = Path(str(dist.locate_file("")))
        # Each top-level entry is looked at once, not once per file under it (botocore
        # lists thousands: a stat each was a quarter of a second of start-up).
        for top in _tops(dist):
            if not top or top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            path = base / top
            if path.is_dir() or (top.endswith(".py") and path.exists()):
                entries.add(str(path))
    return sorted(entries)


def _installed_state(roots: tuple[str, ...]) -> list[object]:
    """What ``find``'s answer depends on: the interpreter, the roots, and every directory
    on ``sys.path`` with its modification time (installing, upgrading or removing a
    distribution adds or removes entries there, which changes it)."""
    state: list[object] = [sys.version, list(roots)]
    for entry in sys.path:
        try:
            state.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            state.append([entry, None])
    return state


def remembered(cache: Path, roots: tuple[str, ...] = PROVIDED) -> list[str]:
    """``find``'s answer, kept in ``cache`` while the installed distributions stay as
    they were: reading their metadata and RECORDs (with importlib.metadata and email
    imported for it) was about 12 ms of CPU of every server start."""
    state = _installed_state(roots)
    try:
        saved = json.loads(cache.read_text())
        if saved["state"] == state and all(os.path.exists(e) for e in saved["entries"]):
            return [str(entry) for entry in saved["entries"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    entries = find(roots)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = cache.with_name(f"{cache.name}.{os.getpid()}")
        staging.write_text(json.dumps({"state": state, "entries": entries}))
        staging.replace(cache)  # whole, even with another server writing it at once
    except OSError as exc:
        log.warning("the runtime's libraries not remembered in %s: %s", cache, exc)
    return entries


def link(entries: list[str], target: Path) -> Path:
    """A directory at ``target`` holding one symlink per entry (made anew each time)."""
    staging = target.with_name(target.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for entry in entries:
        os.symlink(entry, staging / os.path.basename(entry))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
