"""A sandbox's CPU after init follows LAMBOX_CPU_MODE: by default a weight in proportion to
memory with no cap (idle cores serve it), with ``quota`` Lambda's hard CFS quota. Read from
the host, in the cgroup the sandbox really runs in."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambox.sandbox.cgroups import parse_mountinfo, parse_self_cgroup
from tests.adversarial.conftest import call
from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server, unique

pytestmark = pytest.mark.usefixtures("isolated")

WHERE = make_zip({"app.py": "import os\n\ndef where(event, context):\n"
                  "    return os.readlink('/proc/self/ns/pid')\n"})  # fmt: skip


RIC_WHERE = make_zip(
    {
        "bootstrap": "#!/bin/sh\nexec python3 -m awslambdaric app.where\n",
        "app.py": "import os\n\ndef where(event, context):\n"
        "    return os.readlink('/proc/self/ns/pid')\n",
    },
    {"bootstrap": 0o755},
)


def deploy_where(client: Any, memory_mb: int, runtime: str = "python3.11") -> str:
    """A function answering with its pid namespace; ``provided.al2023`` runs it under
    awslambdaric, through the Runtime API."""
    name = unique("cpu-where")
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="app.where",
        Code={"ZipFile": WHERE if runtime.startswith("python") else RIC_WHERE},
        MemorySize=memory_mb,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def host_pid(pid_namespace: str) -> int:
    """A process on the host that lives in the given pid namespace and is not its pid 1
    (a Python sandbox's init stays outside the sandbox's cgroup)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") != pid_namespace:
                    continue
                with open(f"/proc/{entry}/status") as f:
                    inner = [line.split()[-1] for line in f if line.startswith("NSpid:")]
            except OSError:
                continue
            found.append((inner == ["1"], int(entry)))
    if not found:
        raise AssertionError(f"no process in {pid_namespace}")
    return min(found)[1]


def cpu_of(pid: int) -> tuple[int | None, int, int]:
    """(CFS quota in us or None, weight, cgroup version) of the cgroup ``pid`` runs in."""
    own = parse_self_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    v1 = next((m for t, m in mounts if t == "cgroup" and "cpu" in m.controllers), None)
    if v1 is not None and "cpu" in own:
        leaf = v1.point / os.path.relpath(own["cpu"], v1.root)
        quota = int((leaf / "cpu.cfs_quota_us").read_text())
        return (None if quota == -1 else quota), int((leaf / "cpu.shares").read_text()), 1
    v2 = next(m for t, m in mounts if t == "cgroup2")
    leaf = v2.point / os.path.relpath(own[""], v2.root)
    limit = (leaf / "cpu.max").read_text().split()[0]
    weight = int((leaf / "cpu.weight").read_text())
    return (None if limit == "max" else int(limit)), weight, 2


def sandbox_cpu(client: Any, name: str) -> tuple[int | None, int, int]:
    error, namespace = call(client, name)
    assert error is None, namespace
    call(client, name)  # warm: the limit set at the end of init is in place
    return cpu_of(host_pid(namespace))


def test_default_mode_caps_nothing_and_weighs_by_memory(lambda_client: Any) -> None:
    small = sandbox_cpu(lambda_client, deploy_where(lambda_client, 128))
    large = sandbox_cpu(lambda_client, deploy_where(lambda_client, 1769))
    if small[2] == 1:
        assert small == (None, 1024 * 128 // 1769, 1)
        assert large == (None, 1024, 1)
    else:
        assert small == (None, 100 * 128 // 1769, 2)
        assert large == (None, 100, 2)


def test_runtime_api_sandboxes_follow_the_default_mode(lambda_client: Any) -> None:
    pytest.importorskip("awslambdaric", reason="awslambdaric (dev extra) is not installed")
    quota, weight, version = sandbox_cpu(
        lambda_client, deploy_where(lambda_client, 128, "provided.al2023")
    )
    assert (quota, weight) == (None, (1024 if version == 1 else 100) * 128 // 1769)


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path_factory.mktemp("cpu-quota") / "data", {"LAMBOX_CPU_MODE": "quota"})
    yield srv
    stop_server(srv)


def test_quota_mode_sets_lambdas_quota(quota_server: LamboxServer) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "lambda",
        endpoint_url=quota_server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=120),
    )
    quota, weight, version = sandbox_cpu(client, deploy_where(client, 128))
    assert quota == 20_000 * 128 // 1769  # 7% of a core per 20 ms period
    assert weight == (1024 if version == 1 else 100)
    assert "CPU mode quota" in quota_server.output()
    if importlib.util.find_spec("awslambdaric") is not None:
        runtime_api = sandbox_cpu(client, deploy_where(client, 128, "provided.al2023"))
        assert runtime_api == (quota, weight, version)
