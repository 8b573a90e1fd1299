"""CodeStore: content addressing, atomic unpacking, and refusal of hostile archives."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lambox.errors import InvalidParameterValue, RequestEntityTooLarge, ResourceNotFound
from lambox.store import code as code_module
from lambox.store.code import UNZIP_FAILED, CodeStore

TOO_BIG = "Unzipped size must be smaller than 262144000 bytes"
LINK = stat.S_IFLNK | 0o777
EXEC = stat.S_IFREG | 0o755
PLAIN = stat.S_IFREG | 0o644


def make_zip(*entries: tuple[str, bytes] | tuple[str, bytes, int]) -> bytes:
    """Build a deflated zip; an entry's optional third item is its unix mode."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry in entries:
            name, data = entry[0], entry[1]
            mode = entry[2] if len(entry) == 3 else (0o40755 if name.endswith("/") else PLAIN)
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def local_header(name: str, method: int, crc: int, csize: int, usize: int) -> bytes:
    raw = name.encode()
    head = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, csize, usize, len(raw), 0
    )
    return head + raw


def central_header(name: str, method: int, crc: int, csize: int, usize: int, offset: int) -> bytes:
    raw = name.encode()
    head = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        (3 << 8) | 20,
        20,
        0,
        method,
        0,
        0x21,
        crc,
        csize,
        usize,
        len(raw),
        0,
        0,
        0,
        0,
        PLAIN << 16,
        offset,
    )
    return head + raw


def finish(body: bytes, centrals: list[bytes]) -> bytes:
    directory = b"".join(centrals)
    n = len(centrals)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, len(directory), len(body), 0)
    return body + directory + end


