"""The text around an invocation and the ids lambox makes, in AWS's formats."""

from __future__ import annotations

import json
import re
import uuid

from lambox.invoke import records
from lambox.invoke.service import new_request_id


def test_request_ids_are_version_4_uuids() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for rid in ids:
        parsed = uuid.UUID(rid)
        assert str(parsed) == rid
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_report_line_has_aws_fields_and_init_duration_only_when_given() -> None:
    line = records.report_line("r1", 1.234, 128, 40, 120.5).decode()
    assert line == (
        "REPORT RequestId: r1\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
        "\tMax Memory Used: 40 MB\tInit Duration: 120.50 ms\t\n"
    )
    assert "Init Duration" not in records.report_line("r1", 0.2, 128, 40, None).decode()
    assert "Billed Duration: 1 ms" in records.report_line("r1", 0.2, 128, 40, None).decode()


def test_report_line_of_a_restored_sandbox_has_restore_durations() -> None:
    line = records.report_line("r1", 1.0, 128, 40, None, (9.876, 3)).decode()
    assert line.endswith(
        "Max Memory Used: 40 MB\tRestore Duration: 9.88 ms\tBilled Restore Duration: 3 ms\t\n"
    )
    assert "Init Duration" not in line


def test_timeout_and_exit_payloads() -> None:
    assert json.loads(records.timeout_payload("r", 3)) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: r Error: Task timed out after 3.00 seconds",
    }
    assert "exit status 3" in json.loads(records.exit_payload("r", 3))["errorMessage"]
    assert "signal: killed" in json.loads(records.exit_payload("r", -9))["errorMessage"]
    for code, name in ((-15, "terminated"), (-6, "aborted"), (-2, "interrupt"), (-40, "signal 40")):
        message = json.loads(records.exit_payload("r", code))["errorMessage"]
        assert message.endswith(f"Runtime exited with error: signal: {name}")
    assert re.match(r"\d{4}-\d\d-\d\dT\S+Z r Task timed out", records.timeout_log("r", 1).decode())


def test_runtime_version_names_as_lambda_writes_them() -> None:
    assert records.runtime_version_name("python3.11") == "python:3.11.v1"
    assert records.runtime_version_name("nodejs20.x") == "nodejs:20.v1"
    assert records.runtime_version_name("provided.al2023") == "provided:al2023.v1"
