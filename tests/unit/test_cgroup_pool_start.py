"""The Linux backend's cgroup leaves are made once the server listens, not at start-up
(on the machine's real hierarchies: root only)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from lambox.sandbox.cgroups import CgroupTree
from lambox.sandbox.linux import LinuxSandboxFactory


def test_the_linux_backend_makes_its_leaves_once_the_server_listens(tmp_path: Path) -> None:
    """Opening the backend (at start-up, before the server answers) makes no cgroup leaf;
    ``start`` (once it listens) makes them ahead of need in the background, and ``close``
    removes them (root and the machine's real hierarchies only)."""
    tree, why = CgroupTree.for_this_machine()
    if tree is None or os.geteuid() != 0:
        pytest.skip(f"needs root and a cgroup hierarchy: {why or 'not root'}")
    parent = next(iter(tree.parents.values()))

    def leaves() -> list[Path]:
        return [p for p in parent.iterdir() if p.is_dir()] if parent.is_dir() else []

    async def scenario() -> None:
        factory = LinuxSandboxFactory.open(tree, tmp_path / "data", tmp_path / "code")
        try:
            assert parent.is_dir()
            assert leaves() == []
            factory.start()
            deadline = asyncio.get_running_loop().time() + 30
            while len(leaves()) < 2 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            assert len(leaves()) >= 2
            assert all(leaf.name.startswith("sb-") for leaf in leaves())
        finally:
            await factory.close()
        assert [p for p in tree.parents.values() if p.exists()] == []

    asyncio.run(scenario())
