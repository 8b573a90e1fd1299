"""Checking a package against the signature its S3 object carries: what the Lambda API
asks before it deploys code from S3 under a code signing config. Only lambox's own
signatures (``signatures``) are recognized; the ordering of the checks follows Lambda's:
integrity first (a signature that does not match the bytes), then revocation and expiry."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping

from lambox.services.signer import signatures
from lambox.services.signer.keys import KeyRing
from lambox.services.signer.signatures import SignatureCheck
from lambox.services.signer.store import SignerStore


class SignatureVerifier:
    """Checks packages against the jobs and profile versions of one data directory."""

    def __init__(self, store: SignerStore, keys: KeyRing, now: Callable[[], float]) -> None:
        self._store = store
        self._keys = keys
        self._now = now

    def check(self, data: bytes, metadata: Mapping[str, str]) -> SignatureCheck:
        """What the signature an S3 object carries says about ``data``, its body."""
        meta = {k.lower(): v for k, v in metadata.items()}
        encoded, job_id = meta.get(signatures.SIGNATURE), meta.get(signatures.JOB)
        if not encoded or not job_id:
            return SignatureCheck("unsigned", detail="the object carries no signature")
        job = self._store.job(job_id)
        if job is None or job.get("status") != "Succeeded":
            return SignatureCheck("unsigned", detail=f"no signing job {job_id} succeeded")
        profile = self._store.profile_version(job["profileVersion"])
        if profile is None:
            return SignatureCheck("unsigned", detail=f"job {job_id} has no profile version")
        arn = str(profile["profileVersionArn"])
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return SignatureCheck("tampered", arn, "the signature is not base64")
        if not self._keys.verify(
            profile["profileVersion"], signatures.payload(job_id, arn, data), signature
        ):
            return SignatureCheck("tampered", arn, "the signature does not match the code")
        if "revocationRecord" in job:
            return SignatureCheck("revoked", arn, f"signing job {job_id} was revoked")
        record = profile.get("revocationRecord")
        if record is not None and job["createdAt"] >= record["effectiveFrom"]:
            return SignatureCheck("revoked", arn, "its signing profile version was revoked")
        if self._now() > float(job["signatureExpiresAt"]):
            return SignatureCheck("expired", arn, "the signature has expired")
        return SignatureCheck("valid", arn)
