"""The overview's example, as ``make serve`` deploys it: an image uploaded with the AWS CLI
triggers ``examples/thumbnail``, which reads it and writes its thumbnail with boto3."""

from __future__ import annotations

import os
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CLIENT_ENV, ROOT, LamboxServer, serve_examples, stop_server

EXAMPLE = ROOT / "examples" / "thumbnail"
pytestmark = pytest.mark.skipif(
    not (EXAMPLE / "PIL").is_dir(), reason="Pillow is not vendored (make install does it)"
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    data = tmp_path_factory.mktemp("thumbnail") / "data"
    server = serve_examples(data, lambda log: "example deployed" in log and "thumbnail" in log)
    yield server
    stop_server(server)


def png(width: int, height: int) -> bytes:
    """A solid red RGB PNG, written by hand (the tests do not depend on Pillow)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xc8\x1e\x1e" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame segment."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise AssertionError("no start-of-frame segment")


def test_an_uploaded_image_gets_a_thumbnail(served: LamboxServer, tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    image.write_bytes(png(640, 480))
    env = {**os.environ, **CLIENT_ENV}
    aws = ["/usr/bin/aws", "--endpoint-url", served.url, "s3"]
    put = subprocess.run(
        [*aws, "cp", str(image), "s3://lambox-photos/images/photo.png"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert put.returncode == 0, put.stderr
    deadline = time.monotonic() + 90
    listing = ""
    while time.monotonic() < deadline and "photo.jpg" not in listing:
        listing = subprocess.run(
            [*aws, "ls", "s3://lambox-photos/thumbnails/"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        time.sleep(0.5)
    log = httpx.get(f"{served.url}/lambox/v1/logs/thumbnail").text
    assert "photo.jpg" in listing, log
    get = subprocess.run(
        [*aws, "cp", "s3://lambox-photos/thumbnails/photo.jpg", str(tmp_path / "thumb.jpg")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert get.returncode == 0, get.stderr
    assert jpeg_size((tmp_path / "thumb.jpg").read_bytes()) == (128, 96)
