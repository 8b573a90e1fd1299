"""Content-addressed storage of function code: each distinct zip is kept once, unpacked once.

Layout under ``root``::

    zips/<key>.zip    the uploaded bytes, served back by GetFunction
    tree/<key>/       the unpacked code, read-only, readable by any uid
    tmp/              work in progress; only ever renamed into place

``key`` is the hex SHA-256 of the zip bytes, so identical uploads from many functions or versions
share one copy. A blob is present once ``tree/<key>`` exists: the zip is renamed into place first,
the tree last, and both renames are atomic, so a crash leaves junk only under ``tmp/`` (swept once
it is stale) and never a half tree at a final path.

An upload is untrusted input headed for a filesystem, so the unpacker trusts nothing the archive
declares: sizes are re-counted while streaming, entries that overlap one another (the classic
zip bomb that reuses one compressed stream many times) are refused, and no path or symlink may
lead outside the tree.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import itertools
import logging
import os
import posixpath
import re
import shutil
import stat
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lambox.errors import (
    InvalidParameterValue,
    RequestEntityTooLarge,
    ResourceNotFound,
    StorageError,
)

log = logging.getLogger(__name__)

UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."

_KEY = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
_MAX_LINK_TARGET = 4096
_STALE_TMP_SECONDS = 3600.0
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_LOCAL_MAGIC = b"PK\x03\x04"
_ENCRYPTED = 0x1
_DRIVE = re.compile(r"[A-Za-z]:")

_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    ValueError,
    struct.error,
)
# The archive, not the host, is at fault when unpacking trips over one of these.
_ARCHIVE_ERRNOS = frozenset(
    {errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EILSEQ, errno.ELOOP}
)

_FILE_MODE = 0o444
_EXEC_MODE = 0o555
_DIR_MODE = 0o555
_WORK_DIR_MODE = 0o755


@dataclass(frozen=True, slots=True)
class CodeBlob:
    """One stored zip and its unpacked tree, named as the Lambda API names them."""

    sha256: str
    size: int
    key: str
    zip_path: Path
    code_dir: Path


class CodeStore:
    """Stores function code zips by content; limits default to the AWS Lambda quotas."""

    def __init__(
        self,
        root: Path,
        *,
        max_zipped: int = 50 * 2**20,
        max_unzipped: int = 250 * 2**20,
        max_files: int = 20000,
        max_ratio: int = 200,
    ) -> None:
        self._root = root
        self._zips = root / "zips"
        self._trees = root / "tree"
        self._tmp = root / "tmp"
        self._max_zipped = max_zipped
        self._max_unzipped = max_unzipped
        self._max_files = max_files
        self._max_ratio = max_ratio
        with _host_failures():
            for directory in (self._zips, self._trees, self._tmp):
                directory.mkdir(mode=_WORK_DIR_MODE, parents=True, exist_ok=True)
            self._sweep_tmp()

    def put(self, zip_bytes: bytes) -> CodeBlob:
        """Validate, store and unpack ``zip_bytes``; storing the same bytes again is a no-op.

        Safe against concurrent puts of the same bytes from threads or processes: each unpacks
        into its own temp dir and whoever loses the final rename throws its copy away.
        """
        if len(zip_bytes) > self._max_zipped:
            raise RequestEntityTooLarge(
                f"Zipped size must be smaller than {self._max_zipped} bytes"
            )
        blob = self._blob(hashlib.sha256(zip_bytes).hexdigest(), len(zip_bytes))
        with _host_failures():
            if blob.code_dir.is_dir():
                if not blob.zip_path.is_file():
                    self._write_zip(blob.zip_path, zip_bytes)
                return blob
            work = Path(tempfile.mkdtemp(prefix=f"put-{blob.key[:16]}-", dir=self._tmp))
            try:
                self._unpack(zip_bytes, work)
                self._write_zip(blob.zip_path, zip_bytes)
                try:
                    os.rename(work, blob.code_dir)
                except OSError:
                    if not blob.code_dir.is_dir():
                        raise
                    _rmtree(work)
                else:
                    os.chmod(blob.code_dir, _DIR_MODE)
            except BaseException:
                _rmtree(work)
                raise
        return blob

    def get(self, key: str) -> CodeBlob:
        """Return the stored blob for ``key``; ``ResourceNotFound`` unless both halves exist."""
        zip_path = self._zip_path(key)
        code_dir = self._trees / key
        try:
            size = zip_path.stat().st_size
        except FileNotFoundError:
            raise ResourceNotFound(f"Function code not found: {key}") from None
        if not code_dir.is_dir():
            raise ResourceNotFound(f"Function code not found: {key}")
        return self._blob(key, size)

    def tree(self, key: str) -> Path:
        """The unpacked tree of a blob or of a merged layer combination (``merged``)."""
        path = self._trees / key
        if not _KEY.fullmatch(key) or not path.is_dir():
            raise ResourceNotFound(f"Function code not found: {key}")
        return path

    def unzipped_size(self, key: str) -> int:
        """Bytes the unpacked tree of ``key`` holds (files and link targets), what AWS
        counts against the 250 MB of a function with its layers."""
        total = 0
        with _host_failures():
            for dirpath, _, names in os.walk(self.get(key).code_dir):
                for name in names:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
        return total

    def merged(self, keys: tuple[str, ...]) -> Path:
        """The layers ``keys`` (in order, later over earlier) as one read-only tree, made
        once per combination and named by it like any blob, so a sandbox binds it at /opt
        as it binds its code at /var/task. Files are hard links into the layers' trees."""
        digest = hashlib.sha256(("layers\0" + "\0".join(keys)).encode()).hexdigest()
        dest = self._trees / digest
        with _host_failures():
            if dest.is_dir():
                return dest
            sources = [self.get(key).code_dir for key in keys]
            work = Path(tempfile.mkdtemp(prefix=f"merge-{digest[:16]}-", dir=self._tmp))
            try:
                for source in sources:
                    _overlay(source, work)
                for dirpath, dirnames, _ in os.walk(work, topdown=False):
                    for name in dirnames:
                        path = os.path.join(dirpath, name)
                        if not os.path.islink(path):
                            os.chmod(path, _DIR_MODE)
                try:
                    os.rename(work, dest)
                except OSError:
                    if not dest.is_dir():
                        raise
                    _rmtree(work)
                else:
                    os.chmod(dest, _DIR_MODE)
            except BaseException:
                _rmtree(work)
                raise
        return dest

    def open_zip(self, key: str) -> Path:
        """Path of the stored zip, for serving the code back to its owner."""
        zip_path = self._zip_path(key)
        if not zip_path.is_file():
            raise ResourceNotFound(f"Function code not found: {key}")
        return zip_path

    def remove(self, key: str) -> None:
        """Delete a blob; absent is fine. Callers guarantee no function still points at it.

        The tree is renamed away first so that ``get`` stops finding the blob at once, even if
        deleting a large tree is interrupted.
        """
        if not _KEY.fullmatch(key):
            return
        with _host_failures():
            doomed = Path(tempfile.mkdtemp(prefix=f"rm-{key[:16]}-", dir=self._tmp))
            with contextlib.suppress(FileNotFoundError):
                os.chmod(self._trees / key, _WORK_DIR_MODE)
                os.rename(self._trees / key, doomed / "tree")
            _rmtree(doomed)
            (self._zips / f"{key}.zip").unlink(missing_ok=True)

    def _zip_path(self, key: str) -> Path:
        """Map a key to its zip path, refusing anything that is not a key (it names a file)."""
        if not _KEY.fullmatch(key):
            raise ResourceNotFound(f"Function code not found: {key}")
        return self._zips / f"{key}.zip"

    def _blob(self, key: str, size: int) -> CodeBlob:
        return CodeBlob(
            sha256=base64.b64encode(bytes.fromhex(key)).decode("ascii"),
            size=size,
            key=key,
            zip_path=self._zips / f"{key}.zip",
            code_dir=self._trees / key,
        )

    def _write_zip(self, zip_path: Path, zip_bytes: bytes) -> None:
        fd, tmp_name = tempfile.mkstemp(prefix="zip-", suffix=".zip", dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(zip_bytes)
                os.fchmod(out.fileno(), _FILE_MODE)
            os.rename(tmp_name, zip_path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def _unpack(self, zip_bytes: bytes, dest: Path) -> None:
        """Unpack into ``dest``, translating every archive fault into the AWS error."""
        try:
            with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
                _Unpacker(archive, zip_bytes, dest, self._limits(len(zip_bytes))).run()
        except _ZIP_ERRORS as exc:
            raise InvalidParameterValue(UNZIP_FAILED) from exc
        except OSError as exc:
            if exc.errno in _ARCHIVE_ERRNOS:
                raise InvalidParameterValue(UNZIP_FAILED) from exc
            raise _storage_failed(exc) from exc

    def _limits(self, zipped: int) -> _Limits:
        return _Limits(
            budget=min(self._max_unzipped, self._max_ratio * zipped),
            max_files=self._max_files,
            message=f"Unzipped size must be smaller than {self._max_unzipped} bytes",
        )

    def _sweep_tmp(self) -> None:
        """Delete leftovers of crashed puts; only stale ones, as another process may be mid-put."""
        cutoff = time.time() - _STALE_TMP_SECONDS
        for entry in self._tmp.iterdir():
            try:
                if entry.lstat().st_mtime < cutoff:
                    _rmtree(entry)
            except FileNotFoundError:
                pass


@dataclass(frozen=True, slots=True)
class _Limits:
    """What one upload may expand to: ``budget`` already folds in the compression ratio."""

    budget: int
    max_files: int
    message: str


@dataclass(slots=True)
class _Unpacker:
    """Extracts one archive into an empty work dir, trusting nothing it declares.

    Directories and files are created before any symlink, and no entry may live below a symlink
    entry, so nothing is ever written through a link; links are checked again by resolving them
    once all exist, which catches chains that only escape in combination.
    """

    archive: zipfile.ZipFile
    zip_bytes: bytes
    dest: Path
    limits: _Limits
    written: int = 0
    dirs: set[str] = field(default_factory=set)

    def run(self) -> None:
        infos = self.archive.infolist()
        if not infos:
            raise InvalidParameterValue(UNZIP_FAILED)
        if len(infos) > self.limits.max_files:
            raise InvalidParameterValue(self.limits.message)
        if sum(info.file_size for info in infos) > self.limits.budget:
            raise InvalidParameterValue(self.limits.message)
        if any(info.flag_bits & _ENCRYPTED for info in infos):
            raise InvalidParameterValue(UNZIP_FAILED)
        self._refuse_overlaps(infos)

        entries = [(info, _safe_parts(info.filename)) for info in infos]
        links = {parts for info, parts in entries if _is_symlink(info)}
        for _, parts in entries:
            if any(parts[:i] in links for i in range(1, len(parts))):
                raise InvalidParameterValue(UNZIP_FAILED)

        for info, parts in entries:
            if not parts:
                continue
            if info.is_dir():
                self._make_dir(parts)
            elif parts not in links:
                self._write_file(info, parts)
        for info, parts in entries:
            if parts and parts in links:
                self._make_symlink(info, parts)
        self._check_symlinks(links)
        self._seal()

    def _refuse_overlaps(self, infos: list[zipfile.ZipInfo]) -> None:
        """Refuse entries whose bytes overlap another's: that is how a small zip inflates huge."""
        spans: list[tuple[int, int]] = []
        for info in infos:
            start = info.header_offset
            if start < 0:
                raise InvalidParameterValue(UNZIP_FAILED)
            magic, name_len, extra_len = _LOCAL_HEADER.unpack_from(self.zip_bytes, start)
            if magic != _LOCAL_MAGIC:
                raise InvalidParameterValue(UNZIP_FAILED)
            end = start + _LOCAL_HEADER.size + name_len + extra_len + info.compress_size
            if end > len(self.zip_bytes):
                raise InvalidParameterValue(UNZIP_FAILED)
            spans.append((start, end))
        spans.sort()
        for (_, prev_end), (start, _) in itertools.pairwise(spans):
            if start < prev_end:
                raise InvalidParameterValue(self.limits.message)

    def _path(self, parts: tuple[str, ...]) -> str:
        return os.path.join(self.dest, *parts)

    def _make_dir(self, parts: tuple[str, ...]) -> None:
        for i in range(1, len(parts) + 1):
            rel = "/".join(parts[:i])
            if rel not in self.dirs:
                try:
                    os.mkdir(self._path(parts[:i]), _WORK_DIR_MODE)
                except FileExistsError:
                    if not os.path.isdir(self._path(parts[:i])):
                        raise
                self.dirs.add(rel)

    def _write_file(self, info: zipfile.ZipInfo, parts: tuple[str, ...]) -> None:
        if len(parts) > 1:
            self._make_dir(parts[:-1])
        mode = _EXEC_MODE if (info.external_attr >> 16) & 0o111 else _FILE_MODE
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self._path(parts), flags, 0o600)
        with os.fdopen(fd, "wb") as out, self.archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                self._spend(len(chunk))
                out.write(chunk)
            os.fchmod(out.fileno(), mode)

    def _make_symlink(self, info: zipfile.ZipInfo, parts: tuple[str, ...]) -> None:
        with self.archive.open(info) as member:
            raw = member.read(_MAX_LINK_TARGET + 1)
        self._spend(len(raw))
        if len(raw) > _MAX_LINK_TARGET:
            raise InvalidParameterValue(UNZIP_FAILED)
        target = raw.decode("utf-8")
        if not target or "\0" in target or target.startswith(("/", "\\")) or _DRIVE.match(target):
            raise InvalidParameterValue(UNZIP_FAILED)
        resolved = posixpath.normpath(posixpath.join(*parts[:-1], target))
        if resolved == ".." or resolved.startswith("../"):
            raise InvalidParameterValue(UNZIP_FAILED)
        if len(parts) > 1:
            self._make_dir(parts[:-1])
        os.symlink(target, self._path(parts))

    def _check_symlinks(self, links: set[tuple[str, ...]]) -> None:
        """Resolve every link for real; lexical checks alone miss links that chain through links."""
        root = os.path.realpath(self.dest)
        for parts in links:
            if not parts:
                continue
            resolved = os.path.realpath(self._path(parts))
            if resolved != root and not resolved.startswith(root + os.sep):
                raise InvalidParameterValue(UNZIP_FAILED)

    def _spend(self, size: int) -> None:
        self.written += size
        if self.written > self.limits.budget:
            raise InvalidParameterValue(self.limits.message)

    def _seal(self) -> None:
        """Make directories read-only, deepest first so each is still writable while we walk.

        The top stays owner-writable: Linux lets a directory move to a new parent only if it can
        rewrite the directory's ``..``, so it is sealed after its final rename.
        """
        for rel in sorted(self.dirs, key=lambda d: d.count("/"), reverse=True):
            os.chmod(os.path.join(self.dest, rel), _DIR_MODE)
        os.chmod(self.dest, _WORK_DIR_MODE)


@contextlib.contextmanager
def _host_failures() -> Iterator[None]:
    """Turn a failing disk into lambox's 500; faults of the archive itself were mapped earlier."""
    try:
        yield
    except OSError as exc:
        raise _storage_failed(exc) from exc


def _safe_parts(name: str) -> tuple[str, ...]:
    """Split an entry name into path components, refusing any that could land outside the tree.

    Backslashes count as separators here only for the checks: a Windows-made ``..\\x`` is
    refused even though on Linux it would merely be an odd file name.
    """
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or "\0" in name:
        raise InvalidParameterValue(UNZIP_FAILED)
    if any(part == ".." for part in re.split(r"[/\\]", name)):
        raise InvalidParameterValue(UNZIP_FAILED)
    return tuple(part for part in name.split("/") if part not in ("", "."))


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16) and not info.is_dir()


