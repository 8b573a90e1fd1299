"""Function code cannot reach the host's stderr, whatever descriptor it writes to."""

from __future__ import annotations

from pathlib import Path

from tests.adversarial.test_sandbox_hygiene import APP
from tests.unit.test_runtime import Sandbox


def test_writes_to_every_descriptor_stay_out_of_the_host_stderr(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(APP)  # the adversarial tests' hostile handlers
    box = Sandbox(code, "app.flood_fds", {})
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
