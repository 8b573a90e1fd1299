"""The printed report: one rich table per section, with notes under it, then the targets
and what could not be measured. Reads only the result dict that is also written as JSON."""

from __future__ import annotations

from typing import Any, TypeGuard

from rich import box
from rich.table import Table

from common import console, ratio
from sandboxes import SNAP_INIT_MS, STDLIB_IMPORTS


def ms(v: float | None) -> str:
    """Milliseconds to the microsecond: finer would be below the client's own jitter."""
    return "-" if v is None else f"{v:.3f}"


def times(v: float | None) -> str:
    """A ratio to a floor."""
    return "-" if v is None else f"{v:.2f}x"


def table(*columns: str) -> Table:
    """A table whose first column is a label and the others are right-aligned numbers."""
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for n, col in enumerate(columns):
        t.add_column(col, justify="left" if n == 0 else "right")
    return t


def show(title: str, t: Table, *notes: str) -> None:
    """A heading line, the table, and notes under it (titles inside rich tables would wrap)."""
    console.print(f"\n[bold]{title}[/]")
    console.print(t)
    for note in notes:
        console.print(f"  {note}")


def ok(section: Any) -> TypeGuard[dict[str, Any]]:
    """Whether a section was measured (a failed one holds only ``{"error": ...}``)."""
    return isinstance(section, dict) and "error" not in section


def print_report(r: dict[str, Any]) -> None:
    """The whole report, section by section, in the order the sections were measured."""
    print_header(r)
    print_floors(r)
    print_warm(r)
    print_boto3(r)
    print_cpu_modes(r)
    print_cold(r)
    print_throughput(r)
    print_relay_floor(r)
    print_warm_functions(r)
    print_function_url(r)
    print_scaling(r)
    print_async(r)
    print_s3(r)
    print_eventbridge(r)
    print_durable(r)
    print_logs(r)
    print_metrics(r)
    print_sandboxes(r)
    print_chatty(r)
    print_targets(r)
    print_errors(r)


def print_header(r: dict[str, Any]) -> None:
    """The line that says what, where and when was measured."""
    env = r["environment"]
    console.print(
        f"lambox {env['lambox_version']} ({env['git_head'] or 'no git'}) | {env['date']} | "
        f"nproc {env['nproc']} | Python {env['python']} | load avg before "
        f"{env['loadavg_before']}, after {env.get('loadavg_after')} | "
        f"{'quick' if r['quick'] else 'full'} run, {r['elapsed_s']:.0f} s"
    )


def print_floors(r: dict[str, Any]) -> None:
    """The floors, and the HTTP floor under load when lambox could not be measured."""
    floors = r["floors"]
    http, fork = floors.get("http_echo"), floors.get("fork")
    t = table("floor", "n", "p50 ms", "p90 ms", "p99 ms", "max ms")
    for label, f in (
        ("HTTP echo, uvicorn+httptools+uvloop", http),
        (f"fork+_exit+waitpid (parent RSS {(fork or {}).get('parent_rss_mb')} MB)", fork),
    ):
        if ok(f):
            keys = ("p50_ms", "p90_ms", "p99_ms", "max_ms")
            t.add_row(label, str(f["n"]), *(ms(f[k]) for k in keys))
    notes = []
    if ok(http) and "throughput" in http:
        ht = http["throughput"]
        notes.append(
            f"HTTP echo under load ({ht['clients']} client processes): {ht['rps']:.0f} requests/s,"
            f" p50 {ht['latency']['p50_ms']:.3f} ms, p99 {ht['latency']['p99_ms']:.3f} ms"
        )
    show("Floors, measured in this run", t, *notes)


