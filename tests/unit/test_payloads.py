"""Invoke payloads that are not UTF-8 JSON get AWS's (Jackson's) words and location."""

from __future__ import annotations

import pytest

from lambox.errors import InvalidRequestContent
from lambox.invoke import payloads

LOCATION = "\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled);"


def message(payload: bytes) -> str:
    with pytest.raises(InvalidRequestContent) as exc:
        payloads.check(payload)
    text = exc.value.message
    assert text.startswith(payloads.PREFIX)
    return text[len(payloads.PREFIX) :]


@pytest.mark.parametrize("payload", [b"", b"{}", b'{"a": [1, "\xc3\xa9"]}', b" null "])
def test_utf8_json_and_empty_payloads_pass(payload: bytes) -> None:
    payloads.check(payload)


def test_a_first_byte_that_is_not_text_is_an_unexpected_character() -> None:
    # Recorded from AWS (test_lambda_invoke_payload_encoding_error[message]).
    assert message(b"\x99\xeb,j\x07\xa1zYh") == (
        "Unexpected character ((CTRL-CHAR, code 153)): expected a valid value (JSON String,"
        " Number, Array, Object or token 'null', 'true' or 'false')"
        f"{LOCATION} line: 1, column: 1]"
    )
    assert message(b"  \xe9").startswith("Unexpected character ('\xe9' (code 233))")
    assert message(b"  \xe9").endswith("line: 1, column: 3]")


def test_a_later_byte_that_is_not_utf8_is_named_with_the_column_after_it() -> None:
    # Recorded from AWS (test_lambda_invoke_payload_encoding_error[body]).
    assert message(b"n\x87r\x9e\xe9\xb5\xd7I\xee\x9bmt") == (
        f"Invalid UTF-8 start byte 0x87{LOCATION} line: 1, column: 3]"
    )
    assert (
        message(b'{"a":\n "\xc3(')
        == f"Invalid UTF-8 middle byte 0x28{LOCATION} line: 2, column: 5]"
    )


def test_malformed_utf8_json_keeps_the_decoders_message() -> None:
    assert (
        message(b"{x")
        == "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )
