"""Basic data handling (StableLlama): each node against Python's own operators, ``math`` and
``str`` methods, which the pack calls; under both its names; and the refusals (zero divisors,
huge results, values that are not numbers) naming the input."""

from __future__ import annotations

import math
import operator

import pytest
import torch

from node_helpers import node
from wfrun.engine.executors import load_packs
from wfrun.engine.plan import make_plan
from wfrun.engine.run import NodeError, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.basic_data_handling.common import MAX_CHARS, MAX_INT_BITS, PREFIX
from wfrun.specs.registry import default_registry

CTX = ExecContext()
NEW = ExecContext(saved_date="2025-05-11")  # the BOOLEAN-flag signature
OLD = ExecContext(saved_date="2025-05-07")  # the bare names' "True"/"False" list signature


def bdh(name: str, ctx: ExecContext = CTX, **inputs):
    return node(PREFIX + name)(ctx, **inputs)


def refused(name: str, input_name: str, ctx: ExecContext = CTX, **inputs) -> NodeInputError:
    with pytest.raises(NodeInputError) as err:
        bdh(name, ctx, **inputs)
    assert err.value.input_name == input_name, str(err.value)
    return err.value


# --- specs and names ---------------------------------------------------------------------

def test_spec_file_names_the_pack_as_saved_files_do():
    registry = default_registry()
    spec = registry.get(PREFIX + "IntMultiply")
    assert spec.pack == "basic_data_handling"
    assert registry.identifies("basic_data_handling", {"cnr_id": "basic_data_handling"})
    assert registry.packs["basic_data_handling"].cnr_id == "basic_data_handling"
    # core's StringReplace stays the one a file without cnr_id means
    assert registry.get("StringReplace").pack == "comfy-core"


def test_every_executor_has_a_spec_of_this_pack():
    load_packs()
    from wfrun.nodes.executor import _EXECUTORS
    mine = [t for t, info in _EXECUTORS.items() if info.fn.__module__.startswith("wfrun.packs.basic_data_handling")]
    assert len(mine) > 150
    registry = default_registry()
    assert all(registry.get(t) is not None and registry.get(t).pack == "basic_data_handling" for t in mine)


@pytest.mark.parametrize("bare,current", [("IntMultiply", "IntMultiply"), ("BooleanXor", "Boolean Xor"),
                                          ("MathSqrt", "MathSqrt"), ("StringUpper", "StringUpper")])
def test_old_bare_names_run_the_same_node(bare, current):
    spec = default_registry().get(bare).signatures[-1]
    inputs = {i.name: i.default for i in spec.inputs if i.default is not None}
    inputs.update({"int1": 6, "int2": 7, "input1": True, "input2": False, "value": "16", "string": "ab"})
    inputs = {k: v for k, v in inputs.items() if k in {i.name for i in spec.inputs}}
    assert node(bare)(CTX, **inputs) == node(PREFIX + current)(CTX, **inputs)


# --- INT ---------------------------------------------------------------------------------

PAIRS = [(7, 2), (-7, 2), (7, -2), (-7, -2), (0, 5), (12, 1), (2**40, 3)]
INT_OPS = [("IntAdd", operator.add), ("IntSubtract", operator.sub), ("IntMultiply", operator.mul),
           ("IntDivide", operator.floordiv), ("IntModulus", operator.mod)]


@pytest.mark.parametrize("name,op", INT_OPS)
@pytest.mark.parametrize("a,b", PAIRS)
def test_int_arithmetic_is_pythons(name, op, a, b):
    result, = bdh(name, int1=a, int2=b)
    assert result == op(a, b) and type(result) is int
    assert node(name)(CTX, int1=a, int2=b) == (op(a, b),)


@pytest.mark.parametrize("base,exponent", [(2, 10), (-3, 3), (10, 0), (0, 0), (1, 10**12), (-1, 10**12 + 1),
                                           (2, -1), (-4, -2)])
def test_int_power_is_pythons(base, exponent):
    assert bdh("IntPower", base=base, exponent=exponent) == (base ** exponent,)