def print_warm(r: dict[str, Any]) -> None:
    """Warm Invoke beside the HTTP floor."""
    w = r.get("warm_invoke")
    if ok(w):
        t = table("", "HTTP floor ms", "Invoke ms", "Invoke - floor ms", "Invoke / floor")
        for k in ("p50", "p90", "p99", "max", "mean"):
            f, i = w["floor_http_echo"][f"{k}_ms"], w["invoke"][f"{k}_ms"]
            t.add_row(k, ms(f), ms(i), f"{i - f:+.3f}", times(ratio(i, f)))
        show(
            f"Warm Invoke: raw keep-alive HTTP/1.1, sequential, payload {w['payload']}",
            t,
            f"n = {w['invoke']['n']} each, floor and Invoke alternating in blocks.",
            w["note"],
        )


def print_cpu_modes(r: dict[str, Any]) -> None:
    """A 128 MB function's warm Invoke under each LAMBOX_CPU_MODE, beside the floor."""
    m = r.get("cpu_modes")
    if ok(m):
        t = table("LAMBOX_CPU_MODE", "floor p50", "Invoke p50", "floor p99", "Invoke p99")
        for mode in ("shares", "quota"):
            f, i = m[mode]["floor_http_echo"], m[mode]["invoke"]
            t.add_row(mode, ms(f["p50_ms"]), ms(i["p50_ms"]), ms(f["p99_ms"]), ms(i["p99_ms"]))
        show(
            f"Warm Invoke of a {m['memory_mb']} MB function by CPU mode (ms)",
            t,
            "shares (default): no cap, a weight by memory; quota: Lambda's CFS quota"
            " (7% of a core at 128 MB). Floor: the HTTP echo server, alternating in blocks.",
        )


def print_boto3(r: dict[str, Any]) -> None:
    """Warm Invoke through boto3 beside the raw figure."""
    w = r.get("warm_invoke")
    b = r.get("boto3_invoke")
    if ok(b) and ok(w):
        t = table("", "raw Invoke ms", "boto3 ms", "boto3 - raw ms", "boto3 / raw")
        for k in ("p50", "p99", "max"):
            raw_v, b_v = w["invoke"][f"{k}_ms"], b["invoke"][f"{k}_ms"]
            t.add_row(k, ms(raw_v), ms(b_v), f"{b_v - raw_v:+.3f}", times(ratio(b_v, raw_v)))
        show(
            "Warm Invoke through boto3 client.invoke, sequential",
            t,
            f"n = {b['invoke']['n']}; botocore's own cost is in the boto3 column and is not"
            " separated out.",
        )


def print_cold(r: dict[str, Any]) -> None:
    """First and second Invoke of new functions beside the fork floor."""
    fork = r["floors"].get("fork")
    cold = r.get("cold_invoke")
    if ok(cold):
        t = table("", "1st invoke ms", "2nd invoke ms", "1st / 2nd", "fork floor ms", "1st / fork")
        for k in ("p50", "max"):
            a, s2 = cold["first_invoke"][f"{k}_ms"], cold["second_invoke"][f"{k}_ms"]
            fk = fork[f"{k}_ms"] if ok(fork) else None
            t.add_row(
                k, ms(a), ms(s2), times(ratio(a, s2)), ms(fk), times(ratio(a, fk) if fk else None)
            )
        cu = cold["create_until_active_ms"]
        show(
            "First Invoke of a new function (cold: no sandbox yet), then its second (warm)",
            t,
            f"n = {cold['first_invoke']['n']} new functions, raw HTTP; create + wait Active "
            f"(boto3): p50 {cu['p50']:.1f} ms, max {cu['max']:.1f} ms.",
        )


