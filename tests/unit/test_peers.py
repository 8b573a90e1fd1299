"""``sandbox.peers``: the client end of a loopback connection is found by its socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from lambox.sandbox.peers import Gate, client_inode, connected_from


def test_the_client_socket_is_found_and_only_its_holders_are_admitted() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            conn, peer = server.accept()
            with conn:
                local = conn.getsockname()
                assert client_inode(peer, local) == os.fstat(client.fileno()).st_ino
                assert connected_from([os.getpid()], peer, local)
                other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
                try:
                    assert not connected_from([other.pid], peer, local)
                finally:
                    other.kill()
                    other.wait()
                gate = Gate()
                assert not gate.admits(peer, local)  # closed until told whom to admit
                gate.admit_only(lambda: [os.getpid()])
                assert gate.admits(peer, local)
                assert client_inode(("127.0.0.1", 1), local) is None  # no such connection
                stranger = Gate()
                stranger.open()
                assert stranger.admits(("127.0.0.1", 1), local)
