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


def test_serve_starts_no_early_probe_where_none_is_needed(tmp_path: Path) -> None:
    assert backends.early_probe("process", tmp_path) is None
    assert backends.early_probe("bogus", tmp_path) is None  # sandbox_factory says why


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0, reason="probe runs as root only"
)
def test_an_early_probe_is_the_probe_of_the_data_directory(tmp_path: Path) -> None:
    started = backends.early_probe(" Auto ", tmp_path)
    assert started is not None and not isinstance(started, str)
    assert backends.probe_dir(tmp_path).is_dir()
    assert backends.finish_probe(started) == backends.probe_namespaces(tmp_path / "other")