def print_throughput(r: dict[str, Any]) -> None:
    """Throughput and CPU per request, Invoke beside the HTTP floor."""
    tp = r.get("throughput")
    if ok(tp):
        t = table("", "HTTP floor", "Invoke", "Invoke / floor")
        f, i = tp["floor_http_echo"], tp["invoke"]
        t.add_row("requests/s", f"{f['rps']:.0f}", f"{i['rps']:.0f}", times(tp["rps_ratio"]))
        for k in ("p50", "p99", "max"):
            fv, iv = f["latency"][f"{k}_ms"], i["latency"][f"{k}_ms"]
            t.add_row(f"latency {k} ms", ms(fv), ms(iv), times(ratio(iv, fv)))
        for label, key in (
            ("server CPU us/request", "server_cpu_us_per_request"),
            ("load generator CPU us/request", "client_cpu_us_per_request"),
        ):
            fc, ic = f[key], i[key]
            t.add_row(label, f"{fc:.0f}", f"{ic:.0f}", times(ratio(ic, fc)))
        t.add_row(
            "server child processes, start / end",
            *("{start} / {end}".format(**x["server_child_processes"]) for x in (f, i)),
        )
        t.add_row("requests (errors)", *(f"{x['requests']} ({x['errors']})" for x in (f, i)))
        show(
            f"Throughput: {i['clients']} client processes x 1 keep-alive connection,"
            f" {i['seconds']:.1f} s each",
            t,
            tp["note"],
        )


def print_relay_floor(r: dict[str, Any]) -> None:
    """Invoke beside both floors: the gap to the relay floor is lambox's own work."""
    rf = r.get("relay_floor")
    if not ok(rf):
        return
    t = table("", "echo floor", "relay floor", "Invoke", "Invoke / relay")
    lat = rf["latency"]
    for key, label in (("p50_ms", "sequential p50 ms"), ("p99_ms", "sequential p99 ms")):
        e, f, i = (lat[k][key] for k in ("echo", "relay", "lambox"))
        t.add_row(label, ms(e), ms(f), ms(i), times(ratio(i, f)))
    e, f, i = (lat[k]["server_cpu_us_per_request"] for k in ("echo", "relay", "lambox"))
    t.add_row(
        "sequential server CPU us/request", f"{e:.0f}", f"{f:.0f}", f"{i:.0f}", times(ratio(i, f))
    )
    e, f, i = (rf["throughput_rps"][k] for k in ("echo", "relay", "lambox"))
    t.add_row("8 clients, requests/s", f"{e:.0f}", f"{f:.0f}", f"{i:.0f}", times(ratio(i, f)))
    e, f, i = (rf["throughput_p99_ms"][k] for k in ("echo", "relay", "lambox"))
    t.add_row("8 clients, p99 ms", ms(e), ms(f), ms(i), times(ratio(i, f)))
    show("Warm Invoke beside the echo and relay floors", t, rf["note"])


def print_targets(r: dict[str, Any]) -> None:
    """The issue's targets and whether this run met them."""
    t = table("target (reported, not asserted)", "issue", "limit", "measured", "met")
    for tg in r["targets"]:
        value = f"{tg['value']:.2f}x" if "floor" in tg else f"{tg['value']:.3f}"
        met = "yes" if tg["met"] else "NO"
        t.add_row(tg["name"], tg.get("issue", ""), tg["target"], value, met)
    if r["targets"]:
        show(
            "Targets",
            t,
            "A limit ending in x is a ratio to the figure after the slash, measured in this run.",
        )
    else:
        console.print("\nTargets: none measured")


def print_errors(r: dict[str, Any]) -> None:
    """What could not be measured and why, and the server's last output if it failed."""
    floors = r["floors"]
    errors: dict[str, list[str]] = {}
    for section, value in [*r.items(), *floors.items()]:
        if isinstance(value, dict) and "error" in value:
            errors.setdefault(value["error"], []).append(section)
    for message, sections in errors.items():
        console.print(f"\n[bold red]not measured: {', '.join(sections)}[/]: {message}")
    if r.get("lambox_log_tail"):
        console.print("\n[bold]last lines of the lambox server's output:[/]")
        console.print("\n".join(r["lambox_log_tail"]), markup=False)


