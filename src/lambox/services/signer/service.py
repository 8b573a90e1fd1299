"""AWS Signer's operations for Lambda code: signing profiles (Put, Get, List, Cancel,
Revoke) and signing jobs (Start, Describe, List, RevokeSignature). ``verify`` checks
what the jobs signed.

A job runs inside StartSigningJob: it reads the source object from lambox's S3, signs it
with the profile version's key (``keys``) and writes the signed object to the destination
bucket as ``<prefix><jobId>.zip`` (AWS's naming), with the signature in its metadata
(``signatures``). Its answer is the job id, and DescribeSigningJob then says
``Succeeded`` (or ``Failed`` with the reason, when the source cannot be read).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import secrets
import string
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from lambox.errors import LamboxError, ServiceFault
from lambox.services.signer import signatures
from lambox.services.signer.keys import KeyRing
from lambox.services.signer.store import SignerStore

PLATFORM = "AWSLambda-SHA384-ECDSA"
PLATFORM_NAME = "AWS Lambda"
DEFAULT_VALIDITY: dict[str, Any] = {"value": 135, "type": "MONTHS"}
_DAYS = {"DAYS": 1, "MONTHS": 30, "YEARS": 365}
_PROFILE_NAME = re.compile(r"^[a-zA-Z0-9_]{2,64}$")
_TIMESTAMPS = ("createdAt", "completedAt", "signatureExpiresAt", "revokedAt", "effectiveFrom")
_ALPHANUMERIC = string.ascii_letters + string.digits
# The one platform lambox signs for, as GetSigningPlatform describes it.
PLATFORM_DOC: dict[str, Any] = {
    "platformId": PLATFORM,
    "displayName": PLATFORM_NAME,
    "partner": "AWSLambda",
    "target": "SHA384-ECDSA",
    "category": "AWSIoT",
    "signingConfiguration": {
        "encryptionAlgorithmOptions": {"allowedValues": ["ECDSA"], "defaultValue": "ECDSA"},
        "hashAlgorithmOptions": {"allowedValues": ["SHA384"], "defaultValue": "SHA384"},
    },
    "signingImageFormat": {"supportedFormats": ["JSONDetached"], "defaultFormat": "JSONDetached"},
    "maxSizeInMB": 250,
    "revocationSupported": True,
}

ReadObject = Callable[[str, str], Awaitable[bytes]]
"""The body of ``bucket``/``key`` in lambox's S3 (a ServiceFault when it is missing)."""
WriteObject = Callable[[str, str, bytes, dict[str, str]], Awaitable[None]]
"""Store a body with user metadata under ``bucket``/``key`` in lambox's S3."""
Handler = Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


def _not_found(message: str) -> ServiceFault:
    return ServiceFault("ResourceNotFoundException", message, 404)


def _validation(message: str) -> ServiceFault:
    return ServiceFault("ValidationException", message, 400)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


def _shown(doc: Any) -> Any:
    """A stored document as an answer: its epoch-second timestamps as datetimes."""
    if isinstance(doc, dict):
        return {
            k: dt.datetime.fromtimestamp(v, dt.UTC)
            if k in _TIMESTAMPS and isinstance(v, int | float)
            else _shown(v)
            for k, v in doc.items()
        }
    return doc


def _page(items: list[dict[str, Any]], params: Mapping[str, Any]) -> tuple[list[Any], str | None]:
    token = str(params.get("nextToken") or "0")
    start = int(token) if token.isdigit() else 0
    limit = int(params.get("maxResults") or 20)
    end = start + limit
    return items[start:end], (str(end) if end < len(items) else None)


