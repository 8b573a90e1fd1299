"""The read-only lookup authorization calls: "the resource policy of function F[:Q]"."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lambox.arns import Arns
from lambox.control.aliases import AliasService
from lambox.control.concurrency import ConcurrencyService
from lambox.control.functions import FunctionService
from lambox.control.policies import PolicyService
from lambox.control.runtimes import RuntimeCatalog
from lambox.control.versions import VersionService
from lambox.store.code import CodeStore
from lambox.store.functions import SqliteFunctionStore
from lambox.store.policies import SqlitePolicyStore
from lambox.watch import ChangeFeed, Removed
from tests.conftest import ROLE, make_zip

ARNS = Arns("us-east-1", "000000000000")


def test_lookup_answers_each_qualifiers_own_policy_from_memory(tmp_path: Path) -> None:
    async def main() -> None:
        feed = ChangeFeed()
        store = SqliteFunctionStore(tmp_path / "state.db")
        functions = FunctionService(
            store, CodeStore(tmp_path / "code"), feed, RuntimeCatalog({}), ARNS
        )
        concurrency = ConcurrencyService(store, feed, functions, ARNS, 10)
        aliases = AliasService(store, feed, functions, concurrency, ARNS)
        policies = PolicyService(SqlitePolicyStore(tmp_path / "state.db"), functions, aliases, ARNS)
        feed.subscribe(policies.on_change)
        await functions.create(
            {
                "FunctionName": "f",
                "Runtime": "python3.11",
                "Handler": "app.handler",
                "Role": ROLE,
                "Code": {"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})},
            }
        )
        for _ in range(100):
            await asyncio.sleep(0)
        VersionService(store, feed, functions, ARNS).publish("f", {})
        assert policies.lookup("f") is None
        params = {"StatementId": "url", "Action": "lambda:InvokeFunctionUrl", "Principal": "*"}
        policies.add("f", None, {**params, "FunctionUrlAuthType": "NONE"})
        document = policies.lookup("f")
        assert document is not None
        assert document["Statement"][0]["Condition"] == {
            "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}
        }
        assert document["Statement"][0]["Resource"] == ARNS.function("f")
        assert policies.lookup("f", "$LATEST") == document
        assert policies.lookup("f", "1") is None
        policies.add("f", "1", params)
        assert policies.lookup("f", "1") is not None
        # A restart reads the same policies back from the store.
        again = PolicyService(SqlitePolicyStore(tmp_path / "state.db"), functions, aliases, ARNS)
        assert again.lookup("f") == document
        policies.on_change(Removed("f", 99))
        assert policies.lookup("f") is None and policies.lookup("f", "1") is None
        policies.close()
        again.close()
        store.close()

    asyncio.run(main())
