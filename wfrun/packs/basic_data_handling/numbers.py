"""The pack's INT, FLOAT and maths nodes (``int_nodes.py``, ``float_nodes.py``,
``math_nodes.py``): Python's operators and ``math`` functions, as the pack calls them.

Kept as the pack has them:

* IntDivide and IntModulus floor (``//``, ``%``: ``-7 // 2`` is -4) and refuse a zero divisor;
  IntDivideSafe gives ``infinity`` (default 2**63-1) for a positive dividend over 0 and
  ``-infinity`` otherwise (0 / 0 too).
* IntPower with a negative exponent gives Python's float (``2 ** -1`` is 0.5) on its INT
  output. IntCreate reads text with ``int(text, 0)`` (``0x1F``, ``0b101``, ``1_000``; a
  leading zero as in ``010`` is refused), IntCreateWithBase with ``int(text, base)``.
* FloatDivide refuses a zero divisor; FloatDivideSafe gives inf, -inf, or nan for 0 / 0.
* The maths nodes read their inputs with ``float()`` (their widgets are text since 0.3.0,
  2025-05-17) and give floats, MathCeil/MathFloor integers; MathMin/MathMax give the float
  too. (Before 0.3.0, MathAbs/Min/Max of integers gave integers: the same value.) The angle
  unit is degrees unless the widget says ``radians``. MathTan refuses an angle whose cosine
  is below 1e-10, as the pack does.

Refused where the pack would compute on: an integer result over ``MAX_INT_BITS`` bits
(IntPower is checked before it computes), a FloatPower result that is complex (a negative
base to a fractional power: Python gives a complex number no FLOAT input can take).
"""

from __future__ import annotations

import math
from typing import Any

from wfrun.nodes.executor import NodeInputError
from wfrun.packs.basic_data_handling.common import (MAX_INT_BITS, MAX_NUMBER_TEXT, bounded_int, define, read_any,
                                                    read_float, read_int, read_number_text, read_text)

MAX_BYTES = 1_000_000

INT = read_int
FLOAT = read_float
NUM = read_number_text
TEXT = read_text
ANY = read_any


# --- INT ---------------------------------------------------------------------------------

def _int_text(value: Any, base: int) -> int:
    if not isinstance(value, str):
        raise NodeInputError("value", f"value: expected text such as '42' or '0x2A', found {type(value).__name__}",
                             "connect a STRING or type the number as text")
    if len(value) > MAX_NUMBER_TEXT:
        raise NodeInputError("value", f"value: a text of {len(value)} characters is too long for a number")
    if base != 0 and not 2 <= base <= 36:
        raise NodeInputError("base", f"base is {base}; int() takes a base from 2 to 36")
    try:
        return bounded_int(int(value, base), "value")
    except ValueError:
        raise NodeInputError("value", f"value: {value[:60]!r} is not a whole number in base {base or 'auto'}",
                             "use digits of that base (with base auto: 42, 0x2A, 0o52, 0b101010)") from None


def _divide(int1: int, int2: int) -> int:
    if int2 == 0:
        raise NodeInputError("int2", "int2 is 0: cannot divide by zero",
                             "use a non-zero divisor, or the 'divide (zero safe)' node")
    return int1 // int2


def _modulus(int1: int, int2: int) -> int:
    if int2 == 0:
        raise NodeInputError("int2", "int2 is 0: cannot perform modulus operation by zero", "use a non-zero divisor")
    return int1 % int2


def _int_power(base: int, exponent: int) -> Any:
    if exponent < 0 and base == 0:
        raise NodeInputError("exponent", "0 cannot be raised to a negative power", "use exponent >= 0 or base != 0")
    if exponent > 0 and abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise NodeInputError("exponent", f"{base} ** {exponent} would have more than {MAX_INT_BITS} bits",
                             "use a smaller exponent")
    return bounded_int(base ** exponent, "exponent")


def _to_bytes(int_value: int, length: int, byteorder: str, signed: str) -> bytes:
    if length > MAX_BYTES:
        raise NodeInputError("length", f"length is {length}; at most {MAX_BYTES} bytes")
    return int_value.to_bytes(length, byteorder=byteorder, signed=signed == "True")


def _from_bytes(bytes_value: Any, byteorder: str, signed: str) -> int:
    if not isinstance(bytes_value, (bytes, bytearray)):
        raise NodeInputError("bytes_value", f"bytes_value: expected BYTES, found {type(bytes_value).__name__}",
                             "connect the BYTES output of 'to bytes'")
    if len(bytes_value) * 8 > MAX_INT_BITS:
        raise NodeInputError("bytes_value", f"bytes_value has {len(bytes_value)} bytes; at most {MAX_INT_BITS // 8}")
    return int.from_bytes(bytes_value, byteorder=byteorder, signed=signed == "True")


