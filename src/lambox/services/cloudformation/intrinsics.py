"""CloudFormation's intrinsic functions and conditions, evaluated against one deployment.

``Context`` holds what a template can refer to: parameters, pseudo parameters, mappings,
evaluated conditions and the resources provisioned so far (their ``Ref`` value and their
attributes). ``resolve`` replaces every intrinsic in a value; ``AWS::NoValue`` removes the
property or list element it stands in. ``references`` lists the resources a value names,
which is what orders a deployment.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambox.services.cloudformation.template import validation

_SUB = re.compile(r"\$\{([^}]*)\}")
NO_VALUE = "AWS::NoValue"


class _Removed:
    """What ``AWS::NoValue`` resolves to until its container drops it."""


REMOVED = _Removed()


@dataclass
class Context:
    parameters: Mapping[str, Any]
    pseudo: Mapping[str, str]
    mappings: Mapping[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    # logical id -> (Ref value, attributes)
    resources: dict[str, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)
    condition_defs: Mapping[str, Any] = field(default_factory=dict)
    # Other stacks' exported outputs (Fn::ImportValue), and the names this stack imported.
    exports: Mapping[str, str] = field(default_factory=dict)
    imported: set[str] = field(default_factory=set)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            if name not in self.condition_defs:
                raise validation(f"Template error: unresolved condition dependency {name}")
            self.conditions[name] = bool(truth(self.condition_defs[name], self))
        return self.conditions[name]

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name == NO_VALUE:
            return REMOVED
        if name in self.resources:
            return self.resources[name][0]
        raise validation(f"Template format error: Unresolved resource dependencies [{name}]")

    def attribute(self, name: str, attribute: str) -> Any:
        if name not in self.resources:
            raise validation(f"Template format error: Unresolved resource dependencies [{name}]")
        attrs = self.resources[name][1]
        if attribute not in attrs:
            raise validation(
                f"Template error: resource {name} does not support attribute type {attribute}"
                " in Fn::GetAtt"
            )
        return attrs[attribute]


def truth(value: Any, ctx: Context) -> bool:
    """A condition expression (Fn::Equals/And/Or/Not, Condition) to a bool."""
    result = resolve(value, ctx)
    if isinstance(result, bool):
        return result
    if isinstance(result, str) and result.lower() in ("true", "false"):
        return result.lower() == "true"
    raise validation("Template error: a condition must evaluate to true or false")


def resolve(value: Any, ctx: Context) -> Any:
    if isinstance(value, list):
        items = [resolve(v, ctx) for v in value]
        return [v for v in items if v is not REMOVED]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return ctx.ref(str(arg))
        if key == "Condition" and isinstance(arg, str):
            return ctx.condition(arg)
        if key.startswith("Fn::"):
            return _function(key[4:], arg, ctx)
    out = {}
    for key, item in value.items():
        resolved = resolve(item, ctx)
        if resolved is not REMOVED:
            out[key] = resolved
    return out


def _function(name: str, arg: Any, ctx: Context) -> Any:
    if name == "GetAtt":
        parts = arg.split(".", 1) if isinstance(arg, str) else [resolve(a, ctx) for a in arg]
        if len(parts) != 2:
            raise validation("Template error: Fn::GetAtt needs a resource and an attribute")
        return ctx.attribute(str(parts[0]), str(parts[1]))
    if name == "Sub":
        return _sub(arg, ctx)
    if name == "Join":
        delimiter, items = arg
        resolved = resolve(items, ctx)
        return str(delimiter).join(_text(v) for v in resolved)
    if name == "Select":
        index, items = resolve(arg[0], ctx), resolve(arg[1], ctx)
        try:
            return items[int(index)]
        except (IndexError, ValueError, TypeError) as exc:
            raise validation("Template error: Fn::Select cannot select nonexistent value") from exc
    if name == "Split":
        delimiter, text = arg
        return str(resolve(text, ctx)).split(str(delimiter))
    if name == "If":
        condition, when_true, when_false = arg
        return resolve(when_true if ctx.condition(str(condition)) else when_false, ctx)
    if name == "Equals":
        left, right = (resolve(a, ctx) for a in arg)
        return _text(left) == _text(right)
    if name == "And":
        return all(truth(a, ctx) for a in arg)
    if name == "Or":
        return any(truth(a, ctx) for a in arg)
    if name == "Not":
        return not truth(arg[0], ctx)
    if name == "FindInMap":
        mapping, top, second = (_text(resolve(a, ctx)) for a in arg[:3])
        try:
            return ctx.mappings[mapping][top][second]
        except (KeyError, TypeError) as exc:
            raise validation(
                f"Template error: Unable to get mapping for {mapping}::{top}::{second}"
            ) from exc
    if name == "GetAZs":
        region = _text(resolve(arg, ctx)) or str(ctx.pseudo["AWS::Region"])
        return [f"{region}{zone}" for zone in "abc"]
    if name == "Base64":
        return base64.b64encode(_text(resolve(arg, ctx)).encode()).decode()
    if name == "ImportValue":
        export = _text(resolve(arg, ctx))
        if export not in ctx.exports:
            raise validation(f"No export named {export} found.")
        ctx.imported.add(export)
        return ctx.exports[export]
    raise validation(f"Template format error: Unrecognized intrinsic function Fn::{name}")


def _sub(arg: Any, ctx: Context) -> str:
    if isinstance(arg, list):
        text, variables = arg[0], {k: resolve(v, ctx) for k, v in (arg[1] or {}).items()}
    else:
        text, variables = arg, {}

    def replace(m: re.Match[str]) -> str:
        inner = m.group(1)
        if inner.startswith("!"):
            return "${" + inner[1:] + "}"
        if inner in variables:
            return _text(variables[inner])
        if "." in inner and inner.split(".", 1)[0] in ctx.resources:
            resource, attribute = inner.split(".", 1)
            return _text(ctx.attribute(resource, attribute))
        return _text(ctx.ref(inner))

    return _SUB.sub(replace, str(text))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)


def references(value: Any, resources: Mapping[str, Any]) -> set[str]:
    """The logical ids of ``resources`` that ``value`` refers to (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item, resources)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str) and arg in resources:
                found.add(arg)
            elif key == "Fn::GetAtt":
                target = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
                if isinstance(target, str) and target in resources:
                    found.add(target)
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                for m in _SUB.finditer(str(text)):
                    name = m.group(1).split(".", 1)[0]
                    if name in resources:
                        found.add(name)
                if isinstance(arg, list) and len(arg) > 1:
                    found |= references(arg[1], resources)
            else:
                found |= references(arg, resources)
    return found


def names(value: Any) -> set[str]:
    """Every name ``value`` refers to with Ref or Fn::GetAtt (resources, parameters, pseudo
    parameters), so a template naming nothing is refused before it is deployed."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= names(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt" and isinstance(arg, str | list) and arg:
                target = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
                if isinstance(target, str):
                    found.add(target)
            else:
                found |= names(arg)
    return found


def imports(value: Any) -> list[Any]:
    """The arguments of every Fn::ImportValue in ``value``."""
    found: list[Any] = []
    if isinstance(value, list):
        for item in value:
            found += imports(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            found += [arg] if key == "Fn::ImportValue" else imports(arg)
    return found