def test_int_whole_floats_and_bools_read_as_comfyui_does():
    assert bdh("IntMultiply", int1=4.0, int2=True) == (4,)
    refused("IntMultiply", "int1", int1=2.5, int2=1)
    refused("IntAdd", "int2", int1=1, int2="3")


@pytest.mark.parametrize("name", ["IntDivide", "IntModulus"])
def test_zero_divisor_is_refused_naming_int2(name):
    err = refused(name, "int2", int1=5, int2=0)
    assert "zero" in str(err)


@pytest.mark.parametrize("a,b,expected", [(5, 0, 99), (-5, 0, -99), (0, 0, -99), (7, 2, 3), (-7, 2, -4)])
def test_int_divide_safe(a, b, expected):
    assert bdh("IntDivideSafe", int1=a, int2=b, infinity=99) == (expected,)
    assert bdh("IntDivideSafe", int1=1, int2=0) == (2**63 - 1,)  # the spec's default infinity


def test_huge_int_results_are_refused_before_they_are_built():
    refused("IntPower", "exponent", base=2, exponent=10**9)
    refused("IntPower", "exponent", base=10, exponent=MAX_INT_BITS)
    refused("IntPower", "exponent", base=0, exponent=-1)
    assert bdh("IntPower", base=2, exponent=MAX_INT_BITS - 1) == (2 ** (MAX_INT_BITS - 1),)
    big = 2 ** (MAX_INT_BITS - 1)
    refused("IntMultiply", "int2", int1=big, int2=big)


@pytest.mark.parametrize("text,expected", [("42", 42), ("0x1F", 31), ("0b101", 5), ("0o17", 15), ("-7", -7),
                                           ("1_000", 1000), (" 12 ", 12)])
def test_int_create_reads_text_as_int_base_0(text, expected):
    assert bdh("IntCreate", value=text) == (int(text, 0),) == (expected,)


@pytest.mark.parametrize("value", ["010", "1.5", "twelve", "", 12, "1" * 20_000, "0x" + "f" * 5000])
def test_int_create_refuses_what_is_not_a_whole_number(value):
    refused("IntCreate", "value", value=value)


def test_int_create_with_base():
    for text, base in [("ff", 16), ("777", 8), ("z", 36), ("-101", 2)]:
        assert bdh("IntCreateWithBase", value=text, base=base) == (int(text, base),)
    refused("IntCreateWithBase", "base", value="1", base=37)
    refused("IntCreateWithBase", "value", value="12", base=2)


@pytest.mark.parametrize("value", [0, 1, 255, -255, 2**64 + 5, -(2**33)])
def test_bit_count_and_length(value):
    assert bdh("IntBitCount", int_value=value) == (value.bit_count(),)
    assert bdh("IntBitLength", int_value=value) == (value.bit_length(),)


def test_int_to_and_from_bytes():
    data, = bdh("IntToBytes", int_value=-2, length=4, byteorder="little", signed="True")
    assert data == (-2).to_bytes(4, "little", signed=True)
    assert bdh("IntFromBytes", bytes_value=data, byteorder="little", signed="True") == (-2,)
    assert bdh("IntFromBytes", bytes_value=data, byteorder="little", signed="False") == (
        int.from_bytes(data, "little"),)
    refused("IntToBytes", "length", int_value=2**40, length=2, byteorder="big", signed="False")
    refused("IntToBytes", "length", int_value=1, length=10**9, byteorder="big", signed="False")
    refused("IntFromBytes", "bytes_value", bytes_value="AAAA", byteorder="big", signed="False")


# --- FLOAT -------------------------------------------------------------------------------

FPAIRS = [(1.5, 2.0), (-3.25, 0.5), (0.0, 7.0), (1e300, 1e10), (2.0, -0.125)]
FLOAT_OPS = [("FloatAdd", operator.add), ("FloatSubtract", operator.sub), ("FloatMultiply", operator.mul),
             ("FloatDivide", operator.truediv)]


@pytest.mark.parametrize("name,op", FLOAT_OPS)
@pytest.mark.parametrize("a,b", FPAIRS)
def test_float_arithmetic_is_pythons(name, op, a, b):
    result, = bdh(name, float1=a, float2=b)
    assert result == op(a, b) and type(result) is float
    assert node(name)(CTX, float1=a, float2=b) == (op(a, b),)


