"""A hostile client against every route of the Lambda API: no 5xx, and no function broken.

Every request carries at least one thing AWS refuses (a null member, a wrong type, JSON
nested past any parser's patience, an escaped lone surrogate, a mangled path or query), or is
a harmless read or invocation. The operations and their members come from botocore's model of
the Lambda API, so the fuzz follows the model as it grows. The generator is seeded and
bounded: the same few thousand requests every run.

After the fuzz the functions it aimed at must be exactly as they were (nothing stored by a
refused request) and still invoke.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import botocore.session
import httpx
import pytest

from tests.conftest import ROLE, LamboxServer, make_zip, unique

SEED = 20_261_207
REQUESTS = 3_000
ECHO = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
ZIP_B64 = __import__("base64").b64encode(ECHO).decode()

DEEP = 2_000
"""Deeper than Python's recursion limit and than Jackson's 1,000."""

LONE_SURROGATE = '"\\udc80"'
"""A JSON string escaping half a surrogate pair, as raw JSON text."""


@dataclass(frozen=True)
class Target:
    """The function the fuzz aims at, with a published version and an alias on it."""

    name: str
    arn: str


@dataclass(frozen=True)
class Shot:
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]


def model() -> Any:
    return botocore.session.get_session().get_service_model("lambda")


def _hostile_values(shape: Any, rnd: random.Random) -> list[str]:
    """Raw JSON texts a member of ``shape`` must be refused for: null, a wrong type, deep
    nesting, a lone surrogate (where the shape is text)."""
    kind = shape.type_name
    deep_list = "[" * DEEP + "]" * DEEP
    deep_object = '{"a":' * DEEP + "1" + "}" * DEEP
    values = ["null", deep_list, deep_object]
    wrong = {
        "string": ["1", "true", "[]", "{}", "1.5", '["x"]'],
        "integer": ['"x"', "true", "[]", "{}", "1.5"],
        "long": ['"x"', "true", "[]", "{}", "1.5"],
        "double": ['"x"', "true", "[]", "{}"],
        "float": ['"x"', "true", "[]", "{}"],
        "boolean": ['"x"', "1", "[]", "{}"],
        "structure": ['"x"', "1", "[]", "true", LONE_SURROGATE],
        "list": ['"x"', "1", "{}", "true", "[" * 900 + "]" * 900, f"[{LONE_SURROGATE}]"],
        "map": ['"x"', "1", "[]", "true", f"{{{LONE_SURROGATE}: {LONE_SURROGATE}}}"],
        "blob": ["1", "true", "[]", "{}"],
        "timestamp": [],
    }
    values += wrong.get(kind, [])
    if kind in ("integer", "long") and "max" in shape.metadata:
        values.append(str(shape.metadata["max"] + 1))
    if kind == "string":
        values += [LONE_SURROGATE, '"a\\ud800b"', '"\\udfff\\ud800"']
    return values


def _body_paths(shape: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every body member of an input shape, nested structures included."""
    for name, member in shape.members.items():
        if member.serialization.get("location"):
            continue
        path = (*prefix, name)
        yield path, member
        if member.type_name == "structure" and len(path) < 4:
            yield from _body_paths(member, path)


def _base_body(operation: str, target: Target) -> dict[str, Any]:
    """A body that would be valid, so that the one hostile member is what gets refused."""
    bases: dict[str, dict[str, Any]] = {
        "CreateFunction": {
            "FunctionName": unique("fuzz-new"),
            "Runtime": "python3.11",
            "Role": ROLE,
            "Handler": "app.handler",
            "Code": {"ZipFile": ZIP_B64},
        },
        "UpdateFunctionConfiguration": {"Description": "fuzzed", "Timeout": 5},
        "UpdateFunctionCode": {"ZipFile": ZIP_B64},
        "CreateAlias": {"Name": "fuzzalias", "FunctionVersion": "1"},
        "UpdateAlias": {"FunctionVersion": "1"},
        "PutFunctionConcurrency": {"ReservedConcurrentExecutions": 0},
        "PutProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 1},
        "PutFunctionEventInvokeConfig": {"MaximumRetryAttempts": 0},
        "UpdateFunctionEventInvokeConfig": {"MaximumRetryAttempts": 0},
        "TagResource": {"Tags": {"fuzz": "yes"}},
        "PublishVersion": {"Description": "fuzzed"},
    }
    return json.loads(json.dumps(bases.get(operation, {})))


