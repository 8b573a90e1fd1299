"""Compare lambox's boto3 responses with responses recorded against real AWS.

The recordings (``aws-parity/*.snapshot.json``, see its README) hold boto3-parsed responses in
which every dynamic value was replaced by a placeholder: ``<function-name:1>``, ``<uuid:2>``,
``"date"``, ``<region>``, account ``111111111111``... A parity test replays the recorded calls
against lambox, runs each response through a ``Normaliser`` that makes the same replacements,
and ``assert_match`` diffs the result against the recording.

Numbered placeholders only say "the same value here as there", so they are compared as a
renaming: ``<uuid:2>`` in the recording may be lambox's ``<uuid:7>`` as long as it is so
everywhere, and two different recorded values never map to one of lambox's.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from tests.conftest import ROLE, make_zip

LAMBOX_ACCOUNT = "000000000000"
LAMBOX_REGION = "us-east-1"
LAMBOX_RUNTIME = "python3.11"
"""The one runtime installed for the parity suite; the recordings used various python3.x."""

ECHO_HANDLER = """import json


def handler(event, context):
    print(json.dumps(event))
    return event
"""
ECHO_ZIP = make_zip({"handler.py": ECHO_HANDLER})


def echo_zip(tag: str) -> bytes:
    """The echo handler with a comment naming ``tag``: a package of its own per function, as
    the recorded tests built a fresh archive for every function (their CodeSha256 differ)."""
    return make_zip({"handler.py": f"# {tag}\n{ECHO_HANDLER}"})


RECORDED_ACCOUNT = "111111111111"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PLACEHOLDER = re.compile(r"<([a-z0-9-]+):(\d+)>")
RUNTIME_VERSION = "<runtime-version>"
_RUNTIME_ARN = re.compile(r"^(arn:<partition>:lambda:<region>::runtime:)(.+)$")


# -- the recordings ----------------------------------------------------------------------------


def parity_dir() -> Path:
    """The recorded-responses folder; the test is skipped when it is not there."""
    override = os.environ.get("LAMBOX_AWS_PARITY")
    path = (
        Path(override)
        if override
        else Path(__file__).resolve().parents[2].parent / "shared" / "aws-parity"
    )
    if not (path / "index.json").is_file():
        pytest.skip(
            f"AWS parity recordings not found at {path} (set LAMBOX_AWS_PARITY to the folder"
            " holding index.json and the *.snapshot.json files)"
        )
    return path


@cache
def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def recorded(test_id: str) -> dict[str, Any]:
    """The ``recorded-content`` of one test id (a copy, free to adjust)."""
    root = parity_dir()
    info = _load(root / "index.json")["tests"].get(test_id)
    if info is None:
        raise KeyError(f"no recording for {test_id!r} in {root / 'index.json'}")
    entry = _load(root / info["file"])[test_id]
    return copy.deepcopy(entry["recorded-content"])


# -- calling lambox ----------------------------------------------------------------------------


def call(method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    """The response of a boto3 call, or the parsed error response when it fails (what the
    recordings hold for ``pytest.raises(...)`` blocks)."""
    try:
        response: dict[str, Any] = method(**kwargs)
    except ClientError as exc:
        return dict(exc.response)
    return response


def create_function(client: Any, name: str, **params: Any) -> dict[str, Any]:
    """CreateFunction with the parameters most recorded tests used (Handler
    ``handler.handler``, Timeout 30, an empty ``Environment`` and ``Tags``), answered in the
    recordings' wrapping ``{"CreateEventSourceMappingResponse": None,
    "CreateFunctionResponse": ...}``; then waits until the function is Active."""
    args: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": LAMBOX_RUNTIME,
        "Handler": "handler.handler",
        "Role": ROLE,
        "Code": {"ZipFile": echo_zip(name)},
        "Timeout": 30,
        "Environment": {"Variables": {}},
        "Tags": {},
        **params,
    }
    response = client.create_function(**args)
    wait_until_settled(client, response["FunctionName"])
    return {"CreateEventSourceMappingResponse": None, "CreateFunctionResponse": response}


def wait_until_settled(client: Any, name: str, timeout: float = 15.0) -> None:
    """Until the function is Active and no update is in progress (what the recorded tests
    waited for with boto3's ``function_active_v2``/``function_updated_v2`` waiters)."""
    deadline = time.monotonic() + timeout
    while True:
        config = client.get_function_configuration(FunctionName=name)
        if config["State"] != "Pending" and config.get("LastUpdateStatus") != "InProgress":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not settle: {config}")
        time.sleep(0.02)


# -- normalising lambox's responses --------------------------------------------------------------


class Normaliser:
    """Replaces the dynamic values of lambox responses the way the recordings did.

    One instance per test: equal values get equal placeholders across all the responses of
    the test. ``fixed`` maps a key to a constant replacement for tests whose recording used
    one (``{"CodeSha256": "code-sha256"}``); ``numbered`` maps a key to the kind of numbered
    placeholder its values get (``{"log_stream_name": "log-stream-name"}``); ``regexes`` are
    test-specific text replacements, applied before the generic ones.
    """

    def __init__(
        self,
        fixed: dict[str, str] | None = None,
        numbered: dict[str, str] | None = None,
        regexes: Iterable[tuple[str | re.Pattern[str], str]] = (),
    ) -> None:
        self.fixed = dict(fixed or {})
        self.numbered = dict(numbered or {})
        self.regexes = [(re.compile(p) if isinstance(p, str) else p, r) for p, r in regexes]
        self._names: dict[str, str] = {}
        self._seen: dict[str, dict[str, str]] = {}

    def name(self, value: str, placeholder: str | None = None) -> None:
        """Register a function name (or any literal) to replace, e.g. ``<fn-name>``."""
        if value not in self._names:
            self._names[value] = placeholder or self._number("function-name", value)

    def resource(self, value: str) -> None:
        """Register a literal numbered as the recordings number resources (``<resource:N>``,
        shared with role names), e.g. a layer's name."""
        self.name(value, self._number("resource", value))

    def __call__(self, value: Any) -> Any:
        return self._walk(value)

    # -- internals -------------------------------------------------------------------------

    def _number(self, kind: str, value: str) -> str:
        seen = self._seen.setdefault(kind, {})
        if value not in seen:
            seen[value] = f"<{kind}:{len(seen) + 1}>"
        return seen[value]

    def _walk(self, value: Any) -> Any:
        if isinstance(value, StreamingBody):
            value = value.read()
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, dict):
            if "FunctionName" in value and isinstance(value["FunctionName"], str):
                self.name(value["FunctionName"])
            return {k: self._entry(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, str):
            return self._string(value)
        return value

    def _entry(self, key: str, value: Any) -> Any:
        if key in self.fixed and value is not None:
            return self.fixed[key]
        if key in self.numbered and isinstance(value, str):
            return self._number(self.numbered[key], value)
        if key == "ResponseMetadata" and isinstance(value, dict):
            # The recordings keep the status code and empty the headers; RequestId,
            # RetryAttempts and MaxAttemptsReached are boto3 bookkeeping they leave out.
            return {"HTTPHeaders": {}, "HTTPStatusCode": value.get("HTTPStatusCode")}
        if key == "CodeSha256" and isinstance(value, str):
            return self._number("code-sha256", value)
        if key == "CodeSize" and isinstance(value, int):
            return "<code-size>"
        if key == "LastModified" and isinstance(value, str):
            return "date"
        if key == "Location" and isinstance(value, str):
            return "<location>"
        if key == "RuntimeVersionArn" and isinstance(value, str):
            return self._runtime_arn(self._string(value))
        return self._walk(value)

    def _runtime_arn(self, value: str) -> str:
        """lambox's runtime ARN ends in a digest of the runtime name, AWS's in its own id of
        the runtime build: only the ARN's shape can match (see ``as_lambox_runtime``)."""
        m = _RUNTIME_ARN.match(value)
        if m and re.fullmatch(r"[0-9a-f]{64}", m.group(2)):
            return m.group(1) + RUNTIME_VERSION
        return value

    def _string(self, text: str) -> str:
        if (text[:1], text[-1:]) in (("{", "}"), ("[", "]")):
            # The recordings hold JSON documents found in strings (invoke payloads) parsed.
            try:
                parsed = json.loads(text)
            except ValueError:
                pass
            else:
                if isinstance(parsed, dict | list):
                    return self._walk(parsed)  # type: ignore[no-any-return]
        for pattern, replacement in self.regexes:
            text = pattern.sub(replacement, text)
        text = re.sub(r"\barn:aws:", "arn:<partition>:", text)
        text = text.replace(LAMBOX_ACCOUNT, RECORDED_ACCOUNT)
        text = re.sub(rf"(?<![\w-]){re.escape(LAMBOX_REGION)}(?![\w-])", "<region>", text)
        text = re.sub(
            r"(arn:<partition>:iam::\d{12}:role/)([\w+=,.@/-]+)",
            lambda m: m.group(1) + self._number("resource", m.group(2)),
            text,
        )
        for name in sorted(self._names, key=len, reverse=True):
            text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", self._names[name], text)
        return UUID.sub(lambda m: self._number("uuid", m.group(0)), text)


# -- adjusting the recordings where lambox legitimately differs ---------------------------------


def as_lambox_runtime(content: Any) -> Any:
    """The recording as if AWS had run lambox's runtime (``LAMBOX_RUNTIME``).

    The recordings used python3.8-3.14 (chosen by the recorder, not by the behaviour under
    test); lambox's parity suite has python3.11 only. ``Runtime`` and ``AWS_EXECUTION_ENV``
    values are rewritten to it, and ``RuntimeVersionArn`` keeps its shape but loses its last
    segment (AWS's id of a runtime build, which lambox cannot reproduce; lambox's side gets
    the same treatment in ``Normaliser``).
    """
    if isinstance(content, dict):
        out: dict[str, Any] = {}
        for key, value in content.items():
            if key == "Runtime" and isinstance(value, str) and value.startswith("python3"):
                out[key] = LAMBOX_RUNTIME
            elif key == "AWS_EXECUTION_ENV" and isinstance(value, str):
                out[key] = f"AWS_Lambda_{LAMBOX_RUNTIME}"
            elif key == "RuntimeVersionArn" and isinstance(value, str):
                out[key] = _RUNTIME_ARN.sub(lambda m: m.group(1) + RUNTIME_VERSION, value)
            else:
                out[key] = as_lambox_runtime(value)
        return out
    if isinstance(content, list):
        return [as_lambox_runtime(v) for v in content]
    return content


# -- comparing --------------------------------------------------------------------------------


class _Pairing:
    """Which recorded placeholder stands for which of lambox's: a placeholder only says "the
    same value as elsewhere", so two responses match when one renaming maps every recorded
    placeholder to lambox's and back (a bijection per kind)."""

    def __init__(self) -> None:
        self.to_lambox: dict[str, str] = {}
        self.to_aws: dict[str, str] = {}

    def compare(self, expected: str, actual: str) -> str | None:
        """None when the strings match under the renaming (extending it), else why not."""
        e_parts, a_parts = PLACEHOLDER.split(expected), PLACEHOLDER.split(actual)
        if len(e_parts) != len(a_parts):
            return ""
        pairs = []
        for i in range(0, len(e_parts), 3):
            if e_parts[i] != a_parts[i]:
                return ""
            if i + 2 < len(e_parts):
                e = f"<{e_parts[i + 1]}:{e_parts[i + 2]}>"
                a = f"<{a_parts[i + 1]}:{a_parts[i + 2]}>"
                if e_parts[i + 1] != a_parts[i + 1]:
                    return ""
                pairs.append((e, a))
        for e, a in pairs:
            if self.to_lambox.get(e, a) != a:
                return f" (AWS repeats the value it had as {e} before, lambox does not)"
            if self.to_aws.get(a, e) != e:
                return f" (lambox repeats a value it gave before, where AWS had {self.to_aws[a]})"
        for e, a in pairs:
            self.to_lambox[e], self.to_aws[a] = a, e
        return None


def differences(
    expected: Any, actual: Any, path: str = "$", pairing: _Pairing | None = None
) -> list[str]:
    """Readable differences between a recording and a normalised response, one line each."""
    pairing = pairing or _Pairing()
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in expected:
            if key not in actual:
                found.append(f"{path}.{key}: missing in lambox (AWS: {_short(expected[key])})")
        for key in actual:
            if key not in expected:
                found.append(f"{path}.{key}: only in lambox ({_short(actual[key])})")
        for key in expected:
            if key in actual:
                found.extend(differences(expected[key], actual[key], f"{path}.{key}", pairing))
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        found = []
        if len(expected) != len(actual):
            found.append(f"{path}: AWS has {len(expected)} items, lambox {len(actual)}")
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            found.extend(differences(e, a, f"{path}[{i}]", pairing))
        return found
    if isinstance(expected, str) and isinstance(actual, str):
        why = pairing.compare(expected, actual)
        if why is None:
            return []
        return [f"{path}: AWS {_short(expected)} != lambox {_short(actual)}{why}"]
    if expected != actual or type(expected) is not type(actual):
        return [f"{path}: AWS {_short(expected)} != lambox {_short(actual)}"]
    return []


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def assert_match(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """Fail with every difference between a recording and lambox's normalised responses.

    ``expected`` and ``actual`` map the recordings' snapshot keys to responses; both must
    name the same keys (leave a recorded key out of ``expected`` explicitly when lambox
    cannot produce it, with the reason next to it).
    """
    assert list(expected) == list(actual), (
        f"snapshot keys differ: AWS {list(expected)} vs lambox {list(actual)}"
    )
    found = differences(as_lambox_runtime(expected), actual)
    if found:
        lines = "\n  ".join(found)
        raise AssertionError(f"lambox differs from AWS in {len(found)} place(s):\n  {lines}")


def pick(content: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Some keys of a recording, in the given order."""
    return {key: content[key] for key in keys}


# -- differences from AWS that are lambox bugs (strict xfail reasons) -----------------------------
# Each test marked with one of these fails only because of the named differences; once lambox
# is fixed the test passes and the strict mark turns it into a failure, to be removed.


def lambox_bug(*reasons: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason="lambox bug: " + " | ".join(reasons))
