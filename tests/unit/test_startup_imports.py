"""What `lambox serve` imports before it answers: botocore (with urllib3) and httpx are
loaded on the first request that needs them, not at start-up, where importing them was
about a third of the time to the first answer."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import lambox.cli.main
import lambox.server
heavy = sorted(
    m
    for m in ("botocore", "httpx", "urllib3", "boto3", "prometheus_client", "cryptography")
    if m in sys.modules
)
print(",".join(heavy))
"""


def test_serving_imports_neither_botocore_nor_httpx() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_edge_models_still_load_botocore_on_first_use() -> None:
    from lambox.edge.models import service_model

    assert service_model("sqs").metadata["protocol"] in ("json", "query")
