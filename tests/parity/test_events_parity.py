"""EventBridge's answers to PutRule schedule expressions, as recorded from real AWS: the
ValidationException of each invalid expression and, for the valid ones, the rule ListRules
shows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import LamboxServer, aws_client, unique
from tests.parity.snapshot import parity_dir

_EXPRESSION = re.compile(r"\[((?:rate|cron)\(.*\))\]$")


def _recorded() -> list[tuple[str, dict[str, Any]]]:
    try:
        folder = parity_dir()
    except pytest.skip.Exception:
        return []
    document = json.loads((Path(folder) / "events" / "schedule-rules.snapshot.json").read_text())
    cases = []
    for test, entry in document.items():
        found = _EXPRESSION.search(test)
        if found is not None:
            cases.append((found.group(1), entry["recorded-content"]))
    return cases


CASES = _recorded()


@pytest.mark.skipif(not CASES, reason="AWS parity recordings not found")
@pytest.mark.parametrize(("expression", "recorded"), CASES, ids=[c[0] for c in CASES])
def test_put_rule_schedule_expression_matches_aws(
    server: LamboxServer, expression: str, recorded: dict[str, Any]
) -> None:
    events = aws_client(server, "events")
    name = unique("parity")
    if "invalid-put-rule" in recorded:
        with pytest.raises(ClientError) as exc:
            events.put_rule(Name=name, ScheduleExpression=expression)
        assert exc.value.response["Error"] == recorded["invalid-put-rule"]["Error"]
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        return
    events.put_rule(Name=name, ScheduleExpression=expression)
    (rule,) = events.list_rules(NamePrefix=name)["Rules"]
    (expected,) = recorded["list-rules"]["Rules"]
    assert rule["Arn"].endswith(f":rule/{name}")
    assert {k: v for k, v in rule.items() if k not in ("Arn", "Name")} == {
        k: v for k, v in expected.items() if k not in ("Arn", "Name")
    }
    events.delete_rule(Name=name)
