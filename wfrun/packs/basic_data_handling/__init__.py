"""Basic data handling (StableLlama/ComfyUI-basic_data_handling): the pack's pure value nodes.

Each node runs under its current name, ``Basic data handling: X``, and under the bare ``X``
the pack used before 2025-05-10 where it had one (``BooleanAnd`` for ``Boolean And``).

Covered, with the pack's semantics (Python's own operators and ``math``, as the pack calls
them; see each module's docstring for the quirks kept):

* INT (:mod:`.numbers`): IntCreate, IntCreateWithBase, IntAdd, IntSubtract, IntMultiply,
  IntDivide, IntDivideSafe, IntModulus, IntPower, IntBitCount, IntBitLength, IntToBytes,
  IntFromBytes;
* FLOAT (:mod:`.numbers`): FloatCreate, FloatAdd, FloatSubtract, FloatMultiply,
  FloatDivide, FloatDivideSafe, FloatPower, FloatRound, FloatAsIntegerRatio, FloatHex,
  FloatFromHex, FloatIsInteger;
* maths (:mod:`.numbers`): MathAbs … MathTan, MathMin, MathMax, MathPi, MathE;
* BOOLEAN, comparison and cast (:mod:`.logic`): Boolean And/Or/Nand/Nor/Xor/Not, Generic
  And/Or, Equal, NotEqual, LessThan(OrEqual), GreaterThan(OrEqual), IsNull, NumberInRange,
  CompareLength, StringComparison, CastToInt/Float/String/Boolean;
* STRING (:mod:`.strings`): the str methods that give one plain value (case, strip, pad,
  find/count, the ``is…`` tests, replace, concat, escape/unescape, encode/decode, length)
  and split to / join from a LIST (a Python list, as the pack's LIST is).
* data lists (:mod:`.data_lists`, :mod:`.data_lists_more`): ComfyUI lists (``OUTPUT_IS_LIST``)
  that the engine maps later nodes over, read whole by the ``INPUT_IS_LIST`` nodes:
  DataListLength, First, Last, GetItem, Reverse, Slice, Extend, Append, All, Any, Count,
  Contains, ToList, Range, Index, Pop, Sort, and ListToDataList;
* MathFormula (:mod:`.formula`): the pack's own formula grammar, re-implemented (no eval);
* IfElse (lazy branches) and FlowSelect (:mod:`.flow`; the unchosen side is a marker no
  node accepts, where ComfyUI blocks it);
* PathOutputDir and PathListDir (:mod:`.paths`), kept inside the run's input and output
  folders.

Hostile input stays small: integer results past :data:`.common.MAX_INT_BITS` bits and
strings past :data:`.common.MAX_CHARS` characters are refused before they are built, with a
NodeInputError naming the input that makes them huge; division by zero, where the pack
raises, is a NodeInputError naming the divisor.

Not covered (each needs something these value executors do not give):

* the other ``Path*`` nodes (read and write files), ``Regex*`` (patterns from a file can backtrack without
  end), ``Time*``, the LIST, DICT and SET nodes, the other data-list nodes (DataListCreate…,
  Filter, Zip, …), ``CastToList/Set/Dict``, the split nodes to a data list and the deprecated ``StringSplit``/``StringJoin``…, the other flow-control
  nodes (``IfElifElse``, …: lazy inputs and blocked outputs);
* ``StringFormatMap`` (a DICT input, and ``str.format_map`` reaches attributes);
* the bare ``StringReplace`` (ComfyUI core's node of that name is the one a file without a
  ``cnr_id`` means; the spec file leaves this pack's out).

Inputs declared with a ``widgetType`` option (the maths nodes' NUMBER inputs, the
comparisons' values, IntCreate / FloatCreate ``value``, Generic And/Or items) are drawn by
the frontend as text or number widgets: their specs record it (``InputSpec.widget_type``,
re-extracted 2026-12-03), so a UI file's ``widgets_values`` for them bind by position.
"""