def test_float_divide_by_zero_and_the_safe_divide():
    refused("FloatDivide", "float2", float1=1.0, float2=0.0)
    assert bdh("FloatDivideSafe", float1=3.0, float2=0.0) == (math.inf,)
    assert bdh("FloatDivideSafe", float1=-3.0, float2=0.0) == (-math.inf,)
    assert math.isnan(bdh("FloatDivideSafe", float1=0.0, float2=0.0)[0])
    assert bdh("FloatDivideSafe", float1=3.0, float2=4.0) == (0.75,)


@pytest.mark.parametrize("base,exponent", [(2.0, 0.5), (9.0, -0.5), (-2.0, 3.0), (0.0, 0.0), (1.5, 2.5)])
def test_float_power_is_pythons(base, exponent):
    assert bdh("FloatPower", base=base, exponent=exponent) == (base ** exponent,)


def test_float_power_refusals():
    refused("FloatPower", "exponent", base=-8.0, exponent=1 / 3)   # complex in Python
    refused("FloatPower", "exponent", base=10.0, exponent=400.0)   # OverflowError
    refused("FloatPower", "exponent", base=0.0, exponent=-1.0)     # ZeroDivisionError


@pytest.mark.parametrize("value", [0.0, 2.675, -1.25, 1e20, 3.0, 0.1])
def test_float_single_value_nodes(value):
    assert bdh("FloatRound", float_value=value, decimal_places=2) == (round(value, 2),)
    assert bdh("FloatRound", float_value=value) == (round(value, 2),)  # spec default 2
    assert bdh("FloatAsIntegerRatio", float_value=value) == value.as_integer_ratio()
    assert bdh("FloatHex", float_value=value) == (value.hex(),)
    assert bdh("FloatFromHex", hex_value=value.hex()) == (value,)
    assert bdh("FloatIsInteger", float_value=value) == (value.is_integer(),)


def test_float_create_and_bad_floats():
    assert bdh("FloatCreate", value="1.25") == (1.25,)
    assert bdh("FloatCreate", value=3) == (3.0,)
    assert bdh("FloatCreate", value=" 1e3 ") == (1000.0,)
    refused("FloatCreate", "value", value="one")
    refused("FloatAsIntegerRatio", "float_value", float_value=math.inf)
    refused("FloatFromHex", "hex_value", hex_value="0xZZ")
    refused("FloatAdd", "float1", float1="1.0", float2=1.0)


# --- maths -------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fn,value", [
    ("MathAbs", abs, -2.5), ("MathCeil", math.ceil, 2.1), ("MathFloor", math.floor, -2.1),
    ("MathExp", math.exp, 2.0), ("MathLog10", math.log10, 250.0),
    ("MathSqrt", math.sqrt, 2.0)])
@pytest.mark.parametrize("as_text", [False, True])
def test_math_one_value_nodes_are_math(name, fn, value, as_text):
    result, = bdh(name, value=str(value) if as_text else value)
    assert result == fn(value) and type(result) is type(fn(value))


def test_math_radians_and_constants():
    assert bdh("MathRadians", degrees="180") == (math.pi,)
    assert bdh("MathDegrees", radians=1.0) == bdh("MathDegrees", radians="1") == (math.degrees(1.0),)
    assert bdh("MathPi") == (math.pi,) and bdh("MathE") == (math.e,)
    assert node("MathPi")(CTX) == (math.pi,)


@pytest.mark.parametrize("angle", [0.0, 30.0, -45.0, 1.0, 200.0])
def test_trigonometry_in_both_units(angle):
    for name, fn in [("MathSin", math.sin), ("MathCos", math.cos), ("MathTan", math.tan)]:
        assert bdh(name, angle=angle, unit="degrees") == (fn(math.radians(angle)),)
        assert bdh(name, angle=angle, unit="radians") == (fn(angle),)
    assert bdh("MathSin", angle=angle) == (math.sin(math.radians(angle)),)  # spec default: degrees


