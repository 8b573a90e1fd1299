"""The namespace probe runs beside start-up's own work: started, then finished."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lambox.sandbox import backends


def test_a_reason_known_at_once_needs_no_process() -> None:
    assert backends.finish_probe("lambox is not running as root") == (
        "lambox is not running as root"
    )


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0, reason="probe runs as root only"
)
def test_a_started_probe_gives_the_verdict_of_a_whole_one(tmp_path: Path) -> None:
    started = backends.start_probe(tmp_path / "a")
    assert not isinstance(started, str)
    assert backends.finish_probe(started) == backends.probe_namespaces(tmp_path / "b")


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0, reason="probe runs as root only"
)
def test_a_probe_that_fails_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_PROBE", "import sys; sys.exit('no namespaces: boom')")
    reason = backends.finish_probe(backends.start_probe(tmp_path))
    assert reason == "the namespace probe failed: no namespaces: boom"