def _with_member(base: dict[str, Any], path: tuple[str, ...], raw: str) -> bytes:
    """The JSON text of ``base`` with the member at ``path`` replaced by raw JSON ``raw``."""
    marker = "\u0000fuzz\u0000"
    node = base
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = marker
    return json.dumps(base).replace(json.dumps(marker), raw).encode()


NAME_TRICKS = [
    "", "%2F", "..", "a%2F..%2Fb", "%00", "%ff", "%ED%B2%80", "x" * 200, "%C3%A9", "a%20b",
    "arn:aws:lambda:us-east-1:000000000000:function", "arn:aws:lambda:::function:x",
    "{name}:", ":", "{name}::", "{name}:$LATEST", "{name}:%24LATEST", "{name}:live:1",
    "{name}%3Alive", "{name}/", "{name}%2Fx", "000000000000:function:{name}:1", "{arn}:9999",
    "{name}:" + "q" * 130, "arn:aws:lambda:eu-west-1:999999999999:function:{name}",
]  # fmt: skip

QUERY_TRICKS = [
    "Qualifier=", "Qualifier=%00", "Qualifier=" + "q" * 200, "Qualifier=%24LATEST",
    "Qualifier=1", "Qualifier=live", "Qualifier=%ED%B2%80", "MaxItems=abc", "MaxItems=-1",
    "MaxItems=99999999999999999999", "MaxItems=%C2%B2", "MaxItems=0", "Marker=%%%",
    "Marker=====", "Marker=%ff", "FunctionVersion=BOGUS", "MasterRegion=nowhere",
    "MasterRegion=us-east-1", "List=ALL", "List=NONE", "tagKeys=", "tagKeys=%00",
    "offset=abc", "offset=-5", "offset=%C2%B2", "offset=99999999999999999999", "limit=%C2%B2",
    "limit=-1", "limit=abc", "limit=99999999999999999999", "find=LayerVersion&Arn=x",
]  # fmt: skip

INVOKE_HEADERS = [
    {}, {"X-Amz-Log-Type": "Bogus"}, {"X-Amz-Log-Type": "Tail"}, {"X-Amz-Log-Type": ""},
    {"X-Amz-Invocation-Type": "Bogus"}, {"X-Amz-Invocation-Type": "DryRun"},
    {"X-Amz-Client-Context": "%%%"}, {"X-Amz-Client-Context": "bnVsbA=="},
    {"X-Amz-Client-Context": "W10="}, {"X-Amz-Client-Context": "x" * 5000},
]  # fmt: skip

PAYLOADS = [
    b"", b"{}", b"[]", b"null", b"1", b'"x"', LONE_SURROGATE.encode(), b"[" * DEEP + b"]" * DEEP,
    b'{"a":' * DEEP + b"1" + b"}" * DEEP, b"[" * 100_000 + b"]" * 100_000,
    b"[" * DEEP + b"]" * (DEEP - 1), b"[" * DEEP, b"\x87", b"{\xed\xb2\x80}", b"{,}",
]  # fmt: skip

FUNCTION_URIS = (
    "/2015-03-31/functions", "/2017-10-31/functions", "/2019-09-30/functions",
    "/2019-09-25/functions", "/2017-03-31/tags", "/2016-08-19",
)  # fmt: skip

LAMBOX_ROUTES = [
    ("GET", "/lambox/v1/logs/{name}"),
    ("GET", "/lambox/v1/events/{name}"),
    ("POST", "/lambox/v1/events/{name}/redrive"),
    ("GET", "/lambox/v1/code/{name}.zip"),
    ("GET", "/lambox/v1/health"),
]


