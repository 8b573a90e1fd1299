"""The ``lambox`` command. Every subcommand but ``serve`` talks to a server over HTTP."""

from __future__ import annotations

import logging
import os
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
    from lambox.config import Settings
    from lambox.server import run

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env(os.environ, host=host, port=port, data_dir=data_dir)
    run(settings, examples)


@app.command()
def logs(
    function: str,
    endpoint_url: EndpointOpt = "http://127.0.0.1:9000",
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new logs.")] = False,
) -> None:
    """Print a function's logs (START/END/REPORT and what the function wrote)."""
    import httpx

    offset = 0
    with httpx.Client(base_url=endpoint_url, timeout=10) as client:
        while True:
            r = client.get(f"/lambox/v1/logs/{function}", params={"offset": offset})
            if r.status_code != 200:
                typer.echo(r.json().get("Message", r.text), err=True)
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
    import httpx
    from rich.console import Console
    from rich.table import Table

    table = Table("Name", "Runtime", "Handler", "Memory", "Timeout", "State", "Last modified")
    marker: str | None = None
    with httpx.Client(base_url=endpoint_url, timeout=10) as client:
        while True:
            params = {"Marker": marker} if marker else {}
            body = client.get("/2015-03-31/functions/", params=params).json()
            for f in body.get("Functions", []):
                table.add_row(
                    f["FunctionName"],
                    f["Runtime"],
                    f["Handler"],
                    f"{f['MemorySize']} MB",
                    f"{f['Timeout']} s",
                    f["State"],
                    f["LastModified"],
                )
            marker = body.get("NextMarker")
            if not marker:
                break
    Console().print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