def _rmtree(path: Path) -> None:
    """Remove a tree that may hold read-only directories (which block deletion for non-root)."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, _, _ in os.walk(path):
            os.chmod(dirpath, _WORK_DIR_MODE)
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _storage_failed(exc: OSError) -> StorageError:
    """The disk under the code store failed: say how, without the server's paths."""
    log.error("storing function code failed: %s", exc)
    return StorageError(f"lambox could not store the function code: {exc.strerror or exc}.")


def _overlay(source: Path, dest: Path) -> None:
    """Put the tree ``source`` over ``dest`` (a work dir): what both hold, ``source`` wins,
    as a later layer wins over an earlier one in /opt. Regular files are hard links."""
    for dirpath, dirnames, filenames in os.walk(source):
        rel = os.path.relpath(dirpath, source)
        target_dir = dest if rel == "." else dest / rel
        if os.path.islink(target_dir) or (target_dir.exists() and not target_dir.is_dir()):
            target_dir.unlink()
        target_dir.mkdir(mode=_WORK_DIR_MODE, exist_ok=True)
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in (*filenames, *links):
            src = os.path.join(dirpath, name)
            dst = target_dir / name
            if os.path.lexists(dst):
                if dst.is_dir() and not dst.is_symlink():
                    _rmtree(dst)
                else:
                    dst.unlink()
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            else:
                os.link(src, dst)
