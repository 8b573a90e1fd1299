"""What a signed object carries, and what checking it found.

AWS Signer's own format (a signature embedded in the zip, with a certificate chain) is not
reproduced. lambox writes the zip unchanged and puts the signature in the object's user
metadata: ``x-amz-meta-lambox-signature`` (base64 DER ECDSA P-384/SHA-384) and
``x-amz-meta-lambox-signing-job`` (the job that made it). The signed payload binds the
job, the profile version and the SHA-384 of the zip, so changing a byte of the zip, or
moving the signature to another job, fails the integrity check."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

SIGNATURE = "lambox-signature"
JOB = "lambox-signing-job"

Status = Literal["unsigned", "tampered", "valid", "expired", "revoked"]


def payload(job_id: str, profile_version_arn: str, data: bytes) -> bytes:
    """The bytes a job signs: format tag, job, profile version and the zip's digest."""
    digest = hashlib.sha384(data).hexdigest()
    return f"lambox-signer-v1\n{job_id}\n{profile_version_arn}\n{digest}\n".encode()


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of checking a package: ``valid`` (signed by ``profile_version_arn``, not
    expired, not revoked), ``expired`` or ``revoked`` (signed, no longer trusted),
    ``tampered`` (a signature that does not match the bytes: the integrity check failed)
    or ``unsigned`` (no signature lambox knows)."""

    status: Status
    profile_version_arn: str | None = None
    detail: str = ""
