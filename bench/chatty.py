"""A chatty function: 10,000 lines/s for 10 s in a 128 MB function, with the warm echo
measured beside it.

What it shows: logs are streamed out of the sandbox and never charged to its memory, so a
function printing without pause finishes (no OOM) and its log is complete or visibly
truncated (a marker line, then the last lines). Reported: whether it finished, how long it
took against its pacing, the lines the invocation's log kept and lost, and whether the
marker is there and the last line is the function's.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
import zipfile
from typing import Any

from common import HOST, ROLE, invoke_path
from httpclient import Connection, build_request

RATE = 10_000
SECONDS = 10
MEMORY_MB = 128
MARKER = "[lambox] log truncated"
CHATTY_CODE = """
import time


def handler(event, context):
    rate, seconds = event["rate"], event["seconds"]
    total = rate * seconds
    start = time.monotonic()
    n = 0
    while n < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        while n < due:
            print("chatty line %07d of %d" % (n, total))
            n += 1
        time.sleep(0.001)
    print("chatty last line")
    return n
"""
_LINE = re.compile(r"chatty line (\d{7}) of")


def chatty_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", CHATTY_CODE)
    return buf.getvalue()


def measure_chatty(client: Any, url: str, port: int) -> dict[str, Any]:
    """Run the chatty function once; what it returned and what its log kept."""
    import httpx

    name = f"bench-chatty-{uuid.uuid4().hex[:8]}"
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": chatty_zip()},
        MemorySize=MEMORY_MB,
        Timeout=SECONDS * 3,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    payload = json.dumps({"rate": RATE, "seconds": SECONDS}).encode()
    with Connection(HOST, port, timeout=SECONDS * 4) as conn:
        raw = build_request(HOST, port, invoke_path(name), payload)
        t0 = time.perf_counter()
        status, body = conn.request(raw)
        elapsed = time.perf_counter() - t0
    printed = RATE * SECONDS
    finished = status == 200 and body.strip() == str(printed).encode()
    data = b""
    while True:  # the whole log file, page by page, as ``lambox logs`` reads it
        r = httpx.get(f"{url}/lambox/v1/logs/{name}", params={"offset": len(data)}, timeout=30)
        r.raise_for_status()
        if not r.content:
            break
        data += r.content
    text = data.decode(errors="replace")
    kept = {int(m.group(1)) for m in _LINE.finditer(text)}
    lines = [line for line in text.splitlines() if line.startswith(("chatty", "[lambox]", "END"))]
    last = lines[-2] if len(lines) >= 2 else ""
    return {
        "rate_lines_per_s": RATE,
        "seconds": SECONDS,
        "memory_mb": MEMORY_MB,
        "finished": finished,
        "status": status,
        "answer": body[:200].decode(errors="replace"),
        "elapsed_s": elapsed,
        "printed": printed,
        "kept": len(kept),
        "lost": printed - len(kept),
        "marker": MARKER in text,
        "ends_with_last_line": last == "chatty last line",
        "log_bytes": len(text.encode()),
    }
