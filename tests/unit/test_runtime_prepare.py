"""What a zygote builds once for its sandboxes (``bootstrap.prepare``) gives a sandbox
exactly what building it there gave, taken once and only where it fits."""

from __future__ import annotations

import os
from pathlib import Path

from lambox.runtime import bootstrap
from tests.unit.fresh_interpreter import run


def test_runtime_path_remembered_drops_each_callers_working_directory(tmp_path: Path) -> None:
    path = [str(tmp_path), "", os.path.dirname(os.__file__)]
    before = os.getcwd()
    try:
        first = bootstrap.runtime_path(path)
        os.chdir(tmp_path)
        second = bootstrap.runtime_path(path)  # the same inputs: remembered, cwd applied
    finally:
        os.chdir(before)
    assert first == [str(tmp_path), os.path.dirname(os.__file__)]
    assert second == [os.path.dirname(os.__file__)]
    assert bootstrap.runtime_path(path) == first and bootstrap.runtime_path(path) is not first


def test_prepared_objects_are_taken_once_and_only_where_they_fit() -> None:
    answer = run(
        """
        import json, logging
        from lambox.runtime import bootstrap, logs
        bootstrap.prepare()
        decoders = bootstrap._ready["decoders"][:]
        made = [bootstrap.make_decoder(), bootstrap.make_decoder(), bootstrap.make_decoder()]
        ready = logs._ready["handler"]
        as_json = logs.install_logging(None, "JSON")
        again = logs.install_logging("INFO", "Text")
        print(json.dumps({
            "decoders": [m is d for m, d in zip(made, reversed(decoders))] + [made[2] in decoders],
            "decoded": made[2]('{"a": [1, 2]}'),
            "json": [as_json is ready, type(as_json.formatter).__name__],
            "text": [again is ready, type(again.formatter).__name__, again.request_id],
            "marshal": [bootstrap.make_marshal({})({"x": "\\u00e9"}).decode(),
                        bootstrap.make_marshal({})({"x": "\\u00e9"}).decode(),
                        bootstrap.make_marshal(
                            {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"})({"x": "\\u00e9"}
                        ).decode()],
            "handlers": len(logging.getLogger().handlers),
            "converter": logging.Formatter.converter.__name__,
        }))
        """
    )
    assert answer == {
        "decoders": [True, True, False],
        "decoded": {"a": [1, 2]},
        "json": [False, "JsonFormatter"],
        "text": [False, "Formatter", ""],  # the JSON call took (and dropped) the prepared one
        "marshal": ['{"x": "\\u00e9"}', '{"x": "\\u00e9"}', '{"x": "\u00e9"}'],
        "handlers": 2,
        "converter": "gmtime",
    }


def test_a_prepared_text_handler_is_the_one_installed() -> None:
    answer = run(
        """
        import json, logging
        from lambox.runtime import logs
        logs.prepare()
        ready = logs._ready["handler"]
        installed = logs.install_logging("DEBUG", None)
        print(json.dumps([installed is ready, logging.getLogger().level,
                          logging.getLogger().handlers == [ready], "handler" in logs._ready]))
        """
    )
    assert answer == [True, 10, True, False]


def test_a_zygote_without_stdout_prepares_all_but_the_streams() -> None:
    """A server started with fds 1 and 2 closed gives its zygotes none: they still start,
    and their sandboxes build the streams behind their own log as before."""
    answer = run(
        """
        import json, os
        from lambox.runtime import bootstrap, logs
        saved = os.dup(1)
        os.close(1)
        os.close(2)
        bootstrap.prepare()
        os.dup2(saved, 1)
        print(json.dumps([sorted(logs._ready), sorted(bootstrap._ready)]))
        """
    )
    assert answer == [["handler"], ["decoders", "marshal-True"]]
