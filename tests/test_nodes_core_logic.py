"""ComfyMathExpression against Python arithmetic, hostile expressions refused (never run,
never hanging), and ComfySwitchNode's choice."""

from __future__ import annotations

import math
import time

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def expr(expression, **values):
    return node("ComfyMathExpression")(ExecContext(), expression=expression,
                                       **{f"values.{k}": v for k, v in values.items()})


A, B, C = 7, 2.5, 3
CASES = [
    ("a + b", lambda: A + B),
    ("a - b * c", lambda: A - B * C),
    ("a / c", lambda: A / C),
    ("a // c", lambda: A // C),
    ("a % c", lambda: A % C),
    ("-a ** 2", lambda: -A ** 2),
    ("(a + 1) ** 0.5", lambda: (A + 1) ** 0.5),
    ("2 ** 10 - a", lambda: 2 ** 10 - A),
    ("a > b", lambda: A > B),
    ("1 < a <= 7", lambda: 1 < A <= 7),
    ("a if b > c else c", lambda: A if B > C else C),
    ("not a or b", lambda: (not A) or B),
    ("a and 0", lambda: A and 0),
    ("min(a, b, c) + max(values)", lambda: min(A, B, C) + max([A, B, C])),
    ("sum(values) / 3", lambda: (A + B + C) / 3),
    ("sum(a, b)", lambda: A + B),
    ("abs(b - a) + round(b) + round(2.567, 2)", lambda: abs(B - A) + round(B) + round(2.567, 2)),
    ("pow(a, 3) + sqrt(16) + floor(b) + ceil(b)", lambda: A ** 3 + 4.0 + 2 + 3),
    ("log(8, 2) + log2(8) + log10(1000) + log(1)", lambda: 3.0 + 3.0 + 3.0 + 0.0),
    ("sin(0) + cos(0) + tan(0)", lambda: 1.0),
    ("int(b) + float(c)", lambda: 2 + 3.0),
    ("values[0] * values[-1]", lambda: A * C),
    ("a in values", lambda: True),
    ("(a << 2) | (c & 1) ^ 8", lambda: (A << 2) | (C & 1) ^ 8),
    ("floor (a * b + 1)", lambda: math.floor(A * B + 1)),  # video_wan2_2_14B_i2v
    ("4 * ceil((a - b * c + c - 1) / 4) + 1", lambda: 4 * math.ceil((A - B * C + C - 1) / 4) + 1),
]


@pytest.mark.parametrize("expression,expected", CASES, ids=[c[0] for c in CASES])
def test_expressions_match_python(expression, expected):
    value = expected()
    as_float, as_int, as_bool = expr(expression, a=A, b=B, c=C)
    assert as_float == pytest.approx(float(value)) and isinstance(as_float, float)
    assert as_int == int(value) and isinstance(as_int, int)
    assert as_bool is bool(value)


def test_template_expressions_and_spec_default():
    assert expr("ceil(a / (81 - 5))", a=200) == (3.0, 3, True)  # video_wan21_scail2_*
    assert expr("a - 2", a=2) == (0.0, 0, False)
    assert node("ComfyMathExpression")(ExecContext(), **{"values.a": 2, "values.b": 5}) == (7.0, 7, True)  # a + b
    assert expr("a * 2", a=True) == (2.0, 2, True)  # BOOLEAN inputs count as 0/1
    assert expr("-7 / 2")[1] == -3  # INT truncates toward zero, as int()


HOSTILE = [
    "__import__('os').system('echo hi')",
    "a.__class__",
    "a.real",
    "open('/etc/passwd')",
    "eval('1')",
    "exec('x=1')",
    "getattr(a, 'real')",
    "(lambda: 1)()",
    "[x for x in values]",
    "{'k': 1}",
    "'text' * 3",
    "x := 3",
    "values[0:2]",
    "max(*values)",
    "round(a, ndigits=2)",
    "sqrt",
    "undefined_name + 1",
    "9 ** 9 ** 9",
    "2 ** 5000",
    "10 ** 4001",
    "pow(2, 100000)",
    "1 << 100000",
    "(2 ** 4000) * (2 ** 4000)",
    "10.0 ** 400",
    "1e308 * 10",
    "1 / 0",
    "a % 0",
    "sqrt(-1)",
    "log(0)",
    "int(1e308 * 10)",
    "a + " * 600 + "1",
    "-" * 3000 + "1",
    "(" * 300 + "1" + ")" * 300,
    "a" * 5000,
    "",
    "   ",
    "a +",
    "a > b > ",
    "values + 1",
    "values",
    "(-8) ** 0.5",
    "b < a and 'yes'",
]


@pytest.mark.parametrize("expression", HOSTILE, ids=[h[:40] for h in HOSTILE])
def test_hostile_expressions_are_refused_quickly(expression):
    start = time.perf_counter()
    with pytest.raises(NodeInputError) as err:
        expr(expression, a=A, b=B)
    assert err.value.input_name == "expression"
    assert "expression" in str(err.value)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("value", ["text", [1], float("nan"), float("inf")])
def test_non_numeric_inputs_name_the_input(value):
    with pytest.raises(NodeInputError) as err:
        expr("a + 1", a=value)
    assert err.value.input_name == "values.a"


def test_expression_that_is_not_text():
    with pytest.raises(NodeInputError) as err:
        node("ComfyMathExpression")(ExecContext(), expression=12, **{"values.a": 1})
    assert err.value.input_name == "expression"


# ---------------------------------------------------------------------------- switch

def switch(**inputs):
    return node("ComfySwitchNode")(ExecContext(), **inputs)[0]


def test_switch_picks_the_branch():
    assert switch(switch=True, on_true="T", on_false="F") == "T"
    assert switch(switch=False, on_true="T", on_false="F") == "F"
    assert switch(switch=False, on_true=None, on_false=None) is None  # a real None value passes
    assert switch(switch=True, on_false="only") == "only"  # one connected: that one
    assert switch(switch=False, on_true="only") == "only"
    with pytest.raises(NodeInputError):
        switch(switch=True)
    with pytest.raises(NodeInputError) as err:
        switch(switch="yes", on_true=1, on_false=2)
    assert err.value.input_name == "switch"
