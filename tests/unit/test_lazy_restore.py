"""Start-up hands no function to the data plane; its first invocation does.

With 10,000 functions, publishing every version at start-up was most of the time before
the first answer. The control plane, the change feed and the invoke service are wired
here as ``server.py`` wires them, with the fake sandbox backend.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lambox.arns import Arns
from lambox.control.functions import FunctionService
from lambox.control.runtimes import RuntimeCatalog
from lambox.errors import ResourceNotFound
from lambox.invoke.service import InvokeService
from lambox.logs import LogSink
from lambox.model import FunctionVersion
from lambox.sandbox.fake import FakeSandboxFactory
from lambox.scheduler.pools import Scheduler
from lambox.store.code import CodeStore
from lambox.store.events import SqliteEventQueue
from lambox.store.functions import SqliteFunctionStore
from lambox.watch import Change, ChangeFeed
from tests.conftest import ROLE, make_zip


def test_restore_publishes_nothing_until_a_function_is_invoked(tmp_path: Path) -> None:
    async def main() -> None:
        arns = Arns("us-east-1", "000000000000")
        code = CodeStore(tmp_path / "code")
        store = SqliteFunctionStore(tmp_path / "state.db")
        first = FunctionService(store, code, ChangeFeed(), RuntimeCatalog({}), arns)
        for name in ("a", "b", "c"):
            await first.create(
                {
                    "FunctionName": name,
                    "Runtime": "python3.11",
                    "Handler": "app.handler",
                    "Role": ROLE,
                    "Code": {"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})},
                }
            )
        await asyncio.sleep(0.1)  # creations settle to Active

        # A restart: a new feed and data plane over the same store.
        feed = ChangeFeed()
        seen: list[Change] = []
        feed.subscribe(seen.append)
        functions = FunctionService(store, code, feed, RuntimeCatalog({}), arns)
        scheduler = Scheduler(FakeSandboxFactory(), keep_alive=60, concurrency_limit=10)
        events = SqliteEventQueue(tmp_path / "events.db")
        invoke = InvokeService(scheduler, LogSink(tmp_path / "logs", 1 << 20), arns, events)
        feed.subscribe(invoke.on_change)
        invoke.load_with(functions.load)
        try:
            assert functions.restore() == 3
            assert seen == []
            assert invoke.resolve("b", None).config.name == "b"
            assert [c.config.name for c in seen if isinstance(c, FunctionVersion)] == ["b"]
            with pytest.raises(ResourceNotFound):
                invoke.resolve("nope", None)
            invoke.resolve("b", None)  # known now: nothing published again
            assert len(seen) == 1
        finally:
            await invoke.close()
            events.close()
            store.close()

    asyncio.run(main())


def test_versions_a_crash_left_unsettled_are_read_without_scanning_the_others(
    tmp_path: Path,
) -> None:
    """Start-up's ``unsettled`` goes through a partial index of the unsettled versions (an
    existing store gets it when opened), not through every stored version's JSON."""
    import dataclasses
    import sqlite3

    from lambox.model import FunctionConfig, State, UpdateStatus

    path = tmp_path / "state.db"
    store = SqliteFunctionStore(path)
    settled = FunctionConfig(
        name="settled",
        runtime="python3.11",
        handler="app.handler",
        role=ROLE,
        code_sha256="",
        code_size=0,
        revision_id="r",
        last_modified="2026-01-01T00:00:00.000+0000",
        state=State.ACTIVE,
    )
    pending = dataclasses.replace(settled, name="pending", state=State.PENDING)
    updating = dataclasses.replace(
        settled, name="updating", last_update_status=UpdateStatus.IN_PROGRESS
    )
    for config in (settled, pending, updating):
        store.insert(config)
    store.close()
    db = sqlite3.connect(path)
    db.execute("DROP INDEX functions_unsettled")  # a store written before the index
    db.commit()
    db.close()
    store = SqliteFunctionStore(path)
    try:
        assert sorted(c.name for c in store.unsettled()) == ["pending", "updating"]
    finally:
        store.close()
    db = sqlite3.connect(path)
    try:
        from lambox.store.functions import UNSETTLED

        plan = db.execute(f"EXPLAIN QUERY PLAN SELECT config FROM functions WHERE {UNSETTLED}")
        assert "USING INDEX functions_unsettled" in " ".join(str(row[3]) for row in plan)
    finally:
        db.close()
