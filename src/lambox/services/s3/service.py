"""S3's operations on an ``ObjectStore``: each takes the parsed input and returns the output
members (and, for GetObject, the body to stream), as botocore's model names them."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote, unquote

from lambox.errors import ServiceFault
from lambox.services.s3 import notifications
from lambox.services.s3.calls import Call, Handler, Result
from lambox.services.s3.errors import check_bucket_name, no_such_bucket, no_such_key
from lambox.services.s3.multipart import Multipart
from lambox.services.s3.store import Body, ObjectStore, StoredObject
from lambox.services.s3.uploads import UploadStore

OBJECT_LIMIT = 5 * 1024**3
CONTENT_HEADERS = {
    "ContentType": "Content-Type",
    "ContentEncoding": "Content-Encoding",
    "ContentDisposition": "Content-Disposition",
    "ContentLanguage": "Content-Language",
    "CacheControl": "Cache-Control",
    "Expires": "Expires",
}
DEFAULT_TYPE = "binary/octet-stream"


def _etag(md5_hex: str) -> str:
    return f'"{md5_hex}"'


def _modified(obj: StoredObject) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(obj.modified), dt.UTC)


class S3Service:
    """The operations lambox serves; ``operations`` maps their model names to handlers."""

    def __init__(
        self,
        store: ObjectStore,
        uploads: UploadStore,
        function_exists: Callable[[str], bool],
        on_events: Callable[[], None],
        may_invoke: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._store = store
        self._function_exists = function_exists
        # (function ARN, bucket): whether the function's resource policy lets S3 invoke it
        self._may_invoke = may_invoke or (lambda _arn, _bucket: True)
        self._on_events = on_events
        self.operations: dict[str, Handler] = {
            "ListBuckets": self.list_buckets,
            "CreateBucket": self.create_bucket,
            "DeleteBucket": self.delete_bucket,
            "HeadBucket": self.head_bucket,
            "GetBucketLocation": self.get_bucket_location,
            "PutObject": self.put_object,
            "GetObject": self.get_object,
            "HeadObject": self.head_object,
            "DeleteObject": self.delete_object,
            "DeleteObjects": self.delete_objects,
            "CopyObject": self.copy_object,
            "ListObjectsV2": self.list_objects_v2,
            "ListObjects": self.list_objects,
            "PutBucketNotificationConfiguration": self.put_notification,
            "GetBucketNotificationConfiguration": self.get_notification,
            "GetObjectTagging": self.get_tagging,
            "PutObjectTagging": self.put_tagging,
            "DeleteObjectTagging": self.delete_tagging,
        }
        self._multipart = multipart = Multipart(
            store, uploads, self._bucket, self._receive, self._commit, self._headers, _parse_tagging
        )
        self.operations.update(
            {
                "CreateMultipartUpload": multipart.create,
                "UploadPart": multipart.upload_part,
                "UploadPartCopy": self.upload_part_copy,
                "CompleteMultipartUpload": multipart.complete,
                "AbortMultipartUpload": multipart.abort,
                "ListParts": multipart.list_parts,
                "ListMultipartUploads": multipart.list_uploads,
            }
        )

    # -- buckets ------------------------------------------------------------------------

    async def list_buckets(self, call: Call) -> Result:
        buckets = [
            {"Name": b.name, "CreationDate": dt.datetime.fromtimestamp(b.created, dt.UTC)}
            for b in self._store.buckets()
        ]
        owner = {"ID": notifications.OWNER, "DisplayName": "lambox"}
        return Result({"Buckets": buckets, "Owner": owner})

    async def create_bucket(self, call: Call) -> Result:
        name = call.params["Bucket"]
        check_bucket_name(name)
        config = call.params.get("CreateBucketConfiguration") or {}
        region = config.get("LocationConstraint") or "us-east-1"
        if region == "us-east-1" and config.get("LocationConstraint"):
            raise ServiceFault(
                "InvalidLocationConstraint",
                "The specified location-constraint is not valid",
                400,
                LocationConstraint=region,
            )
        if not self._store.create_bucket(name, region):
            raise ServiceFault(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already"
                " own it.",
                409,
                BucketName=name,
            )
        return Result({"Location": f"/{name}"})

    def _bucket(self, name: str) -> Any:
        bucket = self._store.bucket(name)
        if bucket is None:
            raise no_such_bucket(name)
        return bucket

    async def delete_bucket(self, call: Call) -> Result:
        name = call.params["Bucket"]
        self._bucket(name)
        if not self._store.delete_bucket(name):
            raise ServiceFault(
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty. You must delete all versions in the"
                " bucket.",
                409,
                BucketName=name,
            )
        return Result(status=204)

    async def head_bucket(self, call: Call) -> Result:
        bucket = self._bucket(call.params["Bucket"])
        return Result({"BucketRegion": bucket.region})

    async def get_bucket_location(self, call: Call) -> Result:
        bucket = self._bucket(call.params["Bucket"])
        region = "" if bucket.region == "us-east-1" else bucket.region
        return Result({"LocationConstraint": region})

    async def put_notification(self, call: Call) -> Result:
        config = call.params.get("NotificationConfiguration") or {}
        skip = bool(call.params.get("SkipDestinationValidation"))
        self.set_notification(call.params["Bucket"], config, check_destinations=not skip)
        return Result()

    def set_notification(
        self, bucket: str, config: Mapping[str, Any], check_destinations: bool = True
    ) -> None:
        """Validate and store a bucket's NotificationConfiguration (as S3 checks it)."""
        self._bucket(bucket)

        def reachable(arn: str) -> bool:
            return not check_destinations or (
                self._function_exists(arn) and self._may_invoke(arn, bucket)
            )

        self._store.set_notification(bucket, notifications.validate(config, reachable))

    async def get_notification(self, call: Call) -> Result:
        return Result(dict(self._bucket(call.params["Bucket"]).notification))

    # -- objects ------------------------------------------------------------------------

    def _events(
        self,
        call: Call,
        bucket: Any,
        event: str,
        key: str,
        size: int | None,
        etag: str | None,
        sequence: int,
    ) -> list[tuple[str, bytes]]:
        rules = notifications.matching(bucket.notification, event, key)
        return [
            (
                rule["LambdaFunctionArn"],
                notifications.record(
                    rule,
                    event,
                    bucket.name,
                    key,
                    sequence,
                    bucket.region,
                    call.request_id,
                    call.source_ip,
                    size,
                    etag,
                ),
            )
            for rule in rules
        ]

    async def _receive(self, call: Call) -> Body:
        try:
            body = await self._store.receive(call.body, OBJECT_LIMIT)
        except OverflowError as exc:
            raise ServiceFault(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                400,
            ) from exc
        digest = call.params.get("ContentMD5")
        if digest is not None:
            try:
                expected = base64.b64decode(digest, validate=True).hex()
            except (binascii.Error, ValueError) as exc:
                self._store.discard(body)
                raise ServiceFault(
                    "InvalidDigest",
                    "The Content-MD5 you specified was invalid.",
                    400,
                    **{"Content-MD5": digest},
                ) from exc
            if expected != body.md5:
                self._store.discard(body)
                raise ServiceFault(
                    "BadDigest",
                    "The Content-MD5 you specified did not match what we received.",
                    400,
                    ExpectedDigest=digest,
                    CalculatedDigest=base64.b64encode(bytes.fromhex(body.md5)).decode(),
                )
        return body

    def _headers(self, params: Mapping[str, Any]) -> dict[str, str]:
        headers = {"ContentType": str(params.get("ContentType") or DEFAULT_TYPE)}
        for member in CONTENT_HEADERS:
            value = params.get(member)
            if value is not None and member != "ContentType":
                headers[member] = (
                    value.isoformat() if isinstance(value, dt.datetime) else str(value)
                )
        return headers

    def _commit(
        self,
        call: Call,
        bucket: Any,
        key: str,
        body: Body,
        headers: dict[str, str],
        metadata: dict[str, str],
        tags: dict[str, str],
        event: str,
    ) -> StoredObject:
        sequence_hint = self._store.sequence()
        etag = _etag(body.md5)
        events = self._events(call, bucket, event, key, body.size, body.md5, sequence_hint)
        obj = self._store.commit(bucket.name, key, body, etag, headers, metadata, tags, events)
        if events:
            self._on_events()
        return obj

    async def put_object(self, call: Call) -> Result:
        bucket = self._bucket(call.params["Bucket"])
        key = call.params["Key"]
        body = await self._receive(call)
        tags = _parse_tagging(call.params.get("Tagging"))
        obj = self._commit(
            call,
            bucket,
            key,
            body,
            self._headers(call.params),
            dict(call.params.get("Metadata") or {}),
            tags,
            "s3:ObjectCreated:Put",
        )
        return Result({"ETag": obj.etag})

    def _object(self, params: Mapping[str, Any]) -> StoredObject:
        self._bucket(params["Bucket"])
        obj = self._store.get(params["Bucket"], params["Key"])
        if obj is None:
            raise no_such_key(params["Key"])
        return obj

    def _describe(self, obj: StoredObject) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ETag": obj.etag,
            "LastModified": _modified(obj),
            "ContentLength": obj.size,
            "AcceptRanges": "bytes",
        }
        for member, value in obj.headers.items():
            out[member] = dt.datetime.fromisoformat(value) if member == "Expires" else value
        if obj.metadata:
            out["Metadata"] = obj.metadata
        if obj.tags:
            out["TagCount"] = len(obj.tags)
        return out

    async def head_object(self, call: Call) -> Result:
        obj = self._object(call.params)
        status = _preconditions(call.params, obj)
        if status is not None:
            return Result(status=status)
        return Result(self._describe(obj))

    async def get_object(self, call: Call) -> Result:
        obj = self._object(call.params)
        status = _preconditions(call.params, obj)
        if status is not None:
            return Result(status=status)
        out = self._describe(obj)
        for member in CONTENT_HEADERS:
            override = call.params.get(f"Response{member}")
            if override is not None:
                out[member] = override
        start, end = 0, obj.size
        spec = call.params.get("Range")
        if spec:
            bounds = _range(spec, obj.size)
            if bounds is not None:
                start, end = bounds
                out["ContentRange"] = f"bytes {start}-{end - 1}/{obj.size}"
                out["ContentLength"] = end - start
                return Result(out, (obj, start, end), status=206)
        return Result(out, (obj, start, end))

    async def delete_object(self, call: Call) -> Result:
        bucket = self._bucket(call.params["Bucket"])
        self._delete(call, bucket, call.params["Key"])
        return Result(status=204)

    def _delete(self, call: Call, bucket: Any, key: str) -> None:
        events = self._events(
            call, bucket, "s3:ObjectRemoved:Delete", key, None, None, self._store.sequence()
        )
        if self._store.delete(bucket.name, key, events) is not None and events:
            self._on_events()

    async def delete_objects(self, call: Call) -> Result:
        bucket = self._bucket(call.params["Bucket"])
        spec = call.params.get("Delete") or {}
        objects = spec.get("Objects") or []
        if len(objects) > 1000:
            raise ServiceFault(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our"
                " published schema",
            )
        deleted = []
        for item in objects:
            self._delete(call, bucket, item["Key"])
            deleted.append({"Key": item["Key"]})
        return Result({} if spec.get("Quiet") else {"Deleted": deleted})

    async def copy_object(self, call: Call) -> Result:
        bucket = self._bucket(call.params["Bucket"])
        source_bucket, source_key = _copy_source(call.params["CopySource"])
        source = self._object({"Bucket": source_bucket, "Key": source_key})
        replace = call.params.get("MetadataDirective") == "REPLACE"
        if (source_bucket, source_key) == (bucket.name, call.params["Key"]) and not replace:
            raise ServiceFault(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself"
                " without changing the object's metadata, storage class, website redirect"
                " location or encryption attributes.",
            )
        body = await self._store.receive(_file_chunks(source, 0, source.size), OBJECT_LIMIT)
        headers = self._headers(call.params) if replace else dict(source.headers)
        metadata = dict(call.params.get("Metadata") or {}) if replace else dict(source.metadata)
        tags = (
            _parse_tagging(call.params.get("Tagging"))
            if call.params.get("TaggingDirective") == "REPLACE"
            else dict(source.tags)
        )
        obj = self._commit(
            call,
            bucket,
            call.params["Key"],
            body,
            headers,
            metadata,
            tags,
            "s3:ObjectCreated:Copy",
        )
        return Result({"CopyObjectResult": {"ETag": obj.etag, "LastModified": _modified(obj)}})

    async def upload_part_copy(self, call: Call) -> Result:
        """A part whose bytes are (a range of) another object's."""
        source_bucket, source_key = _copy_source(call.params["CopySource"])
        source = self._object({"Bucket": source_bucket, "Key": source_key})
        start, end = 0, source.size
        spec = call.params.get("CopySourceRange")
        if spec:
            bounds = _range(spec, source.size)
            if bounds is None:
                raise ServiceFault(
                    "InvalidArgument",
                    "The x-amz-copy-source-range value must be of the form bytes=first-last"
                    " where first and last are the zero-based offsets of the first and last"
                    " bytes to copy",
                    400,
                    ArgumentName="x-amz-copy-source-range",
                    ArgumentValue=spec,
                )
            start, end = bounds
        chunks = _file_chunks(source, start, end)
        result = await self._multipart.upload_part(replace(call, body=chunks))
        return Result(
            {
                "CopyPartResult": {
                    "ETag": result.output["ETag"],
                    "LastModified": dt.datetime.now(dt.UTC),
                }
            }
        )

    # -- tagging ------------------------------------------------------------------------

    async def get_tagging(self, call: Call) -> Result:
        obj = self._object(call.params)
        return Result({"TagSet": [{"Key": k, "Value": v} for k, v in obj.tags.items()]})

    async def put_tagging(self, call: Call) -> Result:
        self._object(call.params)
        tagset = (call.params.get("Tagging") or {}).get("TagSet") or []
        tags = {t["Key"]: t.get("Value", "") for t in tagset}
        if len(tags) > 10:
            raise ServiceFault("BadRequest", "Object tags cannot be greater than 10")
        self._store.set_tags(call.params["Bucket"], call.params["Key"], tags)
        return Result()

    async def delete_tagging(self, call: Call) -> Result:
        self._object(call.params)
        self._store.set_tags(call.params["Bucket"], call.params["Key"], {})
        return Result(status=204)

    # -- listing ------------------------------------------------------------------------

    def _list(
        self, bucket: str, prefix: str, delimiter: str, after: str, limit: int
    ) -> tuple[list[StoredObject], list[str], bool, str]:
        """Up to ``limit`` keys and common prefixes after ``after``; whether more follow, and
        the last key or prefix listed."""
        contents: list[StoredObject] = []
        prefixes: list[str] = []
        last = after
        while True:
            batch = self._store.keys(bucket, prefix, last, 1000)
            if not batch:
                return contents, prefixes, False, last
            for obj in batch:
                if len(contents) + len(prefixes) >= limit:
                    return contents, prefixes, True, last
                rest = obj.key[len(prefix) :]
                if delimiter and delimiter in rest:
                    common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                    prefixes.append(common)
                    last = common + "\U0010ffff"
                    break
                contents.append(obj)
                last = obj.key
            else:
                continue

    async def list_objects_v2(self, call: Call) -> Result:
        p = call.params
        self._bucket(p["Bucket"])
        limit = _max_keys(p.get("MaxKeys"))
        token = p.get("ContinuationToken")
        after = _decode_token(token) if token else str(p.get("StartAfter") or "")
        prefix, delimiter = str(p.get("Prefix") or ""), str(p.get("Delimiter") or "")
        contents, prefixes, truncated, last = self._list(
            p["Bucket"], prefix, delimiter, after, limit
        )
        encode = _encoder(p.get("EncodingType"))
        out: dict[str, Any] = {
            "Name": p["Bucket"],
            "Prefix": encode(prefix),
            "MaxKeys": limit,
            "KeyCount": len(contents) + len(prefixes),
            "IsTruncated": truncated,
            "Contents": [_entry(o, encode) for o in contents],
            "CommonPrefixes": [{"Prefix": encode(c)} for c in prefixes],
        }
        if delimiter:
            out["Delimiter"] = encode(delimiter)
        if p.get("EncodingType"):
            out["EncodingType"] = p["EncodingType"]
        if token:
            out["ContinuationToken"] = token
        if p.get("StartAfter"):
            out["StartAfter"] = encode(p["StartAfter"])
        if truncated:
            out["NextContinuationToken"] = base64.urlsafe_b64encode(last.encode()).decode()
        return Result(out)

    async def list_objects(self, call: Call) -> Result:
        p = call.params
        self._bucket(p["Bucket"])
        limit = _max_keys(p.get("MaxKeys"))
        marker = str(p.get("Marker") or "")
        prefix, delimiter = str(p.get("Prefix") or ""), str(p.get("Delimiter") or "")
        contents, prefixes, truncated, last = self._list(
            p["Bucket"], prefix, delimiter, marker, limit
        )
        encode = _encoder(p.get("EncodingType"))
        out: dict[str, Any] = {
            "Name": p["Bucket"],
            "Prefix": encode(prefix),
            "Marker": encode(marker),
            "MaxKeys": limit,
            "IsTruncated": truncated,
            "Contents": [_entry(o, encode) for o in contents],
            "CommonPrefixes": [{"Prefix": encode(c)} for c in prefixes],
        }
        if delimiter:
            out["Delimiter"] = encode(delimiter)
            if truncated:
                out["NextMarker"] = encode(last.rstrip("\U0010ffff"))
        if p.get("EncodingType"):
            out["EncodingType"] = p["EncodingType"]
        return Result(out)


