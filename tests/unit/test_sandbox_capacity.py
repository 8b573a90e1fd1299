"""The machine's default sandbox limit: by memory, capped by the account's concurrency."""

from __future__ import annotations

from pathlib import Path

from lambox.scheduler.capacity import default_sandbox_limit, mem_total_kib

GIB_KIB = 1024 * 1024


def test_a_large_machine_holds_one_sandbox_per_concurrent_execution() -> None:
    assert default_sandbox_limit(1000, 24 * GIB_KIB, 16) == 1000
    assert default_sandbox_limit(50, 24 * GIB_KIB, 16) == 50


def test_each_core_holds_at_most_64() -> None:
    """A burst of cold starts on two cores: 128 sandboxes, not 1,000."""
    assert default_sandbox_limit(1000, 24 * GIB_KIB, 2) == 128
    assert default_sandbox_limit(1000, 24 * GIB_KIB) == 64


def test_a_small_machine_holds_one_sandbox_per_16_mib() -> None:
    assert default_sandbox_limit(1000, 2 * GIB_KIB, 16) == 128
    assert default_sandbox_limit(1000, 8 * 1024) == 1


def test_unknown_memory_falls_back_to_64() -> None:
    assert default_sandbox_limit(1000, None) == 64
    assert default_sandbox_limit(10, None) == 10


def test_memory_is_read_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemFree:  1000 kB\nMemTotal:       24558124 kB\nBuffers: 1 kB\n")
    assert mem_total_kib(meminfo) == 24558124
    assert mem_total_kib(tmp_path / "missing") is None
    meminfo.write_text("MemFree:  1000 kB\n")
    assert mem_total_kib(meminfo) is None
