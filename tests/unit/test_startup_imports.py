"""What `lambox serve` imports before it answers: botocore (with urllib3) and httpx are
loaded on the first request that needs them, not at start-up, where importing them was
about a third of the time to the first answer. Building the server loads none of them
either: a service's model is loaded by its first request, and CloudWatch Logs and metrics,
which have no background work, are built then. A plain ``lambox serve`` does not import
typer (with the pydantic it validates options with) either."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = (
    "botocore",
    "httpx",
    "urllib3",
    "boto3",
    "prometheus_client",
    "cryptography",
    "typer",
    "pydantic",
    "yaml",  # CloudFormation's templates: its service is built on first use
    # Services without background work are built on their first request.
    "lambox.services.logs.service",
    "lambox.services.cloudwatch.app",
)

CHECK = f"""
import sys
import lambox.cli.main
import lambox.server
from lambox.cli import serving
assert serving.parse(["serve", "--port", "9001", "--data-dir", "d"]) is not None
print(",".join(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""

CHECK_BUILD = f"""
import sys
from pathlib import Path
from lambox.config import Settings
from lambox.server import build
settings = Settings.from_env({{"LAMBOX_SANDBOX": "process"}}, data_dir=Path(sys.argv[1]))
build(settings)
print(",".join(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def _loaded(script: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def test_serving_imports_neither_botocore_nor_httpx() -> None:
    assert _loaded(CHECK) == ""


def test_building_the_server_loads_no_model(tmp_path: Path) -> None:
    assert _loaded(CHECK_BUILD, str(tmp_path / "data")) == ""


def test_edge_models_still_load_botocore_on_first_use() -> None:
    from lambox.edge.models import service_model

    assert service_model("sqs").metadata["protocol"] in ("json", "query")