@pytest.mark.parametrize("value", [0.0, 0.5, -1.0, 1.0])
def test_inverse_trigonometry_in_both_units(value):
    for name, fn in [("MathAsin", math.asin), ("MathAcos", math.acos), ("MathAtan", math.atan)]:
        assert bdh(name, value=value, unit="radians") == (fn(value),)
        assert bdh(name, value=value, unit="degrees") == (math.degrees(fn(value)),)
    assert bdh("MathAtan2", y=value, x=-2.0, unit="radians") == (math.atan2(value, -2.0),)
    assert bdh("MathAtan2", y=value, x=-2.0, unit="degrees") == (math.degrees(math.atan2(value, -2.0)),)


def test_log_min_max():
    assert bdh("MathLog", value=8.0, base=2.0) == (math.log(8.0, 2.0),)
    assert bdh("MathLog", value=10.0) == (math.log(10.0),)  # the pack's default base e
    assert bdh("MathMax", value1="3", value2=2.5) == (3.0,)
    assert bdh("MathMin", value1=4, value2=-1) == (-1.0,)


@pytest.mark.parametrize("name,inputs,blamed", [
    ("MathSqrt", {"value": -1.0}, "value"), ("MathAcos", {"value": 2.0, "unit": "radians"}, "value"),
    ("MathLog", {"value": 0.0, "base": 2.0}, "value"), ("MathLog", {"value": 5.0, "base": 1.0}, "base"),
    ("MathLog", {"value": 5.0, "base": -2.0}, "base"), ("MathExp", {"value": 1000.0}, "value"),
    ("MathCeil", {"value": "inf"}, "value"), ("MathFloor", {"value": "nan"}, "value"),
    ("MathTan", {"angle": 90.0, "unit": "degrees"}, "angle"), ("MathAbs", {"value": "abc"}, "value"),
    ("MathAbs", {"value": None}, "value"), ("MathMax", {"value1": 1, "value2": [2]}, "value2")])
def test_math_refusals_name_the_input(name, inputs, blamed):
    refused(name, blamed, **inputs)


# --- comparisons -------------------------------------------------------------------------

CMP = [("Equal", operator.eq), ("NotEqual", operator.ne), ("LessThan", operator.lt),
       ("LessThanOrEqual", operator.le), ("GreaterThan", operator.gt), ("GreaterThanOrEqual", operator.ge)]


@pytest.mark.parametrize("name,op", CMP)
@pytest.mark.parametrize("a,b", [(1, 2), (2, 2), (3.5, 2), (-1, -1.0), ("a", "b")])
def test_comparisons_are_pythons(name, op, a, b):
    assert bdh(name, value1=a, value2=b) == (op(a, b),)
    assert node(name)(CTX, value1=a, value2=b) == (op(a, b),)


def test_equal_compares_any_values_and_refuses_element_wise_answers():
    assert bdh("Equal", value1=[1, 2], value2=[1, 2]) == (True,)
    assert bdh("NotEqual", value1="1", value2=1) == (True,)
    refused("Equal", "value2", value1=torch.zeros(3), value2=torch.zeros(3))
    refused("LessThan", "value2", value1="a", value2=1)


def test_is_null():
    assert bdh("IsNull", value=None) == (True,)
    assert bdh("IsNull", value=0) == (False,)
    assert node("IsNull")(CTX) == (True,)


@pytest.mark.parametrize("value", [-1, 0, 50, 100, 101])
def test_number_in_range_bounds_are_exclusive_since_the_flags_became_booleans(value):
    # the pack tests include_min == "True"; ComfyUI hands a BOOLEAN widget a real bool
    for flag in (True, False, "True"):
        assert bdh("NumberInRange", NEW, value=value, min_value=0, max_value=100, include_min=flag,
                   include_max=flag) == (0 < value < 100,)


@pytest.mark.parametrize("value", [-1, 0, 50, 100, 101])
def test_number_in_range_text_flags_of_the_first_version(value):
    inclusive = bdh("NumberInRange", OLD, value=value, min_value=0, max_value=100, include_min="True",
                    include_max="True")
    assert inclusive == (0 <= value <= 100,)
    mixed = node("NumberInRange")(OLD, value=value, min_value=0, max_value=100, include_min="False",
                                  include_max="True")
    assert mixed == (0 < value <= 100,)