def _entry(obj: StoredObject, encode: Callable[[str], str]) -> dict[str, Any]:
    return {
        "Key": encode(obj.key),
        "LastModified": _modified(obj),
        "ETag": obj.etag,
        "Size": obj.size,
        "StorageClass": "STANDARD",
    }


def _encoder(kind: Any) -> Callable[[str], str]:
    if kind is None:
        return lambda s: s
    if kind != "url":
        raise ServiceFault(
            "InvalidArgument",
            "Invalid Encoding Method specified in Request",
            400,
            ArgumentName="encoding-type",
            ArgumentValue=str(kind),
        )
    return lambda s: quote(s, safe="/")


def _max_keys(value: Any) -> int:
    if value is None:
        return 1000
    if int(value) < 0:
        raise ServiceFault(
            "InvalidArgument",
            "Argument maxKeys must be an integer between 0 and 2147483647",
            400,
            ArgumentName="maxKeys",
            ArgumentValue=str(value),
        )
    return min(int(value), 1000)


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ServiceFault(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            400,
            ArgumentName="continuation-token",
            ArgumentValue=token,
        ) from exc


def _range(spec: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` of a ``bytes=`` range; None when S3 ignores it (several ranges or a
    malformed one); InvalidRange when it cannot be satisfied."""
    unit, _, ranges = spec.partition("=")
    if unit.strip() != "bytes" or "," in ranges:
        return None
    first, dash, last = ranges.strip().partition("-")
    if not dash:
        return None
    try:
        if not first:
            suffix = int(last)
            return (
                (max(size - suffix, 0), size) if suffix > 0 and size else _unsatisfiable(spec, size)
            )
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or end <= start:
        return _unsatisfiable(spec, size)
    return start, min(end, size)


def _unsatisfiable(spec: str, size: int) -> tuple[int, int]:
    raise ServiceFault(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        RangeRequested=spec,
        ActualObjectSize=str(size),
    )


def _preconditions(params: Mapping[str, Any], obj: StoredObject) -> int | None:
    """S3's conditional GET/HEAD: 412 PreconditionFailed, or 304 Not Modified."""
    match = params.get("IfMatch")
    if match is not None and match.strip() not in ("*", obj.etag, obj.etag.strip('"')):
        raise ServiceFault(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            Condition="If-Match",
        )
    modified = _modified(obj)
    since = params.get("IfUnmodifiedSince")
    if match is None and since is not None and modified > since:
        raise ServiceFault(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            Condition="If-Unmodified-Since",
        )
    none_match = params.get("IfNoneMatch")
    if none_match is not None:
        if none_match.strip() in ("*", obj.etag, obj.etag.strip('"')):
            return 304
    elif params.get("IfModifiedSince") is not None and modified <= params["IfModifiedSince"]:
        return 304
    return None


def _copy_source(source: str) -> tuple[str, str]:
    path = unquote(source.split("?versionId=")[0]).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise ServiceFault(
            "InvalidArgument",
            "Invalid copy source object key",
            400,
            ArgumentName="x-amz-copy-source",
            ArgumentValue=source,
        )
    return bucket, key


def _parse_tagging(value: Any) -> dict[str, str]:
    if not value:
        return {}
    from urllib.parse import parse_qsl

    return dict(parse_qsl(str(value), keep_blank_values=True))


async def _file_chunks(obj: StoredObject, start: int, end: int) -> AsyncIterator[bytes]:
    with open(obj.path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
