"""How a FunctionName is read and checked before anything is looked up.

AWS's rules, from its API model and the parity recordings (``function-crud-and-validation``):

* every operation checks FunctionName, Qualifier and the other members against the model's
  patterns and lengths first, so a malformed name is a ValidationException, never a 404;
* a name is then read by the groups of the model's pattern (an ARN ending in ``:function``
  names the function ``function``);
* CreateFunction with another account's ARN is refused as 403 AccessDeniedException, its
  message ``null``.

The parity suite replays GetFunction, DeleteFunction, Invoke and CreateFunction; the other
read and delete operations are checked here, in process, through the real routes.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from lambox.api.management import ManagementApi
from lambox.api.releases import ReleasesApi
from lambox.api.responses import error_body, error_response
from lambox.arns import FUNCTION_NAME, Arns, FunctionRef
from lambox.control import shapes
from lambox.control.aliases import AliasService
from lambox.control.code_signing import CodeSigningService
from lambox.control.concurrency import ConcurrencyService
from lambox.control.deletion import FunctionDeletion
from lambox.control.function_settings import FunctionSettingsService
from lambox.control.functions import FunctionService
from lambox.control.runtimes import RuntimeCatalog
from lambox.control.versions import VersionService
from lambox.errors import AccessDenied, InvalidParameterValue, LamboxError, ResourceNotFound
from lambox.logs import LogSink
from lambox.store.code import CodeStore
from lambox.store.code_signing import SqliteCodeSigningStore
from lambox.store.function_settings import SqliteSettingsStore
from lambox.store.functions import SqliteFunctionStore
from lambox.watch import ChangeFeed

REGION = "us-east-1"
ACCOUNT = "000000000000"
ARNS = Arns(REGION, ACCOUNT)
FULL = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"


# -- reading a name ------------------------------------------------------------------------


def test_name_pattern_is_the_models_with_named_groups() -> None:
    model = shapes._model()["shapes"]["NamespacedFunctionName"]["pattern"]
    assert re.sub(r"\?P<\w+>", "", FUNCTION_NAME.pattern) == model


@pytest.mark.parametrize(
    ("function_name", "expected"),
    [
        ("my-fn", FunctionRef("my-fn", None, None, None)),
        ("my-fn:7", FunctionRef("my-fn", "7", None, None)),
        ("function:my-fn", FunctionRef("my-fn", None, None, None)),
        (f"{ACCOUNT}:function:my-fn:$LATEST", FunctionRef("my-fn", "$LATEST", None, ACCOUNT)),
        (f"{FULL}my-fn:live", FunctionRef("my-fn", "live", REGION, ACCOUNT)),
        # Every part but the name is optional: an ARN without a name names "function".
        (f"{FULL[:-1]}", FunctionRef("function", None, REGION, ACCOUNT)),
        (f"{ACCOUNT}:function", FunctionRef("function", None, None, ACCOUNT)),
    ],
)
def test_name_is_read_by_the_model_pattern_groups(
    function_name: str, expected: FunctionRef
) -> None:
    assert ARNS.read(function_name) == expected


def test_unreadable_name_is_not_found_and_mismatches_are_refused() -> None:
    with pytest.raises(ResourceNotFound):
        ARNS.parse("my-fn!")
    with pytest.raises(ResourceNotFound, match="not reachable in this region"):
        ARNS.parse(f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:my-fn")
    with pytest.raises(InvalidParameterValue, match="derived qualifier"):
        ARNS.parse("my-fn:1", "2")


@pytest.mark.parametrize(
    ("function_name", "foreign"),
    [
        ("my-fn", False),
        (f"{FULL}my-fn", False),
        (f"{ACCOUNT}:function:my-fn", False),
        ("123456789012:function:my-fn", True),
        (f"arn:aws:lambda:{REGION}:123456789012:function:my-fn", True),
    ],
)
def test_foreign_account(function_name: str, foreign: bool) -> None:
    assert ARNS.foreign_account(function_name) is foreign


def test_access_denied_without_message_says_null() -> None:
    assert error_body(AccessDenied()) == {"Message": None}
    assert error_body(AccessDenied("no")) == {"Message": "no"}


# -- the routes ----------------------------------------------------------------------------


def _app(data: Path) -> Starlette:
    store = SqliteFunctionStore(data / "state.db")
    code = CodeStore(data / "code")
    feed = ChangeFeed()
    functions = FunctionService(store, code, feed, RuntimeCatalog({}), ARNS)
    versions = VersionService(store, feed, functions, ARNS)
    concurrency = ConcurrencyService(store, feed, functions, ARNS, 1000)
    aliases = AliasService(store, feed, functions, concurrency, ARNS)
    logs = LogSink(data / "logs", 1 << 20)
    settings_store = SqliteSettingsStore(data / "state.db")
    settings = FunctionSettingsService(settings_store, functions, ARNS)
    signing = CodeSigningService(
        SqliteCodeSigningStore(data / "state.db"), settings_store, functions, ARNS
    )
    deletion = FunctionDeletion(functions, versions, settings, ARNS, logs.delete)
    management = ManagementApi(
        functions, versions, concurrency, code, logs, ARNS, "http://x", settings,
        deletion=deletion, code_signing=signing,
    )  # fmt: skip

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LamboxError)
        return error_response(exc)

    return Starlette(
        routes=[*management.routes(), *ReleasesApi(versions, aliases, ARNS).routes()],
        exception_handlers={LamboxError: handle},
    )


def _request(data: Path, method: str, path: str, body: Any = None) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app(data))
        async with httpx.AsyncClient(transport=transport, base_url="http://lambox") as client:
            return await client.request(method, path, json=body)

    return asyncio.run(main())


FN = "/2015-03-31/functions"
BAD_NAME = "my-function%21"  # "my-function!"
NAME_ERROR = "1 validation error detected: Value 'my-function!' at 'functionName' failed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{FN}/{BAD_NAME}"),
        ("GET", f"{FN}/{BAD_NAME}/configuration"),
        ("DELETE", f"{FN}/{BAD_NAME}"),
        ("GET", f"{FN}/{BAD_NAME}/versions"),
        ("GET", f"{FN}/{BAD_NAME}/aliases"),
        ("GET", f"{FN}/{BAD_NAME}/aliases/live"),
        ("DELETE", f"{FN}/{BAD_NAME}/aliases/live"),
    ],
)
def test_malformed_function_name_is_a_validation_error_before_any_lookup(
    tmp_path: Path, method: str, path: str
) -> None:
    response = _request(tmp_path, method, path)
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert response.json()["message"].startswith(NAME_ERROR)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            f"{FN}/my-function/configuration?Qualifier={'a' * 129}",
            f"Value '{'a' * 129}' at 'qualifier' failed to satisfy constraint: Member must have"
            " length less than or equal to 128",
        ),
        (
            f"{FN}/my-function/aliases/2024",
            "Value '2024' at 'name' failed to satisfy constraint: Member must satisfy regular"
            " expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
        ),
        (
            f"{FN}/my-function/versions?MaxItems=0",
            "Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater"
            " than or equal to 1",
        ),
    ],
)
def test_other_members_are_validated_too(tmp_path: Path, path: str, message: str) -> None:
    response = _request(tmp_path, "GET", path)
    assert response.status_code == 400
    assert response.json()["message"] == f"1 validation error detected: {message}"


def test_arn_without_a_name_is_not_found_under_the_name_function(tmp_path: Path) -> None:
    response = _request(tmp_path, "GET", f"{FN}/{quote(FULL[:-1], safe='')}/configuration")
    assert response.status_code == 404
    assert response.json()["Message"] == f"Function not found: {FULL}function"


def test_create_function_in_another_account_is_access_denied(tmp_path: Path) -> None:
    body = {
        "FunctionName": "123456789012:function:my-function",
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::000000000000:role/lambda-role",
        "Handler": "handler.handler",
        "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
    }
    response = _request(tmp_path, "POST", FN, body)
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == "AccessDeniedException"
    assert response.json() == {"Message": None}