define("IntCreate", [("value", ANY)], lambda value: _int_text(value, 0), bare=None)
define("IntCreateWithBase", [("value", ANY), ("base", INT)], _int_text, bare=None)
define("IntAdd", [("int1", INT), ("int2", INT)], lambda a, b: bounded_int(a + b, "int2"))
define("IntSubtract", [("int1", INT), ("int2", INT)], lambda a, b: bounded_int(a - b, "int2"))
define("IntMultiply", [("int1", INT), ("int2", INT)], lambda a, b: bounded_int(a * b, "int2"))
define("IntDivide", [("int1", INT), ("int2", INT)], _divide)
define("IntDivideSafe", [("int1", INT), ("int2", INT), ("infinity", INT)],
       lambda a, b, inf: (inf if a > 0 else -inf) if b == 0 else a // b, bare=None)
define("IntModulus", [("int1", INT), ("int2", INT)], _modulus)
define("IntPower", [("base", INT), ("exponent", INT)], _int_power, blame="exponent")
define("IntBitCount", [("int_value", INT)], lambda v: v.bit_count())
define("IntBitLength", [("int_value", INT)], lambda v: v.bit_length())
define("IntToBytes", [("int_value", INT), ("length", INT), ("byteorder", ANY), ("signed", ANY)], _to_bytes,
       blame="length")
define("IntFromBytes", [("bytes_value", ANY), ("byteorder", ANY), ("signed", ANY)], _from_bytes, blame="byteorder")


# --- FLOAT -------------------------------------------------------------------------------

def _float_divide(float1: float, float2: float) -> float:
    if float2 == 0.0:
        raise NodeInputError("float2", "float2 is 0: cannot divide by zero",
                             "use a non-zero divisor, or the 'divide (zero safe)' node")
    return float1 / float2


def _float_divide_safe(float1: float, float2: float) -> float:
    if float2 == 0.0:
        if float1 == 0.0:
            return math.nan
        return math.inf if float1 > 0 else -math.inf
    return float1 / float2


def _float_power(base: float, exponent: float) -> float:
    result = base ** exponent
    if isinstance(result, complex):
        raise NodeInputError("exponent", f"{base} ** {exponent} is a complex number (a negative base to a "
                             "fractional power)", "use a whole exponent or a base >= 0")
    return result


define("FloatCreate", [("value", NUM)], lambda v: v, bare=None)
define("FloatAdd", [("float1", FLOAT), ("float2", FLOAT)], lambda a, b: a + b)
define("FloatSubtract", [("float1", FLOAT), ("float2", FLOAT)], lambda a, b: a - b)
define("FloatMultiply", [("float1", FLOAT), ("float2", FLOAT)], lambda a, b: a * b)
define("FloatDivide", [("float1", FLOAT), ("float2", FLOAT)], _float_divide)
define("FloatDivideSafe", [("float1", FLOAT), ("float2", FLOAT)], _float_divide_safe, bare=None)
define("FloatPower", [("base", FLOAT), ("exponent", FLOAT)], _float_power, blame="exponent")
define("FloatRound", [("float_value", FLOAT), ("decimal_places", INT)], lambda v, n: round(v, n))
define("FloatAsIntegerRatio", [("float_value", FLOAT)], lambda v: v.as_integer_ratio(), outputs=2)
define("FloatHex", [("float_value", FLOAT)], lambda v: v.hex())
define("FloatFromHex", [("hex_value", TEXT)], float.fromhex)
define("FloatIsInteger", [("float_value", FLOAT)], lambda v: v.is_integer())


# --- maths -------------------------------------------------------------------------------

def _inverse_trig(fn: Any) -> Any:
    def compute(value: float, unit: Any) -> float:
        result = fn(value)
        return math.degrees(result) if unit == "degrees" else result
    return compute


def _trig(fn: Any) -> Any:
    def compute(angle: float, unit: Any) -> float:
        return fn(math.radians(angle) if unit == "degrees" else angle)
    return compute


def _tan(angle: float, unit: Any) -> float:
    if unit == "degrees":
        angle = math.radians(angle)
    if abs(math.cos(angle)) < 1e-10:
        raise NodeInputError("angle", "tangent is undefined at this angle (division by zero)",
                             "use an angle away from 90 degrees + k * 180")
    return math.tan(angle)


def _log(value: float, base: float) -> float:
    if base <= 0 or base == 1 or math.isnan(base):
        raise NodeInputError("base", f"base is {base}; a logarithm needs a base > 0 other than 1")
    return math.log(value, base)


define("MathAbs", [("value", NUM)], abs)
define("MathAcos", [("value", NUM), ("unit", ANY)], _inverse_trig(math.acos))
define("MathAsin", [("value", NUM), ("unit", ANY)], _inverse_trig(math.asin))
define("MathAtan", [("value", NUM), ("unit", ANY)], _inverse_trig(math.atan))
define("MathAtan2", [("y", NUM), ("x", NUM), ("unit", ANY)],
       lambda y, x, unit: math.degrees(math.atan2(y, x)) if unit == "degrees" else math.atan2(y, x))
define("MathCeil", [("value", NUM)], math.ceil)
define("MathFloor", [("value", NUM)], math.floor)
define("MathCos", [("angle", NUM), ("unit", ANY)], _trig(math.cos))
define("MathSin", [("angle", NUM), ("unit", ANY)], _trig(math.sin))
define("MathTan", [("angle", NUM), ("unit", ANY)], _tan)
define("MathDegrees", [("radians", NUM)], math.degrees)
define("MathRadians", [("degrees", NUM)], math.radians)
define("MathExp", [("value", NUM)], math.exp)
# base: a text widget in ComfyUI (default e); the spec has it as a socket, so an absent base
# is the pack's own Python default
define("MathLog", [("value", NUM), ("base", NUM, math.e)], _log)
define("MathLog10", [("value", NUM)], math.log10)
define("MathSqrt", [("value", NUM)], math.sqrt)
define("MathMax", [("value1", NUM), ("value2", NUM)], max)
define("MathMin", [("value1", NUM), ("value2", NUM)], min)
define("MathPi", [], lambda: math.pi)
define("MathE", [], lambda: math.e)
