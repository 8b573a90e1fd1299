"""Validate Lambda API requests against botocore's copy of AWS's own service model.

AWS checks every request against the operation's input shape before any business logic runs and
answers with one ``ValidationException`` naming every failed constraint. Reading the limits,
patterns and enums from botocore's model (instead of copying them into tables) keeps lambox's
answers identical to AWS's, and lets a botocore upgrade bring new members and runtimes with it.

Only what the model cannot say is written down here: which runtimes AWS no longer accepts, and
the few spots where AWS answers differently from what the model alone would produce (which
exception, which order, which wording). Each is noted where it is handled and each comes from
responses recorded against real AWS (the parity snapshots, ``function-crud-and-validation``
above all).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lambox.errors import InvalidParameterValue, ValidationError

DEPRECATED_RUNTIMES: frozenset[str] = frozenset(
    {
        "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x",
        "nodejs12.x", "nodejs14.x",
        "python2.7", "python3.6", "python3.7",
        "java8",
        "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1",
        "go1.x", "ruby2.5", "ruby2.7", "provided",
    }
)  # fmt: skip
"""Runtimes AWS refuses for CreateFunction and UpdateFunctionConfiguration.

Follows the "Deprecated runtimes" table of AWS's Lambda runtimes page
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html): a runtime is listed once its
"block function create" and "block function update" dates have passed. The set matches AWS as
recorded on 2026-01-12: python3.8, nodejs16.x, nodejs18.x, dotnet6, java8.al2 and provided.al2
are deprecated there too but were still accepted, so they are not listed. The service model keeps
every runtime ever released, which is why this one list has to be kept by hand.
"""

_LENIENT_LOCATIONS = frozenset({"querystring", "header", "uri"})
_RUNTIME_SHAPE = "Runtime"
_NAME_LIMIT = 64
_NUMBERS = frozenset({"integer", "long", "double", "float"})
_NULLABLE_ELEMENTS = frozenset({"SubnetIds", "SecurityGroupIds"})
"""Lists whose elements AWS's internal model lets be null, so its messages leave out "Member
must not be null" (recorded for VpcConfig; recorded with it for Layers, Architectures and
alias weights). Botocore's model does not carry the difference."""


@dataclass(eq=False)
class _Scalar:
    """A string, number, boolean, blob or timestamp shape with its constraints."""

    shape: str
    kind: str
    sensitive: bool
    low: int | float | None = None
    high: int | float | None = None
    pattern: str | None = None
    regex: re.Pattern[str] | None = None
    enum: tuple[str, ...] = ()
    allowed: frozenset[str] = frozenset()
    shown_enum: tuple[str, ...] = ()


@dataclass(eq=False)
class _List:
    shape: str
    sensitive: bool
    low: int | None = None
    high: int | None = None
    member: _Node | None = None


@dataclass(eq=False)
class _Map:
    shape: str
    sensitive: bool
    low: int | None = None
    high: int | None = None
    key: _Node | None = None
    value: _Node | None = None


@dataclass(frozen=True)
class _Member:
    name: str
    location: str
    node: _Node
    required: bool
    lenient: bool


@dataclass(eq=False)
class _Struct:
    shape: str
    sensitive: bool
    members: list[_Member] = field(default_factory=list)


_Node = _Scalar | _List | _Map | _Struct


@dataclass(frozen=True)
class _Operation:
    """An operation's compiled input, with the Runtime member set aside (see ``validate``)."""

    name: str
    input: _Struct
    runtime: _Scalar | None
    names: frozenset[str]
    function_name: re.Pattern[str] | None


class _Unreadable(Exception):
    """A value of the wrong JSON type: AWS fails these while deserializing, before validation."""

    def __init__(self, path: str, expected: str, shown: str) -> None:
        super().__init__(path)
        self.message = (
            f"1 validation error detected: Value{shown} at '{path}' failed to satisfy constraint:"
            f" Member must be {expected}"
        )


# -- public API ----------------------------------------------------------------------------


