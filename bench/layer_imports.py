"""Cold starts of a function whose heavy library comes from a layer, against the same
library in the function's own package, the libraries the runtime provides (boto3) and the
standard library; all forked from the function's version zygote on the Linux backend.

A version zygote preloads only what the interpreter and the runtime provide: modules of the
function's package and of its layers are compiled there but imported in each sandbox (they
are code a user uploaded, and a zygote runs as root; docs/layers.md). This measures what that
costs: run ``.venv/bin/python bench/layer_imports.py`` (prints JSON).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

from common import (
    ROLE,
    ServerProc,
    free_port,
    lambda_client,
    lambox_argv,
    start_server,
    stop_server,
)
from sandboxes import BOTO3_IMPORTS, STDLIB_CODE, STDLIB_IMPORTS, cold_starts, stdlib_zip

# httpx and what its import pulls in: about 100 ms of pure-Python imports.
HEAVY = "httpx"
PACKAGES = ("httpx", "httpcore", "h11", "anyio", "sniffio", "idna", "certifi", "click")
PACKAGES += ("rich", "pygments", "markdown_it", "mdurl")


def site_packages() -> Path:
    return next(Path(p) for p in sys.path if p.endswith("site-packages"))


def library_files(prefix: str) -> dict[str, bytes]:
    """The heavy library's packages, as zip members under ``prefix``."""
    site = site_packages()
    files = {}
    for package in PACKAGES:
        root = site / package
        if not root.is_dir():
            continue
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files[prefix + str(path.relative_to(site))] = path.read_bytes()
    return files


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def create(client: Any, name: str, code: bytes, layers: list[str] | None = None) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": code},
        MemorySize=512,
        Layers=layers or [],
    )
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def measure(server: ServerProc, client: Any, n: int) -> dict[str, Any]:
    heavy_app = {"app.py": STDLIB_CODE.replace(STDLIB_IMPORTS, HEAVY).encode()}
    out: dict[str, Any] = {}
    tag = uuid.uuid4().hex[:8]
    create(client, f"li-stdlib-{tag}", stdlib_zip(tag))
    out["stdlib (floor)"] = cold_starts(server, f"li-stdlib-{tag}", n)
    create(client, f"li-boto3-{tag}", stdlib_zip(tag, BOTO3_IMPORTS))
    out["boto3 from the runtime"] = cold_starts(server, f"li-boto3-{tag}", n)
    create(client, f"li-own-{tag}", zipped({**heavy_app, **library_files("")}))
    out[f"{HEAVY} in the function's package"] = cold_starts(server, f"li-own-{tag}", n)
    layer = client.publish_layer_version(
        LayerName=f"li-{tag}", Content={"ZipFile": zipped(library_files("python/"))}
    )["LayerVersionArn"]
    create(client, f"li-layer-{tag}", zipped(heavy_app), [layer])
    out[f"{HEAVY} from a layer"] = cold_starts(server, f"li-layer-{tag}", n)
    return out


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        argv = lambox_argv(port, Path(tmp) / "data")
        env = {"LAMBOX_KEEP_ALIVE": "0.2"}
        server = start_server("layer-imports", argv, port, "/lambox/v1/health", Path(tmp), env)
        try:
            backend = "linux" if "sandbox backend: linux" in server.output() else "process"
            results = measure(server, lambda_client(server.url), n)
            for line in server.output().splitlines():  # what each version zygote holds
                if "modules preloaded" in line:
                    print(line, file=sys.stderr)
        finally:
            stop_server(server)
    print(json.dumps({"backend": backend, "n": n, "cold_from_zygote_ms": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