class Fuzzer:
    """Draws the requests; ``target`` exists, anything else it names must not."""

    def __init__(self, target: Target, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.target = target
        service = model()
        self.operations = [service.operation_model(n) for n in service.operation_names]
        # The function-centred operations (the ones lambox serves) drawn four times as often.
        self.weighted = [
            op
            for op in self.operations
            for _ in range(4 if op.http["requestUri"].startswith(FUNCTION_URIS) else 1)
        ]

    def name(self, destructive: bool) -> str:
        """A FunctionName path segment: the target (never for a destructive call), a name
        that does not exist, or a mangled one."""
        rnd = self.rnd
        choice = rnd.random()
        if choice < 0.45 and not destructive:
            return quote(rnd.choice([self.target.name, self.target.arn, f"{self.target.name}:1"]))
        if choice < 0.6:
            return unique("fuzz-missing")
        trick = rnd.choice(NAME_TRICKS)
        name = self.target.name if not destructive else "fuzz-none"
        return trick.replace("{name}", name).replace("{arn}", self.target.arn)

    def shot(self) -> Shot:
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.12:
            return self._invoke()
        if roll < 0.17:
            method, template = rnd.choice(LAMBOX_ROUTES)
            path = template.replace("{name}", self.name(method != "GET"))
            return Shot(method, self._query(path, 0.7), None, {})
        operation = rnd.choice(self.weighted)
        method = operation.http["method"]
        uri = operation.http["requestUri"]
        paths = list(_body_paths(operation.input_shape)) if operation.input_shape else []
        # A non-GET call is only aimed at the target with a body AWS must refuse.
        destructive = method != "GET" and not paths
        path = uri.split("?")[0]
        for label in ("{FunctionName}", "{Resource}"):
            name = self.name(destructive)
            if label == "{Resource}" and ":" not in name and rnd.random() < 0.7:
                name = quote(f"{self.target.arn}" if not destructive else "fuzz-none")
            path = path.replace(label, name)
        for label in ("{Name}", "{StatementId}", "{LayerName}", "{VersionNumber}", "{UUID}"):
            path = path.replace(label, rnd.choice(["live", "1", "", "%00", "x" * 200, "a%2Fb"]))
        for label in ("{CodeSigningConfigArn}", "{DurableExecutionArn}", "{CallbackId}"):
            path = path.replace(label, rnd.choice(["x", "", "%ff"]))
        path = path.replace("{CapacityProviderName}", "x").replace("{ResourceArn}", "x")
        if "?" in uri:
            path += "?" + uri.split("?", 1)[1]
        if rnd.random() < 0.08:
            path += "/"
        path = self._query(path, 0.35)
        body = None
        if method != "GET":
            body = self._body(operation, paths)
        return Shot(method, path, body, {"Content-Type": "application/json"})

    def _query(self, path: str, chance: float) -> str:
        if self.rnd.random() >= chance:
            return path
        joiner = "&" if "?" in path else "?"
        return f"{path}{joiner}{self.rnd.choice(QUERY_TRICKS)}"

    def _body(self, operation: Any, paths: list[tuple[tuple[str, ...], Any]]) -> bytes:
        rnd = self.rnd
        if not paths or rnd.random() < 0.1:
            return rnd.choice(
                [
                    b"[" * DEEP + b"]" * DEEP,
                    b"[" * DEEP,
                    b"null",
                    b"[]",
                    b'"x"',
                    b"{" + LONE_SURROGATE.encode() + b": 1}",
                    b"{\xed\xb2\x80",
                    b"\xff\xfe",
                    b"{",
                    b'{"a": NaN}' if paths else b"{}",
                ]
            )
        member_path, shape = rnd.choice(paths)
        raw = rnd.choice(_hostile_values(shape, rnd))
        return _with_member(_base_body(operation.name, self.target), member_path, raw)

    def _invoke(self) -> Shot:
        rnd = self.rnd
        name = self.name(False)
        path = f"/2015-03-31/functions/{name}/invocations"
        if rnd.random() < 0.3:
            path += "?" + rnd.choice(
                ["Qualifier=", "Qualifier=1", "Qualifier=live", "Qualifier=%00"]
            )
        headers = dict(rnd.choice(INVOKE_HEADERS))
        return Shot("POST", path, rnd.choice(PAYLOADS), headers)


@pytest.fixture(scope="module")
def target(lambda_client) -> Target:  # type: ignore[no-untyped-def]
    name = unique("fuzz")
    created = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": ECHO},
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    lambda_client.publish_version(FunctionName=name)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return Target(name, created["FunctionArn"])


def _state(client: httpx.Client, target: Target) -> list[Any]:
    """What a refused request must not change: the configuration of every qualifier, the
    aliases, tags, concurrency and event-invoke settings of the target."""
    fn = f"/2015-03-31/functions/{target.name}"
    reads = [
        f"{fn}/configuration",
        f"{fn}/configuration?Qualifier=1",
        f"{fn}/aliases",
        f"{fn}/versions",
        f"/2017-03-31/tags/{quote(target.arn)}",
        f"/2019-09-30/functions/{target.name}/concurrency",
        f"/2019-09-25/functions/{target.name}/event-invoke-config/list",
        f"/2019-09-30/functions/{target.name}/provisioned-concurrency?List=ALL",
    ]
    return [(path, client.get(path).json()) for path in reads]


def test_hostile_requests_get_no_5xx_and_break_no_function(
    server: LamboxServer, target: Target
) -> None:
    fuzzer = Fuzzer(target, SEED)
    failures: list[str] = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        before = _state(client, target)
        last = Shot("GET", "", None, {})
        for _ in range(REQUESTS):
            shot = fuzzer.shot()
            try:
                response = client.request(
                    shot.method, shot.path, content=shot.body, headers=shot.headers
                )
            except httpx.TransportError as exc:
                failures.append(f"no answer ({exc!r}) <- {_where(shot)} after {_where(last)}")
                continue
            finally:
                last = shot
            problem = _problem(shot, response)
            if problem:
                failures.append(problem)
        after = _state(client, target)
        names = [f["FunctionName"] for f in client.get("/2015-03-31/functions").json()["Functions"]]
        for qualifier in ("", "?Qualifier=1", "?Qualifier=live"):
            invoked = client.post(
                f"/2015-03-31/functions/{target.name}/invocations{qualifier}",
                content=b'{"still": "here"}',
            )
            assert invoked.status_code == 200, invoked.text
            assert "x-amz-function-error" not in invoked.headers, invoked.text
            assert invoked.json() == {"still": "here"}
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:40])
    assert after == before
    assert not [n for n in names if n.startswith("fuzz-new")]