def print_scaling(r: dict[str, Any]) -> None:
    """Aliases, provisioned concurrency and idle sandboxes (``scaling.py``)."""
    a, p, i = r.get("alias_invoke"), r.get("provisioned_ready"), r.get("idle_sandboxes")
    if ok(a):
        t = table("", "unqualified ms", "alias ms", "alias - unqualified ms")
        for k in ("p50", "p99"):
            u, al = a["unqualified"][f"{k}_ms"], a["alias"][f"{k}_ms"]
            t.add_row(k, f"{u:.3f}", f"{al:.3f}", f"{al - u:+.3f}")
        show("Warm Invoke through an alias beside the unqualified function", t)
    if ok(p):
        t = table("provisioned concurrency", "requested", "READY after ms", "ms per sandbox")
        t.add_row("", str(p["requested"]), f"{p['ready_ms']:.1f}", f"{p['per_sandbox_ms']:.1f}")
        show("Time to READY", t)
    if ok(i):
        t = table("", "processes", "USS MiB total", "USS MiB max each")
        at, ak = i["after_traffic"], i["after_keep_alive"]
        t.add_row(
            "right after traffic",
            str(at["processes"]),
            f"{at['uss_mib_total']:.1f}",
            f"{at['uss_mib_each_max']:.1f}",
        )
        t.add_row("after the keep-alive", str(ak["processes"]), f"{ak['uss_mib_total']:.1f}", "")
        show(
            f"Idle sandboxes: 4 clients x 300 requests, keep-alive {i['keep_alive_s']:.0f} s",
            t,
        )


def print_s3(r: dict[str, Any]) -> None:
    """S3 on the edge beside its floors (``s3.py``)."""
    s3 = r.get("s3")
    if not ok(s3):
        return
    small, large, note = s3["small_objects"], s3["large_object"], s3["notification_latency"]
    t = table("", "p50 ms", "p99 ms", "per second")
    floor = small["echo_floor"]
    t.add_row(
        "floor: HTTP echo of the same 1 KiB PUT",
        f"{floor['p50_ms']:.3f}",
        f"{floor['p99_ms']:.3f}",
        f"{1000 / floor['mean_ms']:.0f}",
    )
    for op in ("put", "get"):
        x = small[op]
        t.add_row(
            f"1 KiB {op.upper()}", f"{x['p50_ms']:.3f}", f"{x['p99_ms']:.3f}", f"{x['per_s']:.0f}"
        )
    t.add_row(
        "notification: PUT answered -> handler started",
        f"{note['p50_ms']:.1f}",
        f"{note['p99_ms']:.1f}",
        f"{note['delivered']}/{note['sent']} delivered",
    )
    show("S3: one keep-alive connection, sequential", t, "")
    t = table("", "MiB/s", "server RSS growth MiB")
    t.add_row("floor: disk write", f"{large['disk_write_mib_s']:.0f}", "")
    t.add_row(
        f"PUT {large['size_mib']:.0f} MiB",
        f"{large['put_mib_s']:.0f}",
        f"{large['put_rss_growth_mib']:.1f}",
    )
    t.add_row("floor: disk read", f"{large['disk_read_mib_s']:.0f}", "")
    t.add_row(
        f"GET {large['size_mib']:.0f} MiB",
        f"{large['get_mib_s']:.0f}",
        f"{large['get_rss_growth_mib']:.1f}",
    )
    show("S3: one large object streamed", t, "")


def print_logs(r: dict[str, Any]) -> None:
    """FilterLogEvents over a million stored lines beside its floor (``logs.py``)."""
    lg = r.get("logs")
    if not ok(lg):
        return
    t = table("", "hits", "p50 ms", "p99 ms")
    fl = lg["floor_find"]
    t.add_row(
        "floor: read the log, bytes.find every hit",
        "",
        f"{fl['p50_ms']:.1f}",
        f"{fl['p99_ms']:.1f}",
    )
    for label, p in lg["patterns"].items():
        t.add_row(
            f"{label}: {p['pattern']}", str(p["hits"]), f"{p['p50_ms']:.1f}", f"{p['p99_ms']:.1f}"
        )
    show(
        f"CloudWatch Logs: FilterLogEvents over {lg['lines']:,} lines ({lg['log_mib']:.0f} MiB)",
        t,
        "over HTTP, one connection; the floor is in process",
    )


