"""CBOR (RFC 8949), as much of it as Smithy's rpc-v2-cbor protocol uses: integers, byte and
text strings, arrays and maps (definite or indefinite length), tag 1 (epoch-seconds
timestamps), floats (half, single, double), booleans, null and undefined."""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

from lambox.errors import ServiceFault

MAX_DEPTH = 64
_BREAK = object()


class Epoch(float):
    """A timestamp to encode as tag 1 (epoch seconds)."""


def _invalid(message: str) -> ServiceFault:
    return ServiceFault("SerializationException", message, 400)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise _invalid("CBOR data ends early")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def argument(self, info: int) -> int | None:
        if info < 24:
            return info
        if info == 31:
            return None
        sizes = {24: 1, 25: 2, 26: 4, 27: 8}
        if info not in sizes:
            raise _invalid("Malformed CBOR data item")
        return int.from_bytes(self.take(sizes[info]), "big")

    def item(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise _invalid("CBOR data is nested too deeply")
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self._simple(info)
        arg = self.argument(info)
        if major == 0:
            return _definite(arg)
        if major == 1:
            return -1 - _definite(arg)
        if major in (2, 3):
            if arg is None:
                parts = []
                while (part := self.item(depth + 1)) is not _BREAK:
                    parts.append(part)
                raw = b"".join(p if isinstance(p, bytes) else p.encode() for p in parts)
            else:
                raw = self.take(arg)
            if major == 2:
                return raw
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _invalid("CBOR text is not UTF-8") from exc
        if major == 4:
            items = []
            if arg is None:
                while (value := self.item(depth + 1)) is not _BREAK:
                    items.append(value)
            else:
                items = [self.item(depth + 1) for _ in range(arg)]
            return items
        if major == 5:
            mapping: dict[Any, Any] = {}
            count = 0
            while arg is None or count < arg:
                key = self.item(depth + 1)
                if key is _BREAK:
                    break
                mapping[key] = self.item(depth + 1)
                count += 1
            return mapping
        value = self.item(depth + 1)
        if arg == 1 and isinstance(value, int | float) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        return value

    def _simple(self, info: int) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info in (22, 23):
            return None
        if info == 25:
            return struct.unpack(">e", self.take(2))[0]
        if info == 26:
            return struct.unpack(">f", self.take(4))[0]
        if info == 27:
            return struct.unpack(">d", self.take(8))[0]
        if info == 31:
            return _BREAK
        raise _invalid("Unsupported CBOR simple value")


def _definite(arg: int | None) -> int:
    if arg is None:
        raise _invalid("Malformed CBOR integer")
    return arg


def decode(data: bytes) -> Any:
    """One CBOR data item (a request body); tag-1 values become aware datetimes."""
    reader = _Reader(data)
    value = reader.item()
    if value is _BREAK or reader.pos != len(data):
        raise _invalid("Unexpected data after the CBOR data item")
    return value


def _head(out: bytearray, major: int, value: int) -> None:
    if value < 24:
        out.append(major << 5 | value)
    elif value < 1 << 8:
        out += bytes((major << 5 | 24, value))
    elif value < 1 << 16:
        out.append(major << 5 | 25)
        out += value.to_bytes(2, "big")
    elif value < 1 << 32:
        out.append(major << 5 | 26)
        out += value.to_bytes(4, "big")
    else:
        out.append(major << 5 | 27)
        out += value.to_bytes(8, "big")


def _encode(out: bytearray, value: Any) -> None:
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, Epoch):
        out.append(0xC1)
        out.append(0xFB)
        out += struct.pack(">d", float(value))
    elif isinstance(value, int):
        if value >= 0:
            _head(out, 0, value)
        else:
            _head(out, 1, -1 - value)
    elif isinstance(value, float):
        out.append(0xFB)
        out += struct.pack(">d", value)
    elif isinstance(value, bytes):
        _head(out, 2, len(value))
        out += value
    elif isinstance(value, str):
        raw = value.encode()
        _head(out, 3, len(raw))
        out += raw
    elif isinstance(value, list | tuple):
        _head(out, 4, len(value))
        for item in value:
            _encode(out, item)
    elif isinstance(value, dict):
        _head(out, 5, len(value))
        for key, item in value.items():
            _encode(out, key)
            _encode(out, item)
    elif isinstance(value, dt.datetime):
        _encode(out, Epoch(value.timestamp()))
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


def encode(value: Any) -> bytes:
    """``value`` (None, bool, int, float, Epoch, bytes, str, list, dict) as CBOR."""
    out = bytearray()
    _encode(out, value)
    return bytes(out)
