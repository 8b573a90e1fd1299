"""JWT authorizers of HTTP APIs against an OpenID issuer on loopback (the only issuers this
machine reaches). Tokens are signed by openssl, so lambox's own RS256 check is tested
against an independent implementation."""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, LamboxServer, make_zip, unique

ECHO = """def handler(event, context):
    return event["requestContext"]["authorizer"]
"""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Key:
    """An RSA key made and used by openssl."""

    def __init__(self, path: Path, kid: str) -> None:
        self.path, self.kid = path, kid
        subprocess.run(
            ["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True
        )
        out = subprocess.run(
            ["openssl", "rsa", "-in", str(path), "-noout", "-modulus"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        modulus = bytes.fromhex(out.strip().split("=", 1)[1])
        self.jwk = {
            "kty": "RSA",
            "kid": kid,
            "alg": "RS256",
            "use": "sig",
            "n": b64(modulus),
            "e": "AQAB",
        }

    def token(self, claims: dict[str, Any]) -> str:
        head = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": self.kid}).encode())
        body = b64(json.dumps(claims).encode())
        signed = f"{head}.{body}".encode()
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.path)],
            input=signed,
            check=True,
            capture_output=True,
        ).stdout
        return f"{head}.{body}.{b64(signature)}"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An OpenID issuer on loopback whose key set the test can change (rotation)."""
    tmp = tmp_path_factory.mktemp("issuer")
    state: dict[str, Any] = {"keys": [Key(tmp / "one.pem", "one")]}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": base, "jwks_uri": base + "/jwks"}
            elif self.path == "/jwks":
                body = {"keys": [k.jwk for k in state["keys"]]}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    state["tmp"] = tmp
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def guarded(server: LamboxServer, lambda_client: Any, issuer: dict[str, Any]) -> dict[str, str]:
    import boto3

    gateway = boto3.client(
        "apigatewayv2",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    name = unique("jwt-echo")
    arn = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": ECHO})},
    )["FunctionArn"]
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    api = gateway.create_api(Name=unique("jwt"), ProtocolType="HTTP")
    api_id = api["ApiId"]
    authorizer = gateway.create_authorizer(
        ApiId=api_id,
        Name="jwt",
        AuthorizerType="JWT",
        IdentitySource=["$request.header.Authorization"],
        JwtConfiguration={"Issuer": issuer["url"], "Audience": ["my-app"]},
    )
    with pytest.raises(ClientError) as exc:
        gateway.create_authorizer(
            ApiId=api_id,
            Name="broken",
            AuthorizerType="JWT",
            IdentitySource=["$request.header.Authorization"],
            JwtConfiguration={"Audience": ["my-app"]},
        )
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    target = gateway.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn, PayloadFormatVersion="2.0"
    )["IntegrationId"]
    for key, scopes in (("GET /open", []), ("GET /admin", ["items:admin"])):
        gateway.create_route(
            ApiId=api_id,
            RouteKey=key,
            Target=f"integrations/{target}",
            AuthorizationType="JWT",
            AuthorizerId=authorizer["AuthorizerId"],
            AuthorizationScopes=scopes,
        )
    gateway.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return {"endpoint": api["ApiEndpoint"]}


def get(endpoint: str, path: str, token: str | None) -> tuple[int, Any]:
    url = urlparse(endpoint)
    headers = {"Host": url.netloc}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=60)
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, json.loads(body or b"null")


def claims(issuer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer["url"],
        "aud": "my-app",
        "sub": "alice",
        "exp": now + 600,
        "iat": now,
        **extra,
    }


def test_a_valid_token_reaches_the_function_with_its_claims(
    guarded: dict[str, str], issuer: dict[str, Any]
) -> None:
    key = issuer["keys"][0]
    status, body = get(guarded["endpoint"], "/open", key.token(claims(issuer, scope="a b")))
    assert status == 200
    assert body["jwt"]["claims"]["sub"] == "alice" and body["jwt"]["scopes"] == ["a", "b"]


def test_missing_and_invalid_tokens_are_401(
    guarded: dict[str, str], issuer: dict[str, Any]
) -> None:
    key = issuer["keys"][0]
    endpoint = guarded["endpoint"]
    assert get(endpoint, "/open", None) == (401, {"message": "Unauthorized"})
    now = int(time.time())
    for bad in (
        claims(issuer, aud="another-app"),
        claims(issuer, iss="http://127.0.0.1:1/elsewhere"),
        claims(issuer, exp=now - 10),
    ):
        assert get(endpoint, "/open", key.token(bad))[0] == 401
    forged = Key(issuer["tmp"] / "forger.pem", "one")  # same kid, another key
    assert get(endpoint, "/open", forged.token(claims(issuer)))[0] == 401
    token = key.token(claims(issuer))
    tampered = token.split(".")
    tampered[1] = b64(json.dumps(claims(issuer, sub="mallory")).encode())
    assert get(endpoint, "/open", ".".join(tampered))[0] == 401


def test_route_scopes_need_one_of_the_tokens_scopes(
    guarded: dict[str, str], issuer: dict[str, Any]
) -> None:
    key = issuer["keys"][0]
    status, body = get(guarded["endpoint"], "/admin", key.token(claims(issuer, scope="items:read")))
    assert (status, body) == (403, {"message": "Forbidden"})
    allowed = key.token(claims(issuer, scope="items:read items:admin"))
    assert get(guarded["endpoint"], "/admin", allowed)[0] == 200


def test_a_rotated_key_is_fetched_again(guarded: dict[str, str], issuer: dict[str, Any]) -> None:
    assert get(guarded["endpoint"], "/open", issuer["keys"][0].token(claims(issuer)))[0] == 200
    rotated = Key(issuer["tmp"] / "two.pem", "two")
    issuer["keys"].append(rotated)
    assert get(guarded["endpoint"], "/open", rotated.token(claims(issuer)))[0] == 200
