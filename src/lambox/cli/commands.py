"""The ``lambox`` command's subcommands. Every one but ``serve`` talks to a server over HTTP.

``lambox.cli.main`` runs a plain ``lambox serve`` without this module (``cli.serving``):
typer and the pydantic it validates options with were a quarter of the server's start-up.
``serve`` is here for the rest: its help, and its errors worded as typer words them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="lambox: AWS Lambda on your own machine.", no_args_is_help=True)

EndpointOpt = Annotated[
    str,
    typer.Option("--endpoint-url", envvar="LAMBOX_ENDPOINT", help="URL of the lambox server."),
]


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on.")] = None,  # noqa: UP045
    port: Annotated[Optional[int], typer.Option(help="Port to listen on.")] = None,  # noqa: UP045
    data_dir: Annotated[
        Optional[Path], typer.Option("--data-dir", help="State, code and logs directory.")  # noqa: UP045
    ] = None,
    examples: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Deploy every <dir>/function.json under this directory at start-up."),
    ] = None,
) -> None:
    """Run a lambox server (settings from LAMBOX_* variables; flags win)."""
    from lambox.cli import serving

    problem = serving.serve(host, port, data_dir, examples)
    if problem is not None:
        typer.echo(problem, err=True)
        raise typer.Exit(2)


@app.command()
def credentials(
    data_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--data-dir", envvar="LAMBOX_DATA_DIR", help="The server's data directory."),
    ] = None,
) -> None:
    """Print the account's root access key (as shell exports), read from the data directory."""
    import json

    path = (data_dir or Path(".lambox")) / "root-credentials.json"
    try:
        stored = json.loads(path.read_text())
    except OSError as exc:
        typer.echo(f"lambox credentials: cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"export AWS_ACCESS_KEY_ID={stored['AccessKeyId']}")
    typer.echo(f"export AWS_SECRET_ACCESS_KEY={stored['SecretAccessKey']}")
    token = path.parent / "ingest-token"
    if token.exists():  # the webhooks' token for /lambox/v1/s3-events/ (strict posture)
        typer.echo(f"export LAMBOX_INGEST_TOKEN={token.read_text().strip()}")


@app.command()
def logs(
    function: str,
    endpoint_url: EndpointOpt = "http://127.0.0.1:9000",
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new logs.")] = False,
) -> None:
    """Print a function's logs (START/END/REPORT and what the function wrote)."""

    offset = 0
    from lambox.cli import signing  # httpx: not for `lambox serve`'s start-up

    with signing.client(endpoint_url) as client:
        while True:
            r = client.get(f"/lambox/v1/logs/{function}", params={"offset": offset})
            if r.status_code != 200:
                body = r.json()
                typer.echo(body.get("Message") or body.get("message") or r.text, err=True)
                raise typer.Exit(1)
            sys.stdout.buffer.write(r.content)
            sys.stdout.flush()
            offset = int(r.headers.get("x-lambox-next-offset", offset))
            if not follow:
                return
            if not r.content:
                time.sleep(0.5)


@app.command()
def functions(endpoint_url: EndpointOpt = "http://127.0.0.1:9000") -> None:
    """List functions as a table."""
    from rich.console import Console
    from rich.table import Table

    table = Table("Name", "Runtime", "Handler", "Memory", "Timeout", "Code size", "Last modified")
    marker: str | None = None
    from lambox.cli import signing  # httpx: not for `lambox serve`'s start-up

    with signing.client(endpoint_url) as client:
        while True:
            params = {"Marker": marker} if marker else {}
            r = client.get("/2015-03-31/functions/", params=params)
            body = r.json()
            if r.status_code != 200:
                typer.echo(body.get("Message") or body.get("message") or r.text, err=True)
                raise typer.Exit(1)
            for f in body.get("Functions", []):
                table.add_row(
                    f["FunctionName"],
                    f["Runtime"],
                    f["Handler"],
                    f"{f['MemorySize']} MB",
                    f"{f['Timeout']} s",
                    f"{f['CodeSize']:,} B",
                    f["LastModified"],
                )
            marker = body.get("NextMarker")
            if not marker:
                break
    Console().print(table)


@app.command()
def events(
    function: str,
    endpoint_url: EndpointOpt = "http://127.0.0.1:9000",
    redrive: Annotated[
        bool, typer.Option("--redrive", help="Queue the function's failed events again.")
    ] = False,
    limit: Annotated[int, typer.Option(help="Events listed at most.")] = 100,
) -> None:
    """List a function's asynchronous events (pending, in flight, failed), or re-drive them."""
    from rich.console import Console
    from rich.table import Table

    from lambox.cli import signing  # httpx: not for `lambox serve`'s start-up

    with signing.client(endpoint_url) as client:
        if redrive:
            r = client.post(f"/lambox/v1/events/{function}/redrive")
        else:
            r = client.get(f"/lambox/v1/events/{function}", params={"limit": limit})
    if r.status_code != 200:
        typer.echo(r.json().get("Message", r.text), err=True)
        raise typer.Exit(1)
    body = r.json()
    if redrive:
        typer.echo(f"{body['Redriven']} failed events of {body['FunctionName']} queued again")
        return
    typer.echo(
        f"{body['FunctionName']}: {body['Pending']} pending, {body['InFlight']} in flight,"
        f" {body['Failed']} failed"
    )
    table = Table("Id", "Request id", "Qualifier", "Status", "Attempts", "Next attempt", "Reason")
    for e in body["Events"]:
        table.add_row(
            str(e["Id"]),
            e["RequestId"],
            e["Qualifier"] or "$LATEST",
            e["Status"],
            str(e["Attempts"]),
            e["NextAttemptAt"] if e["Status"] == "pending" else "",
            " ".join(filter(None, (e.get("Condition"), e.get("FunctionError")))),
        )
    if body["Events"]:
        Console(width=160).print(table)


@app.command()
def executions(
    function: str,
    endpoint_url: EndpointOpt = "http://127.0.0.1:9000",
    history: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--history", help="Show this execution's (ARN or name) events instead."),
    ] = None,
) -> None:
    """List a durable function's executions with their state, or one execution's history."""
    from datetime import UTC, datetime
    from urllib.parse import quote

    from rich.console import Console
    from rich.table import Table

    from lambox.cli import signing  # httpx: not for `lambox serve`'s start-up

    def when(stamp: float | None) -> str:
        return "" if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat()[:23]

    def fail(r: object) -> None:
        body = r.json()  # type: ignore[attr-defined]
        typer.echo(body.get("Message") or body.get("message") or str(body), err=True)
        raise typer.Exit(1)

    with signing.client(endpoint_url) as client:
        listed: list[dict[str, object]] = []
        marker: str | None = None
        while True:
            params = {"Marker": marker} if marker else {}
            r = client.get(f"/2025-12-01/functions/{function}/durable-executions", params=params)
            if r.status_code != 200:
                fail(r)
            body = r.json()
            listed.extend(body.get("DurableExecutions", []))
            marker = body.get("NextMarker")
            if not marker:
                break
        if history is None:
            table = Table("Name", "Status", "Started", "Ended", "ARN")
            for e in listed:
                table.add_row(
                    str(e["DurableExecutionName"]),
                    str(e["Status"]),
                    when(e.get("StartTimestamp")),  # type: ignore[arg-type]
                    when(e.get("EndTimestamp")),  # type: ignore[arg-type]
                    str(e["DurableExecutionArn"]),
                )
            Console(width=200).print(table)
            return
        arn = next(
            (str(e["DurableExecutionArn"]) for e in listed if e["DurableExecutionName"] == history),
            history,
        )
        r = client.get(f"/2025-12-01/durable-executions/{quote(arn, safe='')}/history")
        if r.status_code != 200:
            fail(r)
        table = Table("#", "Time", "Event", "Operation", "Name", "Details")
        for event in r.json().get("Events", []):
            details = next((v for k, v in event.items() if k.endswith("Details")), "")
            table.add_row(
                str(event.get("EventId")),
                when(event.get("EventTimestamp")),
                str(event.get("EventType")),
                str(event.get("Id", "")),
                str(event.get("Name", "")),
                json.dumps(details)[:120] if details else "",
            )
        Console(width=200).print(table)


