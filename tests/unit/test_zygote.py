"""Zygote decisions that need no namespaces: what is learned and preloaded, the code cache,
exit reports, when a zygote is unsafe to fork from, and which backend a server picks."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import importlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambox.errors import SandboxError
from lambox.runtime import codecache
from lambox.runtime.zygote import learned_modules, preload
from lambox.sandbox.backends import sandbox_factory
from lambox.sandbox.process import ProcessSandboxFactory
from lambox.sandbox.zygote import ExitBoard, VersionZygote, ZygoteProcess, Zygotes, unsafe_reason
from lambox.sandbox.zygote import State as ZygoteState
from tests.unit.test_scheduler import version

STDLIB_CANDIDATES = ("colorsys", "sched", "fractions", "graphlib", "wave", "netrc", "tabnanny")


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    """A function package on sys.path, removed (and its modules forgotten) afterwards."""
    sys.path.insert(0, str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.path_importer_cache.pop(str(tmp_path), None)
    for name in set(sys.modules) - before:
        del sys.modules[name]


def unimported_stdlib() -> str:
    name = next((n for n in STDLIB_CANDIDATES if n not in sys.modules), None)
    if name is None:
        pytest.skip("every candidate module is already imported")
    return name


def test_learning_keeps_libraries_and_lists_own_sources_apart(package: Path) -> None:
    library = unimported_stdlib()
    (package / "helper_mod.py").write_text("X = 1\n")
    (package / "handler_mod.py").write_text(f"import {library}\nimport helper_mod\n")
    before = set(sys.modules)
    importlib.import_module("handler_mod")
    modules, sources = learned_modules(before, str(package))
    assert library in modules
    assert "handler_mod" not in modules and "helper_mod" not in modules
    assert sorted(Path(s).name for s in sources) == ["handler_mod.py", "helper_mod.py"]


def test_preload_skips_what_the_package_shadows_and_the_deny_list(tmp_path: Path) -> None:
    library = unimported_stdlib()
    (tmp_path / f"{library}.py").write_text("raise SystemExit('never imported')\n")
    loaded, failed = preload(
        [library, "antigravity", "no_such_module_anywhere", "os.path; rm", "json"],
        str(tmp_path),
    )
    assert library not in sys.modules
    assert "antigravity" not in sys.modules
    assert failed == ["no_such_module_anywhere"]
    assert loaded == 0  # json was already imported


def test_preload_imports_libraries(tmp_path: Path) -> None:
    library = unimported_stdlib()
    try:
        assert preload([library], str(tmp_path)) == (1, [])
        assert library in sys.modules
    finally:
        sys.modules.pop(library, None)


def test_code_cache_serves_compiled_code_until_the_source_changes(package: Path) -> None:
    source = package / "cached_mod.py"
    source.write_text("VALUE = 'from source'\n")
    assert codecache.compile_sources([str(source), "/etc/passwd"], str(package)) == 1
    codecache.install(str(package))
    # The compiled code is what runs: swap it for a marker without touching the file.
    size, mtime, _ = codecache._compiled[str(source)]
    marker = compile("VALUE = 'from the cache'\n", str(source), "exec")
    codecache._compiled[str(source)] = (size, mtime, marker)
    try:
        module = importlib.import_module("cached_mod")
        assert module.VALUE == "from the cache"
        assert isinstance(module.__loader__, codecache.CachedSourceLoader)
        source.write_text("VALUE = 'edited, longer source'\n")
        del sys.modules["cached_mod"]
        assert importlib.import_module("cached_mod").VALUE == "edited, longer source"
    finally:
        codecache._compiled.pop(str(source), None)


def test_code_cache_serves_the_submodules_of_packages(package: Path) -> None:
    """A package's submodules are found through its ``__path__``, not the root's finder:
    they come from the cache too."""
    (package / "cached_pkg").mkdir()
    (package / "cached_pkg" / "__init__.py").write_text("")
    source = package / "cached_pkg" / "sub.py"
    source.write_text("VALUE = 'from source'\n")
    assert codecache.compile_sources([str(source)], str(package)) == 1
    codecache.install(str(package))
    size, mtime, _ = codecache._compiled[str(source)]
    marker = compile("VALUE = 'from the cache'\n", str(source), "exec")
    codecache._compiled[str(source)] = (size, mtime, marker)
    try:
        module = importlib.import_module("cached_pkg.sub")
        assert module.VALUE == "from the cache"
        assert isinstance(module.__loader__, codecache.CachedSourceLoader)
    finally:
        codecache._compiled.pop(str(source), None)
        for name in ("cached_pkg.sub", "cached_pkg"):
            sys.modules.pop(name, None)


def test_specs_found_ahead_are_handed_out_once_and_match_a_search(package: Path) -> None:
    """A version zygote finds the specs of its code's top-level modules and packages ahead;
    the first import of each takes the one found (with the module attributes a search
    gives), any later search finds anew, and a submodule is never found ahead."""
    (package / "ahead_mod.py").write_text("VALUE = 1\n")
    (package / "ahead_pkg").mkdir()
    (package / "ahead_pkg" / "__init__.py").write_text("")
    (package / "ahead_pkg" / "sub.py").write_text("")
    sources = [
        str(package / p) for p in ("ahead_mod.py", "ahead_pkg/__init__.py", "ahead_pkg/sub.py")
    ]
    assert codecache.compile_sources(sources, str(package)) == 3
    codecache.install(str(package))
    try:
        assert codecache.find_ahead(str(package)) == 2
        finder = sys.path_importer_cache[str(package)]
        ahead = dict(finder.ahead)  # type: ignore[union-attr]
        assert sorted(ahead) == ["ahead_mod", "ahead_pkg"]
        fresh = {name: codecache._finder(str(package)).find_spec(name) for name in ahead}
        module = importlib.import_module("ahead_mod")
        package_module = importlib.import_module("ahead_pkg")
        assert module.__spec__ is ahead["ahead_mod"]
        assert package_module.__spec__ is ahead["ahead_pkg"]
        for name, spec in ahead.items():
            other = fresh[name]
            assert other is not None
            assert (spec.name, spec.origin, spec.cached, spec.submodule_search_locations) == (
                other.name,
                other.origin,
                other.cached,
                other.submodule_search_locations,
            )
            assert type(spec.loader) is type(other.loader)
        assert module.__file__ == str(package / "ahead_mod.py") and module.VALUE == 1
        assert package_module.__path__ == [str(package / "ahead_pkg")]
        assert finder.ahead == {}  # type: ignore[union-attr]
        del sys.modules["ahead_mod"]
        again = importlib.import_module("ahead_mod")
        assert again.__spec__ is not ahead["ahead_mod"] and again.VALUE == 1
    finally:
        for source in sources:
            codecache._compiled.pop(source, None)


def test_exit_board_reports_expected_pids_only() -> None:
    async def scenario() -> None:
        board = ExitBoard()
        board.post(11, 3)  # nobody expected it: dropped
        assert await board.wait(11, 0.01) is None
        board.expect(12)
        board.post(12, -9)
        assert await board.wait(12, 1.0) == -9
        board.expect(13)
        assert await board.wait(13, 0.01) is None
        board.forget(13)
        board.post(13, 0)
        assert await board.wait(13, 0.01) is None

    asyncio.run(scenario())


def test_a_fork_request_gets_its_reply_or_times_out() -> None:
    """The host side of a fork request: the zygote's reply (and the descriptors it was
    sent), or a SandboxError when none comes in time; nothing is left waiting either way."""

    async def scenario() -> None:
        host, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = ZygoteProcess("test zygote", host, ExitBoard())
        passed_r, passed_w = os.pipe()
        try:
            with pytest.raises(SandboxError, match="fork request failed: TimeoutError"):
                await process.request("spawn", {"env": {}}, passed_w, timeout=0.05)
            data, fds, _, _ = socket.recv_fds(zygote_end, 1 << 16, 4)
            assert json.loads(data)["op"] == "spawn" and len(fds) == 2  # and the env's file
            for fd in fds:
                os.close(fd)

            async def answer() -> None:
                data, fds, _, _ = await asyncio.to_thread(socket.recv_fds, zygote_end, 1 << 16, 4)
                request = json.loads(data)
                for fd in fds:
                    os.close(fd)
                reply = {"op": "spawned", "id": request["id"], "pid": 4242}
                zygote_end.send(json.dumps(reply).encode())

            answering = asyncio.create_task(answer())
            assert await process.request("spawn", {"env": {}}, passed_w, timeout=5.0) == 4242
            await answering
            assert process._replies == {}
        finally:
            os.close(passed_r)
            os.close(passed_w)
            zygote_end.close()
            await process.close()

    asyncio.run(scenario())


def test_a_fork_server_receives_requests_of_any_size_with_their_descriptors() -> None:
    """Requests up to the largest message, each with its descriptors, one after another in
    the same kept buffer; a longer one is flagged as truncated."""
    from lambox.runtime.forkserver import ForkServer

    host, ctl = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server = ForkServer(ctl, 1 << 17, 2)
    r, w = os.pipe()
    try:
        for message in (b"x" * (1 << 17), b'{"op":"spawn"}', b"y" * 70_000):
            socket.send_fds(host, [message], [r, w])
            request = server.next_request()
            assert request is not None
            data, fds, flags = request
            assert data == message and len(fds) == 2 and not flags & socket.MSG_TRUNC
            assert os.path.samestat(os.fstat(fds[0]), os.fstat(r))
            for fd in fds:
                os.close(fd)
        socket.send_fds(host, [b"z" * ((1 << 17) + 1)], [r])
        request = server.next_request()
        assert request is not None and request[2] & socket.MSG_TRUNC
        for fd in request[1]:
            os.close(fd)
        host.close()
        assert server.next_request() is None  # the host hung up
    finally:
        os.close(r)
        os.close(w)
        server.close_in_child()


def test_a_process_with_threads_is_not_a_safe_zygote() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        reason = unsafe_reason(os.getpid())
    finally:
        stop.set()
        worker.join()
    assert reason is not None and "threads" in reason


# What a zygote holds is mapped into every sandbox it forks, and each mapping is copied by
# every fork: a zygote that binds libc must not pull these in (ctypes.util did).
ZYGOTE_NEVER_IMPORTS = (
    "ctypes.util", "shutil", "subprocess", "tempfile", "random", "bz2", "lzma", "zlib"
)  # fmt: skip
ZYGOTE_IMPORTS = f"""
import sys
from lambox.runtime import namespaces as ns
import lambox.runtime.zygote
ns.prctl(ns.PR_SET_DUMPABLE, 1)
ns.unshare(0)
try:
    ns.setns(-1, ns.CLONE_NEWPID)
