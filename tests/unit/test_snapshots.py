"""Host-side SnapStart bookkeeping (``sandbox.snapshots``) with stand-in snapshot processes:
which snapshot a version gets, when one is taken again, its spares and retirement."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
from dataclasses import replace
from pathlib import Path

from lambox.model import FunctionConfig, FunctionVersion, State
from lambox.sandbox.api import InitReport
from lambox.sandbox.snapshots import SPARES, Snapshot, SnapshotOwner, Snapshots


def version(generation: int, revision: str = "rev-1", number: str = "1") -> FunctionVersion:
    config = FunctionConfig(
        version=number,
        name="f",
        runtime="python3.12",
        handler="app.handler",
        role="r",
        code_sha256="s",
        code_size=1,
        revision_id=revision,
        last_modified="t",
        state=State.ACTIVE,
        snap_start=True,
    )
    return FunctionVersion("arn:f", config, Path("/tmp"), "python3", "us-east-1", generation)


class Process:
    """A stand-in snapshot process: a real, idle child (no threads, no sockets)."""

    def __init__(self, control_fd: int) -> None:
        self.proc = subprocess.Popen(["sleep", "60"])
        # Its end of the control socket, held as the real process holds it.
        self.control = socket.socket(fileno=os.dup(control_fd))
        self.control.send(json.dumps({"op": "ready", "pid": self.pid}).encode())
        self.destroyed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def destroy(self) -> None:
        self.destroyed = True
        self.control.close()
        self.proc.kill()
        self.proc.wait()


class Spare:
    """A stand-in restored sandbox; placing it tells its backend."""

    def __init__(self, backend: Backend, fv: FunctionVersion) -> None:
        self.backend = backend
        self.version = fv
        self.alive = True
        self.destroyed = False

    async def place(self, snapshot: Snapshot) -> None:
        self.backend.spares.append(self)

    async def destroy(self) -> None:
        self.destroyed = True
        self.alive = False


class Backend:
    """Starts stand-in snapshots (each says ``ready`` on its control socket) and spares."""

    def __init__(self) -> None:
        self.taken: list[Process] = []
        self.spares: list[Spare] = []

    async def start(self, fv: FunctionVersion, control_fd: int) -> tuple[SnapshotOwner, InitReport]:
        owner = Process(control_fd)
        self.taken.append(owner)
        return owner, InitReport(init_ms=1.0, error=None, log=b"init\n", log_stream="s")

    def restored(self, fv: FunctionVersion, init_type: str) -> Spare:
        return Spare(self, fv)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_new_generation_of_the_same_revision_keeps_the_snapshot() -> None:
    async def scenario() -> None:
        backend = Backend()
        snapshots = Snapshots(backend.start, backend.restored)
        try:
            first = await snapshots.get(version(1))
            # The version turned Active: a newer generation, the same revision.
            again = await snapshots.get(replace(version(2), config=version(1).config))
            assert first is not None and again is first
            assert len(backend.taken) == 1
            # The function was deleted and made again: another revision, a new snapshot.
            other = await snapshots.get(version(3, revision="rev-2"))
            assert other is not None and other is not first
            await settle()
            assert backend.taken[0].destroyed
            # A request still holding the older revision starts the ordinary way.
            assert await snapshots.get(version(2)) is None
        finally:
            await snapshots.close()

    asyncio.run(scenario())


def test_spares_are_claimed_once_and_made_again() -> None:
    async def scenario() -> None:
        backend = Backend()
        snapshots = Snapshots(backend.start, backend.restored)
        try:
            fv = version(1)
            assert snapshots.claim(fv) is None  # no snapshot yet
            await snapshots.get(fv)
            await settle()
            assert len(backend.spares) == SPARES
            made = backend.spares[0]
            assert snapshots.claim(fv) is made
            await settle()
            assert len(backend.spares) == SPARES + 1  # the next one, made in the background
            backend.spares[-1].alive = False  # a spare that died while waiting
            assert snapshots.claim(fv) is None
            await settle()
            assert backend.spares[-2].destroyed
            assert snapshots.claim(version(1, revision="rev-2")) is None
        finally:
            await snapshots.close()

    asyncio.run(scenario())


def test_retiring_a_function_stops_its_snapshots_and_spares() -> None:
    async def scenario() -> None:
        backend = Backend()
        snapshots = Snapshots(backend.start, backend.restored)
        try:
            await snapshots.get(version(1, number="1"))
            await snapshots.get(version(1, number="2"))
            await settle()
            snapshots.retire("f", "1")
            await settle()
            assert [p.destroyed for p in backend.taken] == [True, False]
            assert backend.spares[0].destroyed and not backend.spares[1].destroyed
            assert snapshots.claim(version(1, number="1")) is None
            snapshots.retire("f", None)
            await settle()
            assert all(p.destroyed for p in backend.taken)
        finally:
            await snapshots.close()

    asyncio.run(scenario())