@app.command()
def cost(
    endpoint_url: EndpointOpt = "http://127.0.0.1:9000",
    since: Annotated[
        str, typer.Option(help="From when: 30m, 24h, 7d, an ISO 8601 time or epoch seconds.")
    ] = "30d",
) -> None:
    """Requests, billed duration, GB-seconds and the AWS Lambda price per function version,
    with a right-sizing hint from Max Memory Used."""
    from rich.console import Console

    from lambox.cli import signing  # httpx: not for `lambox serve`'s start-up
    from lambox.cli.observe import cost_table, since_seconds

    try:
        start = since_seconds(since, time.time())
    except ValueError:
        typer.echo(f"lambox cost: cannot read --since {since!r}", err=True)
        raise typer.Exit(2) from None
    with signing.client(endpoint_url) as client:
        r = client.get("/lambox/v1/cost", params={"since": start})
    if r.status_code != 200:
        typer.echo(r.json().get("Message", r.text), err=True)
        raise typer.Exit(1)
    Console(width=180).print(cost_table(r.json()))


@app.command()
def top(
    endpoint_url: EndpointOpt = "http://127.0.0.1:9000",
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 2.0,
    frames: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="Stop after this many refreshes (default: until Ctrl-C)."),
    ] = None,
) -> None:
    """A live table per function: invocations/s, p50/p99 duration, errors, throttles and
    concurrency, from the server's Prometheus /metrics."""
    import httpx
    from rich.console import Console
    from rich.live import Live

    from lambox.cli.observe import run_top

    # /metrics is answered unsigned (a signed GET /metrics is an S3 request).
    with httpx.Client(base_url=endpoint_url, timeout=30) as client:

        def scrape() -> str:
            r = client.get("/metrics")
            r.raise_for_status()
            return r.text

        try:
            if frames is not None:
                console = Console(width=160)
                run_top(scrape, interval, frames, console.print)
                return
            with Live(auto_refresh=False) as live:
                run_top(scrape, interval, None, lambda t: live.update(t, refresh=True))
        except KeyboardInterrupt:
            pass
        except httpx.HTTPError as exc:
            typer.echo(f"lambox top: {exc}", err=True)
            raise typer.Exit(1) from None


