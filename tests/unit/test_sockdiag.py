"""``lambox.sockdiag``: the kernel names the owner and the inode of a local connection's
client socket, IPv4 and IPv6, and no longer vouches for one its process has closed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from lambox.sockdiag import client_socket


def _listener(family: socket.AddressFamily, host: str) -> socket.socket:
    server = socket.socket(family)
    server.bind((host, 0))
    server.listen()
    return server


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
)
def test_the_client_socket_is_named_by_owner_and_inode(
    family: socket.AddressFamily, host: str
) -> None:
    with _listener(family, host) as server:
        with socket.socket(family) as client:
            client.connect(server.getsockname()[:2])
            conn, peer = server.accept()
            with conn:
                local = conn.getsockname()[:2]
                found = client_socket(peer[:2], local)
                assert found is not None
                assert found.uid == os.geteuid()
                assert found.inode == os.fstat(client.fileno()).st_ino
                assert client_socket((host, 1), local) is None  # no such connection
        # Closed by its process: no inode, so its owner is no longer vouched for.
        found = client_socket(peer[:2], local)
        assert found is None or found.inode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
def test_the_owner_is_the_uid_that_made_the_socket() -> None:
    with _listener(socket.AF_INET, "127.0.0.1") as server:
        server.settimeout(30)
        port = server.getsockname()[1]
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import encodings.idna, os, socket, sys; os.setresuid(993, 993, 993);"
                f" s = socket.create_connection(('127.0.0.1', {port})); sys.stdin.read()",
            ],
            stdin=subprocess.PIPE,
        )
        try:
            conn, peer = server.accept()
            with conn:
                found = client_socket(peer, conn.getsockname())
                assert found is not None and found.uid == 993 and found.inode != 0
        finally:
            child.communicate(b"")
