"""WanInputFrameNumber ("WAN Input Frame Number"): gives ``frame_number`` on as an INT, after
checking Wan's length rule ``(frames - 1) % 4 == 0`` (the VAE keeps the first frame and packs
each following four into one latent frame). The pack raises ``ValueError`` for any other
number; wfrun names the input instead. The widget steps by 4 from 1 in the editor, so a saved
value breaks the rule only when typed or set by a link-less edit of the file."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("WanInputFrameNumber", pure=True)
def wan_input_frame_number(ctx: ExecContext, frame_number: Any, **_: Any) -> tuple:
    if isinstance(frame_number, bool) or not isinstance(frame_number, (int, float)):
        raise NodeInputError("frame_number", f"frame_number: expected an INT, found {frame_number!r}")
    value = int(frame_number)
    if (value - 1) % 4 != 0:
        near = value - (value - 1) % 4
        raise NodeInputError("frame_number", f"frame_number {value}: (frames - 1) must be divisible by 4",
                             f"use {near} or {near + 4}")
    return (value,)
