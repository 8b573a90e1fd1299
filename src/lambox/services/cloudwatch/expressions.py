"""GetMetricData's metric math, the arithmetic part: ids of earlier queries, numbers,
``+ - * /``, parentheses and unary minus, evaluated per timestamp (a number applies to
every timestamp; two series combine where both have a value). Anything else, such as
CloudWatch's functions (``SUM(...)``, ``FILL(...)``), is refused with AWS's error code."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping

from lambox.errors import ServiceFault

Series = dict[int, float]
_OPS: Mapping[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _refused(expression: str) -> ServiceFault:
    return ServiceFault(
        "ValidationError",
        f"The expression '{expression}' is not supported: lambox evaluates arithmetic on"
        " query ids and numbers only.",
        400,
    )


def evaluate(expression: str, known: Mapping[str, Series]) -> Series:
    """The series an arithmetic expression over earlier query ids gives."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise _refused(expression) from exc
    value = _eval(tree.body, known, expression)
    if isinstance(value, float):
        raise _refused(expression)
    return value


def _eval(node: ast.AST, known: Mapping[str, Series], text: str) -> Series | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in known:
            raise _refused(text)
        return known[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _eval(node.operand, known, text)
        return -inner if isinstance(inner, float) else {t: -v for t, v in inner.items()}
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        op = _OPS[type(node.op)]
        left, right = _eval(node.left, known, text), _eval(node.right, known, text)
        return _combine(op, left, right)
    raise _refused(text)


def _apply(op: Callable[[float, float], float], a: float, b: float) -> float:
    try:
        return op(a, b)
    except ZeroDivisionError:
        return float("nan")


def _combine(
    op: Callable[[float, float], float], left: Series | float, right: Series | float
) -> Series | float:
    if isinstance(left, float) and isinstance(right, float):
        return _apply(op, left, right)
    if isinstance(left, float):
        assert isinstance(right, dict)
        return {t: _apply(op, left, v) for t, v in right.items()}
    if isinstance(right, float):
        return {t: _apply(op, v, right) for t, v in left.items()}
    return {t: _apply(op, v, right[t]) for t, v in left.items() if t in right}
