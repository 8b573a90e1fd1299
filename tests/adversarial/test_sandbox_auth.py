"""In the open posture (loopback, the default) a request from a function's sandbox is held
to the strict posture: a function that drops its role credentials and sends an unsigned
request to lambox's address, or signs with ``test``/``test`` (the open posture's root key),
is refused as a stranger would be in the strict posture, while the same function's role
credentials get what its role's policy allows, and the host's own unsigned request is
still the account's root."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.adversarial.conftest import call
from tests.conftest import LamboxServer, execution_role
from tests.integration.urls import public_url

SECRET = "sandbox-auth-secret-5d1c"


@pytest.fixture(scope="module")
def victim(deploy: Callable[..., str]) -> str:
    """A function with a secret in its environment."""
    return deploy("echo", Environment={"Variables": {"SECRET": SECRET}})


@pytest.fixture(scope="module")
def reader(server: LamboxServer, deploy: Callable[..., str], victim: str) -> str:
    """The hostile function, whose role may read the victim's configuration only."""
    role = execution_role(
        server.url,
        "lambox-adv-config-reader",
        ["lambda:GetFunctionConfiguration"],
        f"arn:aws:lambda:us-east-1:000000000000:function:{victim}",
    )
    return deploy("read_config", Role=role)


def read(lambda_client: Any, server: LamboxServer, reader: str, victim: str, sign: str) -> Any:
    address = urlparse(server.url)
    event = {"host": address.hostname, "port": address.port, "victim": victim, "sign": sign}
    error, answer = call(lambda_client, reader, event)
    assert error is None, answer
    return answer


def host_read(server: LamboxServer, victim: str) -> tuple[int, Any]:
    """The host's own unsigned GetFunctionConfiguration (a developer's tool)."""
    address = urlparse(server.url)
    api = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    try:
        api.request("GET", f"/2015-03-31/functions/{victim}/configuration")
        answer = api.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        api.close()


@pytest.mark.parametrize(
    ("sign", "error_type", "message"),
    [
        ("none", "MissingAuthenticationTokenException", "Missing Authentication Token"),
        (
            "test",
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
    ],
)
def test_a_sandbox_is_not_the_root_without_its_credentials(
    lambda_client: Any,
    server: LamboxServer,
    reader: str,
    victim: str,
    isolated: None,
    sign: str,
    error_type: str,
    message: str,
) -> None:
    answer = read(lambda_client, server, reader, victim, sign)
    assert answer["status"] == 403, answer
    assert answer["type"] == error_type
    assert answer["body"] == {"message": message}
    assert SECRET not in json.dumps(answer)
    # The same function with its role's credentials: what the policy allows (the victim's
    # configuration), and AccessDenied for what it does not (its own).
    allowed = read(lambda_client, server, reader, victim, "role")
    assert allowed["status"] == 200, allowed
    assert allowed["body"]["Environment"]["Variables"] == {"SECRET": SECRET}
    denied = read(lambda_client, server, reader, reader, "role")
    assert denied["status"] == 403
    assert denied["type"] == "AccessDeniedException"
    assert "lambda:GetFunctionConfiguration" in denied["body"]["Message"]
    # The host's own unsigned request is still the account's root.
    status, config = host_read(server, victim)
    assert status == 200
    assert config["Environment"]["Variables"] == {"SECRET": SECRET}


def test_a_sandbox_is_refused_but_still_calls_a_public_function_url(
    lambda_client: Any,
    server: LamboxServer,
    deploy: Callable[..., str],
    reader: str,
    victim: str,
    isolated: None,
) -> None:
    """A function URL request is no Lambda API request: an AuthType NONE URL answers a
    sandbox's unsigned request, as it answers anyone's."""
    assert read(lambda_client, server, reader, victim, "none")["status"] == 403
    url = public_url(lambda_client, deploy("echo"))
    fetcher = deploy("fetch")
    error, answer = call(lambda_client, fetcher, {"port": url.port, "host": url.host, "path": "/"})
    assert error is None, answer
    assert answer["status"] == 200, answer