def print_metrics(r: dict[str, Any]) -> None:
    """What recording metrics adds per Invoke, beside a no-op call (``metrics.py``)."""
    m = r.get("metrics")
    if not ok(m):
        return
    t = table("", "ns per invoke")
    t.add_row("floor: a no-op call with the same arguments", f"{m['floor_call_ns']:.0f}")
    t.add_row("Recorder.invoked + EMF test (hot path)", f"{m['record_ns']:.0f}")
    t.add_row("added to the hot path", f"{m['added_per_invoke_ns']:.0f}")
    t.add_row("fold (flush loop, off the request)", f"{m['fold_per_invoke_ns']:.0f}")
    show(
        f"Metrics: recording {m['calls']:,} invocations in process",
        t,
        f"flush of the folded minute to SQLite: {m['flush_ms']:.2f} ms",
    )


def print_eventbridge(r: dict[str, Any]) -> None:
    """EventBridge and Scheduler beside their floors (``eventbridge.py``)."""
    eb = r.get("eventbridge")
    if not ok(eb):
        return
    pe, ix, sc = eb["put_events"], eb["index_vs_scan"], eb["schedules"]
    t = table("", "events/s", "request p99 ms")
    t.add_row(
        "floor: HTTP echo of the same PutEvents requests",
        f"{pe['echo_floor_events_per_s']:.0f}",
        f"{pe['echo_floor']['latency']['p99_ms']:.2f}",
    )
    t.add_row(
        f"PutEvents, {pe['entries_per_request']} entries/request, {pe['rules']} rules",
        f"{pe['events_per_s']:.0f}",
        f"{pe['requests']['latency']['p99_ms']:.2f}",
    )
    t.add_row(
        "in process: matching with a scan of every rule", f"{ix['scan_events_per_s']:.0f}", ""
    )
    t.add_row("in process: matching with the rule index", f"{ix['index_events_per_s']:.0f}", "")
    show("EventBridge: PutEvents against 1,000 rules", t, "")
    t = table("", "p50 ms", "p99 ms", "max ms")
    fl, late = sc["timer_floor"], sc["lateness"]
    t.add_row(
        "floor: event-loop timer lateness",
        f"{fl['p50_ms']:.1f}",
        f"{fl['p99_ms']:.1f}",
        f"{fl['max_ms']:.1f}",
    )
    if late:
        t.add_row(
            f"{sc['schedules']} rate(1 minute) schedules ({sc['fired']} fires)",
            f"{late['p50_ms']:.1f}",
            f"{late['p99_ms']:.1f}",
            f"{late['max_ms']:.1f}",
        )
    show("Scheduler: slot -> fire lateness (in process, no invoke)", t, "")


