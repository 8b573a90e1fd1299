"""The characters SQS refuses in a message body, checked over every code point against the
ranges its error message lists."""

from __future__ import annotations

from lambox.services.sqs.messages import _INVALID_CHARS


def _valid(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def test_every_code_point_is_refused_exactly_when_sqs_refuses_it() -> None:
    wrong = [c for c in range(0x110000) if bool(_INVALID_CHARS.search(chr(c))) == _valid(c)]
    assert wrong == []
