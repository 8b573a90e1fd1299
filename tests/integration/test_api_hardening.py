"""What a hostile client found, one case each: every answer AWS-shaped, never a 500, and a
refused request stores nothing."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server, unique

ECHO = make_zip({"app.py": "def handler(event, context):\n    return event\n"})


@pytest.fixture(scope="module")
def http(server: LamboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def fn(lambda_client) -> str:  # type: ignore[no-untyped-def]
    name = unique("hardened")
    lambda_client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": ECHO},
    )  # fmt: skip
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    lambda_client.publish_version(FunctionName=name)
    return name


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    message = body.get("message", body.get("Message"))
    return response.status_code, response.headers["x-amzn-ErrorType"], message


def echo_works(http: httpx.Client, name: str) -> None:
    invoked = http.post(f"/2015-03-31/functions/{name}/invocations", content=b'{"ok": 1}')
    assert invoked.status_code == 200
    assert "x-amz-function-error" not in invoked.headers
    assert invoked.json() == {"ok": 1}


# -- nesting -----------------------------------------------------------------------------------


def test_deeply_nested_body_is_invalid_content(http: httpx.Client, fn: str) -> None:
    got = http.put(f"/2017-10-31/functions/{fn}/concurrency", content=b"[" * 2000)
    status, kind, message = error(got)
    assert (status, kind) == (400, "InvalidRequestContentException")
    assert message.startswith("Could not parse request body into json: ")


def test_nesting_over_jacksons_limit_is_refused_in_its_words(http: httpx.Client, fn: str) -> None:
    body = b'{"Tags": {"k": "v"}, "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    got = http.post(
        f"/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:{fn}", content=body
    )
    assert error(got) == (
        400,
        "InvalidRequestContentException",
        "Could not parse request body into json: Document nesting depth (1001) exceeds the"
        " maximum allowed (1000, from `StreamReadConstraints.getMaxNestingDepth()`)",
    )


def test_nesting_at_jacksons_limit_is_read(http: httpx.Client, fn: str) -> None:
    """999 levels inside the body object: deeper than Python's decoder goes from a request
    handler, within what AWS reads. The unknown member is ignored, as AWS ignores it."""
    body = b'{"Tags": {"deep": "yes"}, "x": ' + b"[" * 999 + b"]" * 999 + b"}"
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{fn}"
    assert http.post(f"/2017-03-31/tags/{arn}", content=body).status_code == 204
    assert http.get(f"/2017-03-31/tags/{arn}").json()["Tags"]["deep"] == "yes"


def test_deep_value_of_a_member_is_a_validation_error(http: httpx.Client, fn: str) -> None:
    body = b'{"Description": ' + b"[" * 990 + b"]" * 990 + b"}"
    status, kind, message = error(
        http.put(f"/2015-03-31/functions/{fn}/configuration", content=body)
    )
    assert (status, kind) == (400, "ValidationException")
    assert message.endswith(
        "at 'description' failed to satisfy constraint: Member must be a string"
    )


def test_deep_invoke_payload_reaches_the_function(http: httpx.Client, fn: str) -> None:
    """Any valid JSON is a payload, however deep; the Python runtime then fails to decode it,
    which is the function's error, not the server's."""
    deep = b"[" * 100_000 + b"]" * 100_000
    url = f"/2015-03-31/functions/{fn}/invocations"
    dry = http.post(url, content=deep, headers={"X-Amz-Invocation-Type": "DryRun"})
    assert dry.status_code == 204
    got = http.post(url, content=b"[" * 2000 + b"]" * 2000)
    assert got.status_code == 200
    assert got.headers["x-amz-function-error"] == "Unhandled"
    assert got.json()["errorType"] == "RecursionError"
    echo_works(http, fn)


def test_deep_malformed_invoke_payload_is_invalid_content(http: httpx.Client, fn: str) -> None:
    got = http.post(f"/2015-03-31/functions/{fn}/invocations", content=b"[" * 5000 + b"]")
    status, kind, message = error(got)
    assert (status, kind) == (400, "InvalidRequestContentException")
    assert message.startswith(
        "Could not parse request body into json: Could not parse payload into json: "
    )


# -- lone surrogates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"Description": "\\udc80"}',
        b'{"Description": "a\\ud800"}',
        b'{"Environment": {"Variables": {"\\udfffK": "v"}}}',
        b'{"Description": "\xed\xb2\x80"}',
    ],
)
def test_lone_surrogate_is_invalid_content(http: httpx.Client, fn: str, body: bytes) -> None:
    before = http.get(f"/2015-03-31/functions/{fn}/configuration").json()
    got = http.put(f"/2015-03-31/functions/{fn}/configuration", content=body)
    status, kind, message = error(got)
    assert (status, kind) == (400, "InvalidRequestContentException")
    assert message.startswith("Could not parse request body into json: ")
    assert http.get(f"/2015-03-31/functions/{fn}/configuration").json() == before


def test_surrogate_pair_is_text(http: httpx.Client, fn: str) -> None:
    body = b'{"Name": "smile", "FunctionVersion": "1", "Description": "\\ud83d\\ude00"}'
    assert http.post(f"/2015-03-31/functions/{fn}/aliases", content=body).status_code == 201
    alias = http.get(f"/2015-03-31/functions/{fn}/aliases/smile").json()
    assert alias["Description"] == "\U0001f600"


# -- lambox's own query parameters ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/lambox/v1/logs/{fn}?offset=abc", "/lambox/v1/logs/{fn}?offset=-5",
     "/lambox/v1/events/{fn}?limit=%C2%B2", "/lambox/v1/logs/{fn}?offset=%C2%B2"],
)  # fmt: skip
def test_bad_counts_of_lambox_routes_are_client_errors(
    http: httpx.Client, fn: str, path: str
) -> None:
    status, kind, _ = error(http.get(path.format(fn=fn)))
    assert (status, kind) == (400, "InvalidParameterValueException")


# -- nulls ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"MemorySize": None}, "memorySize"),
        ({"Timeout": None}, "timeout"),
        ({"Handler": None}, "handler"),
        ({"EphemeralStorage": None}, "ephemeralStorage"),
        ({"Environment": {"Variables": None}}, "environment.variables"),
        ({"Description": "kept?", "Runtime": None}, "runtime"),
    ],
)
def test_null_member_is_refused_and_nothing_stored(
    http: httpx.Client, fn: str, body: dict[str, object], location: str
) -> None:
    before = http.get(f"/2015-03-31/functions/{fn}/configuration").json()
    got = http.put(f"/2015-03-31/functions/{fn}/configuration", content=json.dumps(body))
    assert error(got) == (
        400,
        "ValidationException",
        f"1 validation error detected: Value null at '{location}' failed to satisfy"
        " constraint: Member must not be null",
    )
    assert http.get(f"/2015-03-31/functions/{fn}/configuration").json() == before
    echo_works(http, fn)


def test_create_with_a_null_member_creates_nothing(http: httpx.Client) -> None:
    name = unique("nulled")
    body = {
        "FunctionName": name, "Runtime": "python3.11", "Role": ROLE, "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(ECHO).decode()}, "MemorySize": None,
    }  # fmt: skip
    got = http.post("/2015-03-31/functions", content=json.dumps(body))
    status, kind, message = error(got)
    assert (status, kind) == (400, "ValidationException")
    assert "Value null at 'memorySize'" in message
    assert http.get(f"/2015-03-31/functions/{name}").status_code == 404


# -- validation before look-up -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/2019-09-30/functions/bad!name/concurrency"),
        ("PUT", "/2017-10-31/functions/bad!name/concurrency"),
        ("DELETE", "/2017-10-31/functions/bad!name/concurrency"),
        ("GET", "/2019-09-30/functions/bad!name/provisioned-concurrency?Qualifier=1"),
        ("DELETE", "/2019-09-30/functions/bad!name/provisioned-concurrency?Qualifier=1"),
        ("GET", "/2019-09-30/functions/bad!name/provisioned-concurrency?List=ALL"),
        ("GET", "/2019-09-30/functions/{fn}/provisioned-concurrency?Qualifier=bad!q"),
        ("DELETE", "/2019-09-30/functions/{fn}/provisioned-concurrency?Qualifier="),
        ("GET", "/2015-03-31/functions//configuration"),
        ("DELETE", "/2017-10-31/functions//concurrency"),
    ],
)
def test_malformed_address_is_validated_before_lookup(
    http: httpx.Client, fn: str, method: str, path: str
) -> None:
    body = b'{"ReservedConcurrentExecutions": 1}' if method == "PUT" else None
    got = http.request(method, path.format(fn=fn), content=body)
    status, kind, message = error(got)
    assert (status, kind) == (400, "ValidationException"), message
    assert re.match(r"\d validation errors? detected: Value '", message), message


def test_missing_function_is_looked_up_before_the_body(http: httpx.Client) -> None:
    """Recorded: PutFunctionConcurrency of a missing function with an invalid value is 404."""
    got = http.put(
        "/2017-10-31/functions/doesnotexist/concurrency",
        content=b'{"ReservedConcurrentExecutions": -1}',
    )
    assert error(got)[:2] == (404, "ResourceNotFoundException")


def test_bogus_log_type_is_refused(http: httpx.Client, fn: str) -> None:
    got = http.post(
        f"/2015-03-31/functions/{fn}/invocations",
        content=b"{}",
        headers={"X-Amz-Log-Type": "Bogus"},
    )
    assert error(got) == (
        400,
        "ValidationException",
        "1 validation error detected: Value 'Bogus' at 'logType' failed to satisfy constraint:"
        " Member must satisfy enum value set: [None, Tail]",
    )


def test_empty_qualifier_on_invoke_is_refused(http: httpx.Client, fn: str) -> None:
    got = http.post(f"/2015-03-31/functions/{fn}/invocations?Qualifier=", content=b"{}")
    status, kind, message = error(got)
    assert (status, kind) == (400, "ValidationException")
    assert "Value '' at 'qualifier'" in message


def test_invalid_master_region_is_refused(http: httpx.Client) -> None:
    status, kind, message = error(http.get("/2015-03-31/functions/?MasterRegion=nowhere"))
    assert (status, kind) == (400, "ValidationException")
    assert "Value 'nowhere' at 'masterRegion'" in message
    assert http.get("/2015-03-31/functions/?MasterRegion=us-east-1").status_code == 200


# -- routes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/2015-03-31/functions/{fn}/aliases/", "/2015-03-31/functions/{fn}/configuration/"]
)
def test_trailing_slash_is_an_unknown_route_not_a_redirect(
    http: httpx.Client, fn: str, path: str
) -> None:
    got = http.get(path.format(fn=fn))
    assert error(got)[:2] == (404, "UnknownOperationException")


# -- throttling ----------------------------------------------------------------------------------


def test_full_machine_throttles_with_its_own_reason(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """One sandbox on the machine, no wait queue: while a slow function holds the sandbox,
    another function's cold start is throttled for the machine, not for the account (whose
    1,000 executions are nowhere near reached)."""
    srv = start_server(
        tmp_path_factory.mktemp("machine") / "data",
        {"LAMBOX_SANDBOX_LIMIT": "1", "LAMBOX_WAIT_QUEUE": "0"},
    )
    slow = make_zip(
        {"app.py": "import time\ndef handler(e, c):\n    time.sleep(5)\n    return 1\n"}
    )
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            for name, code in (("slow", slow), ("other", ECHO)):
                body = {
                    "FunctionName": name, "Runtime": "python3.11", "Role": ROLE,
                    "Handler": "app.handler", "Code": {"ZipFile": base64.b64encode(code).decode()},
                }  # fmt: skip
                assert http.post("/2015-03-31/functions", json=body).status_code == 201
            for name in ("slow", "other"):
                for _ in range(600):
                    got = http.get(f"/2015-03-31/functions/{name}").json()
                    if got["Configuration"]["State"] == "Active":
                        break
                    time.sleep(0.05)
            throttled = None
            with ThreadPoolExecutor(1) as pool:
                for _ in range(5):  # the slow call may lose the one sandbox to "other"
                    holder = pool.submit(http.post, "/2015-03-31/functions/slow/invocations")
                    while throttled is None and not holder.done():
                        got = http.post("/2015-03-31/functions/other/invocations", content=b"{}")
                        if got.status_code == 429:
                            throttled = got
                    if holder.result().status_code == 200 and throttled is not None:
                        break
                    throttled = None
            assert throttled is not None
            assert throttled.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
            assert throttled.json()["Reason"] == "SandboxLimitExceeded"
            settings = http.get("/2016-08-19/account-settings").json()
            assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    finally:
        stop_server(srv)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_numbers_are_refused_as_jackson_refuses_them(
    http: httpx.Client, fn: str, token: str
) -> None:
    """Python reads them, Jackson does not: a body AWS refuses must not publish a version."""
    versions = http.get(f"/2015-03-31/functions/{fn}/versions").json()
    got = http.post(f"/2015-03-31/functions/{fn}/versions", content=f'{{"x": {token}}}')
    assert error(got) == (
        400,
        "InvalidRequestContentException",
        f"Could not parse request body into json: Non-standard token '{token}': enable"
        " `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow",
    )
    assert http.get(f"/2015-03-31/functions/{fn}/versions").json() == versions