def _raw_body(operation: Any) -> bool:
    """Whether the body is the payload itself (Invoke and its kin), not JSON of members."""
    payload = operation.input_shape.serialization.get("payload")
    return bool(payload) and operation.input_shape.members[payload].type_name == "blob"


def test_null_for_every_body_member_of_every_operation_is_refused(
    server: LamboxServer, target: Target
) -> None:
    """Not sampled: each body member of each operation of the model, at every depth, sent as
    null on its own in an otherwise valid body, aimed at the target. Operations lambox does
    not implement answer UnknownOperation; the others must refuse with a 400."""
    implemented = set()
    refused: list[str] = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        before = _state(client, target)
        for operation in Fuzzer(target, SEED).operations:
            if operation.input_shape is None or _raw_body(operation):
                continue
            uri = operation.http["requestUri"].split("?")[0]
            path = uri.replace("{FunctionName}", target.name)
            path = path.replace("{Resource}", quote(target.arn)).replace("{Name}", "live")
            query = "?Qualifier=live" if "Qualifier" in operation.input_shape.members else ""
            for member_path, _ in _body_paths(operation.input_shape):
                body = _with_member(_base_body(operation.name, target), member_path, "null")
                got = client.request(operation.http["method"], path + query, content=body)
                if got.headers.get("x-amzn-errortype") == "UnknownOperationException":
                    continue
                implemented.add(operation.name)
                if got.status_code != 400:
                    refused.append(f"{got.status_code} {operation.name} {member_path}: {got.text}")
        after = _state(client, target)
    assert implemented >= {"CreateFunction", "UpdateFunctionConfiguration", "CreateAlias"}
    assert not refused, "\n".join(refused[:40])
    assert after == before


def _problem(shot: Shot, response: httpx.Response) -> str | None:
    """What is wrong with an answer: a 5xx, a redirect, or an error not in AWS's shape."""
    where = _where(shot)
    status = response.status_code
    if status >= 500 or 300 <= status < 400:
        return f"{status} {response.text[:200]} <- {where}"
    if status >= 400:
        if "x-amzn-errortype" not in response.headers:
            return f"{status} without x-amzn-ErrorType <- {where}"
        try:
            json.loads(response.content)
        except ValueError:
            return f"{status} body is not JSON: {response.text[:100]} <- {where}"
    return None


def _where(shot: Shot) -> str:
    return f"{shot.method} {shot.path[:120]} body={(shot.body or b'')[:80]!r} {shot.headers}"
