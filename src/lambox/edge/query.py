"""The query protocol (SNS, IAM, STS; SQS from older clients), driven by botocore's model.

A request is a form (``Action=<Operation>&Version=...`` in the body of a POST, or the query
string of a GET) whose keys flatten the input shape: ``Attributes.entry.1.key``,
``Tags.member.2.Value``, or without the ``member``/``entry`` step for flattened lists and
maps. The answer is ``<OperationResponse><OperationResult>...</OperationResult>
<ResponseMetadata><RequestId>`` in the service's XML namespace; an error is
``<ErrorResponse><Error><Type>Sender</Type><Code/><Message/></Error><RequestId/>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree as ET

from lambox.edge.rest import scalar_in, scalar_out
from lambox.edge.restxml import XML_DECLARATION
from lambox.errors import ServiceFault


def _name(shape: Any, default: str) -> str:
    return str(shape.serialization.get("name", default))


def from_form(shape: Any, form: Mapping[str, str], prefix: str = "") -> Any:
    """The members of ``shape`` found under ``prefix`` in a flattened form."""
    kind = shape.type_name
    if kind == "structure":
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = f"{prefix}.{_name(member, name)}" if prefix else _name(member, name)
            value = from_form(member, form, key)
            if value is not None:
                out[name] = value
        return out if out or not prefix else (out if _has(form, prefix) else None)
    if kind == "list":
        flattened = shape.serialization.get("flattened")
        base, item = prefix, f".{_name(shape.member, 'member')}"
        if flattened:
            item = ""
            # A flattened list whose member has a name replaces the last part of the prefix
            # with it (SQS's ``SendMessageBatchRequestEntry.1.Id``), as botocore writes it.
            member_name = shape.member.serialization.get("name")
            if member_name:
                base = ".".join([*prefix.split(".")[:-1], member_name])
        items = []
        n = 1
        while _has(form, f"{base}{item}.{n}"):
            items.append(from_form(shape.member, form, f"{base}{item}.{n}"))
            n += 1
        if items:
            return items
        return [] if form.get(prefix) == "" else None
    if kind == "map":
        flattened = shape.serialization.get("flattened")
        entry = "" if flattened else ".entry"
        key_name, value_name = _name(shape.key, "key"), _name(shape.value, "value")
        mapping = {}
        n = 1
        while f"{prefix}{entry}.{n}.{key_name}" in form:
            base = f"{prefix}{entry}.{n}"
            mapping[form[f"{base}.{key_name}"]] = from_form(
                shape.value, form, f"{base}.{value_name}"
            )
            n += 1
        return mapping or None
    if prefix not in form:
        return None
    try:
        return scalar_in(shape, form[prefix])
    except (ValueError, TypeError, OverflowError) as exc:
        raise ServiceFault(
            "InvalidParameterValue", f"Invalid value for the parameter {prefix}", 400
        ) from exc


def _has(form: Mapping[str, str], prefix: str) -> bool:
    dotted = prefix + "."
    return prefix in form or any(k.startswith(dotted) for k in form)


def parse(shape: Any, form: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The input members of an operation from its form (first value of each key)."""
    flat = {k: v[0] for k, v in form.items() if v}
    if shape is None:
        return {}
    value = from_form(shape, flat)
    return value if isinstance(value, dict) else {}


def _fill(shape: Any, value: Any, element: ET.Element) -> None:
    """Like rest-xml's, with the query protocol's list and map wrappers."""
    kind = shape.type_name
    if kind == "structure":
        for name, member in shape.members.items():
            if value.get(name) is None:
                continue
            tag = _name(member, name)
            item = value[name]
            if member.type_name == "list" and member.serialization.get("flattened"):
                tag = _name(member.member, tag)
                for entry in item:
                    child = ET.SubElement(element, tag)
                    _fill(member.member, entry, child)
            elif member.type_name == "map" and member.serialization.get("flattened"):
                for key, entry in item.items():
                    child = ET.SubElement(element, tag)
                    ET.SubElement(child, _name(member.key, "key")).text = str(key)
                    _fill(member.value, entry, ET.SubElement(child, _name(member.value, "value")))
            else:
                _fill(member, item, ET.SubElement(element, tag))
    elif kind == "list":
        tag = _name(shape.member, "member")
        for entry in value:
            _fill(shape.member, entry, ET.SubElement(element, tag))
    elif kind == "map":
        for key, item in value.items():
            entry = ET.SubElement(element, "entry")
            ET.SubElement(entry, _name(shape.key, "key")).text = str(key)
            _fill(shape.value, item, ET.SubElement(entry, _name(shape.value, "value")))
    else:
        element.text = scalar_out(shape, value, in_header=False)


def response(op: Any, output: Mapping[str, Any], request_id: str, namespace: str) -> bytes:
    """``<Op>Response`` with its result (named by the model) and the request id."""
    root = ET.Element(f"{op.name}Response", xmlns=namespace)
    shape = op.output_shape
    if shape is not None:
        result = ET.SubElement(root, shape.serialization.get("resultWrapper", f"{op.name}Result"))
        _fill(shape, output, result)
    meta = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(meta, "RequestId").text = request_id
    return XML_DECLARATION + bytes(ET.tostring(root, encoding="utf-8"))


def error(fault: ServiceFault, request_id: str, namespace: str) -> bytes:
    root = ET.Element("ErrorResponse", xmlns=namespace)
    err = ET.SubElement(root, "Error")
    ET.SubElement(err, "Type").text = "Sender" if fault.status < 500 else "Receiver"
    ET.SubElement(err, "Code").text = fault.aws_type
    ET.SubElement(err, "Message").text = fault.message
    ET.SubElement(root, "RequestId").text = request_id
    return XML_DECLARATION + bytes(ET.tostring(root, encoding="utf-8"))
