"""A function sees only its own code, /tmp and processes, cannot write outside /tmp, cannot
signal the server, and is offline when tagged so."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.conftest import call
from tests.conftest import LamboxServer, install_in_tmp, unique

pytestmark = pytest.mark.usefixtures("still_serving")


def test_writes_outside_tmp_fail(
    lambda_client: Any, deploy: Callable[..., str], server: LamboxServer
) -> None:
    outside = ["/x", "/var/task/x", "/etc/x", "/usr/x", "/opt/x", "/dev/x", "/proc/x"]
    outside.append(str(server.data_dir / "x"))
    error, out = call(lambda_client, deploy("write_outside"), {"paths": [*outside, "/tmp/x"]})
    assert error is None, out
    assert {p: out[p] for p in outside if out[p] == "written"} == {}
    assert out["/tmp/x"] == "written"
    assert out["tmp_bytes"] == 512 << 20
    assert not (server.data_dir / "x").exists()


def test_ephemeral_storage_sets_the_size_of_tmp(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy("write_outside", EphemeralStorage={"Size": 1024})
    assert call(lambda_client, name, {"paths": []})[1]["tmp_bytes"] == 1024 << 20


def test_other_functions_files_environment_and_data_dir_are_invisible(
    lambda_client: Any, deploy: Callable[..., str], server: LamboxServer
) -> None:
    secret = unique("secret")
    victim = deploy("keep_secret", Environment={"Variables": {"SECRET": secret}})
    error, listing = call(lambda_client, victim)
    assert (error, sorted(set(listing) - install_in_tmp())) == (None, ["secret.txt"])
    code_trees = server.data_dir / "code" / "tree"
    paths = {
        "data_dir": str(server.data_dir),
        "state": str(server.data_dir / "state.db"),
        "code_trees": str(code_trees),
        "a_code_tree": str(next(code_trees.iterdir())),
        "all_code": "/.code",
        "host_tmp": str(Path(os.environ.get("TMPDIR", "/tmp"))),
    }
    error, seen = call(lambda_client, deploy("snoop"), {"secret": secret, "paths": paths})
    assert error is None, seen
    assert seen["pids"] == [1, 2]  # its init and its runtime, nothing of anyone else
    assert seen["environ_leaks"] == []
    assert set(seen["tmp"]) <= install_in_tmp()
    for key in ("data_dir", "state", "code_trees", "a_code_tree"):
        assert seen[key] == "No such file or directory", (key, seen[key])
    assert seen["all_code"] == []


def descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (its children, theirs...), while they live."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def holding(pid: int, texts: list[str]) -> set[str]:
    """Which of ``texts`` are in the writable memory of process ``pid`` (read as root)."""
    held: set[str] = set()
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
            for line in maps:
                fields = line.split()
                if not fields[1].startswith("rw"):
                    continue
                start, end = (int(x, 16) for x in fields[0].split("-"))
                try:
                    mem.seek(start)
                    data = mem.read(end - start)
                except (OSError, OverflowError):
                    continue
                held.update(t for t in texts if t.encode() in data)
    except OSError:
        pass
    return held


def test_another_functions_environment_is_not_in_a_sandboxs_memory(
    lambda_client: Any, deploy: Callable[..., str], server: LamboxServer
) -> None:
    """A function's environment reaches its sandbox without passing through a zygote's
    memory. A zygote forks the sandboxes of every function with the same code and handler
    (the base zygote, those of all), and what its heap once held, freed but not cleared,
    is in the memory of every process it forks after: sandboxes, spares, version zygotes."""
    marker = "LBXSECRET"
    secrets = [f"{marker}-{unique('env')}" for _ in range(4)]
    victims = [
        deploy("scan_memory", Environment={"Variables": {"PAD": "x" * 3000, "SECRET": secret}})
        for secret in secrets
    ]
    with ThreadPoolExecutor(len(victims)) as pool:  # more cold starts at once than spares
        answers = list(
            pool.map(lambda name: call(lambda_client, name, {"marker": marker}), victims)
        )
    for secret, (error, found) in zip(secrets, answers, strict=True):
        assert error is None, found
        assert any(secret in text for text in found)  # the scan sees its own memory
    # Each secret is in one process under the server: its function's sandbox.
    held: dict[str, int] = dict.fromkeys(secrets, 0)
    for pid in descendants(server.proc.pid):
        for secret in holding(pid, secrets):
            held[secret] += 1
    assert held == dict.fromkeys(secrets, 1)
    for spy in (deploy("scan_memory"), deploy("scan_memory_too")):  # a version zygote's, the base's
        error, found = call(lambda_client, spy, {"marker": marker})
        assert error is None, found
        assert [text for text in found if any(secret in text for secret in secrets)] == []


def test_signals_cannot_reach_the_server(
    lambda_client: Any, deploy: Callable[..., str], server: LamboxServer
) -> None:
    name = deploy("kill_host")
    error, out = call(lambda_client, name, {"server_pid": server.proc.pid})
    assert error is None, out
    assert out["ppid"] == 0  # its parent, the zygote, is outside its pid namespace
    assert out["server"] == "No such process"
    assert out["init"] == "Operation not permitted"  # its init is root
    assert server.proc.poll() is None


def test_sandboxes_of_one_function_share_no_random_state(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy("randomness", Timeout=10)
    call(lambda_client, name)  # the first sandbox teaches the function's zygote
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: call(lambda_client, name, {"hold": 0.5}), range(3)))
    values = [body for error, body in answers if error is None]
    assert len(values) == 3
    assert len({v["init"] for v in values}) == 3
    assert len({v["now"] for v in values}) == 3


def test_network_none_tag_takes_the_network_away(
    lambda_client: Any, deploy: Callable[..., str], server: LamboxServer
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    target = {"host": "127.0.0.1", "port": port}
    assert call(lambda_client, deploy("connect"), target) == (None, "connected")
    offline = deploy("connect", Tags={"lambox:network": "none"})
    assert call(lambda_client, offline, target) == (None, "ConnectionRefusedError")
    outside = {"host": "192.0.2.1", "port": 80}  # TEST-NET-1: unroutable anyway
    assert call(lambda_client, offline, outside) == (None, "OSError")
