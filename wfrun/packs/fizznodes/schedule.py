"""FizzNodes' batch prompt schedule text handling (``ScheduleFuncs.py``, ``BatchFuncs.py``
at the pack's last commit, 7d6ea60, 2024-10-28; registry version 1.0.2), without ComfyUI.

* ``process_input_text``: newlines removed, the text wrapped in ``{}``, a trailing comma
  before the ``}`` dropped, then read as JSON (``"frame": "prompt"`` pairs; a repeated
  frame keeps its last prompt).
* ``--neg`` splits a prompt (and ``pre_text`` / ``app_text``) into positive and negative
  parts; each frame's text is ``pre + " " + prompt + " " + app``, and one trailing ``0`` is
  cut (the pack's guard against an unset ``0``).
* Keyframes: a key that is a plain number stays the pack's string; any other key is a
  numexpr formula in the pack. Frame 0 is added (with the first prompt) when the first key
  is not the string ``"0"``, and ``max_frames`` (with the last prompt) when the last key is
  not ``str(max_frames)``. Between keys ``a < b``, frame ``f`` gets current prompt ``a``,
  next prompt ``b`` and weight ``1 - (f - a) / (b - a)`` for the current one; pairs not
  increasing are skipped. A frame no pair reaches keeps ``nan``.
* Backtick expressions in prompts (`` `...` ``, with ``t``, ``max_f``, ``pw_a``..``pw_d``
  substituted as text) are numexpr formulas, evaluated for frames ``start_frame`` ..
  ``min(end_frame, max_frames) - 1`` only, and those frames' prompts are stripped.

wfrun never evaluates formulas: a key or a backtick expression that, after the pack's
substitutions, is a plain number is read as numexpr would give it; any other is refused
with an error naming the input (``text``, or ``pre_text``/``app_text`` it came from).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

INT_LITERAL = re.compile(r"^\s*[+-]?\d+\s*$")
FLOAT_LITERAL = re.compile(r"^\s*[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?\s*$")
#: The pack's ``check_is_number``.
NUMBER_KEY = re.compile(r"^(?=.)([+-]?([0-9]*)(\.([0-9]+))?)$")
BACKTICKS = re.compile(r"`.*?`")
#: Most frames wfrun schedules (each is one text encoding); a bound on untrusted files.
MAX_FRAMES = 10000


class ScheduleError(ValueError):
    """A schedule the pack fails on, or a formula wfrun does not evaluate; ``input_name``
    is the input to blame."""

    def __init__(self, input_name: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.input_name = input_name
        self.hint = hint


def parse_schedule(text: str) -> dict[str, str]:
    """``process_input_text``: the ``"frame": "prompt"`` pairs, by a JSON parser."""
    body = "{" + text.replace("\n", "") + "}"
    body = re.sub(r",\s*}", "}", body)
    try:
        data = json.loads(body.strip())
    except json.JSONDecodeError as err:
        raise ScheduleError("text", f"the schedule is not a list of \"frame\": \"prompt\" pairs: {err.msg} at "
                            f"character {err.pos}", 'write it as  "0": "a prompt", "24": "another prompt"') from None
    for key, value in data.items():
        if not isinstance(value, str):
            raise ScheduleError("text", f"frame {key!r} has {json.dumps(value)} where a prompt in quotes belongs")
    return data


def split_prompts(prompts: dict[str, str], pre_text: Any, app_text: Any) -> tuple[dict[str, str], dict[str, str]]:
    """``batch_split_weighted_subprompts``: positive and negative text per key."""
    pre, app = str(pre_text), str(app_text)
    for name, value in (("pre_text", pre), ("app_text", app)):
        if value.count("--neg") > 1:
            raise ScheduleError(name, f"{name} has --neg more than once; the pack fails on it")
    pre_pos, pre_neg = pre.split("--neg") if "--neg" in pre else (pre, "")
    app_pos, app_neg = app.split("--neg") if "--neg" in app else (app, "")
    pos: dict[str, str] = {}
    neg: dict[str, str] = {}
    for key, prompt in prompts.items():
        parts = prompt.split("--neg")
        positive, negative = (parts[0], parts[1]) if len(parts) > 1 else (parts[0], "")
        pos[key] = pre_pos + " " + positive + " " + app_pos
        neg[key] = pre_neg + " " + negative + " " + app_neg
        if pos[key].endswith("0"):
            pos[key] = pos[key][:-1]
        if neg[key].endswith("0"):
            neg[key] = neg[key][:-1]
    return pos, neg


def _plain_number(text: str) -> Any:
    """What numexpr gives for a plain number literal, or None for anything else."""
    if INT_LITERAL.match(text):
        return int(text)
    if FLOAT_LITERAL.match(text):
        return float(text)
    return None


def _key_value(key: Any) -> int:
    """``int(key)`` as the pack sorts and walks keys (a non-integer number fails there)."""
    try:
        return int(key)
    except ValueError:
        raise ScheduleError("text", f"keyframe {key!r} is not a whole frame number; the pack fails on it") from None


def _keys(prompts: dict[str, str]) -> list[tuple[Any, str]]:
    parsed: dict[Any, str] = {}
    for key, value in prompts.items():
        if NUMBER_KEY.match(key):
            parsed[key] = value
            continue
        number = _plain_number(key)
        if number is None:
            raise ScheduleError("text", f"keyframe {key!r} is a formula (numexpr in the pack), which wfrun does not "
                                "evaluate", "write the frame number itself")
        parsed[int(number)] = value
    return sorted(parsed.items(), key=lambda item: _key_value(item[0]))


@dataclass
class Series:
    """Per frame: the current prompt, the next prompt and the current prompt's weight."""

    current: list[str]
    next: list[str]
    weight: list[float]


