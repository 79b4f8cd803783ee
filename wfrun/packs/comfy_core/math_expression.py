"""A safe evaluator for ComfyMathExpression: Python expression syntax, parsed with ``ast``
and walked over a whitelist. Workflows come from the internet, so nothing here calls
``eval``, touches attributes, or runs a function outside :data:`FUNCTIONS`.

ComfyUI evaluates the expression with ``simpleeval.simple_eval`` over the node's inputs
(``a``…``z``, and ``values``: their list), with these functions: sum (of a list or of its
arguments), min, max, abs, round, pow (exponent at most 4000), sqrt, ceil, floor, log,
log2, log10, sin, cos, tan, int, float. wfrun accepts the same expressions, within limits
(simpleeval has looser ones; a result past them is refused, never computed):

* numbers (not strings) as literals; the inputs by name; ``values[i]``;
* ``+ - * / // % **``, unary ``- + not ~``, ``& | ^ << >>`` on integers, comparisons
  (chains too), ``in`` / ``not in`` against ``values``, ``and`` / ``or``, ``x if c else y``;
* an expression of at most :data:`MAX_LENGTH` characters and :data:`MAX_NODES` syntax
  nodes, nested at most :data:`MAX_DEPTH` deep;
* exponents at most :data:`MAX_EXPONENT` in magnitude (``**`` and ``pow``), shifts at most
  :data:`MAX_SHIFT`, integers of at most :data:`MAX_INT_BITS` bits along the way.

Anything else raises :class:`ExpressionError` saying what and where.
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable

MAX_LENGTH = 2000
MAX_NODES = 500
MAX_DEPTH = 50
MAX_EXPONENT = 4000
MAX_SHIFT = 4096
MAX_INT_BITS = 4096


class ExpressionError(ValueError):
    """The expression cannot be evaluated; the message says why."""


def _check_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise ExpressionError(f"an intermediate integer has more than {MAX_INT_BITS} bits")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if abs(exponent) > MAX_EXPONENT:
        raise ExpressionError(f"exponent {exponent} exceeds the maximum allowed ({MAX_EXPONENT})")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1 \
            and exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise ExpressionError(f"{base} ** {exponent} would have more than {MAX_INT_BITS} bits")
    return _check_int(operator.pow(base, exponent))


def _shift(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def shift(a: Any, b: Any) -> Any:
        if not isinstance(a, int) or not isinstance(b, int):
            raise ExpressionError("shifts take whole numbers")
        if abs(b) > MAX_SHIFT:
            raise ExpressionError(f"shift by {b} exceeds the maximum allowed ({MAX_SHIFT})")
        return _check_int(op(a, b))
    return shift


def _sum(*args: Any) -> Any:
    """``sum(values)`` and ``sum(a, b, c)`` alike, as ComfyUI's."""
    if len(args) == 1 and isinstance(args[0], list):
        return sum(args[0])
    return sum(args)


def _pow(base: Any, exponent: Any) -> Any:
    return _power(base, exponent)


def _int(value: Any) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError(f"int() of {value}")
    return int(value)


#: The functions an expression may call (ComfyUI's MATH_FUNCTIONS).
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sum": _sum, "min": min, "max": max, "abs": abs, "round": round, "pow": _pow,
    "sqrt": math.sqrt, "ceil": math.ceil, "floor": math.floor, "log": math.log, "log2": math.log2,
    "log10": math.log10, "sin": math.sin, "cos": math.cos, "tan": math.tan, "int": _int, "float": float,
}

BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: _power,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
    ast.LShift: _shift(operator.lshift), ast.RShift: _shift(operator.rshift),
}
UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert,
}
COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}

_ALLOWED = (ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare,
            ast.IfExp, ast.Call, ast.Subscript, ast.And, ast.Or, *BINARY, *UNARY, *COMPARE)