def validate(operation: str, params: Mapping[str, Any]) -> None:
    """Check ``params`` against the input shape of ``operation`` the way AWS does.

    ``params`` holds the operation's input keyed by the model's member names: the JSON body
    members plus the URI, query and header members (query and header values may still be
    strings; ``"10"`` passes for an integer). Members the model does not know are ignored, as AWS
    ignores them. A body member sent as JSON ``null`` is refused like a missing required one,
    at any depth and whatever the operation: AWS does not read null as "leave unchanged", and
    nothing after validation has to expect None where the model promises a value. (URI, query
    and header members given as None are absent.) Raises ``ValidationError`` listing every
    failed constraint in AWS's words.

    Two checks AWS makes after its model validation, in its service code, come back as
    ``InvalidParameterValue`` instead, and only when the model validation passed:

    * CreateFunction with a function name (the name part of a name or ARN) over 64 characters:
      the model's limit is the 140 of a full ARN, AWS then checks the name itself.
    * an unknown ``Runtime`` (CreateFunction, UpdateFunctionConfiguration): AWS treats Runtime as
      free text in its model, so the enum check happens later and reads differently.

    Deprecated runtimes pass here; ``check_runtime_supported`` refuses them.
    An ``operation`` unknown to the model raises ``KeyError``: that is a lambox bug, not a
    client error.
    """
    op = _operation(operation)
    errors: list[str] = []
    try:
        _check_struct_members(op.input, params, "", errors)
    except _Unreadable as exc:
        raise ValidationError(exc.message) from None
    if errors:
        raise ValidationError(_summary(errors))
    if op.function_name is not None:
        _check_function_name_length(op.function_name, params.get("FunctionName"))
    runtime = params.get("Runtime")
    if op.runtime is not None and runtime is not None and runtime not in op.runtime.allowed:
        raise InvalidParameterValue(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy"
            f" enum value set: [{', '.join(op.runtime.shown_enum)}] or be a valid ARN"
        )


def validate_address(operation: str, params: Mapping[str, Any]) -> None:
    """Check only the URI, query and header members of ``operation`` (the function's name and
    qualifier): AWS refuses a malformed address before it looks the function up, but for
    some operations looks it up before it reads the body (recorded: PutFunctionConcurrency of
    a missing function with an invalid value answers 404)."""
    op = _operation(operation)
    address = _Struct(
        op.input.shape, op.input.sensitive, [m for m in op.input.members if m.lenient]
    )
    errors: list[str] = []
    try:
        _check_struct_members(address, params, "", errors)
    except _Unreadable as exc:
        raise ValidationError(exc.message) from None
    if errors:
        raise ValidationError(_summary(errors))


def check_runtime_supported(runtime: str) -> None:
    """Refuse a runtime AWS has blocked for creating and updating functions."""
    if runtime in DEPRECATED_RUNTIMES:
        raise InvalidParameterValue(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating"
            " AWS Lambda functions. We recommend you use a supported runtime while creating or"
            " updating functions."
        )


def runtimes() -> tuple[str, ...]:
    """Every runtime the model's ``Runtime`` enum names, deprecated ones included."""
    return tuple(_model()["shapes"][_RUNTIME_SHAPE]["enum"])


def member_names(operation: str) -> frozenset[str]:
    """The input member names of ``operation``, so a caller can refuse keys AWS does not know."""
    return _operation(operation).names


# -- the model, compiled lazily --------------------------------------------------------------


@functools.cache
def _model() -> dict[str, Any]:
    """Botocore's Lambda model, loaded on first use: parsing it takes about 0.2 s, which no
    import of lambox should pay."""
    from botocore.loaders import create_loader

    model: dict[str, Any] = create_loader().load_service_model("lambda", "service-2")
    return model


_COMPILING = threading.Lock()


@functools.cache
def _operation(name: str) -> _Operation:
    """The compiled input of one operation; compiled under a lock, since another thread must
    never see a shared structure node whose members are still being filled in."""
    with _COMPILING:
        return _compile_operation(name)