def _weights(value: Any, name: str, frames: int) -> Sequence[Any]:
    """``convert_pw_to_tuples``: a number for every frame, or the per-frame values given."""
    if isinstance(value, (int, float, np.floating)) and not isinstance(value, bool):
        return [value] * frames
    if isinstance(value, (list, tuple)) and len(value) >= frames:
        return value
    raise ScheduleError(name, f"expected a number or {frames} per-frame numbers, found {value!r}")


def interpolate(prompts: dict[str, str], max_frames: int, start_frame: int, end_frame: int,
                weights: dict[str, Any], source: str = "text") -> Series:
    """``interpolate_prompt_seriesA``: the keyframe walk, then expressions evaluated for
    frames ``start_frame .. min(end_frame, max_frames) - 1``."""
    keys = _keys(prompts)
    if not keys:
        raise ScheduleError("text", "the schedule has no \"frame\": \"prompt\" pair")
    if keys[0][0] != "0":
        keys.insert(0, ("0", keys[0][1]))
    if keys[-1][0] != str(max_frames):
        keys.append((str(max_frames), keys[-1][1]))
    current: list[Any] = [math.nan] * max_frames
    nxt: list[Any] = [math.nan] * max_frames
    weight = [math.nan] * max_frames
    per_frame = {name: _weights(value, name, max_frames) for name, value in weights.items()}
    for i in range(len(keys) - 1):
        a, b = _key_value(keys[i][0]), _key_value(keys[i + 1][0])
        if a >= b:
            continue
        step = 1 / (b - a)
        for f in range(max(a, 0), min(b, max_frames)):
            weight[f] = 0.0 + (1 - step * (f - a))
            current[f] = str(keys[i][1])
            nxt[f] = str(keys[i + 1][1])
    for i in range(start_frame, min(end_frame, max_frames)):
        current[i] = evaluate(current[i], i, max_frames, per_frame, source)
        nxt[i] = evaluate(nxt[i], i, max_frames, per_frame, source)
    return Series([str(c) for c in current], [str(n) for n in nxt], weight)


def evaluate(prompt: Any, index: int, max_frames: int, weights: dict[str, Sequence[Any]], source: str) -> str:
    """``prepare_batch_promptA``: each backtick expression replaced by its value (plain
    numbers only here), the prompt stripped."""
    text = str(prompt)
    for match in BACKTICKS.finditer(text):
        raw = match.group(0)
        inner = raw.replace("t", f"{index}")
        for name in ("pw_a", "pw_b", "pw_c", "pw_d"):
            inner = inner.replace(name, f"{weights[name][index]}")
        inner = inner.replace("max_f", f"{max_frames - 1}").replace("`", "")
        number = _plain_number(inner)
        if number is None:
            raise ScheduleError(source, f"the prompt expression {raw} is a formula (numexpr in the pack), which wfrun "
                                "does not evaluate", "write its value in the prompt instead")
        text = text.replace(raw, str(np.array(number)))
    return text.strip()
