"""Which sandbox backend this server uses: chosen once at start-up, and said out loud.

``LAMBOX_SANDBOX``: ``linux`` requires the isolating backend (start-up fails with the reason
when the machine does not allow it), ``process`` asks for plain processes, ``auto`` (the
default) takes ``linux`` where it works and otherwise falls back to ``process`` with a
warning that names what is missing. Never silently: the chosen backend is always logged.
``LAMBOX_CPU_MODE`` picks the Linux backend's CPU policy (``cgroups.CpuPolicy``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

from lambox.errors import SandboxError
from lambox.sandbox import pylibs
from lambox.sandbox.api import SandboxFactory
from lambox.sandbox.cgroups import CgroupTree, CpuPolicy
from lambox.sandbox.environment import NO_CONTEXT, RUNTIME_DIR, SandboxContext
from lambox.sandbox.linux import SANDBOX_UID, LinuxSandboxFactory
from lambox.sandbox.process import ProcessSandboxFactory
from lambox.sandbox.wired import INIT_TIMEOUT

log = logging.getLogger("lambox")

MODES = ("auto", "linux", "process")
# A started namespace probe, or why none was started (``start_probe``).
Probe = subprocess.Popen[str] | str
_PROBE = "import sys; from lambox.runtime.jail import probe; print(probe(sys.argv[1]) or '')"


def probe_dir(data_dir: Path) -> Path:
    """Where the probe of a server with ``data_dir`` tries its mounts."""
    return data_dir / "sandbox" / "probe"


def early_probe(mode: str, data_dir: Path) -> Probe | None:
    """The namespace probe, started before the server's modules are imported (``lambox
    serve``): its interpreter then runs beside that import, a quarter of a second, instead
    of being waited for in the middle of start-up. None when ``mode`` (``LAMBOX_SANDBOX``)
    needs no probe or is not one ``sandbox_factory`` accepts: it says why."""
    if mode.strip().lower() not in ("auto", "linux"):
        return None
    return start_probe(probe_dir(data_dir))


def probe_namespaces(staging: Path) -> str | None:
    """Why namespaces cannot be used here, found by trying them in a throwaway process."""
    return finish_probe(start_probe(staging))


def start_probe(staging: Path) -> Probe:
    """Start the namespace probe (or say at once why there is none to start): start-up
    does its own work while the probe's interpreter runs, then ``finish_probe``."""
    if not sys.platform.startswith("linux"):
        return f"not Linux ({sys.platform})"
    if os.geteuid() != 0:
        return "lambox is not running as root"
    staging.mkdir(parents=True, exist_ok=True)
    env = {"PYTHONPATH": RUNTIME_DIR, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    try:
        return subprocess.Popen(
            [sys.executable, "-c", _PROBE, str(staging)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as exc:
        return f"the namespace probe did not run: {exc}"


def finish_probe(probe: Probe) -> str | None:
    """The started probe's verdict: None when namespaces work, else why not."""
    if isinstance(probe, str):
        return probe
    try:
        stdout, stderr = probe.communicate(timeout=30)
    except subprocess.TimeoutExpired as exc:
        probe.kill()
        probe.communicate()
        return f"the namespace probe did not run: {exc}"
    if probe.returncode != 0:
        return f"the namespace probe failed: {stderr.strip()[-300:]}"
    return stdout.strip() or None


def open_linux(
    data_dir: Path,
    code_root: Path,
    cpu: CpuPolicy | None = None,
    context: SandboxContext = NO_CONTEXT,
    libs: list[str] | None = None,
    init_limit: float = INIT_TIMEOUT,
    probe: Probe | None = None,
) -> LinuxSandboxFactory:
    """The isolating backend, or SandboxError saying why this machine cannot have it
    (``probe``: the namespace probe, if the caller started it already)."""
    if probe is None:
        probe = start_probe(probe_dir(data_dir))
    reason = finish_probe(probe)
    if reason is not None:
        raise SandboxError(reason)
    tree, why = CgroupTree.for_this_machine()
    if tree is None:
        raise SandboxError(why)
    try:
        return LinuxSandboxFactory.open(
            tree, data_dir, code_root, cpu=cpu, context=context, libs=libs, init_limit=init_limit
        )
    except OSError as exc:
        raise SandboxError(f"cannot set up cgroups or zygotes: {exc}") from exc


def sandbox_factory(
    mode: str,
    data_dir: Path,
    code_root: Path,
    cpu_mode: str = "shares",
    context: SandboxContext = NO_CONTEXT,
    init_limit: float = INIT_TIMEOUT,
    probe: Probe | None = None,
) -> SandboxFactory:
    """The backend ``mode`` (a ``LAMBOX_SANDBOX`` value) selects on this machine; every
    sandbox's environment carries ``context``, Python functions find the runtime's
    libraries (``sandbox.pylibs``) on their ``sys.path``, and on-demand inits may take
    ``init_limit`` seconds (``LAMBOX_INIT_TIMEOUT``). ``probe``: the namespace probe
    ``early_probe`` started, if it was."""
    mode = mode.strip().lower()
    if mode not in MODES:
        raise SandboxError(f"LAMBOX_SANDBOX must be one of {', '.join(MODES)}, not {mode!r}")
    try:
        cpu = CpuPolicy(cpu_mode, os.cpu_count() or 1)
    except ValueError as exc:
        raise SandboxError(str(exc)) from None
    # The probe's interpreter runs while this one finds the libraries (both take tens of
    # milliseconds of start-up), if it was not started earlier still.
    if probe is None and mode != "process":
        probe = start_probe(probe_dir(data_dir))
    libs = pylibs.remembered(data_dir / "sandbox" / "python-libs.json")

    def plain() -> ProcessSandboxFactory:
        linked = pylibs.link(libs, data_dir / "sandbox" / "python-libs")
        return ProcessSandboxFactory(
            dataclasses.replace(context, python_libs=str(linked)), init_limit
        )

    if mode == "process":
        log.warning(
            "sandbox backend: process (LAMBOX_SANDBOX=process): functions run as plain"
            " processes with lambox's privileges, without namespaces or cgroups"
        )
        return plain()
    try:
        factory = open_linux(data_dir, code_root, cpu, context, libs, init_limit, probe)
    except SandboxError as exc:
        if mode == "linux":
            raise SandboxError(f"LAMBOX_SANDBOX=linux, but {exc.message}") from exc
        log.warning(
            "SANDBOX ISOLATION IS OFF: isolated sandboxes are not available here (%s);"
            " falling back to plain processes, which run functions with lambox's privileges"
            " and without memory, CPU or process limits. Set LAMBOX_SANDBOX=process to"
            " choose this knowingly, or LAMBOX_SANDBOX=linux to refuse to start without"
            " isolation.",
            exc.message,
        )
        return plain()
    tree = factory.cgroups.tree
    log.warning(
        "sandbox backend: linux (zygotes; pid, mount, ipc, uts and cgroup namespaces;"
        " cgroup v%d under %s; CPU mode %s)",
        tree.version,
        ", ".join(tree.dir_paths),
        cpu.mode,
    )
    return factory


def sandbox_uids(factory: SandboxFactory) -> frozenset[int]:
    """The uids the sandboxes of ``factory`` run as, apart from lambox's own (the linux
    backend's unprivileged user, whatever the runtime); none for plain processes, which
    run as lambox and cannot be told from it."""
    if isinstance(factory, LinuxSandboxFactory):
        return frozenset({SANDBOX_UID})
    return frozenset()