def test_string_comparison():
    for op_text, op in [("==", operator.eq), ("!=", operator.ne), (">", operator.gt), ("<", operator.lt),
                        (">=", operator.ge), ("<=", operator.le)]:
        assert bdh("StringComparison", NEW, string1="Abc", string2="abd", operator=op_text,
                   case_sensitive=True) == (op("Abc", "abd"),)
    # case_sensitive false is still case-sensitive since the flag became a BOOLEAN (pack tests == "False")
    assert bdh("StringComparison", NEW, string1="ABC", string2="abc", operator="==",
               case_sensitive=False) == (False,)
    assert bdh("StringComparison", OLD, string1="ABC", string2="abc", operator="==",
               case_sensitive="False") == (True,)
    refused("StringComparison", "operator", NEW, string1="a", string2="b", operator="<>", case_sensitive=True)


@pytest.mark.parametrize("container,op_text,length", [("abc", ">=", 3), ([1, 2], "==", 3), ({}, "<", 1),
                                                      ("", "!=", 0), ((1,), ">", 0), ("ab", "<=", 1)])
def test_compare_length(container, op_text, length):
    ops = {"==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt, ">=": operator.ge,
           "<=": operator.le}
    assert bdh("CompareLength", container=container, operator=op_text, length=length) == (
        ops[op_text](len(container), length), len(container))
    assert bdh("CompareLength", container=5, operator="==", length=0) == (False, -1)


# --- BOOLEAN -----------------------------------------------------------------------------

@pytest.mark.parametrize("a", [True, False])
@pytest.mark.parametrize("b", [True, False])
def test_boolean_truth_tables(a, b):
    table = {"Boolean And": a and b, "Boolean Or": a or b, "Boolean Nand": not (a and b),
             "Boolean Nor": not (a or b), "Boolean Xor": a != b}
    for name, expected in table.items():
        assert bdh(name, input1=a, input2=b) == (expected,)
        assert node(name.replace(" ", ""))(CTX, input1=a, input2=b) == (expected,)
    assert bdh("Boolean Not", input=a) == (not a,)


def test_boolean_and_gives_an_input_as_python_does():
    assert bdh("Boolean And", input1=3, input2="x") == (3 and "x",)
    assert bdh("Boolean Or", input1=0, input2="") == (0 or "",)
    refused("Boolean Not", "input", input=torch.ones(2))


@pytest.mark.parametrize("items", [{}, {"item_0": "False"}, {"item_0": 1, "item_1": 0}, {"item_0": "", "item_1": ""},
                                   {"item_0": [0], "item_1": 2.5}])
@pytest.mark.parametrize("invert", [False, True])
def test_generic_and_or(items, invert):
    assert bdh("Generic And", invert=invert, **items) == (all(items.values()) ^ invert,)
    assert bdh("Generic Or", invert=invert, **items) == (any(items.values()) ^ invert,)


# --- casts -------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["42", " -7 ", 2.7, -2.7, True, 10**30, "1_000"])
def test_cast_to_int_is_int(value):
    assert bdh("CastToInt", input=value) == (int(value),)


@pytest.mark.parametrize("value", ["2.5", "x", None, [1], math.inf, "9" * 20_000])
def test_cast_to_int_refusals(value):
    refused("CastToInt", "input", input=value)


def test_other_casts():
    for value in ["1.5", 3, " -2e2 ", False, "inf"]:
        assert bdh("CastToFloat", input=value) == (float(value),)
    refused("CastToFloat", "input", input="one")
    for value in [3, 1.5, None, [1, "a"], True]:
        assert bdh("CastToString", input=value) == (str(value),)
        assert bdh("CastToBoolean", input=value) == (bool(value),)
    assert bdh("CastToBoolean", input="False") == (True,)
    refused("CastToBoolean", "input", input=torch.ones(3))


# --- STRING ------------------------------------------------------------------------------