def print_warm_functions(r: dict[str, Any]) -> None:
    """Throughput spread round robin over 1, 10 and 100 warm functions (``warm_functions.py``)."""
    wf = r.get("warm_functions")
    if not ok(wf):
        return
    t = table(
        "warm of deployed",
        "requests/s",
        "/ one function",
        "p50 ms",
        "p99 ms",
        "CPU us/request",
        "server process",
        "sandboxes started in window",
    )
    f = wf["floor_http_echo"]
    t.add_row(
        "floor: HTTP echo",
        f"{f['rps']:.0f}",
        "",
        ms(f["p50_ms"]),
        ms(f["p99_ms"]),
        f"{f['server_cpu_us_per_request']:.0f}",
        "",
        "",
    )
    for warm, p in wf["points"].items():
        t.add_row(
            f"{warm} of {wf['deployed']:,}",
            f"{p['rps']:.0f}",
            times(p["ratio_to_single_function"]),
            ms(p["p50_ms"]),
            ms(p["p99_ms"]),
            f"{p['server_cpu_us_per_request']:.0f}",
            f"{p['server_process_cpu_us_per_request']:.0f}",
            f"{p['sandboxes_started_in_window']} ({p['errors']} errors)",
        )
    rf = wf.get("floor_relay")
    if rf:
        single = rf["points"]["1"]["rps"]
        for n, p in rf["points"].items():
            t.add_row(
                f"floor: relay, {n} path{'s' if n != '1' else ''}",
                f"{p['rps']:.0f}",
                times(p["rps"] / single),
                ms(p["p50_ms"]),
                ms(p["p99_ms"]),
                f"{p['cpu_us_per_request']:.0f}",
                f"{p['server_process_cpu_us_per_request']:.0f}",
                "",
            )
    notes = []
    fp = wf.get("floor_processes", {})
    if len(fp) == 2:
        few, many = sorted(fp.values(), key=lambda x: x["processes"])
        notes.append(
            f"floor: round trips from one event loop to {few['processes']} processes"
            f" {few['cpu_us_per_round_trip']:.0f} us CPU each ({few['round_trips_per_s']:.0f}/s),"
            f" to {many['processes']} processes {many['cpu_us_per_round_trip']:.0f} us"
            f" ({many['round_trips_per_s']:.0f}/s); the event loop's share"
            f" {few['caller_cpu_us_per_round_trip']:.0f} and"
            f" {many['caller_cpu_us_per_round_trip']:.0f} us."
        )
    show(
        f"Scale with warm functions: {wf['clients']} clients, round robin over the warm ones,"
        f" {wf['seconds_per_window']:.0f} s windows x {wf['rounds']}",
        t,
        "CPU: the server and its sandboxes per request; server process: the server alone."
        f" Target: {wf['target_warm']} warm >= {wf['target_ratio']}x one function.",
        *notes,
    )


def print_function_url(r: dict[str, Any]) -> None:
    """A function URL beside Invoke of the same function and the floor (``function_url.py``)."""
    fu = r.get("function_url")
    if not ok(fu):
        return
    warm, load = fu["warm"], fu["throughput"]
    t = table("", "p50 ms", "p90 ms", "p99 ms")
    for label, key in (
        ("floor: HTTP echo", "floor_http_echo"),
        ("Invoke API", "invoke"),
        ("function URL", "function_url"),
    ):
        s = warm[key]
        t.add_row(label, f"{s['p50_ms']:.3f}", f"{s['p90_ms']:.3f}", f"{s['p99_ms']:.3f}")
    d = warm["url_minus_invoke_ms"]
    t.add_row("function URL - Invoke", f"{d['p50']:.3f}", f"{d['p90']:.3f}", f"{d['p99']:.3f}")
    show(
        "Function URL: warm, sequential keep-alive requests, same function",
        t,
        f"throughput: URL {load['function_url_rps']:.0f}/s, Invoke {load['invoke_rps']:.0f}/s,"
        f" floor {load['floor_rps']:.0f}/s (URL/Invoke {load['url_to_invoke_ratio']:.2f});"
        f" p99 URL {load['function_url_p99_ms']:.2f} ms, Invoke {load['invoke_p99_ms']:.2f} ms",
    )


def print_async(r: dict[str, Any]) -> None:
    """Asynchronous invocation beside its floors (``async_events.py``)."""
    ae = r.get("async_events")
    if not ok(ae):
        return
    sq, qu, acc, fl = ae["floor_sqlite"], ae["floor_queue"], ae["accepted"], ae["floor_http_echo"]
    t = table("", "per second")
    t.add_row("floor: HTTP echo, same clients and request", f"{fl['per_s']:.0f}")
    t.add_row(
        "floor: SQLite event-row inserts, one commit each", f"{sq['per_row_commit_per_s']:.0f}"
    )
    t.add_row(
        f"floor: SQLite event-row inserts, {sq['batch']} per commit",
        f"{sq['batched_commit_per_s']:.0f}",
    )
    t.add_row(
        f"floor: SqliteEventQueue.put from {qu['tasks']} tasks (group commit, no HTTP)",
        f"{qu['per_s']:.0f}",
    )
    t.add_row("Event invokes accepted (202, durable)", f"{acc['per_s']:.0f}")
    t.add_row(
        "events drained (accepted / time until the queue is empty)", f"{ae['drained_per_s']:.0f}"
    )
    show(
        f"Asynchronous invocation: {acc['clients']} client processes x 1 keep-alive connection,"
        f" {acc['seconds']:.1f} s, trivial handler",
        t,
        f"accepted {acc['ok']} ({acc['errors']} errors), {ae['queued_when_accepting_stopped']}"
        f" still queued when accepting stopped, drained in {ae['drain_s']:.1f} s,"
        f" {ae['failed_events']} failed; accepted / HTTP floor"
        f" {times(ae['accepted_ratio_to_http_floor'])}.",
        "The worker drains while events are accepted: both share the machine's cores with the"
        " clients and the sandboxes (SQLite synchronous=NORMAL, WAL).",
    )


