"""The signing keys of profile versions: one ECDSA P-384 key each, generated when the
profile version is made and kept as a PEM file (mode 0600) in the data directory, so a
signature stays verifiable across restarts and kill -9. lambox plays the certificate
authority AWS Signer uses: nothing outside the data directory vouches for these keys."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography loads on the first key used, not at lambox's start-up
    from cryptography.hazmat.primitives.asymmetric import ec

_VERSION = re.compile(r"^[A-Za-z0-9]{1,64}$")


class KeyRing:
    """Private keys by profile version (``<root>/<version>.pem``)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)

    def create(self, version: str) -> None:
        """Generate the key of a new profile version, durably, before the profile is stored
        (a profile whose key was lost could never verify its signatures)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP384R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self._path(version)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        dir_fd = os.open(self._root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def sign(self, version: str, payload: bytes) -> bytes:
        """A DER-encoded ECDSA signature of ``payload`` over SHA-384."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        return self._key(version).sign(payload, ec.ECDSA(hashes.SHA384()))

    def verify(self, version: str, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is the profile version's signature of ``payload``."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            key = self._key(version)
        except FileNotFoundError:
            return False
        try:
            key.public_key().verify(signature, payload, ec.ECDSA(hashes.SHA384()))
        except InvalidSignature:
            return False
        return True

    def _key(self, version: str) -> ec.EllipticCurvePrivateKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = serialization.load_pem_private_key(self._path(version).read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"the key of profile version {version} is not an EC key")
        return key

    def _path(self, version: str) -> Path:
        if not _VERSION.match(version):
            raise ValueError(f"bad profile version {version!r}")
        return self._root / f"{version}.pem"
