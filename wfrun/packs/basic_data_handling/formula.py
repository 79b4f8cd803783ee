"""The pack's ``MathFormula`` (``math_formula_node.py``): a formula over single-letter inputs,
evaluated by the pack's own grammar (no ``eval``), which wfrun re-implements here.

The grammar, as the pack parses it (shunting-yard to postfix, then a stack):

* tokens: names (``[A-Za-z_][A-Za-z0-9_]*``), numbers (``12``, ``1.``, ``.5``), and the
  operators ``** // + - * / % ( ) ,``; any other character refuses the formula; text the
  token pattern does not match (a lone ``.``) is dropped, as the pack drops it;
* a token that ``float()`` reads is a number (so ``inf`` and ``nan`` are numbers); a name
  followed by ``(`` is a function call (only the pack's functions); any other one-letter name
  is an input (``a``, ``b``, …, read with ``float()``; one not connected is an error); other
  names are errors;
* precedence: ``+ -`` 2, ``* / // %`` 3, ``**`` 4 (right-associative), unary minus 5: so
  ``-a ** 2`` is ``(-a) ** 2``, and ``2 ** -1`` is ``2 ** (-1)``. A ``-`` is unary at the
  start, after ``(``, ``,`` or a binary operator; there is no unary ``+``;
* functions: pi(), e(), abs, floor, ceil, round (Python's: these three give whole numbers),
  sin … atanh, exp, log, log10, log2, sqrt, and pow, atan2, min, max of two arguments;
* ``/``, ``//`` and ``%`` by zero are errors; the result is what the stack holds (a FLOAT,
  or the whole number floor/ceil/round gave).

Limits, where the pack would compute on: a formula of more than :data:`MAX_FORMULA` characters,
a power of whole numbers past :data:`MAX_INT_BITS` bits, and a complex result (a negative
base to a fractional power) are refused; every error names ``formula`` (or the input).
"""

from __future__ import annotations

import math
import re
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.basic_data_handling.common import MAX_INT_BITS, PREFIX, describe

MAX_FORMULA = 10_000

ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,+-*/%() \t\n\r")
TOKENS = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d*)?|\.\d+|\*\*|//|[-+*/%(),]")
# ASCII-only \w: the allowed characters are ASCII, so \w matches [A-Za-z0-9_] here.

#: name: (precedence, right-associative, operands)
OPERATORS = {"+": (2, False, 2), "-": (2, False, 2), "*": (3, False, 2), "/": (3, False, 2),
             "//": (3, False, 2), "%": (3, False, 2), "**": (4, True, 2), "neg": (5, True, 1)}
BINARY = {op for op, (_, _, n) in OPERATORS.items() if n == 2}

ONE_ARG = {
    "abs": abs, "floor": math.floor, "ceil": math.ceil, "round": round, "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan, "degrees": math.degrees,
    "radians": math.radians, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh, "asinh": math.asinh,
    "acosh": math.acosh, "atanh": math.atanh, "exp": math.exp, "log": math.log, "log10": math.log10,
    "log2": math.log2, "sqrt": math.sqrt,
}
TWO_ARGS = {"pow": math.pow, "atan2": math.atan2, "min": min, "max": max}
CONSTANTS = {"pi": math.pi, "e": math.e}
ARITY = {**{n: 0 for n in CONSTANTS}, **{n: 1 for n in ONE_ARG}, **{n: 2 for n in TWO_ARGS}}


class FormulaError(ValueError):
    """The formula cannot be read or computed; the message says why."""


