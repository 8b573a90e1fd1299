"""S3's errors in its own words (code, status, the fields its error document carries)."""

from __future__ import annotations

import re

from lambox.errors import ServiceFault

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def no_such_bucket(bucket: str) -> ServiceFault:
    return ServiceFault(
        "NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket
    )


def no_such_key(key: str) -> ServiceFault:
    return ServiceFault("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def check_bucket_name(name: str) -> None:
    """S3's naming rules for new buckets; InvalidBucketName otherwise."""
    if not _BUCKET.match(name) or ".." in name or _IP.match(name) or name.startswith("xn--"):
        raise ServiceFault(
            "InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=name
        )


def not_implemented(operation: str) -> ServiceFault:
    return ServiceFault(
        "NotImplemented",
        f"{operation}: a header or operation you provided implies functionality that is not"
        " implemented",
        501,
    )
