"""``python -m lambox.runtime``: the process a Python sandbox runs.

``os._exit`` rather than a normal interpreter exit: once the host has closed the wire,
nothing the function left behind (non-daemon threads, atexit hooks that block) may keep
the sandbox alive, and its captured output has nowhere left to go anyway.
"""

import os

from lambox.runtime.bootstrap import main

if __name__ == "__main__":
    os._exit(main())