def _number(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def tokens(formula: str) -> list[str]:
    bad = next((c for c in formula if c not in ALLOWED), None)
    if bad is not None:
        raise FormulaError(f"the character {bad!r} is not allowed in a formula")
    return TOKENS.findall(formula)


def to_postfix(items: list[str]) -> list:
    """The pack's shunting-yard: numbers (float), ("var", letter), operator and function names."""
    out: list = []
    stack: list[str] = []
    previous: str | None = None
    for i, token in enumerate(items):
        number = _number(token)
        if number is not None:
            out.append(number)
        elif token[0].isalpha() and token.isalnum():
            if i + 1 < len(items) and items[i + 1] == "(":
                if token not in ARITY:
                    raise FormulaError(f"unknown function {token!r}")
                stack.append(token)
            elif len(token) == 1:
                out.append(("var", token))
            elif token in ARITY:
                raise FormulaError(f"the function {token!r} needs parentheses, as in {token}()")
            else:
                raise FormulaError(f"unknown name {token!r}: inputs are single letters")
        elif token == "(":
            stack.append(token)
        elif token in (",", ")"):
            while stack and stack[-1] != "(":
                out.append(stack.pop())
            if not stack:
                raise FormulaError("a comma outside a call or unbalanced parentheses" if token == ","
                                   else "unbalanced parentheses")
            if token == ")":
                stack.pop()
                if stack and stack[-1] in ARITY:
                    out.append(stack.pop())
        elif token in OPERATORS:
            op = "neg" if token == "-" and (previous is None or previous in BINARY or previous in "(,") else token
            level, right, _ = OPERATORS[op]
            while stack and stack[-1] in OPERATORS:
                top_level = OPERATORS[stack[-1]][0]
                if top_level > level or (top_level == level and not OPERATORS[stack[-1]][1]):
                    out.append(stack.pop())
                else:
                    break
            stack.append(op)
        else:
            raise FormulaError(f"cannot read {token!r} in the formula")
        previous = token
    while stack:
        op = stack.pop()
        if op == "(":
            raise FormulaError("unbalanced parentheses")
        out.append(op)
    return out


def _binary(op: str, a: Any, b: Any) -> Any:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "**":
        if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 \
                and b * a.bit_length() > MAX_INT_BITS + 64:
            raise FormulaError(f"{a} ** {b} is too large a number")
        result = a ** b
        if isinstance(result, complex):
            raise FormulaError(f"{a} ** {b} has no real value")
        return result
    if b == 0:
        raise FormulaError(f"division by zero in {op!r}")
    return a / b if op == "/" else a // b if op == "//" else a % b


def evaluate(postfix: list, variables: dict[str, Any]) -> Any:
    stack: list = []
    for item in postfix:
        if isinstance(item, float):
            stack.append(item)
        elif isinstance(item, tuple):
            stack.append(variables_value(variables, item[1]))
        elif item in OPERATORS:
            n = OPERATORS[item][2]
            if len(stack) < n:
                raise FormulaError(f"the operator {'-' if item == 'neg' else item!r} lacks an operand")
            args = stack[-n:]
            del stack[-n:]
            stack.append(-args[0] if n == 1 else _binary(item, *args))
        else:
            n = ARITY[item]
            if len(stack) < n:
                raise FormulaError(f"{item}() needs {n} argument(s)")
            args = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            fn = CONSTANTS.get(item)
            stack.append(fn if fn is not None else (ONE_ARG.get(item) or TWO_ARGS[item])(*args))
    if len(stack) != 1:
        raise FormulaError("the formula is incomplete or has values left over")
    return stack[0]


def variables_value(variables: dict[str, Any], name: str) -> float:
    if name not in variables or variables[name] is None:
        raise FormulaError(f"the formula uses '{name}', which is not connected")
    value = variables[name]
    if isinstance(value, str) and len(value) > 1000:
        raise NodeInputError(name, f"{name}: a text of {len(value)} characters is not a number")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise NodeInputError(name, f"{name}: expected a number, found {describe(value)}",
                             f"connect a number to '{name}'") from None


@executor(PREFIX + "MathFormula")
def math_formula(ctx: ExecContext, formula: Any, **inputs: Any) -> tuple:
    if not isinstance(formula, str):
        raise NodeInputError("formula", f"formula: expected text, found {describe(formula)}")
    if len(formula) > MAX_FORMULA:
        raise NodeInputError("formula", f"formula: {len(formula)} characters, more than {MAX_FORMULA}")
    variables = {k: v for k, v in inputs.items() if len(k) == 1 and k.isalpha()}
    try:
        return (evaluate(to_postfix(tokens(formula)), variables),)
    except FormulaError as err:
        raise NodeInputError("formula", f"formula {formula[:80]!r}: {err}", "correct the formula") from None
    except (ArithmeticError, ValueError) as err:  # a math domain error, an overflow
        raise NodeInputError("formula", f"formula {formula[:80]!r} gives no result ({err})",
                             "change the formula or its inputs") from None