except OSError as exc:
    print("setns", exc.errno)
print(",".join(m for m in {ZYGOTE_NEVER_IMPORTS!r} if m in sys.modules))
"""


def test_a_zygote_binds_libc_without_importing_what_ctypes_util_imports() -> None:
    from lambox.sandbox.environment import RUNTIME_DIR

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": RUNTIME_DIR}
    out = subprocess.run(
        [sys.executable, "-c", ZYGOTE_IMPORTS],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert out == [f"setns {errno.EBADF}", ""]  # libc's errno comes through; none imported


def test_process_backend_is_chosen_when_asked(tmp_path: Path) -> None:
    factory = sandbox_factory("process", tmp_path, tmp_path / "code")
    assert isinstance(factory, ProcessSandboxFactory)


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="LAMBOX_SANDBOX must be one of"):
        sandbox_factory("docker", tmp_path, tmp_path / "code")


def test_a_shared_zygote_stops_with_its_last_user_after_its_last_sandbox(tmp_path: Path) -> None:
    """Two functions with the same code share a zygote; deleting one leaves it to the other,
    deleting both stops it, but only once the last sandbox forked from it is gone."""

    async def scenario() -> None:
        zygotes = Zygotes({"code_root": str(tmp_path)}, ExitBoard())
        host, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = ZygoteProcess("zygote of a", host, ExitBoard())
        a, b = (dataclasses.replace(version(name=n), code_dir=tmp_path / "code-key") for n in "ab")
        key = (a.interpreter, "code-key", a.config.handler)
        zygotes._versions[key] = VersionZygote("zygote of a", ZygoteState.READY, process=process)
        assert (await zygotes.for_version(a))[0] is process
        assert (await zygotes.for_version(b))[0] is process
        zygotes.forked(process)  # a sandbox of b, still running
        zygotes.retire("a", None)
        assert zygotes.version_ready(b)
        zygotes.retire("b", None)
        assert not zygotes.version_ready(b)  # nothing more forks from it ...
        for _ in range(3):
            await asyncio.sleep(0)
        assert process.alive  # ... but its sandbox still runs
        zygotes.ended(process)
        for _ in range(3):
            await asyncio.sleep(0)
        assert not process.alive
        assert far.recv(16) == b""  # the zygote was hung up on
        far.close()
        await zygotes.close()

    asyncio.run(scenario())
