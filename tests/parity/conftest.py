"""The parity suite needs the recorded AWS responses; without them every test is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.parity.snapshot import parity_dir


@pytest.fixture(scope="session", autouse=True)
def aws_recordings() -> Path:
    return parity_dir()