def _compile_operation(name: str) -> _Operation:
    spec = _model()["operations"].get(name)
    if spec is None:
        raise KeyError(f"the Lambda model has no operation {name!r}")
    shape_name = spec.get("input", {}).get("shape")
    compiled = _compile(shape_name) if shape_name else _Struct(name, False)
    assert isinstance(compiled, _Struct)
    runtime: _Scalar | None = None
    members: list[_Member] = []
    for member in compiled.members:
        node = member.node
        if member.name == "Runtime" and isinstance(node, _Scalar) and node.shape == _RUNTIME_SHAPE:
            runtime = node
            node = _Scalar(node.shape, node.kind, node.sensitive)
            member = _Member(member.name, member.location, node, member.required, member.lenient)
        members.append(member)
    function_name: re.Pattern[str] | None = None
    if name == "CreateFunction":
        function_name = _name_part_regex(compiled)
    return _Operation(
        name=name,
        input=_Struct(compiled.shape, compiled.sensitive, members),
        runtime=runtime,
        names=frozenset(m.name for m in compiled.members),
        function_name=function_name,
    )


_NODES: dict[str, _Node] = {}


def _compile(shape_name: str) -> _Node:
    """The compiled node for a shape, built once; caching a node before its children are
    compiled also ends the recursion of cyclic shapes."""
    cached = _NODES.get(shape_name)
    if cached is not None:
        return cached
    spec: dict[str, Any] = _model()["shapes"][shape_name]
    kind = spec["type"]
    sensitive = bool(spec.get("sensitive", False))
    node: _Node
    if kind == "structure":
        node = _Struct(shape_name, sensitive)
        _NODES[shape_name] = node
        required = set(spec.get("required", ()))
        for name, member in spec.get("members", {}).items():
            location = member.get("location", "")
            node.members.append(
                _Member(
                    name=name,
                    location=name[:1].lower() + name[1:],
                    node=_compile(member["shape"]),
                    required=name in required,
                    lenient=location in _LENIENT_LOCATIONS,
                )
            )
    elif kind == "list":
        node = _List(shape_name, sensitive, spec.get("min"), spec.get("max"))
        _NODES[shape_name] = node
        node.member = _compile(spec["member"]["shape"])
        node.sensitive = node.sensitive or node.member.sensitive
    elif kind == "map":
        node = _Map(shape_name, sensitive, spec.get("min"), spec.get("max"))
        _NODES[shape_name] = node
        node.key = _compile(spec["key"]["shape"])
        node.value = _compile(spec["value"]["shape"])
        node.sensitive = node.sensitive or node.key.sensitive or node.value.sensitive
    else:
        node = _scalar(shape_name, kind, sensitive, spec)
        _NODES[shape_name] = node
    return node


_AWS_ENUM_ORDER = {
    "InvokeMode": ("RESPONSE_STREAM", "BUFFERED"),
    "RecursiveLoop": ("Terminate", "Allow"),
}
"""Enums AWS's messages list in an order of their own, not the model's (recorded:
``test_lambda_url_invalid_invoke_mode``, ``test_put_function_recursion_config_invalid_value``)."""
# Patterns AWS prints differently from botocore's model: it leaves out an outer group.
_SHOWN_WITHOUT_OUTER_GROUP = frozenset({"LayerVersionArn"})


def _scalar(shape_name: str, kind: str, sensitive: bool, spec: dict[str, Any]) -> _Scalar:
    pattern = spec.get("pattern")
    shown_pattern = pattern
    if pattern and shape_name in _SHOWN_WITHOUT_OUTER_GROUP and pattern.startswith("("):
        shown_pattern = pattern[1:-1]
    enum = tuple(spec.get("enum", ()))
    shown = _AWS_ENUM_ORDER.get(shape_name, enum)
    if shape_name == _RUNTIME_SHAPE:
        shown = tuple(r for r in enum if r not in DEPRECATED_RUNTIMES)
    return _Scalar(
        shape=shape_name,
        kind=kind,
        sensitive=sensitive,
        low=spec.get("min"),
        high=spec.get("max"),
        pattern=shown_pattern,
        regex=_java_regex(pattern) if pattern is not None else None,
        enum=enum,
        allowed=frozenset(enum),
        shown_enum=shown,
    )


