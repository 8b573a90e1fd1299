"""SnapStart runtime hooks, as Lambda's Python runtimes provide them.

Functions import this module by its public name, ``snapshot_restore_py``; lambox puts its
directory last on a Python sandbox's ``sys.path``, so a copy the function bundles (the
package of that name on PyPI) is the one found first, and the runtime then runs the hooks
registered with that copy.

``register_before_snapshot(func, *args, **kwargs)`` and ``register_after_restore(...)``
return ``func`` and so also work as decorators. Before the snapshot is taken the runtime
runs the before-snapshot hooks last registered first; in every restored sandbox it runs
the after-restore hooks in the order they were registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_before_snapshot: list[Hook] = []
_after_restore: list[Hook] = []


def register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``func(*args, **kwargs)`` once, before the snapshot of the initialized function."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``func(*args, **kwargs)`` in each sandbox restored from the snapshot."""
    _after_restore.append((func, args, kwargs))
    return func


def get_before_snapshot() -> list[Hook]:
    """The before-snapshot hooks, in registration order (the runtime pops from the end)."""
    return _before_snapshot


def get_after_restore() -> list[Hook]:
    """The after-restore hooks, in registration order."""
    return _after_restore
