"""What a zygote builds once for all its sandboxes (its emptied environment, the logging
handler, streams, decoders, the runtime's sys.path) never shows: functions that share one
version zygote each see exactly their own environment, in os.environ, os.environb and the C
environment, the sys.path a sandbox of the base zygote sees, and the log level and format of
their own configuration."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.adversarial.test_zygotes import learn_zygote
from tests.conftest import ROLE, LamboxServer, make_zip, unique

CODE = """
import ctypes, logging, os, sys
PRELOADED = "colorsys" in sys.modules  # True when forked from this code's own zygote
import colorsys
MARK = {mark!r}


def _c_environ():
    entries = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
    found, i = [], 0
    while entries[i] is not None:
        found.append(entries[i].decode())
        i += 1
    return sorted(found)


def handler(event, context):
    log = logging.getLogger("setup")
    log.debug("debug line")
    log.info("info line")
    log.warning("warn line")
    print("plain line")
    root = logging.getLogger()
    return {{
        "preloaded": PRELOADED,
        "environ": dict(os.environ),
        "environb": {{k.decode(): v.decode() for k, v in os.environb.items()}},
        "c_environ": _c_environ(),
        "path": sys.path,
        "level": root.level,
        "handlers": [type(h).__name__ for h in root.handlers],
        "formatter": [type(h.formatter).__name__ for h in root.handlers],
        "stdout": sys.stdout is sys.__stdout__ and sys.stderr is sys.__stderr__,
        "utc": logging.Formatter.converter.__name__,
        "function": context.function_name,
    }}
"""


def invoke(client: Any, name: str, hold: float = 0.0) -> tuple[dict[str, Any], str]:
    out = client.invoke(
        FunctionName=name, LogType="Tail", Payload=json.dumps({"hold": hold}).encode()
    )
    assert "FunctionError" not in out, out["Payload"].read()
    return json.loads(out["Payload"].read()), base64.b64decode(out["LogResult"]).decode()


@pytest.fixture(scope="module")
def functions(lambda_client: Any, server: LamboxServer) -> dict[str, str]:
    """Three functions with the same new code, so one version zygote, each with its own
    variables and logging configuration; the zygote learned from the first."""
    code = make_zip({"app.py": CODE.format(mark=unique("mark"))})
    configs: dict[str, dict[str, Any]] = {
        "plain": {"Environment": {"Variables": {"ONLY_PLAIN": "p", "SHARED": "plain"}}},
        "json": {
            "Environment": {"Variables": {"ONLY_JSON": "j", "SHARED": "json"}},
            "LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"},
        },
        "text": {"Environment": {"Variables": {"SHARED": "text", "LANG": "xx"}}},
    }
    names = {}
    for role, config in configs.items():
        name = unique(f"setup-{role}")
        lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": code},
            **config,
        )
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
        names[role] = name
    location = lambda_client.get_function(FunctionName=names["plain"])["Code"]["Location"]
    learn_zygote(lambda_client, server, names["plain"], location.rsplit("/", 1)[1][:-4])
    yield names
    for name in names.values():
        lambda_client.delete_function(FunctionName=name)


def test_each_function_sees_exactly_its_own_environment(
    lambda_client: Any, functions: dict[str, str]
) -> None:
    first, _ = invoke(lambda_client, functions["plain"])  # the base zygote's sandbox
    assert first["preloaded"] is False
    seen = {role: invoke(lambda_client, name)[0] for role, name in functions.items()}
    for role in ("json", "text"):
        assert seen[role]["preloaded"] is True, role  # forked from the version zygote
    logging_config = {"AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_LOG_FORMAT"}
    own = {
        "plain": {"ONLY_PLAIN", "SHARED"},
        "json": {"ONLY_JSON", "SHARED", *logging_config},
        "text": {"SHARED"},
    }
    common = set(first["environ"]) - own["plain"]
    for role, answer in seen.items():
        env = answer["environ"]
        assert set(env) - own[role] - {"LANG"} == common - {"LANG"}, role
        assert not [k for k in env if k.startswith("LAMBOX_")], role
        assert env["SHARED"] == role
        assert answer["environb"] == env, role
        assert answer["c_environ"] == sorted(f"{k}={v}" for k, v in env.items()), role
        assert answer["function"] == functions[role]
    assert seen["text"]["environ"]["LANG"] == "xx"
    assert seen["json"]["environ"].get("LANG") == first["environ"].get("LANG")  # not C.UTF-8


def test_sys_path_and_stdio_are_the_base_zygotes(
    lambda_client: Any, functions: dict[str, str]
) -> None:
    first, _ = invoke(lambda_client, functions["plain"])
    with ThreadPoolExecutor(2) as pool:  # the second needs a sandbox of its own
        answers = list(pool.map(lambda _: invoke(lambda_client, functions["plain"], 0.5), [0, 1]))
    for answer, _ in answers:
        assert answer["path"] == first["path"]
        assert answer["path"][0] == "/var/task"
        assert answer["stdout"] is True
        assert answer["utc"] == "gmtime"


def test_log_format_and_level_are_each_functions_own(
    lambda_client: Any, functions: dict[str, str]
) -> None:
    as_json, json_log = invoke(lambda_client, functions["json"])
    as_text, text_log = invoke(lambda_client, functions["text"])
    assert as_json["preloaded"] is True and as_text["preloaded"] is True
    assert as_json["handlers"] == as_text["handlers"] == ["LambdaHandler"]
    assert as_json["formatter"] == ["JsonFormatter"]
    assert as_text["formatter"] == ["Formatter"]
    assert as_json["level"] == 10  # DEBUG, as configured
    assert as_text["level"] == 30  # the interpreter's WARNING
    records = [json.loads(line) for line in json_log.splitlines() if line.startswith("{")]
    messages = {r.get("message"): r.get("level") for r in records}
    assert messages.get("debug line") == "DEBUG" and messages.get("warn line") == "WARNING"
    assert "[WARNING]\t" in text_log and "\twarn line" in text_log
    assert "info line" not in text_log and "debug line" not in text_log
    assert "plain line" in text_log and "plain line" in json_log
