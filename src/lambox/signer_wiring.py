"""How Signer is wired into a server (called by ``server.py``): its state and keys in the
data directory, its jobs reading and writing objects of lambox's S3, and the Lambda API's
reader of code given by S3 location, which checks the object's signature on the way.

The reader answers a missing bucket or key with Lambda's own InvalidParameterValueException
(``Error occurred while GetObject. S3 Error Code: ...``). lambox's S3 keeps one version of
each key, so an ``S3ObjectVersion`` is not looked up: the current object is read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from lambox.api.management import S3Code
from lambox.config import Settings
from lambox.control.code_signing import Checked
from lambox.errors import InvalidParameterValue, ServiceFault
from lambox.invoke.ids import new_request_id
from lambox.services.s3.calls import Call
from lambox.services.s3.errors import no_such_bucket, no_such_key
from lambox.services.s3.service import S3Service
from lambox.services.s3.store import ObjectStore
from lambox.services.signer.keys import KeyRing
from lambox.services.signer.service import SignerService
from lambox.services.signer.store import SignerStore
from lambox.services.signer.verify import SignatureVerifier


@dataclass
class Signer:
    """The Signer objects of one server: ``verifier`` is needed before S3 exists (by the
    Lambda API), ``service`` once it does (``connect``)."""

    store: SignerStore
    keys: KeyRing
    verifier: SignatureVerifier

    @classmethod
    def open(cls, data: Path) -> Signer:
        store = SignerStore(data / "signer" / "signer.db")
        keys = KeyRing(data / "signer" / "keys")
        return cls(store, keys, SignatureVerifier(store, keys, time.time))

    def connect(self, settings: Settings, objects: ObjectStore, s3: S3Service) -> SignerService:
        """The signer service, its jobs reading and writing lambox's S3."""

        async def read(bucket: str, key: str) -> bytes:
            data, _ = await asyncio.to_thread(_read, objects, bucket, key)
            return data

        async def write(bucket: str, key: str, data: bytes, metadata: dict[str, str]) -> None:
            async def body() -> AsyncIterator[bytes]:
                yield data

            params = {"Bucket": bucket, "Key": key, "Metadata": metadata}
            call = Call(params, body(), new_request_id(), "127.0.0.1", settings.region)
            await s3.put_object(call)

        return SignerService(
            self.store, self.keys, settings.region, settings.account_id, time.time, read, write
        )

    def s3_code(self, objects: ObjectStore) -> S3Code:
        """The Lambda API's reader of S3Bucket/S3Key code, with the signature's check."""

        async def code(bucket: str, key: str, version: str | None) -> tuple[bytes, Checked]:
            try:
                data, metadata = await asyncio.to_thread(_read, objects, bucket, key)
            except ServiceFault as fault:
                raise InvalidParameterValue(
                    f"Error occurred while GetObject. S3 Error Code: {fault.aws_type}."
                    f" S3 Error Message: {fault.message}"
                ) from fault
            return data, self.verifier.check(data, metadata)

        return code

    def close(self) -> None:
        self.store.close()


def _read(objects: ObjectStore, bucket: str, key: str) -> tuple[bytes, dict[str, str]]:
    """An object's body and user metadata, read together (one stored version)."""
    if objects.bucket(bucket) is None:
        raise no_such_bucket(bucket)
    stored = objects.get(bucket, key)
    if stored is None:
        raise no_such_key(key)
    return stored.path.read_bytes(), stored.metadata
