"""KJNodes' constants, pass-throughs and calculator (``nodes/nodes.py``, ``nodes/image_nodes.py``
of KJNodes at the newest revision in our specs).

* BOOLConstant, FloatConstant, StringConstant, StringConstantMultiline give their widget's
  value; FloatConstant rounds it to 6 decimals (as KJNodes does since 2aa4da0, 2025-04-02;
  earlier revisions gave it unrounded, a difference below 1e-6) and StringConstantMultiline with
  ``strip_newlines`` removes every newline, then surrounding whitespace, as the pack does.
* ModelPassThrough and ImagePass hand their (optional) input on unchanged; unconnected, they
  give ``None`` as the pack does (the node after them then reports the missing value).
* SimpleCalculatorKJ evaluates ``expression`` over its variables (the autogrow inputs
  ``variables.a`` … ``variables.k``; files saved before the autogrow inputs have ``a`` and
  ``b``) and the names ``pi``, ``euler``, ``True``, ``False``, with the pack's operators
  (``+ - * / // % ** << >>``, unary ``+ -``, comparisons, ``and or not``) and functions
  (abs round min max pow sqrt sin cos tan log log10 exp floor ceil). As in the pack,
  ``and``/``or`` give a boolean (all / any of the operands, every operand evaluated), and an
  expression the pack cannot evaluate (an unknown name, a division by zero, a result that is
  not a number) gives ``0.0, 0, False`` with a warning instead of stopping the run.
  Differences, because workflows come from the internet: string literals are refused (the
  pack would accept them where they still give a number, e.g. in a comparison), exponents
  above 4000 in magnitude, shifts above 4096 bits and integers above 4096 bits stop the run
  with an error on ``expression`` (the pack would compute them, for minutes or forever), as
  does an expression longer than 2000 characters.
"""

from __future__ import annotations

import ast
import logging
import math
import operator
from typing import Any, Callable

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)

MAX_LENGTH = 2000
MAX_EXPONENT = 4000
MAX_SHIFT = 4096
MAX_INT_BITS = 4096
CONSTANTS = {"pi": math.pi, "euler": math.e, "True": True, "False": False}
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "round": round, "min": min, "max": max, "pow": None,  # type: ignore[dict-item]  # set below
    "sqrt": math.sqrt, "sin": math.sin, "cos": math.cos, "tan": math.tan, "log": math.log,
    "log10": math.log10, "exp": math.exp, "floor": math.floor, "ceil": math.ceil,
}


class _Limit(Exception):
    """The expression goes past a resource limit: refused, never computed."""


class _Invalid(Exception):
    """The pack would fail to evaluate the expression (and answer zeros)."""


def _checked(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _Limit(f"an intermediate integer has more than {MAX_INT_BITS} bits")
    return value


def _power(base: Any, exponent: Any, *mod: Any) -> Any:
    if isinstance(exponent, (int, float)) and abs(exponent) > MAX_EXPONENT:
        raise _Limit(f"exponent {exponent} exceeds {MAX_EXPONENT}")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1 \
            and exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise _Limit(f"{base} ** {exponent} would have more than {MAX_INT_BITS} bits")
    return pow(base, exponent, *mod)


def _shift(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def shift(a: Any, b: Any) -> Any:
        if isinstance(b, int) and abs(b) > MAX_SHIFT:
            raise _Limit(f"shift by {b} exceeds {MAX_SHIFT}")
        return op(a, b)
    return shift


FUNCTIONS["pow"] = _power
BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: _power,
    ast.LShift: _shift(operator.lshift), ast.RShift: _shift(operator.rshift),
}
UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def calculate(expression: str, names: dict[str, Any]) -> Any:
    """The value of ``expression`` as SimpleCalculatorKJ computes it; :class:`_Invalid` where
    the pack fails, :class:`_Limit` past wfrun's limits."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (bool, int, float)):
                return node.value
            raise _Invalid(f"constant {node.value!r} is not a number")
        if isinstance(node, ast.Name):
            if node.id in names:
                return names[node.id]
            raise _Invalid(f"name {node.id!r} is not allowed")
        if isinstance(node, ast.BinOp):
            if type(node.op) not in BINARY:
                raise _Invalid(f"operator {type(node.op).__name__} is not allowed")
            return _checked(BINARY[type(node.op)](ev(node.left), ev(node.right)))
        if isinstance(node, ast.UnaryOp):
            if type(node.op) not in UNARY:
                raise _Invalid(f"operator {type(node.op).__name__} is not allowed")
            return UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                if type(op) not in COMPARE:
                    raise _Invalid(f"operator {type(op).__name__} is not allowed")
                right = ev(comparator)
                if not COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BoolOp):
            values = [ev(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                raise _Invalid("only the listed functions may be called")
            return _checked(FUNCTIONS[node.func.id](*[ev(a) for a in node.args]))
        raise _Invalid(f"{type(node).__name__} is not allowed")

    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as err:
        raise _Invalid(f"syntax error: {err.msg}") from None
    return ev(tree.body)


@executor("SimpleCalculatorKJ")
def simple_calculator(ctx: ExecContext, expression: Any, **inputs: Any) -> tuple:
    if not isinstance(expression, str):
        raise NodeInputError("expression", f"expression: expected a STRING, found {type(expression).__name__}")
    if len(expression) > MAX_LENGTH:
        raise NodeInputError("expression", f"expression: {len(expression)} characters, more than {MAX_LENGTH}",
                             "shorten the expression")
    names = dict(CONSTANTS)
    for key, value in inputs.items():
        name = key.removeprefix("variables.")
        if value is None or not (name.isidentifier() and len(name) == 1):
            continue
        if not isinstance(value, (bool, int, float)):
            raise NodeInputError(key, f"{key}: expected an INT, FLOAT or BOOLEAN, found {type(value).__name__}",
                                 f"connect a number to '{key}'")
        names[name] = value
    try:
        result = calculate(expression, names)
        return float(result), int(result), bool(result)
    except _Limit as err:
        raise NodeInputError("expression", f"expression {expression[:80]!r}: {err}",
                             "use smaller numbers") from None
    except (_Invalid, ArithmeticError, ValueError, TypeError, RecursionError) as err:
        log.warning("SimpleCalculatorKJ node %s: %s; the result is 0 as in KJNodes", ctx.node_id, err)
        return 0.0, 0, False


@executor("BOOLConstant", pure=True)
def bool_constant(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    if not isinstance(value, bool):
        raise NodeInputError("value", f"value: expected a BOOLEAN, found {value!r}")
    return (value,)


@executor("FloatConstant", pure=True)
def float_constant(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError("value", f"value: expected a FLOAT, found {value!r}")
    return (round(float(value), 6),)


@executor("StringConstant")
def string_constant(ctx: ExecContext, string: Any, **_: Any) -> tuple:
    if not isinstance(string, str):
        raise NodeInputError("string", f"string: expected a STRING, found {type(string).__name__}")
    return (string,)


@executor("StringConstantMultiline")
def string_constant_multiline(ctx: ExecContext, string: Any, strip_newlines: Any, **_: Any) -> tuple:
    if not isinstance(string, str):
        raise NodeInputError("string", f"string: expected a STRING, found {type(string).__name__}")
    return (string.replace("\n", "").strip() if strip_newlines else string,)


@executor("ModelPassThrough")
def model_pass_through(ctx: ExecContext, model: Any = None, **_: Any) -> tuple:
    return (model,)


@executor("ImagePass")
def image_pass(ctx: ExecContext, image: Any = None, **_: Any) -> tuple:
    return (image,)
