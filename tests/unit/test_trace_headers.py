"""The header each function gets from ``Tracer.begin``: PassThrough carries the caller's,
Active continues it (sampled unless the caller said not), with or without a collector."""

from __future__ import annotations

from lambox.tracing.header import parse
from lambox.tracing.recorder import Tracer

CALLER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


class Kept:
    def __init__(self) -> None:
        self.traces: list[object] = []

    def __call__(self, trace: object) -> None:
        self.traces.append(trace)

    def close(self) -> None:
        pass


def test_passthrough_carries_or_makes_an_unsampled_header() -> None:
    tracer = Tracer(None, lambda: "Root=1-00000000-000000000000000000000000;Sampled=0")
    assert tracer.begin("PassThrough", CALLER, "f", "arn", "r") == (CALLER, None)
    header, trace = tracer.begin("PassThrough", None, "f", "arn", "r")
    assert trace is None and parse(header).sampled is False


def test_active_without_a_collector_still_samples() -> None:
    header, trace = Tracer(None).begin("Active", None, "f", "arn", "r")
    got = parse(header)
    assert trace is None and got.sampled is True and got.root and got.parent


def test_active_continues_the_callers_root_and_records() -> None:
    sink = Kept()
    tracer = Tracer(sink)
    header, trace = tracer.begin("Active", CALLER, "f", "arn", "r")
    assert trace is not None
    got = parse(header)
    assert got.root == parse(CALLER).root and got.parent == trace.invocation_id
    assert trace.parent == "53995c3f42cd8ad8"
    assert trace.trace_id == "5759e988bd862e3fe1be46a994272793"
    tracer.finish(trace)
    assert sink.traces == [trace]


def test_active_respects_an_unsampled_caller() -> None:
    sink = Kept()
    unsampled = CALLER.replace("Sampled=1", "Sampled=0")
    header, trace = Tracer(sink).begin("Active", unsampled, "f", "arn", "r")
    assert trace is None and parse(header).sampled is False and sink.traces == []


def test_malformed_parts_are_ignored() -> None:
    got = parse("Root=nonsense;Parent=xyz;Sampled=maybe;Lineage=a:1")
    assert (got.root, got.parent, got.sampled) == (None, None, None)
