"""How Signer is wired into a server (called by ``server.py``): its state and keys in the
data directory, its jobs reading and writing objects of lambox's S3, and the Lambda API's
reader of code given by S3 location, which checks the object's signature on the way.

The reader answers a missing bucket or key with Lambda's own InvalidParameterValueException
(``Error occurred while GetObject. S3 Error Code: ...``). lambox's S3 keeps one version of
each key, so an ``S3ObjectVersion`` is not looked up: the current object is read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambox.api.management import S3Code
from lambox.config import Settings
from lambox.control.code_signing import Checked, CodeSigningService
from lambox.control.functions import FunctionService
from lambox.errors import InvalidParameterValue, LamboxError, ServiceFault
from lambox.invoke.ids import new_request_id
from lambox.services.s3.calls import Call
from lambox.services.s3.errors import no_such_bucket, no_such_key
from lambox.services.s3.service import S3Service
from lambox.services.s3.store import ObjectStore, StoredObject
from lambox.services.signer.keys import KeyRing
from lambox.services.signer.service import PLATFORM, SignerService
from lambox.services.signer.store import SignerStore
from lambox.services.signer.verify import SignatureVerifier

log = logging.getLogger(__name__)
EXAMPLE_SPEC = "signed.json"


@dataclass
class Signer:
    """The Signer objects of one server: ``verifier`` is needed before S3 exists (by the
    Lambda API), ``service`` once it does (``connect``)."""

    store: SignerStore
    keys: KeyRing
    verifier: SignatureVerifier
    now: Callable[[], float] = time.time
    service: SignerService | None = field(default=None)
    _objects: ObjectStore | None = field(default=None)

    @classmethod
    def open(cls, data: Path, now: Callable[[], float] = time.time) -> Signer:
        """``now`` is the clock signatures are made, expire and are revoked by (the events
        clock: LAMBOX_CLOCK_OFFSET moves it, for tests of expiry)."""
        store = SignerStore(data / "signer" / "signer.db")
        keys = KeyRing(data / "signer" / "keys")
        return cls(store, keys, SignatureVerifier(store, keys, now), now)

    def connect(self, settings: Settings, objects: ObjectStore, s3: S3Service) -> SignerService:
        """The signer service, its jobs reading and writing lambox's S3."""

        async def read(bucket: str, key: str) -> bytes:
            return await asyncio.to_thread(_lookup(objects, bucket, key).path.read_bytes)

        async def write(bucket: str, key: str, data: bytes, metadata: dict[str, str]) -> None:
            async def body() -> AsyncIterator[bytes]:
                yield data

            params = {"Bucket": bucket, "Key": key, "Metadata": metadata}
            call = Call(params, body(), new_request_id(), "127.0.0.1", settings.region)
            await s3.put_object(call)

        self._objects = objects
        self.service = SignerService(
            self.store, self.keys, settings.region, settings.account_id, self.now, read, write
        )
        return self.service

    def s3_code(self, objects: ObjectStore) -> S3Code:
        """The Lambda API's reader of S3Bucket/S3Key code, with the signature's check."""

        def checked_read(stored: StoredObject) -> tuple[bytes, Checked]:
            data = stored.path.read_bytes()
            return data, self.verifier.check(data, stored.metadata)

        async def code(bucket: str, key: str, version: str | None) -> tuple[bytes, Checked]:
            # Read and checked off the event loop: hashing a 50 MB zip takes about 0.1 s.
            try:
                stored = _lookup(objects, bucket, key)
            except ServiceFault as fault:
                raise InvalidParameterValue(
                    f"Error occurred while GetObject. S3 Error Code: {fault.aws_type}."
                    f" S3 Error Message: {fault.message}"
                ) from fault
            return await asyncio.to_thread(checked_read, stored)

        return code

    async def deploy_examples(
        self,
        root: Path,
        code_signing: CodeSigningService,
        functions: FunctionService,
        zip_directory: Callable[[Path], bytes],
    ) -> list[str]:
        """Each ``examples/<dir>/signed.json``: its directory uploaded to the example's
        bucket, signed by its profile, and deployed from the signed object under a code
        signing config with its policy, through the same checks as CreateFunction. A
        function that exists already is left as it is."""
        deployed = []
        for spec_path in sorted(root.glob(f"*/{EXAMPLE_SPEC}")):
            spec: dict[str, Any] = json.loads(spec_path.read_text())
            name = spec["Function"]["FunctionName"]
            try:
                functions.get(name)
                continue
            except LamboxError:
                pass
            try:
                await self._deploy_example(
                    spec, zip_directory(spec_path.parent), code_signing, functions
                )
            except LamboxError as exc:
                log.error("signed example %s not deployed: %s", name, exc.message)
                continue
            deployed.append(name)
        return deployed

    async def _deploy_example(
        self,
        spec: dict[str, Any],
        blob: bytes,
        code_signing: CodeSigningService,
        functions: FunctionService,
    ) -> None:
        service, objects = self.service, self._objects
        if service is None or objects is None:
            raise RuntimeError("Signer.connect comes before its examples")
        bucket = str(spec["Bucket"])
        objects.create_bucket(bucket, service.region)
        source = f"src/{spec['Function']['FunctionName']}.zip"
        await service.put_source(bucket, source, blob)
        profile = service.put_profile(
            {"profileName": spec["SigningProfile"], "platformId": PLATFORM}
        )
        job_id = (
            await service.start_job(
                {
                    "source": {"s3": {"bucketName": bucket, "key": source, "version": "1"}},
                    "destination": {"s3": {"bucketName": bucket, "prefix": "signed/"}},
                    "profileName": spec["SigningProfile"],
                    "clientRequestToken": str(uuid.uuid4()),
                }
            )
        )["jobId"]
        data, checked = await self.s3_code(objects)(bucket, f"signed/{job_id}.zip", None)
        config = code_signing.create(
            {
                "Description": f"example {spec['Function']['FunctionName']}",
                "AllowedPublishers": {"SigningProfileVersionArns": [profile["profileVersionArn"]]},
                "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": spec["Policy"]},
            }
        )
        params = {
            **spec["Function"],
            "Code": {"ZipFile": data},
            "CodeSigningConfigArn": config["CodeSigningConfigArn"],
        }
        arn = code_signing.config_for_create(params, checked)
        made = await functions.create(params)
        if arn is not None:
            code_signing.bind(made.name, arn)

    def close(self) -> None:
        self.store.close()


def _lookup(objects: ObjectStore, bucket: str, key: str) -> StoredObject:
    """An object of lambox's S3 (on the event loop: the object store is not shared with
    threads), or S3's own error."""
    if objects.bucket(bucket) is None:
        raise no_such_bucket(bucket)
    stored = objects.get(bucket, key)
    if stored is None:
        raise no_such_key(key)
    return stored
