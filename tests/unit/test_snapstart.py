"""SnapStart pieces that need no server: the hooks module and the runtime's hook runner."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator

import pytest

from lambox.runtime import snapstart
from lambox.runtime.bootstrap import exception_error


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """lambox's own ``snapshot_restore_py``, freshly imported, as a function would see it."""
    monkeypatch.syspath_prepend(snapstart.HOOKS_DIR)
    monkeypatch.delitem(sys.modules, snapstart.HOOKS_MODULE, raising=False)
    module = importlib.import_module(snapstart.HOOKS_MODULE)
    assert module.__file__ is not None and module.__file__.startswith(snapstart.HOOKS_DIR)
    yield module
    sys.modules.pop(snapstart.HOOKS_MODULE, None)


def test_before_snapshot_runs_last_registered_first_once(hooks: object) -> None:
    calls: list[str] = []
    register = hooks.register_before_snapshot  # type: ignore[attr-defined]

    @register
    def first() -> None:
        calls.append("first")

    register(lambda tag, *, n: calls.append(f"{tag}{n}"), "second", n=2)
    assert first.__name__ == "first"  # the decorator hands the function back
    snapstart.run_before_snapshot()
    snapstart.run_before_snapshot()
    assert calls == ["second2", "first"]


def test_after_restore_runs_in_registration_order_every_time(hooks: object) -> None:
    calls: list[int] = []
    register = hooks.register_after_restore  # type: ignore[attr-defined]
    for i in range(3):
        register(calls.append, i)
    snapstart.run_after_restore()
    snapstart.run_after_restore()
    assert calls == [0, 1, 2, 0, 1, 2]


def test_no_hooks_module_imported_means_nothing_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, snapstart.HOOKS_MODULE, raising=False)
    snapstart.run_before_snapshot()
    snapstart.run_after_restore()


def test_a_failing_hook_is_the_functions_error(hooks: object) -> None:
    def broken() -> None:
        raise ValueError("no database")

    hooks.register_after_restore(broken)  # type: ignore[attr-defined]
    ms, error = snapstart.timed(snapstart.run_after_restore, exception_error)
    assert ms >= 0
    assert error is not None
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "no database")


def test_expose_hooks_puts_lambox_module_last() -> None:
    before = list(sys.path)
    try:
        snapstart.expose_hooks()
        snapstart.expose_hooks()
        assert sys.path[-1] == snapstart.HOOKS_DIR
        assert sys.path.count(snapstart.HOOKS_DIR) == 1
    finally:
        sys.path[:] = before
