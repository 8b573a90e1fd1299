"""The MD5 digests SQS answers with, computed exactly as SQS does (clients verify them).

``MD5OfMessageAttributes`` (and ``MD5OfMessageSystemAttributes``) hash the attributes sorted
by name, each as: name, data type, one transport byte (1 for String and Number, 2 for
Binary), value; every string and value preceded by its length as a 4-byte big-endian int.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from typing import Any


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def _field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The digest of message (or system) attributes; None when there are none."""
    if not attributes:
        return None
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        kind = str(value["DataType"])
        digest.update(_field(name.encode("utf-8")) + _field(kind.encode("utf-8")))
        if "BinaryValue" in value and value["BinaryValue"] is not None:
            digest.update(b"\x02" + _field(bytes(value["BinaryValue"])))
        else:
            digest.update(b"\x01" + _field(str(value.get("StringValue", "")).encode("utf-8")))
    return digest.hexdigest()
