"""A function URL beside the Invoke API of the same function and the HTTP floor: warm
latency (alternating blocks on keep-alive connections) and throughput under the same load.

The function returns the request body when it has one (the URL's event carries the payload
as ``body``) and the event otherwise (Invoke's event is the payload), so both paths answer
the same bytes; the URL path also builds a payload format 2.0 event, the function parses a
larger event, and the answer is mapped back to HTTP: that is the price measured.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any
from urllib.parse import urlparse

from common import (
    HOST,
    PAYLOAD,
    Counts,
    ServerProc,
    check_echo,
    create_function,
    gc_paused,
    invoke_path,
    ratio,
    summarize,
    timed,
)
from httpclient import Connection, build_request
from invoke import throughput

CODE = "def handler(event, context):\n    return event.get('body', event)\n"


def url_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", CODE)
    return buf.getvalue()


def url_request(client: Any, lambox: ServerProc, fn: str) -> bytes:
    """A function URL for ``fn`` and the request bytes that reach it."""
    config = client.create_function_url_config(FunctionName=fn, AuthType="NONE")
    host = urlparse(config["FunctionUrl"]).netloc
    return build_request(HOST, lambox.port, "/", PAYLOAD, host_header=host)


def measure_function_url(
    client: Any, lambox: ServerProc, echo: ServerProc, c: Counts
) -> dict[str, Any]:
    fn = "bench-url"
    create_function(client, fn, url_zip())
    url_raw = url_request(client, lambox, fn)
    inv_raw = build_request(HOST, lambox.port, invoke_path(fn), PAYLOAD)
    floor_raw = build_request(HOST, echo.port, invoke_path(fn), PAYLOAD)
    url: list[int] = []
    inv: list[int] = []
    floor: list[int] = []
    with (
        Connection(HOST, lambox.port) as cu,
        Connection(HOST, lambox.port) as ci,
        Connection(HOST, echo.port) as cf,
    ):
        url_ok, inv_ok, floor_ok = (
            check_echo(cu, url_raw),
            check_echo(ci, inv_raw),
            check_echo(cf, floor_raw),
        )
        with gc_paused():
            for conn, raw, ok in (
                (cf, floor_raw, floor_ok),
                (ci, inv_raw, inv_ok),
                (cu, url_raw, url_ok),
            ):
                timed(conn, raw, ok, c.warm_warmup, [])
            block = c.warm // c.warm_blocks
            for _ in range(c.warm_blocks):
                timed(cf, floor_raw, floor_ok, block, floor)
                timed(ci, inv_raw, inv_ok, block, inv)
                timed(cu, url_raw, url_ok, block, url)
    s_url, s_inv, s_floor = summarize(url), summarize(inv), summarize(floor)
    load_floor = throughput(echo, invoke_path(fn), c, floor_raw)
    load_inv = throughput(lambox, invoke_path(fn), c, inv_raw)
    load_url = throughput(lambox, "/", c, url_raw)
    return {
        "warm": {
            "function_url": s_url,
            "invoke": s_inv,
            "floor_http_echo": s_floor,
            "url_minus_invoke_ms": {
                k: s_url[f"{k}_ms"] - s_inv[f"{k}_ms"] for k in ("p50", "p90", "p99")
            },
            "invoke_minus_floor_ms": {
                k: s_inv[f"{k}_ms"] - s_floor[f"{k}_ms"] for k in ("p50", "p90", "p99")
            },
        },
        "throughput": {
            "function_url_rps": load_url["rps"],
            "invoke_rps": load_inv["rps"],
            "floor_rps": load_floor["rps"],
            "url_to_invoke_ratio": ratio(load_url["rps"], load_inv["rps"]),
            "function_url_p99_ms": load_url["latency"]["p99_ms"],
            "invoke_p99_ms": load_inv["latency"]["p99_ms"],
            "errors": load_url["errors"] + load_inv["errors"],
        },
    }


def main() -> None:
    """``python bench/function_url.py [--quick]``: this section alone, printed as JSON."""
    import json
    import sys
    import tempfile
    from pathlib import Path

    from common import FULL, QUICK, free_port, lambda_client, lambox_argv, start_server, stop_server
    from floors import start_echo

    c = QUICK if "--quick" in sys.argv else FULL
    with tempfile.TemporaryDirectory(prefix="lambox-bench-url-") as tmp_name:
        tmp = Path(tmp_name)
        echo = start_echo(tmp)
        port = free_port()
        argv = lambox_argv(port, tmp / "data")
        lambox = start_server("lambox", argv, port, "/lambox/v1/health", tmp, {})
        try:
            result = measure_function_url(lambda_client(lambox.url), lambox, echo, c)
        finally:
            stop_server(lambox)
            stop_server(echo)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