@app.command()
def dev(
    path: Annotated[Path, typer.Argument(help="Directory holding the function's code.")],
    function: Annotated[str, typer.Option("--function", help="Function to run it as.")],
    endpoint_url: EndpointOpt = "http://127.0.0.1:9000",
    runtime: Annotated[str, typer.Option(help="Runtime, if the function is created.")] = (
        "python3.12"
    ),
    handler: Annotated[str, typer.Option(help="Handler, if the function is created.")] = (
        "app.handler"
    ),
    role: Annotated[str, typer.Option(help="Role, if the function is created.")] = (
        "arn:aws:iam::000000000000:role/lambox-dev"
    ),
    interval: Annotated[float, typer.Option(help="Seconds between looks at PATH.")] = 0.3,
) -> None:
    """Run FUNCTION from the code in PATH: each change there is live at the next invocation."""
    import httpx

    from lambox.cli.dev import DevSession

    if not path.is_dir():
        typer.echo(f"lambox dev: {path} is not a directory", err=True)
        raise typer.Exit(2)
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    bars = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    with httpx.Client(base_url=endpoint_url, timeout=60) as client:
        session = DevSession(
            client, path.resolve(), function, runtime, handler, role, typer.echo, bars
        )
        try:
            with bars:
                seen = session.start()
        except (RuntimeError, httpx.HTTPError) as exc:
            typer.echo(f"lambox dev: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"watching {path} for {function} (Ctrl-C stops)")
        try:
            session.watch(seen, interval)
        except KeyboardInterrupt:
            return
