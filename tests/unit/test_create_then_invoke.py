"""What the data plane knows the moment CreateFunction answers: the function, Pending.

AWS never answers not-found for a function it has just created; while the function is
Pending an Invoke is refused with ResourceConflictException naming the state, and once it
is Active it runs. The control plane, the change feed and the invoke service are wired here
as ``server.py`` wires them, with the fake sandbox backend.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lambox.arns import Arns
from lambox.control.functions import FunctionService
from lambox.control.runtimes import RuntimeCatalog
from lambox.errors import ResourceConflict
from lambox.invoke.service import InvokeService
from lambox.logs import LogSink
from lambox.model import Invocation
from lambox.sandbox.fake import FakeSandboxFactory
from lambox.scheduler.pools import Scheduler
from lambox.store.code import CodeStore
from lambox.store.events import SqliteEventQueue
from lambox.store.functions import SqliteFunctionStore
from lambox.watch import ChangeFeed
from tests.conftest import ROLE, make_zip

PENDING = (
    "The operation cannot be performed at this time. The function is currently in the"
    " following state: Pending"
)


def test_invoke_as_soon_as_create_answers_is_pending_then_runs(tmp_path: Path) -> None:
    async def main() -> None:
        arns = Arns("us-east-1", "000000000000")
        feed = ChangeFeed()
        store = SqliteFunctionStore(tmp_path / "state.db")
        functions = FunctionService(
            store, CodeStore(tmp_path / "code"), feed, RuntimeCatalog({}), arns
        )
        scheduler = Scheduler(FakeSandboxFactory(), keep_alive=60, concurrency_limit=10)
        logs = LogSink(tmp_path / "logs", 1 << 20)
        events = SqliteEventQueue(tmp_path / "events.db")
        invoke = InvokeService(scheduler, logs, arns, events)
        feed.subscribe(invoke.on_change)
        feed.subscribe(scheduler.on_change)
        try:
            await functions.create(
                {
                    "FunctionName": "fresh",
                    "Runtime": "python3.11",
                    "Handler": "app.handler",
                    "Role": ROLE,
                    "Code": {"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})},
                }
            )
            # Nothing else has run on the loop since the create answered.
            with pytest.raises(ResourceConflict) as exc:
                await invoke.invoke("fresh", Invocation("r1", b'{"n": 1}'))
            assert exc.value.message == PENDING
            for _ in range(100):
                await asyncio.sleep(0)
                if functions.get("fresh").state.value == "Active":
                    break
            result = await invoke.invoke("fresh", Invocation("r2", b'{"n": 2}'))
            assert result.payload == b'{"n": 2}'
        finally:
            await scheduler.close()
            events.close()
            logs.close()
            store.close()

    asyncio.run(main())


def test_a_payload_lambox_serialized_is_not_read_again(tmp_path: Path) -> None:
    """``prepare(..., serialized=True)`` (a function URL's event, written by ``json.dumps``)
    skips the JSON check every client's payload gets; the size limit still holds."""
    from lambox.errors import InvalidRequestContent, RequestTooLarge
    from lambox.invoke.service import SYNC_PAYLOAD_LIMIT

    async def main() -> None:
        arns = Arns("us-east-1", "000000000000")
        feed = ChangeFeed()
        store = SqliteFunctionStore(tmp_path / "state.db")
        functions = FunctionService(
            store, CodeStore(tmp_path / "code"), feed, RuntimeCatalog({}), arns
        )
        scheduler = Scheduler(FakeSandboxFactory(), keep_alive=60, concurrency_limit=10)
        logs = LogSink(tmp_path / "logs", 1 << 20)
        events = SqliteEventQueue(tmp_path / "events.db")
        invoke = InvokeService(scheduler, logs, arns, events)
        feed.subscribe(invoke.on_change)
        feed.subscribe(scheduler.on_change)
        try:
            await functions.create(
                {
                    "FunctionName": "made",
                    "Runtime": "python3.11",
                    "Handler": "app.handler",
                    "Role": ROLE,
                    "Code": {"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})},
                }
            )
            for _ in range(100):
                await asyncio.sleep(0)
                if functions.get("made").state.value == "Active":
                    break
            unread = Invocation("r1", b"{not json")
            with pytest.raises(InvalidRequestContent):
                await invoke.prepare("made", unread)
            fv, prepared = await invoke.prepare("made", unread, serialized=True)
            assert (fv.name, prepared.payload) == ("made", b"{not json")
            with pytest.raises(RequestTooLarge):
                big = Invocation("r2", b'"' + b"x" * SYNC_PAYLOAD_LIMIT + b'"')
                await invoke.prepare("made", big, serialized=True)
        finally:
            await scheduler.close()
            events.close()
            logs.close()
            store.close()

    asyncio.run(main())
