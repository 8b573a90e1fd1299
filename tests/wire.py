"""HTTP/1.1 responses read off a raw socket, in order, as a client's parser would frame them:
by Content-Length, by chunked transfer coding, or (the answer to a HEAD) by its head alone.
For the tests that drive a connection byte by byte (keep-alive, pipelining, closing)."""

from __future__ import annotations

import socket


class Reader:
    """Responses off one connection, in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.fields: list[tuple[str, str]] = []  # the last head's fields, repeats kept

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, self.buf
        self.buf += chunk

    def _take(self, size: int) -> bytes:
        while len(self.buf) < size:
            self._more()
        taken, self.buf = self.buf[:size], self.buf[size:]
        return taken

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def head(self) -> tuple[int, list[tuple[str, str]]]:
        """The status and the header fields (names lower-cased, repeats kept) of the next
        response."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.fields = [(k.lower(), v) for k, v in (line.split(": ", 1) for line in lines[1:])]
        return int(lines[0].split()[1]), self.fields

    def response(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        """Status, headers (the last of each name) and body of the next response."""
        status, fields = self.head()
        headers = dict(fields)
        if head_only:
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self._line().split(b";")[0], 16):
                body += self._take(size)
                assert self._take(2) == b"\r\n"
            while self._line():  # trailer fields, then the empty line
                pass
            return status, headers, body
        return status, headers, self._take(int(headers.get("content-length", "0")))

    def closed(self) -> bool:
        """Whether the server closed the connection with nothing more to read."""
        self.sock.settimeout(10)
        return self.buf == b"" and self.sock.recv(1) == b""
