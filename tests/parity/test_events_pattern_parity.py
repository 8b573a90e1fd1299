"""EventBridge's InvalidEventPatternException messages, as recorded from real AWS.

Each recorded error quotes the pattern it refused (Jackson's ``at [Source: (String)"..."``
trailer); the pattern language must refuse that same pattern with the same reason.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lambox.errors import InvalidPattern
from lambox.events import patterns
from tests.parity.snapshot import parity_dir

_SOURCE = re.compile(r'\n at \[Source: \(String\)"(.*?)"; line: 1, column: \d+\]', re.DOTALL)


def _recorded_errors() -> list[tuple[str, str, str]]:
    """(test label, pattern text, message) for every recorded refusal quoting its pattern."""
    try:
        folder = parity_dir()
    except pytest.skip.Exception:
        return []
    document: dict[str, Any] = json.loads(
        (Path(folder) / "events" / "patterns.snapshot.json").read_text()
    )
    found = []
    for test, entry in document.items():
        for value in entry["recorded-content"].values():
            if not isinstance(value, dict):
                continue
            error = value.get("exception_message", value).get("Error", {})
            if error.get("Code") != "InvalidEventPatternException":
                continue
            raw = error.get("MessageRaw", error["Message"])
            quoted = _SOURCE.search(raw)
            if quoted is None or "<" in quoted.group(1):
                continue  # no pattern quoted, or one with placeholders for real values
            text = quoted.group(1).replace('\\"', '"')
            message = raw.split("\n", 1)[0]
            found.append((test.rsplit("[", 1)[-1].rstrip("]"), text, message))
    return found


CASES = _recorded_errors()


@pytest.mark.skipif(not CASES, reason="AWS parity recordings not found")
@pytest.mark.parametrize(("label", "text", "message"), CASES, ids=[c[0] for c in CASES])
def test_refused_pattern_has_aws_reason(label: str, text: str, message: str) -> None:
    with pytest.raises(InvalidPattern) as info:
        patterns.parse(text)
    assert info.value.message.split("\n", 1)[0] == message
