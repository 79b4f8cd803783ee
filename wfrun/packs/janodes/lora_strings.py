"""Lora2StackToString and LoraStringSplitter: two LoRAs (a high-noise and a low-noise one,
for Wan 2.2's two experts) and their strengths packed into one comma-separated string, so a
workflow can carry them through text nodes (concatenated with a prompt) and unpack them
where the LoRA select nodes sit.

Lora2StackToString writes ``"{lora_high},{strength_high},{lora_low},{strength_low},"``
with Python's ``str`` of each float (``1.0``), a trailing comma included.

LoraStringSplitter splits on every comma and strips each piece: pieces 0..3 are the two
names and strengths (a missing name is ``""``, a missing or empty strength ``0.0``), the
rest joined back with plain commas (the spaces after them stripped) is the text; a name
spelled ``none`` (any case) becomes ``""``. This is the pack's version of 2026-01-11 in
run-comfyui-wan2, the one shipped with its SVI 2.0 Pro workflow. A strength that is not a
number stops the pack with a ValueError; wfrun says which piece it was.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: Longer than any prompt and four LoRA names; the string is untrusted text.
MAX_CHARS = 1_000_000


@executor("Lora2StackToString")
def lora2stack_to_string(ctx: ExecContext, lora_high: Any, strength_high: Any, lora_low: Any,
                         strength_low: Any, **_: Any) -> tuple:
    return (f"{lora_high},{float(strength_high)},{lora_low},{float(strength_low)},",)


def _strength(parts: list[str], index: int) -> float:
    if len(parts) <= index or not parts[index]:
        return 0.0
    try:
        return float(parts[index])
    except ValueError:
        raise NodeInputError("input_string", f"piece {index + 1} should be a LoRA strength, found {parts[index]!r}",
                             "write it as lora_high,strength,lora_low,strength,text") from None


def _name(parts: list[str], index: int) -> str:
    name = parts[index] if len(parts) > index else ""
    return "" if name.lower() == "none" else name


@executor("LoraStringSplitter")
def lora_string_splitter(ctx: ExecContext, input_string: Any, **_: Any) -> tuple:
    if not isinstance(input_string, str):
        raise NodeInputError("input_string", f"expected a string, got {type(input_string).__name__}")
    if len(input_string) > MAX_CHARS:
        raise NodeInputError("input_string", f"{len(input_string)} characters; at most {MAX_CHARS}")
    parts = [piece.strip() for piece in input_string.split(",")]
    text = ",".join(parts[4:]).strip() if len(parts) > 4 else ""
    return (_name(parts, 0), _strength(parts, 1), _name(parts, 2), _strength(parts, 3), text)
