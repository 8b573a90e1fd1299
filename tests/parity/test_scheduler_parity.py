"""EventBridge Scheduler's answers to schedule expressions, as recorded from real AWS: the
ValidationException of each invalid expression and the acceptance of the valid ones."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import LamboxServer, aws_client, unique
from tests.parity.snapshot import parity_dir

_EXPRESSION = re.compile(r"\[(.*)\]$")


def _recorded() -> list[tuple[str, dict[str, Any] | None]]:
    """(expression, recorded error or None when AWS accepted it)."""
    try:
        folder = parity_dir()
    except pytest.skip.Exception:
        return []
    document = json.loads((Path(folder) / "scheduler" / "schedules.snapshot.json").read_text())
    cases: list[tuple[str, dict[str, Any] | None]] = []
    for test, entry in document.items():
        found = _EXPRESSION.search(test)
        if found is None or ("schedule_expression" not in test and "cron_expressions" not in test):
            continue
        content = entry["recorded-content"]
        error = content.get("invalid-schedule-expression")
        cases.append((found.group(1), error))
    return cases


CASES = _recorded()


@pytest.mark.skipif(not CASES, reason="AWS parity recordings not found")
@pytest.mark.parametrize(("expression", "recorded"), CASES, ids=[c[0] for c in CASES])
def test_schedule_expression_answer_matches_aws(
    server: LamboxServer, expression: str, recorded: dict[str, Any] | None
) -> None:
    scheduler = aws_client(server, "scheduler")
    kwargs: dict[str, Any] = {
        "Name": unique("parity"),
        "ScheduleExpression": expression,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": "arn:aws:lambda:us-east-1:000000000000:function:x",
            "RoleArn": "arn:aws:iam::000000000000:role/r",
        },
    }
    if recorded is None:
        assert scheduler.create_schedule(**kwargs)["ScheduleArn"].endswith(kwargs["Name"])
        return
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(**kwargs)
    response = exc.value.response
    assert response["Error"] == recorded["Error"]
    assert response["Message"] == recorded["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
