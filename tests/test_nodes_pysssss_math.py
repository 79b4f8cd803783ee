"""MathExpression|pysssss: the expressions real files use and the pack's rules, against
Python's own arithmetic written out here; code-like input is refused."""

from __future__ import annotations

import math

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
MATH = "MathExpression|pysssss"


@pytest.mark.parametrize("expression,a,b,expected", [
    ("a*16", 5, None, 80), ("a/100*40", 81, None, 81 / 100 * 40), ("round(a / 2)", 81, None, 40),  # halves to even
    ("a-2", 3.5, None, 1.5), ("a*b", 4, 0.25, 1.0), ("a // 2 + a % 3", 17, None, 10), ("2 ** a", 10, None, 1024),
    ("max(a, b, 3)", 1, 2, 3), ("iif(a > b, a, b)", 2, 7, 7), ("a == 4 and b", 4, 1, 1), ("not a", 0, None, 1),
    ("ceil(a) + floor(b)", 1.2, 2.8, 4), ("sqrt(a)", 2, None, math.sqrt(2)), ("int(a)\n+ 1", 2.9, None, 3),
    ("-a | 1", 4, None, -3), ("a << 2", 3, None, 12),
])
def test_expressions(expression, a, b, expected):
    as_int, as_float = node(MATH)(CTX, expression=expression, a=a, b=b)
    assert as_float == pytest.approx(float(expected)) and as_int == int(expected)


def test_image_and_latent_sizes_by_the_packs_rule():
    image = torch.zeros(1, 480, 832, 3)
    assert node(MATH)(CTX, expression="a.width * 2 + a.height", a=image) == (832 * 2 + 480, 2144.0)
    latent = {"samples": torch.zeros(1, 16, 21, 60, 104)}  # Wan: [batch, channels, frames, height, width]
    assert node(MATH)(CTX, expression="a.width", a=latent)[0] == 60 * 8  # shape[3] * 8, as the pack reads it


@pytest.mark.parametrize("expression", [
    "__import__('os').system('x')", "a.__class__", "open('f')", "Foo.steps", "[1, 2]", "'text'", "lambda: 1",
    "2 ** 100000", "1 << 99999", "a", "1 +", "x" * 5000,
])
def test_refused(expression):
    with pytest.raises(NodeInputError) as err:
        node(MATH)(CTX, expression=expression, a=torch.zeros(1, 2, 2, 3))
    assert err.value.input_name == "expression"


def test_division_by_zero_is_a_clear_error():
    with pytest.raises(NodeInputError):
        node(MATH)(CTX, expression="a / 0", a=1)