def zeros_stream(total: int) -> bytes:
    """A raw deflate stream of ``total`` zero bytes, built without compressing them.

    One deflated MiB ending in a full flush refers to nothing before it, so its bytes can be
    repeated; a final empty block closes the stream.
    """
    mib = 2**20
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = co.compress(bytes(mib)) + co.flush(zlib.Z_FULL_FLUSH)
    return block * (total // mib) + b"\x03\x00"


def zeros_bomb(total: int) -> bytes:
    """A zip of ``total`` zeros; its CRC is left at zero as no one should get far enough to care."""
    data = zeros_stream(total)
    head = local_header("zeros", zipfile.ZIP_DEFLATED, 0, len(data), total)
    central = central_header("zeros", zipfile.ZIP_DEFLATED, 0, len(data), total, 0)
    return finish(head + data, [central])


def listing(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root: Path) -> CodeStore:
    return CodeStore(root)


@pytest.fixture
def untouched(tmp_path: Path, store: CodeStore, root: Path) -> Iterator[None]:
    """Asserts a rejected upload leaves the store, and everything around it, as it was."""
    before = listing(tmp_path)
    yield
    assert listing(tmp_path) == before
    for sub in ("zips", "tree", "tmp"):
        assert list((root / sub).iterdir()) == []


def reject(store: CodeStore, data: bytes, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        store.put(data)
    assert caught.value.message == message


# -- round trip ---------------------------------------------------------------------------------


def test_round_trip_files_dirs_and_modes(store: CodeStore, root: Path) -> None:
    data = make_zip(
        ("handler.py", b"def handler(e, c):\n    return e\n"),
        ("bootstrap", b"#!/bin/sh\nexec python3 handler.py\n", EXEC),
        ("pkg/", b""),
        ("pkg/__init__.py", b""),
        ("pkg/sub/deep.txt", b"deep"),
    )
    blob = store.put(data)

    assert blob.key == hashlib.sha256(data).hexdigest()
    assert blob.sha256 == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert blob.size == len(data)
    assert blob.zip_path == root / "zips" / f"{blob.key}.zip"
    assert blob.code_dir == root / "tree" / blob.key
    assert blob.zip_path.read_bytes() == data

    tree = blob.code_dir
    assert (tree / "handler.py").read_bytes() == b"def handler(e, c):\n    return e\n"
    assert (tree / "pkg" / "sub" / "deep.txt").read_bytes() == b"deep"
    assert listing(tree) == {
        "handler.py",
        "bootstrap",
        "pkg",
        "pkg/__init__.py",
        "pkg/sub",
        "pkg/sub/deep.txt",
    }
    assert stat.S_IMODE((tree / "bootstrap").stat().st_mode) == 0o555
    assert stat.S_IMODE((tree / "handler.py").stat().st_mode) == 0o444
    assert stat.S_IMODE((tree / "pkg" / "__init__.py").stat().st_mode) == 0o444
    for directory in (tree, tree / "pkg", tree / "pkg" / "sub"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o555
    assert list((root / "tmp").iterdir()) == []


def test_windows_zip_without_unix_mode_is_read_only(store: CodeStore) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("app.py")
        info.create_system = 0
        info.external_attr = 0x20
        zf.writestr(info, b"x = 1\n")
    blob = store.put(buf.getvalue())
    assert stat.S_IMODE((blob.code_dir / "app.py").stat().st_mode) == 0o444


def test_get_and_open_zip(store: CodeStore) -> None:
    data = make_zip(("a.py", b"a = 1\n"))
    blob = store.put(data)
    assert store.get(blob.key) == blob
    assert store.open_zip(blob.key).read_bytes() == data
    assert CodeStore(store._root).get(blob.key) == blob


@pytest.mark.parametrize("key", ["0" * 64, "../../etc/passwd", "", "A" * 64])
def test_unknown_key_is_not_found(store: CodeStore, key: str) -> None:
    with pytest.raises(ResourceNotFound):
        store.get(key)
    with pytest.raises(ResourceNotFound):
        store.open_zip(key)


def test_put_is_idempotent_and_unpacks_once(
    store: CodeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_zip(("a.py", b"a = 1\n"))
    first = store.put(data)
    inode = first.code_dir.stat().st_ino

    def must_not_unpack(*_: Any) -> None:
        raise AssertionError("unpacked twice")

    monkeypatch.setattr(CodeStore, "_unpack", must_not_unpack)
    assert store.put(data) == first
    assert first.code_dir.stat().st_ino == inode


def test_concurrent_puts_of_same_bytes(store: CodeStore, root: Path) -> None:
    data = make_zip(*[(f"m{i}.py", os.urandom(2000)) for i in range(50)])
    with ThreadPoolExecutor(8) as pool:
        blobs = list(pool.map(lambda _: store.put(data), range(16)))
    assert len(set(blobs)) == 1
    assert len(listing(blobs[0].code_dir)) == 50
    assert list((root / "tmp").iterdir()) == []


def test_loser_of_the_final_rename_discards_its_copy(
    store: CodeStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_zip(("a.py", b"a = 1\n"))
    real_unpack = CodeStore._unpack
    raced = threading.Event()

    def unpack_then_lose(self: CodeStore, zip_bytes: bytes, dest: Path) -> None:
        real_unpack(self, zip_bytes, dest)
        if not raced.is_set():
            raced.set()
            self.put(zip_bytes)

    monkeypatch.setattr(CodeStore, "_unpack", unpack_then_lose)
    blob = store.put(data)
    assert raced.is_set()
    assert (blob.code_dir / "a.py").read_bytes() == b"a = 1\n"
    assert list((root / "tmp").iterdir()) == []
    assert os.listdir(root / "tree") == [blob.key]


def test_crash_mid_put_leaves_no_final_tree(
    store: CodeStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Crash(Exception):
        pass

    def crash(*_: Any) -> None:
        raise Crash

    monkeypatch.setattr(code_module._Unpacker, "_seal", crash)
    with pytest.raises(Crash):
        store.put(make_zip(("a/b.py", b"b"), ("c.py", b"c")))
    assert list((root / "tree").iterdir()) == []
    assert list((root / "tmp").iterdir()) == []


def test_stale_temp_dirs_are_swept_at_start(root: Path) -> None:
    CodeStore(root)
    stale = root / "tmp" / "put-dead"
    (stale / "x").mkdir(parents=True)
    os.chmod(stale / "x", 0o555)
    fresh = root / "tmp" / "put-live"
    fresh.mkdir()
    old = time.time() - 7200
    os.utime(stale, (old, old))
    CodeStore(root)
    assert not stale.exists()
    assert fresh.exists()


def test_ten_megabyte_zip_is_stored_whole(store: CodeStore) -> None:
    data = make_zip(*[(f"lib/f{i}.bin", os.urandom(100_000)) for i in range(100)])
    assert len(data) > 10_000_000
    blob = store.put(data)
    assert len(list((blob.code_dir / "lib").iterdir())) == 100


# -- remove -------------------------------------------------------------------------------------


def test_remove(store: CodeStore, root: Path) -> None:
    data = make_zip(("a/b/c.py", b"c"), ("bootstrap", b"#!/bin/sh\n", EXEC))
    blob = store.put(data)
    store.remove(blob.key)
    assert not blob.code_dir.exists()
    assert not blob.zip_path.exists()
    with pytest.raises(ResourceNotFound):
        store.get(blob.key)
    store.remove(blob.key)
    store.remove("not-a-key")
    assert list((root / "tmp").iterdir()) == []
    again = store.put(data)
    assert (again.code_dir / "a" / "b" / "c.py").read_bytes() == b"c"


# -- size limits and bombs ------------------------------------------------------------------------


def test_zipped_size_limit(root: Path) -> None:
    store = CodeStore(root, max_zipped=1000)
    data = make_zip(("r.bin", os.urandom(2000)))
    with pytest.raises(RequestEntityTooLarge) as caught:
        store.put(data)
    assert caught.value.message == "Zipped size must be smaller than 1000 bytes"


@pytest.mark.usefixtures("untouched")
def test_unzipped_size_limit(root: Path) -> None:
    store = CodeStore(root, max_unzipped=100_000)
    data = make_zip(*[(f"r{i}.bin", os.urandom(30_000)) for i in range(4)])
    reject(store, data, "Unzipped size must be smaller than 100000 bytes")


@pytest.mark.usefixtures("untouched")
def test_one_gigabyte_of_zeros_bomb(store: CodeStore) -> None:
    bomb = zeros_bomb(2**30)
    assert len(bomb) < 2 * 2**20
    reject(store, bomb, TOO_BIG)


def test_bomb_builder_makes_a_real_stream() -> None:
    assert zlib.decompress(zeros_stream(3 * 2**20), -15) == bytes(3 * 2**20)


@pytest.mark.usefixtures("untouched")
def test_compression_ratio_limit(store: CodeStore) -> None:
    reject(store, make_zip(("zeros.bin", bytes(10 * 2**20))), TOO_BIG)


@pytest.mark.usefixtures("untouched")
def test_too_many_files(root: Path) -> None:
    store = CodeStore(root, max_files=10)
    data = make_zip(*[(f"f{i}.py", b"") for i in range(11)])
    reject(store, data, "Unzipped size must be smaller than 262144000 bytes")


def patch_sizes(data: bytes, usize: int) -> bytes:
    """Rewrite the uncompressed size in every local and central header of a one-entry zip."""
    out = bytearray(data)
    local = out.index(b"PK\x03\x04")
    central = out.index(b"PK\x01\x02")
    struct.pack_into("<I", out, local + 22, usize)
    struct.pack_into("<I", out, central + 24, usize)
    return bytes(out)


@pytest.mark.usefixtures("untouched")
def test_file_size_header_claiming_less_than_the_data(root: Path) -> None:
    store = CodeStore(root, max_unzipped=100_000)
    data = patch_sizes(make_zip(("big.bin", os.urandom(500_000))), 10)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.infolist()[0].file_size == 10
    reject(store, data, UNZIP_FAILED)


@pytest.mark.usefixtures("untouched")
def test_file_size_header_claiming_more_than_the_limit(store: CodeStore) -> None:
    data = patch_sizes(make_zip(("small.bin", os.urandom(1000))), 300 * 2**20)
    reject(store, data, TOO_BIG)


@pytest.mark.usefixtures("untouched")
def test_streamed_bytes_are_counted_whatever_the_reader_yields(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CodeStore(root, max_unzipped=100_000)
    data = make_zip(("small.bin", os.urandom(1000)))
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *_, **__: io.BytesIO(bytes(200_000)))
    reject(store, data, "Unzipped size must be smaller than 100000 bytes")


@pytest.mark.usefixtures("untouched")
def test_entries_sharing_one_stream_are_a_bomb(root: Path) -> None:
    store = CodeStore(root, max_ratio=10**6)
    payload = b"x" * 100_000
    crc = zlib.crc32(payload)
    body = local_header("a", zipfile.ZIP_STORED, crc, len(payload), len(payload)) + payload
    centrals = [
        central_header(f"a{i}", zipfile.ZIP_STORED, crc, len(payload), len(payload), 0)
        for i in range(10)
    ]
    reject(store, finish(body, centrals), TOO_BIG)


@pytest.mark.usefixtures("untouched")
def test_entry_quoting_the_next_one_is_a_bomb(root: Path) -> None:
    store = CodeStore(root, max_ratio=10**6)
    second = b"y" * 1000
    second_record = local_header("b", zipfile.ZIP_STORED, zlib.crc32(second), 1000, 1000) + second
    first = b"x" * 1000
    first_record = local_header("a", zipfile.ZIP_STORED, 0, 1000, 1000) + first
    quoted = len(first) + len(second_record)
    centrals = [
        central_header("a", zipfile.ZIP_STORED, 0, quoted, quoted, 0),
        central_header("b", zipfile.ZIP_STORED, zlib.crc32(second), 1000, 1000, len(first_record)),
    ]
    reject(store, finish(first_record + second_record, centrals), TOO_BIG)


# -- malformed archives ---------------------------------------------------------------------------


def corrupt_crc(data: bytes) -> bytes:
    out = bytearray(data)
    local = out.index(b"PK\x03\x04")
    name_len, extra_len = struct.unpack_from("<HH", out, local + 26)
    out[local + 30 + name_len + extra_len] ^= 0xFF
    return bytes(out)


def encrypted_zip() -> bytes:
    out = bytearray(make_zip(("a.py", b"a = 1\n")))
    for magic, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = out.index(magic) + at
        struct.pack_into("<H", out, pos, struct.unpack_from("<H", out, pos)[0] | 1)
    return bytes(out)


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is not a zip file",
        make_zip(),
        make_zip(("a.py", b"a = 1\n" * 1000))[:-30],
        pytest.param(corrupt_crc(make_zip(("s.txt", b"stored data" * 10, PLAIN))), id="crc"),
        pytest.param(encrypted_zip(), id="encrypted"),
    ],
)
def test_unreadable_archives(store: CodeStore, data: bytes) -> None:
    reject(store, data, UNZIP_FAILED)


@pytest.mark.usefixtures("untouched")
def test_duplicate_entries(store: CodeStore) -> None:
    with pytest.warns(UserWarning):
        data = make_zip(("a.py", b"1"), ("a.py", b"2"))
    reject(store, data, UNZIP_FAILED)


@pytest.mark.usefixtures("untouched")
def test_file_where_a_directory_must_go(store: CodeStore) -> None:
    reject(store, make_zip(("a", b"file"), ("a/b.py", b"")), UNZIP_FAILED)


# -- escaping the tree ----------------------------------------------------------------------------


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    "name",
    [
        "../evil",
        "a/../../evil",
        "ok/../evil",
        "/tmp/evil",
        "/etc/cron.d/evil",
        "C:/evil",
        "c:evil",
        "\\evil",
        "..\\evil",
        "a\\..\\..\\evil",
    ],
)
def test_paths_escaping_the_tree(store: CodeStore, name: str) -> None:
    reject(store, make_zip(("fine.py", b""), (name, b"evil")), UNZIP_FAILED)


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    "entries",
    [
        [("passwd", b"/etc/passwd", LINK)],
        [("up", b"..", LINK)],
        [("a/up", b"../../x", LINK)],
        [("C", b"C:/Windows", LINK)],
        [("x/b", b"..", LINK), ("a", b"x/b/..", LINK)],
        [("d", b"sub", LINK), ("d/f.py", b"written through a link")],
        [("empty", b"", LINK)],
    ],
    ids=["absolute", "parent", "deep-parent", "drive", "chain", "under-link", "empty"],
)
def test_symlinks_escaping_the_tree(
    store: CodeStore, entries: list[tuple[str, bytes, int]]
) -> None:
    reject(store, make_zip(("sub/", b""), *entries), UNZIP_FAILED)


def test_symlinks_inside_the_tree_are_kept(store: CodeStore) -> None:
    blob = store.put(
        make_zip(
            ("node_modules/foo/cli.js", b"console.log(1)\n", EXEC),
            ("node_modules/.bin/foo", b"../foo/cli.js", LINK),
            ("lib", b"node_modules", LINK),
            ("x/b", b"..", LINK),
        )
    )
    tree = blob.code_dir
    link = tree / "node_modules" / ".bin" / "foo"
    assert link.is_symlink()
    assert os.readlink(link) == "../foo/cli.js"
    assert link.read_bytes() == b"console.log(1)\n"
    assert (tree / "lib").is_symlink()
    assert (tree / "x" / "b").resolve() == tree.resolve()
