"""MathExpression|pysssss (``py/math_expression.py``): a small arithmetic expression over
the inputs ``a``, ``b``, ``c``, giving the result as INT and FLOAT.

Like the pack, the expression is parsed with Python's ``ast`` and walked node by node; it
is never evaluated as code. Accepted: numbers; ``+ - * / // % **``, ``^ & | << >> ~``
(bitwise, as Python's), ``and``/``or`` (of the first two operands, giving 1 or 0), ``not``;
one comparison (``== != > >= < <=``, giving 1 or 0); the functions ``round(x, dp?)``,
``ceil``, ``floor``, ``min``, ``max``, ``sqrt``, ``int``, ``iif(cond, then, else)``,
``randomint(lo, hi)`` and ``randomchoice(...)``; ``a``/``b``/``c`` when they are numbers,
and ``a.width`` / ``a.height`` of an IMAGE (its width and height) or a LATENT (the pack's
rule: the latent's ``shape[3] * 8`` and ``shape[2] * 8``, which for a 5-D Wan video latent
[batch, channels, frames, height, width] are its height × 8 and frames × 8). Operands of a
binary operation are made float unless they are ints, as in the pack; newlines are spaces.

Not supported: the pack's ``NodeTitle.widget`` references into other nodes' widgets (they
read the queued prompt); such an expression is refused by name. Bounds the pack lacks, as
workflows are untrusted: at most 4,000 characters, exponents and shifts at most 4,096.
"""

from __future__ import annotations

import ast
import math
import operator as op
import random
from typing import Any, Callable

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

MAX_EXPRESSION = 4000
MAX_POWER = 4096

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: op.add, ast.Sub: op.sub, ast.Mult: op.mul, ast.Div: op.truediv, ast.FloorDiv: op.floordiv,
    ast.Pow: op.pow, ast.BitXor: op.xor, ast.Mod: op.mod, ast.BitAnd: op.and_, ast.BitOr: op.or_,
    ast.RShift: op.rshift, ast.LShift: op.lshift,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: op.neg, ast.UAdd: op.pos, ast.Invert: op.invert,
                                            ast.Not: lambda a: 0 if a else 1}
_BOOL: dict[type, Callable[[Any, Any], int]] = {ast.And: lambda a, b: 1 if a and b else 0,
                                                ast.Or: lambda a, b: 1 if a or b else 0}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {ast.Eq: op.eq, ast.NotEq: op.ne, ast.Gt: op.gt, ast.GtE: op.ge,
                                                    ast.Lt: op.lt, ast.LtE: op.le}
#: name: (fewest arguments, most or None, function)
FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., Any]]] = {
    "round": (1, 2, lambda a, b=None: round(a, b)),
    "ceil": (1, 1, math.ceil), "floor": (1, 1, math.floor),
    "min": (2, None, min), "max": (2, None, max),
    "randomint": (2, 2, random.randint), "randomchoice": (2, None, lambda *args: random.choice(args)),
    "sqrt": (1, 1, math.sqrt), "int": (1, 1, int),
    "iif": (3, 3, lambda a, b, c: b if a else c),
}


class ExpressionError(ValueError):
    """The expression is not one the pack's evaluator accepts."""


def size_of(value: Any, what: str, name: str) -> int:
    """``width``/``height`` of an IMAGE or LATENT input, by the pack's rule."""
    if isinstance(value, dict) and isinstance(value.get("samples"), torch.Tensor):
        samples = value["samples"]
        return int(samples.shape[3 if what == "width" else 2]) * 8
    if isinstance(value, torch.Tensor) and value.ndim >= 3:
        return int(value.shape[2 if what == "width" else 1])
    raise ExpressionError(f"{name}.{what}: {name} is not an IMAGE or LATENT")


def _number(value: Any) -> Any:
    return value if isinstance(value, int) else float(value)


def evaluate(expression: str, inputs: dict[str, Any]) -> Any:
    """The value of ``expression`` with ``inputs`` (``a``, ``b``, ``c``)."""
    if len(expression) > MAX_EXPRESSION:
        raise ExpressionError(f"the expression has {len(expression)} characters; at most {MAX_EXPRESSION}")
    try:
        tree = ast.parse(expression.replace("\n", " ").replace("\r", ""), mode="eval").body
    except SyntaxError as err:
        raise ExpressionError(f"not an expression ({err.msg})") from None

    def binary(kind: type, left: Any, right: Any) -> Any:
        left, right = _number(walk(left)), _number(walk(right))
        if kind is ast.Pow and abs(right) > MAX_POWER or kind in (ast.LShift, ast.RShift) and abs(right) > MAX_POWER:
            raise ExpressionError(f"exponent or shift {right} is beyond {MAX_POWER}")
        if kind is ast.Pow and isinstance(left, int) and isinstance(right, int) and abs(left) > 2 ** 64 and right > 64:
            raise ExpressionError("the power is too large")
        return _BINARY[kind](left, right)

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return binary(type(node.op), node.left, node.right)
        if isinstance(node, ast.BoolOp):
            return _BOOL[type(node.op)](_number(walk(node.values[0])), _number(walk(node.values[1])))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _COMPARE:
            return 1 if _COMPARE[type(node.ops[0])](walk(node.left), walk(node.comparators[0])) else 0
        if isinstance(node, ast.Name):
            if node.id not in inputs:
                raise ExpressionError(f"name not found: {node.id}")
            value = inputs[node.id]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ExpressionError(f"{node.id} is not a number (for an IMAGE or LATENT use {node.id}.width "
                                      f"or {node.id}.height)")
            return value
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in inputs and node.attr in ("width", "height"):
                return size_of(inputs[node.value.id], node.attr, node.value.id)
            raise ExpressionError(f"{node.value.id}.{node.attr}: references to other nodes' widgets are not "
                                  "supported by wfrun")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            if node.func.id not in FUNCTIONS:
                raise ExpressionError(f"unknown function {node.func.id}()")
            fewest, most, fn = FUNCTIONS[node.func.id]
            if len(node.args) < fewest or (most is not None and len(node.args) > most):
                raise ExpressionError(f"{node.func.id}() takes {fewest}{' or more' if most is None else f' to {most}'} "
                                      "arguments")
            return fn(*(walk(arg) for arg in node.args))
        raise ExpressionError(f"{ast.dump(node)[:60]} is not supported")

    return walk(tree)


@executor("MathExpression|pysssss", volatile=True)
def math_expression(ctx: ExecContext, expression: str, a: Any = None, b: Any = None, c: Any = None,
                    **_: Any) -> tuple:
    if not isinstance(expression, str):
        raise NodeInputError("expression", f"expected a STRING, found {type(expression).__name__}")
    try:
        result = evaluate(expression, {"a": a, "b": b, "c": c})
        return (int(result), float(result))
    except (ExpressionError, ArithmeticError, TypeError, ValueError) as err:
        raise NodeInputError("expression", f"{expression!r}: {err}",
                             "use numbers, a/b/c, + - * / // % **, and round/ceil/floor/min/max/sqrt/int/iif") from None
