"""ClownOptions_ExtraOptions_Beta (RES4LYF ``beta/samplers_extensions.py``) and the reading of
its text, RES4LYF's "extra options": one ``key=value`` or bare ``flag`` per line, which the
pack's samplers look up by name with a regular expression anchored at the line start
(``key\\s*=\\s*([a-zA-Z0-9_.+-]+)\\s*$``; a flag is ``key`` alone or ``key=...``).

The node itself only appends its text to ``options["extra_options"]`` (after a newline
when one is there already), as the pack does. What the text means is read by
:func:`read_extra_options` for the sampler. The pack reads hundreds of keys and silently
ignores a line no code looks up; wfrun runs the few below and refuses any other line,
naming it, rather than run without an effect the user asked for:

- ``default_dtype=float32|float64``: the sampler's working precision (noise draws included);
- ``skip_final_model_call``: no model call for the last denoise onto ``sigma_min``;
- ``multistep_extra_initial_steps=N`` and ``multistep_fallback_sampler=ddim|euler``: the
  single-step start and the ``h >= 1`` fallback of the multistep RES samplers;
- ``disable_dummy_sampler_init``: skips a warm-up call whose result the pack discards (no
  effect here).

``work_device`` and every other key are refused.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling.ksampler import res4lyf as res

#: The OPTIONS key the pack keeps the text under.
EXTRA_OPTIONS_KEY = "extra_options"

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([a-zA-Z0-9_.+-]+)\s*$")
_FLAG = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*$")
#: Flags that change nothing in wfrun.
_NO_EFFECT_FLAGS = ("disable_dummy_sampler_init",)


def read_extra_options(text: str, input_name: str = "options") -> dict[str, Any]:
    """The settings of ``text`` that :class:`~wfrun.sampling.ksampler.res4lyf.ResOptions`
    takes, by field name. As in the pack, the first line naming a key wins."""
    settings: dict[str, Any] = {}
    seen: set[str] = set()
    for raw in str(text).splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        value_match, flag_match = _VALUE.match(line), _FLAG.match(line)
        key = value_match.group(1) if value_match else flag_match.group(1) if flag_match else None
        if key is None:
            raise NodeInputError(input_name, f"RES4LYF extra option line {line!r} is not key=value or a flag "
                                 "that wfrun reads", "remove the line")
        if key in seen:
            continue
        seen.add(key)
        value = value_match.group(2) if value_match else None
        if key in _NO_EFFECT_FLAGS:
            continue
        if key == "skip_final_model_call":
            settings["skip_final_model_call"] = True
        elif key == "default_dtype" and value in _DTYPES:
            settings["dtype"] = _DTYPES[value]
        elif key == "multistep_extra_initial_steps" and value is not None and value.isdigit():
            settings["extra_initial_steps"] = int(value)
        elif key == "multistep_fallback_sampler" and value in res.FALLBACK_SAMPLERS:
            settings["multistep_fallback"] = value
        else:
            raise NodeInputError(input_name, f"RES4LYF extra option {line.strip()!r} is not supported in wfrun "
                                 "(it runs default_dtype=float32|float64, skip_final_model_call, "
                                 "multistep_extra_initial_steps=N, multistep_fallback_sampler=ddim|euler, "
                                 "disable_dummy_sampler_init)", "remove the line")
    return settings


@executor("ClownOptions_ExtraOptions_Beta")
def clown_options_extra(ctx: ExecContext, extra_options: Any, options: Any = None, **_: Any) -> tuple:
    if not isinstance(extra_options, str):
        raise NodeInputError("extra_options", f"expected text, got {type(extra_options).__name__}")
    if options is not None and not isinstance(options, dict):
        raise NodeInputError("options", f"expected OPTIONS from another ClownOptions node, got {type(options).__name__}")
    read_extra_options(extra_options, "extra_options")  # refuse what wfrun cannot run here, by this node
    out = dict(options or {})
    if EXTRA_OPTIONS_KEY in out:
        out[EXTRA_OPTIONS_KEY] = f"{out[EXTRA_OPTIONS_KEY]}\n{extra_options}"
    else:
        out[EXTRA_OPTIONS_KEY] = extra_options
    return (out,)
