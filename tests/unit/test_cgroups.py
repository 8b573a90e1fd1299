"""cgroup detection, limits and the leaf lifecycle, against fake hierarchies in a temp dir."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from lambox.sandbox.cgroups import (
    UNLIMITED,
    Cgroup,
    CgroupTree,
    CpuLimit,
    CpuPolicy,
    cpu_quota_us,
    parse_mountinfo,
    parse_self_cgroup,
)

DEAD_PID = 4_194_305  # above the largest pid_max Linux allows


def v1_mountinfo(root: Path, mount_root: str = "/") -> str:
    lines = [
        "22 1 0:21 / / rw,relatime - ext4 /dev/vda rw",
        f"30 25 0:26 {mount_root} {root}/memory rw,relatime - cgroup cgroup rw,memory",
        f"31 25 0:27 {mount_root} {root}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
        f"32 25 0:28 {mount_root} {root}/pids rw,relatime - cgroup cgroup rw,pids",
        f"33 25 0:29 / {root}/unified rw,relatime - cgroup2 cgroup2 rw",
    ]
    return "\n".join(lines) + "\n"


SELF_V1 = "8:pids:/\n4:memory:/jobs/42\n2:cpu,cpuacct:/\n0::/\n"


def test_mountinfo_lists_cgroup_hierarchies_with_their_controllers(tmp_path: Path) -> None:
    found = parse_mountinfo(v1_mountinfo(tmp_path))
    kinds = [(fstype, m.point.name, sorted(m.controllers)) for fstype, m in found]
    assert kinds == [
        ("cgroup", "memory", ["memory", "rw"]),
        ("cgroup", "cpu,cpuacct", ["cpu", "cpuacct", "rw"]),
        ("cgroup", "pids", ["pids", "rw"]),
        ("cgroup2", "unified", []),
    ]


def test_self_cgroup_maps_every_controller_of_a_line() -> None:
    assert parse_self_cgroup(SELF_V1) == {
        "pids": "/",
        "memory": "/jobs/42",
        "cpu": "/",
        "cpuacct": "/",
        "": "/",
    }


def test_v1_tree_nests_under_this_process_cgroup_in_each_hierarchy(tmp_path: Path) -> None:
    tree, why = CgroupTree.detect(v1_mountinfo(tmp_path), SELF_V1, pid=7)
    assert tree is not None, why
    assert tree.version == 1
    assert tree.parents == {
        "memory": tmp_path / "memory" / "jobs" / "42" / "lambox-7",
        "cpu": tmp_path / "cpu,cpuacct" / "lambox-7",
        "pids": tmp_path / "pids" / "lambox-7",
    }


def test_v1_mount_showing_a_subtree_is_resolved_relative_to_its_root(tmp_path: Path) -> None:
    self_cgroup = "8:pids:/jobs/42\n4:memory:/jobs/42\n2:cpu,cpuacct:/jobs/42\n"
    tree, _ = CgroupTree.detect(v1_mountinfo(tmp_path, "/jobs"), self_cgroup, pid=7)
    assert tree is not None
    assert tree.parents["memory"] == tmp_path / "memory" / "42" / "lambox-7"


def test_v2_is_preferred_where_its_controllers_are_available(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mountinfo = f"40 25 0:30 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    tree, _ = CgroupTree.detect(mountinfo, "0::/srv/lambox\n", pid=9)
    assert tree is not None
    assert tree.version == 2
    assert tree.parents == {"": tmp_path / "srv" / "lambox" / "lambox-9"}


def test_no_usable_hierarchy_says_what_is_missing(tmp_path: Path) -> None:
    mountinfo = f"30 25 0:26 / {tmp_path}/memory rw - cgroup cgroup rw,memory\n"
    tree, why = CgroupTree.detect(mountinfo, SELF_V1, pid=7)
    assert tree is None
    assert "cpu" in why


@pytest.mark.parametrize(
    ("memory_mb", "cpus", "quota"),
    [(1769, 2, 20_000), (128, 2, 1_447), (10, 2, 1_000), (3538, 2, None), (10240, 8, 115_771)],
)
def test_cpu_quota_is_proportional_to_memory(memory_mb: int, cpus: int, quota: int | None) -> None:
    assert cpu_quota_us(memory_mb, cpus) == quota


def fake_v1_leaf(tmp_path: Path) -> Cgroup:
    dirs = {c: tmp_path / c / "sb-1" for c in ("memory", "cpu", "pids")}
    for path in dirs.values():
        path.mkdir(parents=True)
    mem = dirs["memory"]
    (mem / "memory.max_usage_in_bytes").write_text("3145728\n")
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    leaf = Cgroup("sb-1", dirs, 1)
    leaf.create()
    return leaf


def test_limits_are_written_once_and_skipped_when_unchanged(tmp_path: Path) -> None:
    leaf = fake_v1_leaf(tmp_path)
    (tmp_path / "cpu/sb-1/cpu.cfs_burst_us").write_text("0")
    leaf.limit(256, 64, CpuLimit(quota_us=2_894))
    assert (tmp_path / "memory/sb-1/memory.limit_in_bytes").read_text() == str(256 << 20)
    assert (tmp_path / "pids/sb-1/pids.max").read_text() == "64"
    assert (tmp_path / "cpu/sb-1/cpu.cfs_quota_us").read_text() == "2894"
    assert (tmp_path / "cpu/sb-1/cpu.cfs_burst_us").read_text() == "2894"
    assert (tmp_path / "cpu/sb-1/cpu.cfs_period_us").read_text() == "20000"
    (tmp_path / "pids/sb-1/pids.max").write_text("changed behind our back")
    leaf.limit(256, 64, CpuLimit(quota_us=2_894))
    assert (tmp_path / "pids/sb-1/pids.max").read_text() == "changed behind our back"
    leaf.limit(256, 64)
    assert (tmp_path / "cpu/sb-1/cpu.cfs_quota_us").read_text() == "-1"
    assert (tmp_path / "cpu/sb-1/cpu.cfs_burst_us").read_text() == "0"


def cpu_files(tmp_path: Path) -> tuple[str, str]:
    cpu = tmp_path / "cpu/sb-1"
    return (cpu / "cpu.cfs_quota_us").read_text(), (cpu / "cpu.shares").read_text()


def test_shares_mode_weighs_by_memory_after_init_and_caps_nothing(tmp_path: Path) -> None:
    leaf = fake_v1_leaf(tmp_path)
    policy = CpuPolicy("shares", cpus=2)
    leaf.limit(128, 64)  # init: the boost
    assert cpu_files(tmp_path) == ("-1", "1024")
    leaf.set_cpu(policy.after_init(128))
    assert cpu_files(tmp_path) == ("-1", "74")
    leaf.set_cpu(policy.after_init(10_240))
    assert cpu_files(tmp_path) == ("-1", "5927")
    leaf.set_cpu(UNLIMITED)  # a recycled leaf is back to the defaults
    assert cpu_files(tmp_path) == ("-1", "1024")


def test_quota_mode_sets_lambdas_quota_after_init_at_the_default_weight(tmp_path: Path) -> None:
    leaf = fake_v1_leaf(tmp_path)
    policy = CpuPolicy("quota", cpus=2)
    leaf.limit(128, 64)
    assert cpu_files(tmp_path) == ("-1", "1024")
    leaf.set_cpu(policy.after_init(128))
    assert cpu_files(tmp_path) == ("1447", "1024")
    leaf.set_cpu(policy.after_init(4096))  # two cores' worth on a 2-core machine: no cap
    assert cpu_files(tmp_path) == ("-1", "1024")


def test_v2_writes_cpu_max_and_cpu_weight(tmp_path: Path) -> None:
    leaf_dir = tmp_path / "sb-1"
    leaf_dir.mkdir()
    (leaf_dir / "memory.peak").write_text("0\n")
    (leaf_dir / "memory.events").write_text("oom_kill 0\n")
    leaf = Cgroup("sb-1", {"": leaf_dir}, 2)
    leaf.create()
    leaf.limit(128, 64)
    leaf.set_cpu(CpuPolicy("shares").after_init(128))
    assert (leaf_dir / "cpu.max").read_text() == "max 20000"
    assert (leaf_dir / "cpu.weight").read_text() == "7"
    leaf.set_cpu(CpuPolicy("quota", cpus=2).after_init(1769))
    assert (leaf_dir / "cpu.max").read_text() == "20000 20000"
    assert (leaf_dir / "cpu.weight").read_text() == "100"


def test_an_unknown_cpu_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="LAMBOX_CPU_MODE"):
        CpuPolicy("turbo")


def test_peak_memory_and_oom_kills_are_read_from_the_group(tmp_path: Path) -> None:
    leaf = fake_v1_leaf(tmp_path)
    assert leaf.peak_kb() == 3072
    assert leaf.oom_baseline == 2
    (tmp_path / "memory/sb-1/memory.oom_control").write_text("oom_kill 3\n")
    assert leaf.oom_kills() == 3


def test_stale_trees_of_dead_servers_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    tree, _ = CgroupTree.detect(v1_mountinfo(tmp_path), SELF_V1, pid=7)
    assert tree is not None
    for parent in tree.parents.values():
        (parent.parent / f"lambox-{DEAD_PID}" / "sb-3").mkdir(parents=True)
        (parent.parent / "lambox-1").mkdir(parents=True)  # pid 1 is alive
    assert tree.sweep_stale() == 3
    for parent in tree.parents.values():
        assert not (parent.parent / f"lambox-{DEAD_PID}").exists()
        assert (parent.parent / "lambox-1").exists()


def test_a_dead_servers_tree_is_swept_with_its_sandboxes_still_running() -> None:
    """The sweep at start kills what a killed server's sandboxes left running, on the
    machine's real hierarchies (root only)."""
    tree, why = CgroupTree.for_this_machine()
    if tree is None or os.geteuid() != 0:
        pytest.skip(f"needs root and a cgroup hierarchy: {why or 'not root'}")
    stale = [parent.parent / f"lambox-{DEAD_PID}" for parent in tree.parents.values()]
    survivor = subprocess.Popen(["sleep", "60"])
    try:
        for path in stale:
            (path / "sb-1").mkdir(parents=True)
            (path / "sb-1" / "cgroup.procs").write_text(str(survivor.pid))
        assert tree.sweep_stale() >= len(stale)
        assert survivor.wait(5) == -signal.SIGKILL
        assert [path for path in stale if path.exists()] == []
    finally:
        survivor.kill()
        survivor.wait()
        for path in stale:
            for leaf in (path / "sb-1", path):
                with contextlib.suppress(OSError):
                    leaf.rmdir()