_PROPERTY = re.compile(r"\\p\{([A-Za-z]+)\}")
_CLASS_WITH_PROPERTY = re.compile(r"\[((?:[^\]\\]|\\.)*\\p\{[A-Za-z]+\}(?:[^\]\\]|\\.)*)\]")


def _java_regex(pattern: str) -> re.Pattern[str] | None:
    """The model's Java regex compiled for Python, which matches it everywhere but ``\\p{..}``.

    Java's Unicode classes (only ``\\p{L}``, ``\\p{N}`` and ``\\p{Z}``, in the tag patterns, occur)
    are rewritten into Python equivalents; a pattern that still fails to compile is not enforced,
    which is safer than refusing valid requests.
    """
    try:
        return re.compile(_CLASS_WITH_PROPERTY.sub(_expand_class, pattern))
    except (re.error, ValueError):
        return None


def _expand_class(match: re.Match[str]) -> str:
    body = match.group(1)
    if body.startswith("^"):
        raise ValueError("negated class with a Unicode property")
    properties = set(_PROPERTY.findall(body))
    rest = _PROPERTY.sub("", body)
    options = [f"[{rest}]"] if rest else []
    if {"L", "N"} <= properties:
        options.append(r"[^\W_]")
    elif "L" in properties:
        options.append(r"[^\W\d_]")
    elif "N" in properties:
        options.append(r"\d")
    if "Z" in properties:
        options.append(r"[^\S\t\n\v\f\r\x1c-\x1f\x85]")
    if properties - {"L", "N", "Z"}:
        raise ValueError(f"unsupported Unicode properties {properties}")
    return "(?:" + "|".join(options) + ")"


def _name_part_regex(struct: _Struct) -> re.Pattern[str] | None:
    """The FunctionName pattern with its name group labelled, to measure the bare name."""
    for member in struct.members:
        node = member.node
        if member.name == "FunctionName" and isinstance(node, _Scalar) and node.pattern:
            labelled = node.pattern.replace("(function:)?(", "(function:)?(?P<name>", 1)
            if "(?P<name>" in labelled:
                return _java_regex(labelled)
    return None


# -- checking --------------------------------------------------------------------------------


def _check(node: _Node, value: Any, path: str, errors: list[str], lenient: bool) -> None:
    if isinstance(node, _Struct):
        if not isinstance(value, Mapping):
            raise _Unreadable(path, "an object", _shown(node, value))
        _check_struct_members(node, value, path + ".", errors)
    elif isinstance(node, _List):
        _check_list(node, value, path, errors)
    elif isinstance(node, _Map):
        _check_map(node, value, path, errors)
    else:
        for constraint in _failures(node, _read(node, value, path, lenient)):
            errors.append(_error(node, value, path, constraint))


def _check_struct_members(
    struct: _Struct, value: Mapping[str, Any], prefix: str, errors: list[str]
) -> None:
    """Members from the last to the first, the order AWS lists their failures in (recorded:
    ``qualifier`` before ``functionName`` on GetFunction, ``compatibleRuntimes`` before
    ``compatibleArchitectures`` on PublishLayerVersion)."""
    for member in reversed(struct.members):
        item = value.get(member.name)
        if member.lenient and isinstance(item, Sequence) and not isinstance(item, str | bytes):
            item = item or None
        path = prefix + member.location
        if item is None:
            if member.required or (not member.lenient and member.name in value):
                errors.append(_error(member.node, None, path, "Member must not be null"))
            continue
        _check(member.node, item, path, errors, member.lenient)