TEXTS = ["Hello World", "  padded\t", "straße", "ÀÉ 12", "", "snake_case1", "Title Case", "123", "½"]
ONE_ARG = {"StringCapitalize": str.capitalize, "StringCasefold": str.casefold, "StringLower": str.lower,
           "StringUpper": str.upper, "StringSwapcase": str.swapcase, "StringTitle": str.title,
           "StringIsAlnum": str.isalnum, "StringIsAlpha": str.isalpha, "StringIsAscii": str.isascii,
           "StringIsDecimal": str.isdecimal, "StringIsDigit": str.isdigit, "StringIsIdentifier": str.isidentifier,
           "StringIsLower": str.islower, "StringIsNumeric": str.isnumeric, "StringIsPrintable": str.isprintable,
           "StringIsSpace": str.isspace, "StringIsTitle": str.istitle, "StringIsUpper": str.isupper,
           "StringLength": len, "StringStrip": str.strip, "StringLstrip": str.lstrip, "StringRstrip": str.rstrip}


@pytest.mark.parametrize("name", sorted(ONE_ARG))
@pytest.mark.parametrize("text", TEXTS)
def test_string_methods_of_one_string(name, text):
    assert bdh(name, string=text) == (ONE_ARG[name](text),)


@pytest.mark.parametrize("text", TEXTS)
def test_string_methods_with_arguments(text):
    assert bdh("StringStrip", string=text, chars="Hd ") == (text.strip("Hd "),)
    assert bdh("StringCount", string=text, substring="l") == (text.count("l"),)
    assert bdh("StringCount", string=text, substring="l", start=1, end=4) == (text.count("l", 1, 4),)
    assert bdh("StringFind", string=text, substring="o") == (text.find("o"),)
    assert bdh("StringRfind", string=text, substring="o", start=0, end=0) == (text.rfind("o"),)
    assert bdh("StringStartswith", string=text, prefix="He") == (text.startswith("He"),)
    assert bdh("StringEndswith", string=text, suffix="d", start=2) == (text.endswith("d", 2),)
    assert bdh("StringIn", string=text, substring="a") == ("a" in text,)
    assert bdh("StringRemoveprefix", string=text, prefix="Hel") == (text.removeprefix("Hel"),)
    assert bdh("StringRemovesuffix", string=text, suffix="ld") == (text.removesuffix("ld"),)
    assert bdh("StringCenter", string=text, width=21, fillchar="*-") == (text.center(21, "*"),)
    assert bdh("StringCenter", string=text, width=21, fillchar="") == (text.center(21),)
    assert bdh("StringLjust", string=text, width=15, fillchar=".") == (text.ljust(15, "."),)
    assert bdh("StringRjust", string=text, width=15) == (text.rjust(15),)
    assert bdh("StringRjust", string=text, width=15, fillchar="0x") == (text.rjust(15, "0"),)
    assert bdh("StringZfill", string=text, width=12) == (text.zfill(12),)
    assert bdh("StringConcat", string_a=text, string_b="!") == (text + "!",)
    assert bdh("StringExpandtabs", string=text + "\tx", tabsize=4) == ((text + "\tx").expandtabs(4),)
    assert bdh("StringReplace", string=text, old="l", new="LL") == (text.replace("l", "LL"),)
    assert bdh("StringReplace", string=text, old="l", new="", count=1) == (text.replace("l", "", 1),)
    assert bdh("StringSplitList", string=text) == (text.split(),)
    assert bdh("StringSplitList", string=text, sep="l", maxsplit=1) == (text.split("l", 1),)
    assert bdh("StringRsplitList", string=text, sep="l", maxsplit=1) == (text.rsplit("l", 1),)
    assert bdh("StringSplitlinesList", string=text + "\nx\r\n", keepends=True) == (
        (text + "\nx\r\n").splitlines(True),)


def test_padding_defaults_come_from_the_spec():
    assert bdh("StringRjust", string="ab") == ("ab".rjust(10),)
    assert bdh("StringCenter", string="ab") == ("ab".center(20),)
    refused("StringLjust", "fillchar", string="ab", width=5, fillchar="")


