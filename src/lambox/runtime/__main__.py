"""``python -m lambox.runtime``: the process a Python sandbox runs (plain-process backend).

``os._exit`` rather than a normal interpreter exit: once the host has closed the wire,
nothing the function left behind (non-daemon threads, atexit hooks that block) may keep
the sandbox alive, and its captured output has nowhere left to go anyway.

``PARENT_PID_ENV`` names the server that started it: the sandbox is killed when that
server dies, however it dies, rather than run on until its handler returns.
"""

import os

from lambox.runtime.bootstrap import main

PARENT_PID_ENV = "LAMBOX_PARENT_PID"

if __name__ == "__main__":
    parent = os.environ.pop(PARENT_PID_ENV, None)
    if parent:
        from lambox.runtime.namespaces import die_with_parent

        die_with_parent(int(parent))
    os._exit(main())