def _check_list(node: _List, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, list | tuple):
        raise _Unreadable(path, "a list", _shown(node, value))
    errors.extend(_error(node, value, path, c) for c in _length_failures(node, len(value)))
    member = node.member
    assert member is not None
    if isinstance(member, _Scalar):
        if _any_fails(member, value, path, allow_null=False):
            not_null = node.shape not in _NULLABLE_ELEMENTS
            errors.append(_error(node, value, path, _nested(member, "Member", not_null)))
        return
    for index, item in enumerate(value, start=1):
        item_path = f"{path}.{index}.member"
        if item is None:
            errors.append(_error(member, None, item_path, "Member must not be null"))
        else:
            _check(member, item, item_path, errors, False)


def _check_map(node: _Map, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, Mapping):
        raise _Unreadable(path, "an object", _shown(node, value))
    errors.extend(_error(node, value, path, c) for c in _length_failures(node, len(value)))
    key, item = node.key, node.value
    assert isinstance(key, _Scalar) and item is not None
    if _any_fails(key, value.keys(), path, allow_null=False):
        errors.append(_error(node, value, path, _nested(key, "Map keys", False)))
    if isinstance(item, _Scalar):
        if _any_fails(item, value.values(), path, allow_null=False):
            errors.append(_error(node, value, path, _nested(item, "Map value", True)))
        return
    for name, entry in value.items():
        if entry is None:
            errors.append(_error(item, None, f"{path}.{name}", "Member must not be null"))
        else:
            _check(item, entry, f"{path}.{name}", errors, False)


def _any_fails(node: _Scalar, values: Any, path: str, allow_null: bool) -> bool:
    failed = False
    for item in values:
        if item is None:
            failed = failed or not allow_null
        elif _failures(node, _read(node, item, path, False)):
            failed = True
    return failed


def _failures(node: _Scalar, value: Any) -> list[str]:
    """The constraints ``value`` breaks, in the order AWS lists them: length, then pattern, then
    enum; numbers by range."""
    if node.kind == "string":
        found = _length_failures(node, _java_length(value))
        if node.regex is not None and node.regex.fullmatch(value) is None:
            found.append(f"Member must satisfy regular expression pattern: {node.pattern}")
        if node.enum and value not in node.allowed:
            found.append(_enum_text(node))
        return found
    if node.kind == "blob" and isinstance(value, bytes | bytearray):
        return _length_failures(node, len(value))
    if node.kind in _NUMBERS:
        if node.high is not None and value > node.high:
            return [_at_most(node)]
        if node.low is not None and value < node.low:
            return [_at_least(node)]
    return []


def _length_failures(node: _Scalar | _List | _Map, length: int) -> list[str]:
    if node.high is not None and length > node.high:
        return [_at_most(node)]
    if node.low is not None and length < node.low:
        return [_at_least(node)]
    return []


def _at_most(node: _Scalar | _List | _Map) -> str:
    if isinstance(node, _Scalar) and node.kind in _NUMBERS:
        return f"Member must have value less than or equal to {_bound(node, node.high)}"
    return f"Member must have length less than or equal to {node.high}"


def _at_least(node: _Scalar | _List | _Map) -> str:
    if isinstance(node, _Scalar) and node.kind in _NUMBERS:
        return f"Member must have value greater than or equal to {_bound(node, node.low)}"
    return f"Member must have length greater than or equal to {node.low}"


def _nested(node: _Scalar, subject: str, not_null: bool) -> str:
    """How AWS words a broken element of a list or map: every constraint of the element shape,
    plus "Member must not be null" where AWS's own model forbids null elements.

    A list of runtimes is the exception: AWS reports the enum on the list itself.
    """
    if node.shape == _RUNTIME_SHAPE:
        return _enum_text(node)
    parts: list[str] = []
    if node.high is not None:
        parts.append(_at_most(node))
    if node.low is not None:
        parts.append(_at_least(node))
    if node.pattern is not None:
        parts.append(f"Member must satisfy regular expression pattern: {node.pattern}")
    if node.enum:
        parts.append(_enum_text(node))
    if not_null:
        parts.append("Member must not be null")
    return f"{subject} must satisfy constraint: [{', '.join(parts)}]"


