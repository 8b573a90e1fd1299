"""Invoke payloads must be UTF-8 JSON; what AWS says when one is not.

AWS parses payloads with Jackson, and its InvalidRequestContentException quotes Jackson's
error and location. For bytes that are not UTF-8 the recordings show two cases, which
lambox reproduces:

- the first byte of the value is not UTF-8 text: Jackson takes it for a character and
  reports ``Unexpected character ((CTRL-CHAR, code 153)): expected a valid value ...`` at
  that byte's column;
- a later byte is: ``Invalid UTF-8 start byte 0x87`` (or ``middle byte`` inside a sequence)
  at the column after it.

Either way the message ends in Jackson's location line. JSON that is valid UTF-8 but
malformed is reported with Python's decoder message instead: no recording shows Jackson's
words for it. Valid JSON of any nesting depth passes (``jsontext.check``): the payload goes to
the function as bytes, and what a runtime makes of a deep document is the function's affair.
"""

from __future__ import annotations

import asyncio
import unicodedata

from lambox import jsontext
from lambox.errors import InvalidRequestContent

PREFIX = "Could not parse request body into json: Could not parse payload into json: "
VALID_VALUES = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
_WHITESPACE = b" \t\r\n"


def check(payload: bytes) -> None:
    """Raise AWS's InvalidRequestContentException unless ``payload`` is empty or UTF-8 JSON."""
    if payload and not checked_fast(payload):
        _check_by_stack(payload)


async def check_off_loop(payload: bytes) -> None:
    """``check``, with a payload too deep for the C decoder read in a worker thread: reading
    megabytes of nesting by hand takes up to seconds, which must not stall the event loop.
    (The invoke path calls its two halves, ``checked_fast`` then ``check_deep``, itself:
    no coroutine for the usual payload.)"""
    if payload and not checked_fast(payload):
        await check_deep(payload)


async def check_deep(payload: bytes) -> None:
    """The check of a payload ``checked_fast`` found too deep, in a worker thread."""
    await asyncio.to_thread(_check_by_stack, payload)


def checked_fast(payload: bytes) -> bool:
    """True if the C decoder found ``payload`` valid, False if it nests too deep for it."""
    try:
        jsontext.check_fast(payload.decode())
    except UnicodeDecodeError as exc:
        raise InvalidRequestContent(PREFIX + _not_utf8(payload, exc)) from None
    except jsontext.NeedsStack:
        return False
    except ValueError as exc:
        raise InvalidRequestContent(PREFIX + str(exc)) from None
    return True


def _check_by_stack(payload: bytes) -> None:
    try:
        jsontext.check_by_stack(payload.decode())
    except ValueError as exc:
        raise InvalidRequestContent(PREFIX + str(exc)) from None


def _not_utf8(payload: bytes, exc: UnicodeDecodeError) -> str:
    bad = exc.start
    if bad == len(payload) - len(payload.lstrip(_WHITESPACE)):
        # Where a value starts Jackson reads one byte as a character (ISO-8859-1).
        reason = f"Unexpected character ({_char(payload[bad])}): expected a valid value"
        return f"{reason} {VALID_VALUES}{_location(payload, bad)}"
    kind = "start"
    if exc.reason == "invalid continuation byte" and exc.end < len(payload):
        kind, bad = "middle", exc.end  # the byte that cannot continue the sequence
    return f"Invalid UTF-8 {kind} byte 0x{payload[bad]:02x}{_location(payload, bad + 1)}"


def _char(code: int) -> str:
    """A character as Jackson names it in errors."""
    if unicodedata.category(chr(code)) == "Cc":
        return f"(CTRL-CHAR, code {code})"
    return f"'{chr(code)}' (code {code})"


def _location(payload: bytes, offset: int) -> str:
    """Jackson's location line for the byte at ``offset`` (line and column from 1)."""
    line = payload.count(b"\n", 0, offset) + 1
    column = offset - (payload.rfind(b"\n", 0, offset) + 1) + 1
    return (
        "\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled);"
        f" line: {line}, column: {column}]"
    )
