"""``Deferred``: an object built by its first ``get`` and only then, once, whichever thread
asks first."""

from __future__ import annotations

import threading
import time

from lambox.deferred import Deferred


def test_nothing_is_built_before_it_is_asked_for() -> None:
    calls: list[int] = []
    deferred = Deferred(lambda: calls.append(1) or "built")
    assert not deferred.built and calls == []
    assert deferred.get() == "built"
    assert deferred.get() == "built"
    assert deferred.built and calls == [1]


def test_a_built_none_is_built() -> None:
    calls: list[int] = []
    deferred: Deferred[None] = Deferred(lambda: calls.append(1))
    assert deferred.get() is None and deferred.get() is None
    assert calls == [1]


def test_threads_asking_at_once_share_one_build() -> None:
    calls: list[int] = []

    def build() -> object:
        calls.append(1)
        time.sleep(0.05)  # the others arrive while this one builds
        return object()

    deferred = Deferred(build)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(deferred.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1]
    assert len(got) == 8 and all(g is got[0] for g in got)
