"""SimpleMath+: a small arithmetic expression over ``a``, ``b``, ``c`` (and ``d``).

The pack walks Python's AST with a fixed table of operators, never ``eval``; so does this
module, with the same vocabulary:

* numbers; the variables ``a b c d`` (a tensor input becomes its shape list, a string its float);
* ``+ - * / // % **``, unary ``-``/``+``/``not``; comparisons (a chain gives 1 or 0);
  ``and``/``or``;
* the functions ``min max round sum len``; indexing with a constant (``a[1]`` on a shape).

Deviation, on purpose: where the pack silently returns 0 for anything else (names, attribute
access, strings, lambdas, comprehensions …), wfrun refuses the expression with an error that
names what is not allowed. Work is bounded: at most 1000 characters, integer results of at
most 4096 bits, exponents that would exceed that are refused, and arithmetic is on numbers
only (no list repetition).
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any

from wfrun.nodes.executor import ExecContext, executor, NodeInputError

MAX_LENGTH = 1000
MAX_INT_BITS = 4096

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_FUNCTIONS = {"min": min, "max": max, "round": round, "sum": sum, "len": len}
_VARIABLES = ("a", "b", "c", "d")


class ExpressionError(ValueError):
    """The expression uses something SimpleMath+ does not allow, or cannot be computed."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, complex)


def _check_size(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise ExpressionError(f"an intermediate integer exceeds {MAX_INT_BITS} bits")
    return value


def _symbol(node: ast.AST) -> str:
    return {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
            ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
            ast.LShift: "<<", ast.RShift: ">>", ast.Invert: "~", ast.Is: "is", ast.IsNot: "is not",
            ast.In: "in", ast.NotIn: "not in"}.get(type(node), type(node).__name__)


def evaluate(expression: str, variables: dict[str, Any]) -> Any:
    """Evaluate ``expression`` as SimpleMath+ does; raise :class:`ExpressionError` otherwise."""
    if not isinstance(expression, str) or not expression.strip():
        raise ExpressionError("the expression is empty")
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"not a valid expression ({err.msg})") from None

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if _is_number(node.value):
                return node.value
            raise ExpressionError(f"only numbers are allowed as constants, not {node.value!r}")
        if isinstance(node, ast.Name):
            if node.id in _VARIABLES:
                return variables.get(node.id, 0.0)
            raise ExpressionError(f"unknown name {node.id!r}: only a, b, c, d and the functions "
                                  f"{', '.join(_FUNCTIONS)} are allowed")
        if isinstance(node, ast.BinOp):
            fn = _BINARY.get(type(node.op))
            if fn is None:
                raise ExpressionError(f"operator {_symbol(node.op)!r} is not allowed")
            left, right = ev(node.left), ev(node.right)
            if not (_is_number(left) and _is_number(right)):
                raise ExpressionError(f"operator {_symbol(node.op)!r} needs numbers")
            if isinstance(node.op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and right > 0:
                if abs(left) > 1 and max(1, abs(left).bit_length() - 1) * right > MAX_INT_BITS:
                    raise ExpressionError(f"the power would exceed {MAX_INT_BITS} bits")
            try:
                return _check_size(fn(left, right))
            except ZeroDivisionError:
                raise ExpressionError("division by zero") from None
            except OverflowError:
                raise ExpressionError("the result is too large") from None
        if isinstance(node, ast.UnaryOp):
            fn = _UNARY.get(type(node.op))
            if fn is None:
                raise ExpressionError(f"operator {_symbol(node.op)!r} is not allowed")
            value = ev(node.operand)
            if not _is_number(value):
                raise ExpressionError(f"operator {_symbol(node.op)!r} needs a number")
            return fn(value)
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                fn = _COMPARE.get(type(op))
                if fn is None:
                    raise ExpressionError(f"comparison {_symbol(op)!r} is not allowed")
                right = ev(comparator)
                try:
                    if not fn(left, right):
                        return 0
                except TypeError:
                    raise ExpressionError("comparisons need numbers") from None
                left = right
            return 1
        if isinstance(node, ast.BoolOp):
            values = [ev(v) for v in node.values]
            result = values[0]
            for value in values[1:]:
                result = (result and value) if isinstance(node.op, ast.And) else (result or value)
            return result
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                what = node.func.id if isinstance(node.func, ast.Name) else "this call"
                raise ExpressionError(f"function {what!r} is not allowed; allowed: {', '.join(_FUNCTIONS)}")
            if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
                raise ExpressionError(f"{node.func.id}() takes plain arguments only")
            args = [ev(arg) for arg in node.args]
            try:
                return _check_size(_FUNCTIONS[node.func.id](*args))
            except (TypeError, ValueError, OverflowError) as err:
                raise ExpressionError(f"{node.func.id}(): {err}") from None
        if isinstance(node, ast.Subscript):
            value = ev(node.value)
            index = node.slice
            if not (isinstance(index, ast.Constant) and isinstance(index.value, int)):
                raise ExpressionError("only a constant whole-number index is allowed, like a[0]")
            if not isinstance(value, (list, tuple)):
                raise ExpressionError("only a shape (an IMAGE/LATENT/MASK input) can be indexed")
            try:
                return value[index.value]
            except IndexError:
                raise ExpressionError(f"index {index.value} is out of range for a shape of {len(value)}") from None
        if isinstance(node, ast.Attribute):
            raise ExpressionError(f"attribute access ('.{node.attr}') is not allowed")
        raise ExpressionError(f"{type(node).__name__} is not allowed in SimpleMath+ expressions")

    try:
        return ev(tree.body)
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply") from None


def _variable(value: Any, name: str) -> Any:
    if hasattr(value, "shape"):
        return list(value.shape)
    if isinstance(value, dict) and hasattr(value.get("samples"), "shape"):  # a LATENT
        return list(value["samples"].shape)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise NodeInputError(name, f"{value!r} is not a number") from None
    if value is None:
        return 0.0
    return value


@executor("SimpleMath+")
def simple_math(ctx: ExecContext, value: str, a: Any = 0.0, b: Any = 0.0, c: Any = 0.0, d: Any = 0.0,
                **_: Any) -> tuple:
    variables = {k: _variable(v, k) for k, v in (("a", a), ("b", b), ("c", c), ("d", d))}
    try:
        result = evaluate(value, variables)
    except ExpressionError as err:
        raise NodeInputError("value", f"expression {value!r}: {err}",
                             "use numbers, a, b, c, + - * / // % **, comparisons and min/max/round/sum/len"
                             ) from None
    if not _is_number(result):
        raise NodeInputError("value", f"expression {value!r} gives {type(result).__name__}, not a number")
    if isinstance(result, float) and math.isnan(result):
        result = 0.0
    try:
        as_int = round(result)
    except OverflowError:
        raise NodeInputError("value", f"expression {value!r} gives {result}, which has no whole-number value") from None
    return as_int, result
