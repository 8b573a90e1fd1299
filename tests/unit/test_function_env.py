"""What every function's environment says about reaching lambox, and what the Python
runtimes put on a function's sys.path."""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

import pytest

from lambox.runtime.bootstrap import runtime_path
from lambox.sandbox import pylibs
from lambox.sandbox.environment import SandboxContext, endpoint_url


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:9000"),
        ("127.0.0.1", "http://127.0.0.1:9000"),
        ("10.1.2.3", "http://10.1.2.3:9000"),
        ("::", "http://[::1]:9000"),
        ("::1", "http://[::1]:9000"),
        ("localhost", "http://localhost:9000"),
    ],
)
def test_the_endpoint_is_an_address_a_local_function_can_reach(host: str, url: str) -> None:
    assert endpoint_url(host, 9000) == url


def test_credentials_look_like_temporary_ones_and_differ_per_server() -> None:
    a, b = SandboxContext.for_server("0.0.0.0", 1), SandboxContext.for_server("0.0.0.0", 1)
    variables = a.aws_variables()
    assert variables["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert variables["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert len(variables["AWS_ACCESS_KEY_ID"]) == 20
    assert len(variables["AWS_SECRET_ACCESS_KEY"]) == 40
    assert variables["AWS_SESSION_TOKEN"]
    assert a.access_key_id != b.access_key_id


def test_the_runtime_provides_boto3_and_what_it_needs_only() -> None:
    names = {os.path.basename(p) for p in pylibs.find()}
    for module in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3"):
        assert module in names
    assert any(n.startswith("boto3-") and n.endswith(".dist-info") for n in names)
    assert not names & {"starlette", "uvicorn", "httpx", "lambox", "pytest", "__pycache__"}


def test_links_point_at_the_installed_packages(tmp_path: Path) -> None:
    entries = pylibs.find()
    linked = pylibs.link(entries, tmp_path / "libs")
    pylibs.link(entries, tmp_path / "libs")  # made anew over the old one
    assert sorted(os.readlink(p) for p in linked.iterdir()) == entries


def test_what_site_added_after_the_standard_library_is_not_a_functions() -> None:
    stdlib = os.path.dirname(os.__file__)
    zipped = os.path.join(
        os.path.dirname(stdlib), f"python{sys.version_info[0]}{sys.version_info[1]}.zip"
    )
    std = [zipped, stdlib, os.path.join(stdlib, "lib-dynload")]
    sites = site.getsitepackages()
    path = ["", "/srv/runtime", "/srv/libs", *std, sites[0], "/from/a.pth"]
    assert runtime_path(path) == ["/srv/runtime", "/srv/libs", *std]
    assert runtime_path([os.getcwd(), "/srv/runtime", *std]) == ["/srv/runtime", *std]
    # A zygote's sandboxes find the runtime's libraries before the standard library.
    assert runtime_path(path, "/var/runtime") == [*path[1:3], "/var/runtime", *std]


def test_a_runtime_installed_in_site_packages_keeps_the_standard_library() -> None:
    stdlib = os.path.dirname(os.__file__)
    sites = site.getsitepackages()
    assert runtime_path([sites[0], stdlib, sites[0]]) == [sites[0], stdlib]


def test_the_runtimes_libraries_are_remembered_until_site_packages_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "data" / "python-libs.json"
    found = pylibs.find()
    assert pylibs.remembered(cache) == found
    assert cache.exists()
    # The next start reads its answer without looking at the distributions.
    calls: list[tuple[str, ...]] = []

    def counted(roots: tuple[str, ...] = pylibs.PROVIDED) -> list[str]:
        calls.append(roots)
        return found

    monkeypatch.setattr(pylibs, "find", counted)
    assert pylibs.remembered(cache) == found
    assert calls == []
    # A distribution installed or removed changes a directory on sys.path: found anew.
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    monkeypatch.syspath_prepend(str(site_dir))
    assert pylibs.remembered(cache) == found
    assert len(calls) == 1
    assert pylibs.remembered(cache) == found
    (site_dir / "new-1.0.dist-info").mkdir()
    os.utime(site_dir, ns=(1, 1))  # whatever the clock's resolution, its time changed
    assert pylibs.remembered(cache) == found
    assert len(calls) == 2
    # A broken cache file is no answer.
    cache.write_text("{not json")
    assert pylibs.remembered(cache) == found
    assert len(calls) == 3
