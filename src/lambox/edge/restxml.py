"""The rest-xml protocol (S3), driven by botocore's model: requests in, responses and errors out.

Input members come from where the model puts them: path labels (``uri``), the query string,
headers (``header``, and ``headers`` maps under a prefix such as ``x-amz-meta-``) and the
payload, which is either a streaming blob (left to the handler, so bodies never sit in
memory) or an XML document of a structure shape. Output is serialized the same way back:
header members as headers, the payload member as the body (a stream, or XML), or the
remaining members as one XML document whose root the service names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from lambox.edge.rest import scalar_in, scalar_out
from lambox.errors import ServiceFault

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _name(shape: Any, default: str) -> str:
    return str(shape.serialization.get("name", default))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def from_xml(shape: Any, element: ET.Element) -> Any:
    """``element`` read as ``shape`` (a structure, list, map or scalar)."""
    kind = shape.type_name
    if kind == "structure":
        out: dict[str, Any] = {}
        children = list(element)
        for member_name, member in shape.members.items():
            if member.serialization.get("location"):
                continue
            if member.type_name == "list" and member.serialization.get("flattened"):
                tag = _name(member, member_name)
                items = [c for c in children if _local(c.tag) == tag]
                if items:
                    out[member_name] = [from_xml(member.member, c) for c in items]
                continue
            tag = _name(member, member_name)
            for child in children:
                if _local(child.tag) == tag:
                    out[member_name] = from_xml(member, child)
                    break
        return out
    if kind == "list":
        tag = _name(shape.member, "member")
        return [from_xml(shape.member, c) for c in element if _local(c.tag) == tag]
    if kind == "map":
        entries: dict[str, Any] = {}
        for entry in element:
            key = entry.find(_name(shape.key, "key"))
            value = entry.find(_name(shape.value, "value"))
            if key is not None and value is not None:
                entries[key.text or ""] = from_xml(shape.value, value)
        return entries
    return scalar_in(shape, element.text or "")


def parse_document(shape: Any, body: bytes) -> dict[str, Any]:
    """An XML request payload as ``shape``; malformed XML is S3's MalformedXML."""
    if not body.strip():
        return {}
    try:
        # The standard parser expands no external entities; a DOCTYPE is refused outright.
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            raise ET.ParseError("DOCTYPE")
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ServiceFault(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        ) from exc
    value = from_xml(shape, root)
    return value if isinstance(value, dict) else {}


def to_xml(shape: Any, value: Any, tag: str) -> ET.Element:
    """``value`` as an element ``tag`` of ``shape``."""
    element = ET.Element(tag)
    _fill(shape, value, element)
    return element


def _fill(shape: Any, value: Any, element: ET.Element) -> None:
    kind = shape.type_name
    if kind == "structure":
        for member_name, member in shape.members.items():
            if member_name not in value or value[member_name] is None:
                continue
            if member.serialization.get("location"):
                continue
            item = value[member_name]
            tag = _name(member, member_name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                for entry in item:
                    element.append(to_xml(member.member, entry, tag))
            else:
                element.append(to_xml(member, item, tag))
    elif kind == "list":
        tag = _name(shape.member, "member")
        for entry in value:
            element.append(to_xml(shape.member, entry, tag))
    elif kind == "map":
        for key, item in value.items():
            entry = ET.SubElement(element, "entry")
            ET.SubElement(entry, _name(shape.key, "key")).text = str(key)
            entry.append(to_xml(shape.value, item, _name(shape.value, "value")))
    else:
        element.text = scalar_out(shape, value, in_header=False)


def document(shape: Any, value: Mapping[str, Any], root: str, namespace: str | None) -> bytes:
    """A whole XML response document."""
    element = to_xml(shape, value, root)
    if namespace:
        element.set("xmlns", namespace)
    return XML_DECLARATION + bytes(ET.tostring(element, encoding="utf-8"))


def error_document(fault: ServiceFault, request_id: str) -> bytes:
    """S3's error body: ``<Error><Code/><Message/>...<RequestId/></Error>``."""
    root = ET.Element("Error")
    ET.SubElement(root, "Code").text = fault.aws_type
    ET.SubElement(root, "Message").text = fault.message
    for key, value in fault.fields.items():
        ET.SubElement(root, key).text = value
    ET.SubElement(root, "RequestId").text = request_id
    return XML_DECLARATION + bytes(ET.tostring(root, encoding="utf-8"))
