"""Many functions stay warm at once: traffic spread round robin over more functions than the
old fixed sandbox limit (64) answers warm, as on AWS, where a function that ran recently
keeps its environment whatever the number of functions."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import ROLE, make_zip, unique

CODE = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
FUNCTIONS = 72


def cold(client: Any, name: str) -> bool:
    """Invoke ``name``; whether its REPORT line says the sandbox was started for it."""
    out = client.invoke(FunctionName=name, Payload=b'{"n": 1}', LogType="Tail")
    assert out["StatusCode"] == 200 and out["Payload"].read() == b'{"n": 1}'
    return b"Init Duration:" in base64.b64decode(out["LogResult"])


def test_more_functions_than_64_stay_warm_round_robin(lambda_client: Any) -> None:
    names = [unique(f"warm{i}") for i in range(FUNCTIONS)]

    def create(name: str) -> None:
        lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": CODE},
        )
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, names))
            first_round = list(pool.map(lambda n: cold(lambda_client, n), names))
        assert all(first_round)
        # One invocation at a time, round robin: each function needs one sandbox, and the one
        # its previous invocation used is still there.
        second_round = [n for n in names if cold(lambda_client, n)]
        assert second_round == []
    finally:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: lambda_client.delete_function(FunctionName=n), names))
