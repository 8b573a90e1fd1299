"""Function code cannot reach the host's stderr, whatever descriptor it writes to."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_runtime import Sandbox

FLOOD = """
import os, stat

def handler(event, context):
    chunk = (event["marker"] + "\\n").encode() * 4096
    written = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue  # the wire: garbage there only breaks this sandbox's protocol
        except OSError:
            continue
        total = 0
        try:
            for _ in range(event["chunks"]):
                total += os.write(fd, chunk)
        except OSError:
            pass
        written[name] = total
    return written
"""


def test_writes_to_every_descriptor_stay_out_of_the_host_stderr(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(FLOOD)
    box = Sandbox(code, "app.handler", {})
    marker = "flood-from-the-function"
    try:
        box.ready()
        written = box.call({"marker": marker, "chunks": 64})
        assert sum(written.values()) > 0, written
        assert box.call({"marker": marker, "chunks": 1})
        box.stderr.flush()
        box.stderr.seek(0)
        assert marker.encode() not in box.stderr.read()
    finally:
        assert box.close() == 0
