"""Which host directories the sandbox view stashes and binds again past a sandbox's mounts."""

from __future__ import annotations

from lambox.runtime.jail import HOST_STASH, masked_dirs


def test_directories_under_the_sandboxes_tmp_are_stashed_in_order() -> None:
    binds = ["/srv/lambox/.venv", "/tmp/clone/.venv", "/opt/lambox", "/tmp/clone/src"]
    assert masked_dirs(binds) == [
        ("/tmp/clone/.venv", f"{HOST_STASH}/0"),
        ("/tmp/clone/src", f"{HOST_STASH}/1"),
    ]


def test_a_name_that_only_starts_like_a_mount_point_is_not_masked() -> None:
    assert masked_dirs(["/tmpfs-cache/py", "/tmp2/lib"]) == []
