"""CloudWatch Logs reads a function's log where it lies (mapped, ``LogSink.parts``) rather
than copying the whole of it into the server's memory for every request, and its tokens
run on from the rotated file into the current one."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from lambox.logs import LogSink
from lambox.services.logs.service import LogsService
from lambox.services.logs.store import LogsStore

LINE = b"x" * 90 + b" filler\n"


def service(tmp_path: Path, retention: int) -> tuple[LogSink, LogsService]:
    sink = LogSink(tmp_path / "logs", retention)
    return sink, LogsService(sink, LogsStore(tmp_path / "logs.db"), "us-east-1", "1" * 12)


def test_a_selective_filter_does_not_copy_the_log(tmp_path: Path) -> None:
    sink, logs = service(tmp_path, 64 << 20)
    record = LINE * 999
    for i in range(300):  # about 30 MB
        sink.append("fn", record + b"NEEDLE %d\n" % i, "2026/01/01/[$LATEST]" + "a" * 32)
    group = {"logGroupName": "/aws/lambda/fn"}
    tracemalloc.start()
    try:
        found = logs.filter_log_events({**group, "filterPattern": "NEEDLE", "limit": 50})
        streams = logs.describe_log_streams(group)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [e["message"] for e in found["events"]] == [f"NEEDLE {i}\n" for i in range(50)]
    assert len(streams["logStreams"]) == 1
    assert peak < 8 << 20, f"{peak} bytes allocated to read a 30 MB log"


def test_filter_pages_run_across_the_rotated_file(tmp_path: Path) -> None:
    sink, logs = service(tmp_path, 4096)
    for i in range(60):
        sink.append("fn", LINE * 3 + b"hit %02d\n" % i, "s")
    assert len(sink.parts("fn")) == 2
    group = {"logGroupName": "/aws/lambda/fn", "filterPattern": "hit", "limit": 1}
    pages: list[str] = []
    token = None
    while True:
        answer = logs.filter_log_events({**group, **({"nextToken": token} if token else {})})
        pages += [e["message"] for e in answer["events"]]
        token = answer.get("nextToken")
        if token is None:
            break
    kept = [int(m.split()[1]) for m in pages]
    assert kept == list(range(kept[0], 60)) and kept[0] > 0  # the oldest were rotated away
    whole = logs.filter_log_events({"logGroupName": "/aws/lambda/fn", "filterPattern": "hit"})
    assert [e["message"] for e in whole["events"]] == pages