def parse(expression: str) -> ast.Expression:
    """The checked syntax tree of ``expression`` (see the module docstring for the limits)."""
    if not isinstance(expression, str):
        raise ExpressionError(f"expected text, found {type(expression).__name__}")
    if not expression.strip():
        raise ExpressionError("the expression is empty")
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(expression)} characters long; at most {MAX_LENGTH} are taken")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"not a valid expression: {err.msg} (column {err.offset})") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("the expression is nested too deeply") from None
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExpressionError(f"the expression has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} deep")
        if not isinstance(item, _ALLOWED):
            raise ExpressionError(f"{_describe(item)} is not allowed in a math expression")
        if isinstance(item, ast.Constant) and (isinstance(item.value, bool) or
                                               not isinstance(item.value, (int, float))):
            if not isinstance(item.value, bool):
                raise ExpressionError(f"the literal {item.value!r} is not a number")
        if isinstance(item, ast.Call):
            if not isinstance(item.func, ast.Name) or item.func.id not in FUNCTIONS:
                name = item.func.id if isinstance(item.func, ast.Name) else _describe(item.func)
                raise ExpressionError(f"calling {name} is not allowed; the functions are {', '.join(FUNCTIONS)}")
            if item.keywords:
                raise ExpressionError(f"{item.func.id}() takes no keyword arguments here")
            if any(isinstance(a, ast.Starred) for a in item.args):
                raise ExpressionError("* arguments are not allowed")
            children = list(item.args)
        else:
            children = list(ast.iter_child_nodes(item))
        stack.extend((child, depth + 1) for child in children)
    return tree


def _describe(item: ast.AST) -> str:
    names = {ast.Attribute: "attribute access (a.b)", ast.Lambda: "lambda", ast.Starred: "*",
             ast.ListComp: "a list comprehension", ast.GeneratorExp: "a generator", ast.List: "a list literal",
             ast.Tuple: "a tuple", ast.Dict: "a dict literal", ast.Set: "a set literal",
             ast.JoinedStr: "an f-string", ast.NamedExpr: "assignment (:=)", ast.Slice: "a slice"}
    return names.get(type(item), type(item).__name__)


def evaluate(expression: str, names: dict[str, Any]) -> Any:
    """The value of ``expression`` with ``names`` (numbers, booleans and the ``values`` list)."""
    tree = parse(expression)
    try:
        return _eval(tree.body, names)
    except ExpressionError:
        raise
    except ZeroDivisionError:
        raise ExpressionError("division by zero") from None
    except OverflowError:
        raise ExpressionError("a value is too large to represent") from None
    except (ValueError, TypeError, IndexError) as err:
        raise ExpressionError(str(err) or type(err).__name__) from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is too large to evaluate") from None


def _eval(item: ast.AST, names: dict[str, Any]) -> Any:
    if isinstance(item, ast.Constant):
        return item.value
    if isinstance(item, ast.Name):
        if item.id not in names:
            known = ", ".join(sorted(names))
            raise ExpressionError(f"'{item.id}' is not defined; the expression can use {known}")
        return names[item.id]
    if isinstance(item, ast.BinOp):
        left, right = _eval(item.left, names), _eval(item.right, names)
        if isinstance(item.op, ast.Mult) and (isinstance(left, list) or isinstance(right, list)):
            raise ExpressionError("lists cannot be multiplied")
        if isinstance(left, list) or isinstance(right, list):
            if not isinstance(item.op, ast.Add):
                raise ExpressionError("values is a list; use it with sum(), min(), max(), [i] or in")
        return _check_int(BINARY[type(item.op)](left, right))
    if isinstance(item, ast.UnaryOp):
        return _check_int(UNARY[type(item.op)](_eval(item.operand, names)))
    if isinstance(item, ast.BoolOp):
        value: Any = None
        for operand in item.values:
            value = _eval(operand, names)
            if isinstance(item.op, ast.And) and not value or isinstance(item.op, ast.Or) and value:
                return value
        return value
    if isinstance(item, ast.Compare):
        left = _eval(item.left, names)
        for op, comparator in zip(item.ops, item.comparators):
            right = _eval(comparator, names)
            if not COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(item, ast.IfExp):
        return _eval(item.body, names) if _eval(item.test, names) else _eval(item.orelse, names)
    if isinstance(item, ast.Subscript):
        container = _eval(item.value, names)
        index = _eval(item.slice, names)
        if not isinstance(container, list) or isinstance(index, bool) or not isinstance(index, int):
            raise ExpressionError("only values[<whole number>] may be indexed")
        return container[index]
    if isinstance(item, ast.Call):
        args = [_eval(a, names) for a in item.args]
        return _check_int(FUNCTIONS[item.func.id](*args))  # type: ignore[union-attr]
    raise ExpressionError(f"{_describe(item)} is not allowed in a math expression")  # pragma: no cover
