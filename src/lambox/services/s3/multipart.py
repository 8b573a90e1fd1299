"""S3's multipart upload operations, on an ``UploadStore`` beside the ``ObjectStore``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.s3.calls import Call, Result
from lambox.services.s3.store import Body, ObjectStore
from lambox.services.s3.uploads import UploadStore

MIN_PART = 5 * 1024**2
MAX_PART_NUMBER = 10_000


def no_such_upload(upload: str) -> ServiceFault:
    return ServiceFault(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload"
        " may have been aborted or completed.",
        404,
        UploadId=upload,
    )


def _invalid_part(number: int, etag: str) -> ServiceFault:
    return ServiceFault(
        "InvalidPart",
        "One or more of the specified parts could not be found.  The part may not have been"
        " uploaded, or the specified entity tag may not match the part's entity tag.",
        400,
        UploadId="",
        PartNumber=str(number),
        ETag=etag,
    )


class Multipart:
    """Create, UploadPart, Complete, Abort, ListParts and ListMultipartUploads."""

    def __init__(
        self,
        objects: ObjectStore,
        uploads: UploadStore,
        bucket: Callable[[str], Any],
        receive: Callable[[Any], Any],
        commit: Callable[..., Any],
        headers: Callable[[Any], dict[str, str]],
        tagging: Callable[[Any], dict[str, str]],
    ) -> None:
        self._objects = objects
        self._uploads = uploads
        self._bucket = bucket
        self._receive = receive
        self._commit = commit
        self._headers = headers
        self._tagging = tagging

    def _upload(self, params: Any) -> Any:
        self._bucket(params["Bucket"])
        upload = self._uploads.get(params["UploadId"])
        if upload is None or (upload.bucket, upload.key) != (params["Bucket"], params["Key"]):
            raise no_such_upload(params["UploadId"])
        return upload

    async def create(self, call: Call) -> Result:
        p = call.params
        self._bucket(p["Bucket"])
        upload = self._uploads.create(
            p["Bucket"],
            p["Key"],
            self._headers(p),
            dict(p.get("Metadata") or {}),
            self._tagging(p.get("Tagging")),
        )
        return Result({"Bucket": p["Bucket"], "Key": p["Key"], "UploadId": upload})

    async def upload_part(self, call: Call) -> Result:
        p = call.params
        upload = self._upload(p)
        number = int(p["PartNumber"])
        if not 1 <= number <= MAX_PART_NUMBER:
            raise ServiceFault(
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
                400,
                ArgumentName="partNumber",
                ArgumentValue=str(number),
            )
        body = await self._receive(call)
        part = self._uploads.add_part(upload.id, number, body)
        return Result({"ETag": part.etag})

    async def complete(self, call: Call) -> Result:
        p = call.params
        upload = self._upload(p)
        wanted = (p.get("MultipartUpload") or {}).get("Parts") or []
        if not wanted:
            raise ServiceFault(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our"
                " published schema",
            )
        stored = {part.number: part for part in self._uploads.parts(upload.id)}
        chosen = []
        last = 0
        for entry in wanted:
            number = int(entry.get("PartNumber", 0))
            if number <= last:
                raise ServiceFault(
                    "InvalidPartOrder",
                    "The list of parts was not in ascending order. Parts must be ordered by"
                    " part number.",
                    400,
                    UploadId=upload.id,
                )
            last = number
            part = stored.get(number)
            etag = str(entry.get("ETag", ""))
            if part is None or etag.strip('"') != part.md5:
                raise _invalid_part(number, etag)
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART:
                raise ServiceFault(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                    400,
                    ProposedSize=str(part.size),
                    MinSizeAllowed=str(MIN_PART),
                    PartNumber=str(part.number),
                    ETag=part.etag,
                )
        bucket = self._bucket(upload.bucket)
        body: Body = await self._uploads.assemble(upload.id, chosen, self._objects.incoming())
        obj = self._commit(
            call,
            bucket,
            upload.key,
            body,
            upload.headers,
            upload.metadata,
            upload.tags,
            "s3:ObjectCreated:CompleteMultipartUpload",
        )
        self._uploads.remove(upload.id)
        return Result(
            {
                "Location": f"/{upload.bucket}/{upload.key}",
                "Bucket": upload.bucket,
                "Key": upload.key,
                "ETag": obj.etag,
            }
        )

    async def abort(self, call: Call) -> Result:
        upload = self._upload(call.params)
        self._uploads.remove(upload.id)
        return Result(status=204)

    async def list_parts(self, call: Call) -> Result:
        p = call.params
        upload = self._upload(p)
        after = int(p.get("PartNumberMarker") or 0)
        limit = min(int(p.get("MaxParts") or 1000), 1000)
        parts = [x for x in self._uploads.parts(upload.id) if x.number > after]
        page = parts[:limit]
        out: dict[str, Any] = {
            "Bucket": upload.bucket,
            "Key": upload.key,
            "UploadId": upload.id,
            "PartNumberMarker": after,
            "MaxParts": limit,
            "IsTruncated": len(parts) > limit,
            "StorageClass": "STANDARD",
            "Parts": [
                {"PartNumber": x.number, "ETag": x.etag, "Size": x.size, "LastModified": x.modified}
                for x in page
            ],
        }
        if page:
            out["NextPartNumberMarker"] = page[-1].number
        return Result(out)

    async def list_uploads(self, call: Call) -> Result:
        p = call.params
        self._bucket(p["Bucket"])
        prefix = str(p.get("Prefix") or "")
        uploads = [u for u in self._uploads.uploads(p["Bucket"]) if u.key.startswith(prefix)]
        return Result(
            {
                "Bucket": p["Bucket"],
                "MaxUploads": 1000,
                "IsTruncated": False,
                "Uploads": [
                    {
                        "Key": u.key,
                        "UploadId": u.id,
                        "Initiated": u.created,
                        "StorageClass": "STANDARD",
                    }
                    for u in uploads
                ],
            }
        )
