"""SQS's attribute digests against values recorded from AWS (messages.snapshot.json)."""

from __future__ import annotations

from lambox.services.sqs.digests import md5_of_attributes, md5_of_body


def test_body_digest_is_the_md5_of_its_utf8() -> None:
    assert md5_of_body("msg") == "6e2baaf3b97dbeef01c0043275f9a0e7"
    assert md5_of_body("test") == "098f6bcd4621d373cade4e832627b4f6"


def test_string_attribute_digest_matches_aws() -> None:
    digest = md5_of_attributes({"Foo": {"DataType": "String", "StringValue": "Bar"}})
    assert digest == "ae7155c6026991b6d54b11589678bf9c"


def test_binary_attribute_digest_matches_aws() -> None:
    value = b"traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01"
    digest = md5_of_attributes({"attr1": {"DataType": "Binary", "BinaryValue": value}})
    assert digest == "8cbe4db156db8a94db8b801b7addb984"


def test_no_attributes_no_digest() -> None:
    assert md5_of_attributes({}) is None
