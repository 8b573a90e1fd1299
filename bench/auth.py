"""What authentication costs: the edge's verification in-process (microseconds per request)
and warm Invoke over HTTP, unsigned and SigV4-signed, beside the HTTP echo floor.

Run: ``.venv/bin/python bench/auth.py [--quick]``. A signed request is signed once and
re-sent (a signature stays valid for 15 minutes), so the client's own signing is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from common import (
    HOST,
    PAYLOAD,
    check_echo,
    create_function,
    echo_zip,
    free_port,
    gc_paused,
    invoke_path,
    lambda_client,
    lambox_argv,
    start_server,
    stop_server,
    summarize,
    timed,
)
from floors import start_echo
from httpclient import Connection
from lambox.edge.auth import Authenticator
from lambox.edge.authorize import Authorizer
from lambox.edge.identity import Credential, Principal, StaticKeyring, root_principal
from lambox.edge.lambda_actions import LambdaActions


def signed_raw(port: int, path: str, body: bytes, signer: Any) -> tuple[bytes, dict[str, Any]]:
    """Request bytes signed by ``signer``, and the ASGI scope of the same request."""
    url = f"http://{HOST}:{port}{path}"
    request = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/json"})
    signer.add_auth(request)
    headers = {"Host": f"{HOST}:{port}", **dict(request.headers)}
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    raw = (head + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), str(v).encode()) for k, v in headers.items()],
    }
    return raw, scope


def verify_cost(n: int) -> dict[str, float]:
    """Median microseconds of ``Authenticator.authenticate`` for a few request kinds."""
    root = Credential("test", "test", root_principal("000000000000"))
    auth = Authenticator(StaticKeyring([root]), "000000000000", open_posture=False)
    creds = Credentials("test", "test")
    path = invoke_path("bench-echo")
    _, lam = signed_raw(9000, path, PAYLOAD, SigV4Auth(creds, "lambda", "us-east-1"))
    _, s3 = signed_raw(9000, "/b/k", b"", S3SigV4Auth(creds, "s3", "us-east-1"))
    unsigned = {**lam, "headers": [(b"host", b"x")]}
    open_auth = Authenticator(StaticKeyring([root]), "000000000000", open_posture=True)

    async def one(a: Authenticator, scope: dict[str, Any], service: str, body: bytes) -> None:
        async def receive() -> Any:
            return {"type": "http.request", "body": body, "more_body": False}

        await a.authenticate(scope, receive, service)

    async def many(a: Authenticator, scope: dict[str, Any], service: str, body: bytes) -> float:
        samples = []
        clock = time.perf_counter_ns
        for _ in range(n):
            t0 = clock()
            await one(a, scope, service, body)
            samples.append(clock() - t0)
        return statistics.median(samples) / 1000

    async def all_kinds() -> dict[str, float]:
        return {
            "lambda_sigv4_us": await many(auth, lam, "lambda", PAYLOAD),
            "s3_sigv4_us": await many(auth, s3, "s3", b""),
            "unsigned_open_us": await many(open_auth, unsigned, "lambda", PAYLOAD),
        }

    return {**asyncio.run(all_kinds()), **authorize_cost(n)}


def authorize_cost(n: int) -> dict[str, float]:
    """Median microseconds to name a Lambda request's action and resource, and to decide it
    for a user with two small policies (identity policies cached, as the server's are)."""
    user = Principal("000000000000", "arn:aws:iam::000000000000:user/u", "AIDAU", "user")
    docs = [
        '{"Statement": [{"Effect": "Allow", "Action": "lambda:Invoke*", "Resource": "*"}]}',
        '{"Statement": [{"Effect": "Deny", "Action": "lambda:Delete*", "Resource": "*",'
        ' "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}',
    ]
    authorizer = Authorizer(lambda p: docs)
    actions = LambdaActions("us-east-1", "000000000000")
    path = invoke_path("bench-echo").encode()
    clock = time.perf_counter_ns
    named, decided = [], []
    for _ in range(n):
        t0 = clock()
        found = actions.of("POST", path, b"")
        t1 = clock()
        assert found is not None
        assert authorizer.denial(user, *found, "127.0.0.1") is None
        t2 = clock()
        named.append(t1 - t0)
        decided.append(t2 - t1)
    return {
        "lambda_action_us": statistics.median(named) / 1000,
        "policy_decision_us": statistics.median(decided) / 1000,
    }


def _lambox(tmp: Path, name: str, env: dict[str, str]) -> Any:
    port = free_port()
    server = start_server(
        name,
        lambox_argv(port, tmp / name),
        port,
        "/lambox/v1/health",
        tmp,
        {"LAMBOX_KEEP_ALIVE": "600", **env},
    )
    create_function(lambda_client(server.url), "bench-echo", echo_zip())
    return server


def warm(n: int, blocks: int, baseline_src: Path | None) -> dict[str, Any]:
    """Warm Invoke latency, the kinds alternating in blocks: the HTTP floor, this lambox
    unsigned and SigV4-signed (root key), and, with ``baseline_src``, a lambox run from
    that source tree (e.g. an older commit) unsigned and signed."""
    with tempfile.TemporaryDirectory(prefix="lambox-bench-auth-") as tmp_name:
        tmp = Path(tmp_name)
        servers = [start_echo(tmp)]
        try:
            servers.append(_lambox(tmp, "lambox", {}))
            if baseline_src is not None:
                servers.append(_lambox(tmp, "baseline", {"PYTHONPATH": str(baseline_src)}))
            path = invoke_path("bench-echo")
            signer = SigV4Auth(Credentials("test", "test"), "lambda", "us-east-1")
            kinds: dict[str, tuple[int, bytes]] = {
                "floor": (servers[0].port, signed_raw(servers[0].port, path, PAYLOAD,
                                                      _Unsigned())[0]),
                # the floor with the signed request's headers: what parsing them costs
                "floor_signed_headers": (servers[0].port, signed_raw(servers[0].port, path,
                                                                     PAYLOAD, signer)[0]),
                "unsigned": (servers[1].port, signed_raw(servers[1].port, path, PAYLOAD,
                                                         _Unsigned())[0]),
                "signed": (servers[1].port, signed_raw(servers[1].port, path, PAYLOAD,
                                                       signer)[0]),
            }  # fmt: skip
            if baseline_src is not None:
                port = servers[2].port
                kinds["baseline"] = (port, signed_raw(port, path, PAYLOAD, _Unsigned())[0])
                kinds["baseline_signed"] = (port, signed_raw(port, path, PAYLOAD, signer)[0])
            out: dict[str, list[int]] = {k: [] for k in kinds}
            conns = {k: Connection(HOST, port) for k, (port, _) in kinds.items()}
            try:
                ok = {k: check_echo(conns[k], raw) for k, (_, raw) in kinds.items()}
                with gc_paused():
                    for k, (_, raw) in kinds.items():
                        timed(conns[k], raw, ok[k], n // blocks // 5, [])
                    for _ in range(blocks):
                        for k, (_, raw) in kinds.items():
                            timed(conns[k], raw, ok[k], n // blocks, out[k])
            finally:
                for conn in conns.values():
                    conn.close()
            return {k: summarize(v) for k, v in out.items()}
        finally:
            for server in reversed(servers):
                stop_server(server)


class _Unsigned:
    def add_auth(self, request: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also measure a lambox run from this src/ tree (e.g. `git archive` of an older"
        " commit), unsigned and signed, in the same run",
    )
    args = parser.parse_args(argv)
    n = 2000 if args.quick else 20000
    print("verification, median us per request:", verify_cost(n))
    figures = warm(1000 if args.quick else 5000, 10, args.baseline_src)
    for kind, s in figures.items():
        print(f"warm invoke {kind:21s} p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