def print_sandboxes(r: dict[str, Any]) -> None:
    """Sandbox cold starts, SnapStart and bursts beside the fork floor."""
    s = r.get("sandboxes")
    if not ok(s):
        return
    fork = r["floors"].get("fork")
    cold, first = s.get("cold_from_zygote"), s.get("first_sandbox")
    fresh = s.get("floor_fresh_interpreter")
    t = table("", "n", "p50 ms", "p99 ms", "max ms", "p50 / fork floor")
    for label, row in (
        ("floor: fork+_exit+waitpid", fork),
        ("cold start from the function's zygote (HTTP Invoke)", cold),
        ("  the same, handler imports boto3", s.get("cold_from_zygote_boto3")),
        ("first sandbox of new code, base zygote (HTTP Invoke)", first),
        ("floor: fresh interpreter, same imports (no zygote)", fresh),
    ):
        if ok(row):
            f50 = fork["p50_ms"] if ok(fork) else None
            cells = (ms(row[k]) for k in ("p50_ms", "p99_ms", "max_ms"))
            t.add_row(label, str(row["n"]), *cells, times(ratio(row["p50_ms"], f50 or 0)))
    notes = [f"backend: {s.get('backend')}; handler imports {STDLIB_IMPORTS}."]
    snap = s.get("snapstart")
    if ok(snap):
        r, d = snap["restored"], snap["on_demand"]
        notes.append(
            f"SnapStart (init: those imports + {SNAP_INIT_MS} ms of work): invoke restored from"
            f" the version's snapshot p50 {r['p50_ms']:.2f} / p99 {r['p99_ms']:.2f} ms (n ="
            f" {r['n']}); the same function's on-demand cold start p50 {d['p50_ms']:.2f} /"
            f" p99 {d['p99_ms']:.2f} ms."
        )
    b = s.get("burst")
    if ok(b):
        u = b["idle_uss_mib"]
        forks = f" (floor: {1000 / fork['p50_ms']:.0f} bare forks/s)" if ok(fork) else ""
        notes.append(
            f"burst: {b['sandboxes']} sandboxes ({b['concurrency']} starting at a time) in"
            f" {b['seconds']:.2f} s = {b['per_s']:.0f}/s{forks}; idle warm sandbox USS p50"
            f" {u['p50']:.2f} MiB, max {u['max']:.2f} MiB (n = {u['n']})."
        )
        cpu = b.get("cpu_ms_per_sandbox")
        if cpu:
            floor = f" (a bare fork: {fork['p50_ms']:.2f} ms)" if ok(fork) else ""
            notes.append(
                f"burst CPU per sandbox: {cpu['total']:.2f} ms{floor}: host {cpu['host']:.2f},"
                f" zygote {cpu['zygote']:.2f}, sandbox {cpu['sandbox']:.2f},"
                f" init {cpu['init']:.2f}."
            )
    show("Sandboxes: cold starts beside the fork floor", t, *notes)


def _sdk_floor(res: dict[str, Any]) -> str:
    """A warm synchronous durable execution with no operation, when measured."""
    f = res.get("floor_durable_invoke")
    if not f:
        return ""
    return f"; empty durable execution {f['p50_ms']:.1f} / {f['p99_ms']:.1f}"