def _enum_text(node: _Scalar) -> str:
    return f"Member must satisfy enum value set: [{', '.join(node.shown_enum)}]"


def _check_function_name_length(labelled: re.Pattern[str], function_name: Any) -> None:
    """AWS's CreateFunction check of the bare name (recorded: ``'a' * 65`` answers
    InvalidParameterValueException worded like a validation error)."""
    match = labelled.fullmatch(function_name) if isinstance(function_name, str) else None
    name = match.group("name") if match is not None else None
    if name is not None and len(name) > _NAME_LIMIT:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy"
            f" constraint: Member must have length less than or equal to {_NAME_LIMIT}"
        )


# -- reading and rendering values ------------------------------------------------------------


_READERS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "long": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "double": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "float": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "boolean": ("a boolean", lambda v: isinstance(v, bool)),
    "blob": ("base64-encoded binary data", lambda v: isinstance(v, bytes | bytearray | str)),
}


def _read(node: _Scalar, value: Any, path: str, lenient: bool) -> Any:
    """``value`` as the shape's type; query and header values arrive as text and are parsed."""
    reader = _READERS.get(node.kind)
    if reader is None or reader[1](value):
        return value
    if lenient and isinstance(value, str):
        parsed = _parse_text(node.kind, value)
        if parsed is not None:
            return parsed
    raise _Unreadable(path, reader[0], _shown(node, value))


def _parse_text(kind: str, text: str) -> int | float | bool | None:
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("double", "float"):
            return float(text)
    except ValueError:
        return None
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return None


def _error(node: _Node, value: Any, path: str, constraint: str) -> str:
    return f"Value{_shown(node, value)} at '{path}' failed to satisfy constraint: {constraint}"


def _shown(node: _Node, value: Any) -> str:
    """The value as AWS quotes it: Java's rendering, ``null`` bare, sensitive values left out
    (AWS answers "Value at 'environment.variables'" for those)."""
    if value is None:
        return " null"
    if node.sensitive:
        return ""
    return f" '{_java(value)}'"


def _java(value: Any) -> str:
    """Java's ``toString`` of the deserialized value, which is what AWS's messages quote.

    Written with an explicit stack: a value may nest as deep as the body parser allows
    (1,000 levels), deeper than Python's recursion."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Text):
            out.append(item)
        elif isinstance(item, Mapping):
            parts: list[Any] = [_Text("{")]
            for index, (key, entry) in enumerate(item.items()):
                parts += [_Text(", ")] if index else []
                parts += [key, _Text("="), entry]
            stack.extend(reversed([*parts, _Text("}")]))
        elif isinstance(item, list | tuple):
            parts = [_Text("[")]
            for index, entry in enumerate(item):
                parts += [_Text(", "), entry] if index else [entry]
            stack.extend(reversed([*parts, _Text("]")]))
        else:
            out.append(_java_scalar(item))
    return "".join(out)


class _Text(str):
    """Punctuation of a rendered container, told apart from the string values in it."""


def _java_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, bytes | bytearray):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    return str(value)


def _bound(node: _Scalar, bound: int | float | None) -> str:
    if node.kind in ("double", "float"):
        return _java_double(float(bound or 0))
    return str(int(bound or 0))


def _java_double(number: float) -> str:
    """``Double.toString``: plain between 10^-3 and 10^7, else ``1.0E7`` style."""
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0 or 1e-3 <= abs(number) < 1e7:
        return repr(number)
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = f"{digits[0]}." + ("".join(map(str, digits[1:])) or "0")
    return f"{'-' if sign else ''}{mantissa}E{exponent + len(digits) - 1}"


def _java_length(text: str) -> int:
    """Length in UTF-16 code units, as Java's ``String.length`` counts for AWS's limits."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _summary(errors: list[str]) -> str:
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(errors)
