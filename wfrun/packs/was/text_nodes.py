"""WAS Node Suite's Text Multiline and Text Concatenate (``WAS_Node_Suite.py``).

* Text Multiline drops the lines that start with ``#`` (after leading spaces), joins the
  rest with newlines, then replaces WAS's text tokens: ``[time]`` (whole seconds since the
  epoch), ``[time(FORMAT)]`` (local time through ``time.strftime``), ``[hostname]``,
  ``[user]`` (the login name, or ``null``), ``[cuda_device]`` (the run's device) and
  ``[cuda_name]`` (the GPU's name, or ``cpu``). Custom tokens live in the user's WAS
  database, which wfrun does not read: they stay as written.
* Text Concatenate joins its connected text inputs, in the order of their names
  (``text_a`` … ``text_d``), with ``delimiter`` (``\\n`` written out as two characters means a
  newline); with ``clean_whitespace`` "true" each is stripped first; empty ones are left out.
  Files saved before the inputs became sockets hold them as widgets: those values count the
  same way.
"""

from __future__ import annotations

import os
import re
import socket
import time
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _login() -> str:
    try:
        return os.getlogin() or "null"
    except OSError:
        return "null"


def _device_name(device: str) -> str:
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return str(device)


def parse_tokens(text: str, device: str = "cpu") -> str:
    tokens = {
        "[time]": str(time.time()).split(".")[0],
        "[hostname]": socket.gethostname(),
        "[cuda_device]": str(device),
        "[cuda_name]": _device_name(device),
        "[user]": _login(),
    }
    for token, value in tokens.items():
        text = text.replace(token, value)
    return re.sub(r"\[time\((.*?)\)\]", lambda m: time.strftime(m.group(1), time.localtime()), text)


@executor("Text Multiline", volatile=True)
def text_multiline(ctx: ExecContext, text: Any, **_: Any) -> tuple:
    if not isinstance(text, str):
        raise NodeInputError("text", f"text: expected a STRING, found {type(text).__name__}")
    kept = [line.replace("\n", "") for line in text.splitlines(keepends=True) if not line.strip().startswith("#")]
    return (parse_tokens("\n".join(kept), ctx.device),)


@executor("Text Concatenate")
def text_concatenate(ctx: ExecContext, delimiter: Any, clean_whitespace: Any, **texts: Any) -> tuple:
    if not isinstance(delimiter, str):
        raise NodeInputError("delimiter", f"delimiter: expected a STRING, found {type(delimiter).__name__}")
    if clean_whitespace not in ("true", "false"):
        raise NodeInputError("clean_whitespace", f"clean_whitespace: {clean_whitespace!r} is not 'true' or 'false'")
    if delimiter in ("\n", "\\n"):
        delimiter = "\n"
    parts = []
    for name in sorted(texts):
        value = texts[name]
        if not isinstance(value, str):
            continue
        if clean_whitespace == "true":
            value = value.strip()
        if value != "":
            parts.append(value)
    return (delimiter.join(parts),)