def print_durable(r: dict[str, Any]) -> None:
    """Durable functions (``durable.py``): checkpoints, resume after a wait, waiting."""
    d = r.get("durable")
    if not ok(d):
        return
    c, res, w = d["checkpoints"], d["resume"], d["waiting"]
    t = table("", "value", "floor")
    t.add_row(
        "checkpoints/s (store, committed)",
        f"{c['checkpoints_per_s']:.0f}",
        f"{c['floor_commits_per_s']:.0f} bare SQLite commits/s",
    )
    t.add_row(
        "checkpoint p50 / p99 ms",
        f"{c['latency']['p50_ms']:.3f} / {c['latency']['p99_ms']:.3f}",
        f"{c['floor_latency']['p50_ms']:.3f} / {c['floor_latency']['p99_ms']:.3f}",
    )
    t.add_row(
        "resume after a wait p50 / p99 ms",
        f"{res['resume_latency']['p50_ms']:.1f} / {res['resume_latency']['p99_ms']:.1f}",
        f"warm Invoke {res['floor_warm_invoke']['p50_ms']:.1f}"
        f" / {res['floor_warm_invoke']['p99_ms']:.1f}{_sdk_floor(res)}",
    )
    t.add_row(
        f"{w['executions']} executions waiting at once",
        f"server RSS +{w['server_rss_growth_mib']:.1f} MiB,"
        f" durable.db {w['durable_db_mib']:.1f} MiB",
        f"all parked after {w['all_waiting_after_s']:.1f} s",
    )
    p = d.get("parked")
    if ok(p):
        pr = p["resume"]
        t.add_row(
            f"{p['executions']:,} executions waiting (server restarted on them)",
            f"sandboxes {p['sandboxes']} ({p['processes_under_server']} processes under the"
            f" server), RSS {p['server_rss_parked_mib']:.1f} MiB, durable.db"
            f" {p['durable_db_mib']:.1f} MiB",
            f"empty server: {p['processes_under_empty_server']} processes,"
            f" RSS {p['server_rss_empty_mib']:.1f} MiB",
        )
        t.add_row(
            f"resume beside them, {pr['executions']} executions p50 / p99 ms",
            f"{pr['resume_latency']['p50_ms']:.1f} / {pr['resume_latency']['p99_ms']:.1f}",
            f"warm Invoke {pr['floor_warm_invoke']['p50_ms']:.1f}"
            f" / {pr['floor_warm_invoke']['p99_ms']:.1f}{_sdk_floor(pr)}",
        )
    show(
        f"Durable functions: {res['executions']} executions waiting {res['wait_s']} s together",
        t,
        "Resume: from the wait's scheduled end to the execution's end (timer fire, a warm"
        " invocation replaying, the answer stored).",
    )


def print_chatty(r: dict[str, Any]) -> None:
    """The chatty function (``chatty.py``): finished, and what its log kept."""
    c = r.get("chatty")
    if not ok(c):
        return
    t = table("", "value")
    t.add_row("finished (no OOM, answered)", "yes" if c["finished"] else f"NO: {c['answer']}")
    t.add_row("duration s (paced to take)", f"{c['elapsed_s']:.2f} ({c['seconds']})")
    t.add_row("lines printed", f"{c['printed']}")
    t.add_row("lines kept in its log", f"{c['kept']}")
    t.add_row("lines lost", f"{c['lost']}")
    t.add_row("truncation marker in the log", "yes" if c["marker"] else "no")
    t.add_row("log ends with the function's last line", "yes" if c["ends_with_last_line"] else "NO")
    show(
        f"A chatty function: {c['rate_lines_per_s']} lines/s for {c['seconds']} s,"
        f" MemorySize {c['memory_mb']} MB",
        t,
        f"its invocation's log: {c['log_bytes']} bytes. Logs leave the sandbox through a pipe"
        " the server drains; each invocation keeps its last 1 MiB, after a marker line.",
    )
