"""EventBridge and Scheduler: PutEvents throughput against 1,000 rules beside the HTTP echo
floor (the same requests), the rule index against a scan of every pattern (in process), and
the lateness of 10,000 ``rate(1 minute)`` schedules beside the event loop's own timer
lateness (in process: the ticker over its SQLite store, deliveries not invoked)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import random
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from common import HOST, Counts, ServerProc, summarize
from httpclient import Connection

RULES = 1000
GENERIC_RULES = 10  # rules without an exact source: tried for every event
ENTRIES = 10
SCHEDULES = 10_000


def put_events_request(port: int, entries: list[dict[str, Any]]) -> bytes:
    body = json.dumps({"Entries": entries}).encode()
    head = (
        "POST / HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "Content-Type: application/x-amz-json-1.1\r\n"
        "X-Amz-Target: AWSEvents.PutEvents\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _entries() -> list[dict[str, Any]]:
    rnd = random.Random(7)
    return [
        {
            "Source": f"bench.src{rnd.randrange(RULES)}",
            "DetailType": "order",
            "Detail": json.dumps({"total": rnd.randrange(200), "country": "fr"}),
        }
        for _ in range(ENTRIES)
    ]


def _worker(port: int, raw: bytes, seconds: float, barrier: Any, results: Any) -> None:
    try:
        conn = Connection(HOST, port)
        conn.request(raw)
        barrier.wait()
        end = time.monotonic() + seconds
        ok = errors = 0
        lat = []
        while True:
            t0 = time.perf_counter_ns()
            status, _ = conn.request(raw)
            lat.append(time.perf_counter_ns() - t0)
            if status == 200:
                ok += 1
            else:
                errors += 1
            if time.monotonic() >= end:
                break
        conn.close()
        results.put((ok, errors, lat, None))
    except Exception:
        barrier.abort()
        results.put((0, 0, [], traceback.format_exc()))


def load(port: int, raw: bytes, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` processes sending ``raw`` back to back for ``seconds``."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(port, raw, seconds, barrier, results))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    try:
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            raise RuntimeError(f"load client failed:\n{results.get(timeout=10)[-1]}") from None
        start = time.monotonic()
        collected = [results.get(timeout=seconds + 60) for _ in procs]
        elapsed = time.monotonic() - start
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    failures = [tb for *_, tb in collected if tb]
    if failures:
        raise RuntimeError("load client failed:\n" + failures[0])
    ok = sum(c[0] for c in collected)
    lat = [x for c in collected for x in c[2]]
    return {
        "requests": ok,
        "errors": sum(c[1] for c in collected),
        "rps": ok / elapsed,
        "latency": summarize(lat),
    }


def create_rules(url: str) -> None:
    import boto3

    events = boto3.client(
        "events",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    for i in range(RULES):
        pattern = {
            "source": [f"bench.src{i}"],
            "detail": {"total": [{"numeric": [">=", 100]}], "country": [{"anything-but": "xx"}]},
        }
        events.put_rule(Name=f"bench-{i}", EventPattern=json.dumps(pattern))
    for i in range(GENERIC_RULES):
        events.put_rule(
            Name=f"bench-generic-{i}",
            EventPattern=json.dumps({"detail-type": [f"other-{i}"], "detail": {"x": [1]}}),
        )


def put_events(lambox: ServerProc, echo: ServerProc, c: Counts) -> dict[str, Any]:
    """PutEvents of 10 entries per request against 1,000 rules, beside the echo floor."""
    create_rules(lambox.url)
    entries = _entries()
    with Connection(HOST, lambox.port) as conn:
        status, body = conn.request(put_events_request(lambox.port, entries))
        if status != 200 or json.loads(body)["FailedEntryCount"] != 0:
            raise RuntimeError(f"PutEvents answered {status}: {body[:200]!r}")
    floor = load(echo.port, put_events_request(echo.port, entries), c.clients, c.load_seconds)
    got = load(lambox.port, put_events_request(lambox.port, entries), c.clients, c.load_seconds)
    return {
        "rules": RULES + GENERIC_RULES,
        "entries_per_request": ENTRIES,
        "events_per_s": got["rps"] * ENTRIES,
        "requests": got,
        "echo_floor_events_per_s": floor["rps"] * ENTRIES,
        "echo_floor": floor,
    }


def index_vs_scan(events: int = 10_000) -> dict[str, Any]:
    """Matching events against 1,000 rules in process: the index, and a scan of every rule."""
    from lambox.events import patterns
    from lambox.services.events.rules import Rule, RuleSet
    from lambox.services.events.store import StoredRule

    compiled = []
    for i in range(RULES):
        text = json.dumps(
            {"source": [f"bench.src{i}"], "detail": {"total": [{"numeric": [">=", 100]}]}}
        )
        doc = {"EventPattern": text, "State": "ENABLED"}
        compiled.append(Rule.of(StoredRule(f"arn:{i}", "default", f"r{i}", doc, [], 0.0, None)))
    ruleset = RuleSet(compiled)
    rnd = random.Random(3)
    sample = [
        {
            "source": f"bench.src{rnd.randrange(RULES)}",
            "detail-type": "order",
            "detail": {"total": rnd.randrange(200)},
        }
        for _ in range(events)
    ]
    t0 = time.perf_counter()
    hits_index = sum(len(ruleset.matching("default", e)) for e in sample)
    t1 = time.perf_counter()
    hits_scan = 0
    for e in sample:
        flat = patterns.flatten(e)
        hits_scan += sum(1 for r in compiled if r.pattern is not None and r.pattern.matches(flat))
    t2 = time.perf_counter()
    return {
        "events": events,
        "same_matches": hits_index == hits_scan,
        "index_events_per_s": events / (t1 - t0),
        "scan_events_per_s": events / (t2 - t1),
    }


async def _timer_floor(n: int, spread: float) -> list[float]:
    """How late the event loop wakes for ``n`` deadlines spread over ``spread`` seconds."""
    start = time.time() + 0.2
    lateness: list[float] = []

    async def one(at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        lateness.append(time.time() - at)

    await asyncio.gather(*(one(start + spread * i / n) for i in range(n)))
    return lateness


async def _schedules(n: int, speed: float, seconds: float, tmp: Path) -> dict[str, Any]:
    from lambox.events.clock import ScaledClock
    from lambox.events.ticker import Delivery, Ticker
    from lambox.services.scheduler.service import SchedulerService
    from lambox.services.scheduler.store import SchedulerStore
    from lambox.services.scheduler.timetable import ScheduleTimetable

    clock = ScaledClock(speed)
    store = SchedulerStore(tmp / "scheduler.db")
    delivered = 0

    async def deliver(delivery: Delivery) -> None:
        nonlocal delivered
        delivered += 1

    tickers: list[Ticker] = []

    def reschedule() -> None:
        for t in tickers:
            t.kick()

    service = SchedulerService(store, "us-east-1", "000000000000", clock.now, reschedule)
    ticker = Ticker("bench", ScheduleTimetable(store, service), clock, deliver)
    tickers.append(ticker)
    target = {"Arn": "arn:aws:lambda:us-east-1:000000000000:function:bench"}
    t0 = time.perf_counter()
    for i in range(n):
        service.create_schedule(
            {
                "Name": f"s{i}",
                "ScheduleExpression": "rate(1 minute)",
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "Target": target,
            }
        )
    created = time.perf_counter() - t0
    ticker.start()
    await asyncio.sleep(seconds)
    await ticker.close()
    store.close()
    late_ns = sorted(int(x * 1e9 / speed) for x in ticker.lateness)
    return {
        "schedules": n,
        "create_s": created,
        "fired": ticker.fired,
        "delivered": delivered,
        "clock_speed": speed,
        "lateness": summarize(late_ns) if late_ns else {},
    }


def schedule_lateness(quick: bool) -> dict[str, Any]:
    n, speed, seconds = (1000, 6.0, 12.0) if quick else (SCHEDULES, 1.0, 70.0)
    floor = asyncio.run(_timer_floor(n, 60.0 / speed))
    with tempfile.TemporaryDirectory(prefix="lambox-bench-sched-") as tmp:
        got = asyncio.run(_schedules(n, speed, seconds, Path(tmp)))
    got["timer_floor"] = summarize(sorted(int(x * 1e9) for x in floor))
    return got


def measure_eventbridge(
    lambox: ServerProc, echo: ServerProc, c: Counts, quick: bool
) -> dict[str, Any]:
    return {
        "put_events": put_events(lambox, echo, c),
        "index_vs_scan": index_vs_scan(2000 if quick else 10_000),
        "schedules": schedule_lateness(quick),
    }
