"""Request and trace ids: well-formed, never repeated, not even by a forked child."""

from __future__ import annotations

import os
import re

from lambox.invoke import ids

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TRACE = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0")


def test_ids_are_well_formed_and_unique_across_blocks() -> None:
    made = [ids.new_request_id() for _ in range(1000)]  # several blocks of digits
    assert all(UUID4.fullmatch(i) for i in made)
    assert len(set(made)) == len(made)
    assert TRACE.fullmatch(ids.trace_id())


def test_a_forked_child_does_not_repeat_its_parents_digits() -> None:
    ids.new_request_id()  # the parent holds unread digits now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, ids.new_request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert UUID4.fullmatch(child)
    assert child != ids.new_request_id()