def test_join_uses_the_first_character_of_sep_as_the_pack_does():
    assert bdh("StringListJoin", strings=["a", "b", "c"], sep=", ") == ("a,b,c",)
    assert bdh("StringListJoin", strings=["a", "b"]) == ("a b",)
    refused("StringListJoin", "sep", strings=["a"], sep="")
    refused("StringListJoin", "strings", strings=["a", 1], sep=" ")
    refused("StringListJoin", "strings", strings="abc", sep=" ")


@pytest.mark.parametrize("text", ["plain", 'say "hi"\n\tit\'s a \\ path', "\\n literal"])
def test_escape_and_unescape(text):
    escaped, = bdh("StringEscape", string=text)
    expected = (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace('"', '\\"')
                .replace("'", "\\'"))
    assert escaped == expected
    assert bdh("StringUnescape", string=escaped) == (text,)


def test_encode_and_decode():
    assert bdh("StringEncode", string="café", encoding="utf-8", errors="strict") == (str("café".encode("utf-8")),)
    encoded, = bdh("StringEncode", string="café", encoding="latin-1", errors="strict")
    assert bdh("StringDecode", bytes_string=encoded, encoding="latin-1", errors="strict") == ("café",)
    assert bdh("StringEncode", string="é", encoding="ascii", errors="strict")[0].startswith("Encoding error:")
    assert bdh("StringDecode", bytes_string="café", encoding="utf-8", errors="strict") == (
        "Input is not a bytes string representation: café",)
    assert bdh("StringDecode", bytes_string="b'\\xff'", encoding="utf-8", errors="strict")[0].startswith(
        "Decoding error:")
    refused("StringEncode", "encoding", string="a", encoding="rot13", errors="strict")


@pytest.mark.parametrize("name,inputs,blamed", [
    ("StringCenter", {"string": "a", "width": MAX_CHARS + 1}, "width"),
    ("StringLjust", {"string": "a", "width": 10**12, "fillchar": " "}, "width"),
    ("StringZfill", {"string": "1", "width": 10**9}, "width"),
    ("StringReplace", {"string": "a" * 1000, "old": "", "new": "b" * 2000}, "new"),
    ("StringReplace", {"string": "ab" * 1000, "old": "a", "new": "x" * 1000}, "new"),
    ("StringExpandtabs", {"string": "\t" * 1000, "tabsize": 10**6}, "tabsize"),
    ("StringConcat", {"string_a": "a" * MAX_CHARS, "string_b": "b"}, "string_b"),
    ("StringUpper", {"string": 5}, "string"), ("StringConcat", {"string_a": "a", "string_b": None}, "string_b")])
def test_huge_or_wrong_strings_are_refused_naming_the_input(name, inputs, blamed):
    refused(name, blamed, **inputs)


def test_replace_with_a_count_is_bounded_by_the_count():
    text = "a" * 1000
    assert bdh("StringReplace", string=text, old="a", new="b" * 900, count=2) == (text.replace("a", "b" * 900, 2),)


# --- in a workflow -----------------------------------------------------------------------

def run(prompt: dict, outputs: list[str]):
    graph = build(from_data(prompt, "bdh.json"))
    assert not graph.problems, graph.problems
    return run_plan(graph, make_plan(graph, outputs), ExecContext())


def test_workflow_multiplies_as_050_does_and_names_a_zero_divisor():
    prompt = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 33}},
        "2": {"class_type": "Basic data handling: IntMultiply", "inputs": {"int1": ["1", 0], "int2": 2}},
        "3": {"class_type": "SimpleMath+", "inputs": {"value": "a*15", "a": ["2", 0]}},
        "4": {"class_type": "Basic data handling: NumberInRange",
              "inputs": {"value": ["2", 0], "min_value": 0, "max_value": 66, "include_min": True,
                         "include_max": True}},
    }
    result = run(prompt, ["3", "4"])
    assert result.outputs["3"][0] == 33 * 2 * 15
    assert result.outputs["4"] == (False,)  # 66 is not < 66: the pack's bounds are exclusive
    prompt["5"] = {"class_type": "Basic data handling: IntDivide", "inputs": {"int1": ["2", 0], "int2": 0}}
    with pytest.raises(NodeError) as err:
        run(prompt, ["5"])
    assert err.value.input_name == "int2"
