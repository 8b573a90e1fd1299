"""The IAM action and resource ARN of each S3 operation (``s3:GetObject`` on
``arn:aws:s3:::bucket/key``, ``s3:ListBucket`` on ``arn:aws:s3:::bucket``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# operation -> action, where the two names differ
ACTIONS = {
    "HeadObject": "GetObject",
    "CopyObject": "PutObject",
    "DeleteObjects": "DeleteObject",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListBuckets": "ListAllMyBuckets",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "UploadPartCopy": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "ListParts": "ListMultipartUploadParts",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetObjectAttributes": "GetObject",
}


def action_of(operation: str, params: Mapping[str, Any]) -> tuple[str, str]:
    """``(s3:<Action>, resource ARN)`` of one parsed S3 request."""
    action = "s3:" + ACTIONS.get(operation, operation)
    bucket = params.get("Bucket")
    key = params.get("Key")
    if operation == "ListBuckets" or not bucket:
        return action, "*"
    if key is not None and operation != "DeleteObjects":
        return action, f"arn:aws:s3:::{bucket}/{key}"
    if operation == "DeleteObjects":
        return action, f"arn:aws:s3:::{bucket}/*"
    return action, f"arn:aws:s3:::{bucket}"