class SignerService:
    """The ``signer`` service of one account and region."""

    def __init__(
        self,
        store: SignerStore,
        keys: KeyRing,
        region: str,
        account: str,
        now: Callable[[], float],
        read_object: ReadObject,
        write_object: WriteObject,
    ) -> None:
        self._store = store
        self._keys = keys
        self.region = region
        self.account = account
        self._now = now
        self._read = read_object
        self._write = write_object
        self.operations: dict[str, Handler] = {
            "PutSigningProfile": self.put_profile,
            "GetSigningProfile": self.get_profile,
            "ListSigningProfiles": self.list_profiles,
            "CancelSigningProfile": self.cancel_profile,
            "RevokeSigningProfile": self.revoke_profile,
            "StartSigningJob": self.start_job,
            "DescribeSigningJob": self.describe_job,
            "ListSigningJobs": self.list_jobs,
            "RevokeSignature": self.revoke_signature,
            "GetSigningPlatform": self.get_platform,
            "ListSigningPlatforms": self.list_platforms,
        }

    def profile_arn(self, name: str) -> str:
        return f"arn:aws:signer:{self.region}:{self.account}:/signing-profiles/{name}"

    def resource(self, operation: str, params: dict[str, Any]) -> str:
        """The ARN IAM authorizes ``signer:<operation>`` on."""
        if "profileName" in params:
            return self.profile_arn(str(params["profileName"]))
        if "jobId" in params:
            return f"arn:aws:signer:{self.region}:{self.account}:/signing-jobs/{params['jobId']}"
        return "*"

    # -- platforms -------------------------------------------------------------------------

    def get_platform(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["platformId"] != PLATFORM:
            raise _not_found(f"Signing platform {params['platformId']} is not served by lambox.")
        return dict(PLATFORM_DOC)

    def list_platforms(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = {k: params[k] for k in ("category", "partner", "target") if params.get(k)}
        matches = all(PLATFORM_DOC[k] == v for k, v in wanted.items())
        return {"platforms": [dict(PLATFORM_DOC)] if matches else []}

    # -- profiles --------------------------------------------------------------------------

    def put_profile(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["profileName"])
        if not _PROFILE_NAME.match(name):
            raise _validation(
                "1 validation error detected: Value at 'profileName' failed to satisfy"
                " constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_]{2,}"
            )
        if params["platformId"] != PLATFORM:
            raise _validation(
                f"lambox signs Lambda code only: platformId must be {PLATFORM},"
                f" not {params['platformId']}."
            )
        current = self._store.profile(name)
        if current is not None:
            if current["status"] != "Active":
                raise _validation(
                    f"Signing profile {name} is {current['status'].lower()}; its name cannot"
                    " be used again."
                )
            return self._put_answer(current)
        validity: dict[str, Any] = params.get("signatureValidityPeriod") or DEFAULT_VALIDITY
        if int(validity.get("value", 0)) <= 0 or validity.get("type") not in _DAYS:
            raise _validation("signatureValidityPeriod needs a positive value and a type.")
        version = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(10))
        self._keys.create(version)
        doc: dict[str, Any] = {
            "profileName": name,
            "profileVersion": version,
            "profileVersionArn": f"{self.profile_arn(name)}/{version}",
            "platformId": PLATFORM,
            "platformDisplayName": PLATFORM_NAME,
            "signatureValidityPeriod": {
                "value": int(validity["value"]),
                "type": validity["type"],
            },
            "status": "Active",
            "arn": self.profile_arn(name),
            "tags": dict(params.get("tags") or {}),
            "createdAt": self._now(),
        }
        self._store.save_profile(doc)
        return self._put_answer(doc)

    @staticmethod
    def _put_answer(doc: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "arn": doc["arn"],
            "profileVersion": doc["profileVersion"],
            "profileVersionArn": doc["profileVersionArn"],
        }

    def _profile(self, name: str) -> dict[str, Any]:
        doc = self._store.profile(name)
        if doc is None:
            raise _not_found(f"Signing profile {name} does not exist.")
        return doc

    def get_profile(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._profile(str(params["profileName"]))
        doc.pop("createdAt", None)
        return dict(_shown(doc))

    def list_profiles(self, params: dict[str, Any]) -> dict[str, Any]:
        statuses = set(params.get("statuses") or ())
        profiles = []
        for doc in self._store.profiles():
            if doc["status"] == "Canceled" and not params.get("includeCanceled"):
                continue
            if statuses and doc["status"] not in statuses:
                continue
            if params.get("platformId") and doc["platformId"] != params["platformId"]:
                continue
            shown = {k: v for k, v in doc.items() if k not in ("createdAt", "revocationRecord")}
            shown.pop("statusReason", None)
            profiles.append(shown)
        page, token = _page(profiles, params)
        out: dict[str, Any] = {"profiles": page}
        if token:
            out["nextToken"] = token
        return out

    def cancel_profile(self, params: dict[str, Any]) -> dict[str, Any]:
        """No new jobs; signatures it made stay valid until they expire (as on AWS)."""
        doc = self._profile(str(params["profileName"]))
        if doc["status"] == "Active":
            doc["status"] = "Canceled"
            self._store.save_profile(doc)
        return {}

    def revoke_profile(self, params: dict[str, Any]) -> dict[str, Any]:
        """Signatures the profile version made at or after ``effectiveTime`` are untrusted
        from now on, and it makes no new ones."""
        doc = self._profile(str(params["profileName"]))
        if doc["profileVersion"] != params["profileVersion"]:
            raise _not_found(
                f"Signing profile {doc['profileName']} has no version {params['profileVersion']}."
            )
        if doc["status"] == "Revoked":
            raise _validation(f"Signing profile {doc['profileName']} is already revoked.")
        now = self._now()
        doc["status"] = "Revoked"
        doc["statusReason"] = str(params["reason"])
        doc["revocationRecord"] = {
            "effectiveFrom": _epoch(params["effectiveTime"]),
            "revokedAt": now,
            "revokedBy": self._caller(),
        }
        self._store.save_profile(doc)
        return {}

    async def put_source(self, bucket: str, key: str, data: bytes) -> None:
        """Store an object to sign (the examples' packages)."""
        await self._write(bucket, key, data, {})

    # -- jobs ------------------------------------------------------------------------------

    async def start_job(self, params: dict[str, Any]) -> dict[str, Any]:
        token = str(params["clientRequestToken"])
        done = self._store.job_by_token(token)
        if done is not None:
            return {"jobId": done["jobId"], "jobOwner": self.account}
        profile = self._profile(str(params["profileName"]))
        if profile["status"] != "Active":
            raise _validation(
                f"Signing profile {profile['profileName']} is {profile['status'].lower()}"
                " and signs nothing."
            )
        source = (params.get("source") or {}).get("s3")
        destination = (params.get("destination") or {}).get("s3")
        if not source or not destination or not destination.get("bucketName"):
            raise _validation("source.s3 and destination.s3.bucketName are required.")
        job_id = str(uuid.uuid4())
        now = self._now()
        key = f"{destination.get('prefix') or ''}{job_id}.zip"
        job: dict[str, Any] = {
            "jobId": job_id,
            "source": {"s3": dict(source)},
            "platformId": PLATFORM,
            "platformDisplayName": PLATFORM_NAME,
            "profileName": profile["profileName"],
            "profileVersion": profile["profileVersion"],
            "createdAt": now,
            "requestedBy": self._caller(),
            "jobOwner": self.account,
            "jobInvoker": self.account,
        }
        try:
            data = await self._read(str(source["bucketName"]), str(source["key"]))
            # Off the event loop: hashing a 50 MB zip takes about 0.1 s.
            signature = await asyncio.to_thread(
                self._sign, profile["profileVersion"], profile["profileVersionArn"], job_id, data
            )
            metadata = {
                signatures.SIGNATURE: base64.b64encode(signature).decode(),
                signatures.JOB: job_id,
            }
            await self._write(str(destination["bucketName"]), key, data, metadata)
        except LamboxError as exc:
            job.update(status="Failed", statusReason=f"Signing failed: {exc.message}")
        else:
            days = _DAYS[profile["signatureValidityPeriod"]["type"]]
            job.update(
                status="Succeeded",
                statusReason="Signing Succeeded",
                completedAt=self._now(),
                signatureExpiresAt=now
                + days * int(profile["signatureValidityPeriod"]["value"]) * 86400,
                signedObject={"s3": {"bucketName": destination["bucketName"], "key": key}},
            )
        self._store.save_job(job, token)
        return {"jobId": job_id, "jobOwner": self.account}

    def _sign(self, version: str, version_arn: str, job_id: str, data: bytes) -> bytes:
        return self._keys.sign(version, signatures.payload(job_id, version_arn, data))

    def _job(self, job_id: str) -> dict[str, Any]:
        job = self._store.job(job_id)
        if job is None:
            raise _not_found(f"Signing job {job_id} does not exist.")
        return job

    def describe_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(_shown(self._job(str(params["jobId"]))))

    def list_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        before = params.get("signatureExpiresBefore")
        after = params.get("signatureExpiresAfter")
        jobs = []
        for job in self._store.jobs():
            revoked = "revocationRecord" in job
            expires = job.get("signatureExpiresAt")
            if params.get("status") and job["status"] != params["status"]:
                continue
            if params.get("platformId") and job["platformId"] != params["platformId"]:
                continue
            if "isRevoked" in params and bool(params["isRevoked"]) != revoked:
                continue
            if before is not None and (expires is None or expires >= _epoch(before)):
                continue
            if after is not None and (expires is None or expires <= _epoch(after)):
                continue
            listed: dict[str, Any] = {
                k: job[k]
                for k in (
                    "jobId",
                    "source",
                    "signedObject",
                    "createdAt",
                    "status",
                    "profileName",
                    "profileVersion",
                    "platformId",
                    "platformDisplayName",
                    "signatureExpiresAt",
                    "jobOwner",
                    "jobInvoker",
                )
                if k in job
            }
            listed["isRevoked"] = revoked
            jobs.append(_shown(listed))
        page, token = _page(jobs, params)
        out: dict[str, Any] = {"jobs": page}
        if token:
            out["nextToken"] = token
        return out

    def revoke_signature(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(str(params["jobId"]))
        if "revocationRecord" not in job:
            job["revocationRecord"] = {
                "reason": str(params["reason"]),
                "revokedAt": self._now(),
                "revokedBy": self._caller(),
            }
            self._store.update_job(job)
        return {}

    def _caller(self) -> str:
        return f"arn:aws:iam::{self.account}:root"
