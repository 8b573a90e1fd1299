"""The INVOKE frame written by hand is the frame ``wire.encode`` makes of the same meta,
whether its ARN and version were quoted for this frame or kept from an earlier one, and
whether its trace header is one lambox made (written unescaped) or a caller's (escaped)."""

from __future__ import annotations

import pytest

from lambox.runtime import wire


def _by_encode(rid: str, arn: str, version: str, cc: str | None, trace: str) -> bytes:
    meta = {
        "id": rid,
        "deadline_ms": 1_700_000_000_123,
        "arn": arn,
        "version": version,
        "client_context": cc,
        "trace_id": trace,
    }
    return wire.encode(wire.INVOKE, meta, b'{"a":1}')


CASES = [
    ("r-1", "arn:aws:lambda:us-east-1:000000000000:function:f", "$LATEST", None, "Root=1-a"),
    ("r-2", "arn:aws:lambda:us-east-1:000000000000:function:f:live", "3", "eyJ9", "Root=1-b"),
    ("r-3", 'arn:"quoted"\\fn\u00e9\x01', "v\u2603", "c\n", 'Root="x"\\\t\u00ff'),
]


@pytest.mark.parametrize(("rid", "arn", "version", "cc", "trace"), CASES)
def test_invoke_frame_is_encodes_frame_on_a_miss_and_a_hit(
    rid: str, arn: str, version: str, cc: str | None, trace: str
) -> None:
    want = _by_encode(rid, arn, version, cc, trace)
    made = trace.isascii() and trace.isprintable() and '"' not in trace and "\\" not in trace
    for _ in range(2):  # the second frame takes the ARN and version already quoted
        got = wire.encode_invoke(rid, 1_700_000_000_123, arn, version, cc, trace, b'{"a":1}')
        assert got == want
        got = wire.encode_invoke(
            rid, 1_700_000_000_123, arn, version, cc, trace, b'{"a":1}', trace_made=made
        )
        assert got == want
    assert arn in wire._quoted and version in wire._quoted


def test_a_request_id_and_trace_lambox_made_need_no_escaping() -> None:
    """What ``trace_made`` and the request id's plain quotes rely on."""
    from lambox import lineage
    from lambox.invoke import ids
    from lambox.tracing.recorder import ACTIVE, Tracer

    passthrough = Tracer(new_header=ids.trace_id)
    for _ in range(50):
        rid = ids.new_request_id()
        for tracer, mode in ((passthrough, "PassThrough"), (Tracer(), ACTIVE)):
            header, _ = tracer.begin(mode, None, "f", "arn", rid)
            trace = lineage.extended(header, None, "f")
            assert wire.encode_invoke(rid, 1, "a", "1", None, trace, b"", trace_made=True) == (
                _by_encode_plain(rid, trace)
            )


def _by_encode_plain(rid: str, trace: str) -> bytes:
    meta = {
        "id": rid,
        "deadline_ms": 1,
        "arn": "a",
        "version": "1",
        "client_context": None,
        "trace_id": trace,
    }
    return wire.encode(wire.INVOKE, meta)


def test_the_quoted_strings_are_bounded() -> None:
    for i in range(wire._QUOTED_MAX + 10):
        arn = f"arn:aws:lambda:us-east-1:000000000000:function:f{i}"
        got = wire.encode_invoke("r", 1, arn, "1", None, "t", b"")
        assert got == wire.encode(
            wire.INVOKE,
            {
                "id": "r",
                "deadline_ms": 1,
                "arn": arn,
                "version": "1",
                "client_context": None,
                "trace_id": "t",
            },
        )
    assert len(wire._quoted) <= wire._QUOTED_MAX


@pytest.mark.parametrize("tenant", ["blue", "a b:c/d=e+f-g@h.i_j", "t" * 256])
def test_a_tenant_id_is_the_frames_last_member(tenant: str) -> None:
    """A tenant-isolated function's frame carries ``tenant_id`` (the runtime's
    ``context.tenant_id``); every other frame is byte for byte what it was without one."""
    arn = "arn:aws:lambda:us-east-1:000000000000:function:f"
    meta = {
        "id": "r",
        "deadline_ms": 1,
        "arn": arn,
        "version": "$LATEST",
        "client_context": None,
        "trace_id": "Root=1-a",
        "tenant_id": tenant,
    }
    want = wire.encode(wire.INVOKE, meta, b"{}")
    assert wire.encode_invoke("r", 1, arn, "$LATEST", None, "Root=1-a", b"{}", False, tenant) == (
        want
    )
    del meta["tenant_id"]
    assert wire.encode_invoke("r", 1, arn, "$LATEST", None, "Root=1-a", b"{}") == wire.encode(
        wire.INVOKE, meta, b"{}"
    )
