"""MultiTalkReferenceMasks (the wrapper's ``multitalk/nodes.py`` of 2025-07-03, removed the same
day in favour of masks from other nodes): one pixel mask per speaker and the background
last, ``[speakers + 1, height, width]``, for MultiTalkWav2VecEmbeds' ``ref_target_masks``.

As the pack: one speaker covers the whole frame; with two to four, each speaker's box
``"a,b,c,d"`` (numbers, cut to whole pixels) fills rows ``a:c`` and columns ``b:d`` — the
pack names them x and y but indexes the mask's first (height) axis with the first pair —
and a speaker without a valid box gets the default one: rows ``int(height * face_scale)``
to ``int(height * (1 - face_scale))``, columns of its vertical strip (``width //
speakers`` wide, the last strip to the edge) less ``strip * face_scale`` on both sides.
The background is 1 where no speaker's mask is.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def parse_box(text: Any) -> list[int] | None:
    """Four comma-separated numbers as whole pixels, or None (the pack's fallback)."""
    try:
        parts = [int(float(x.strip())) for x in str(text or "").split(",")]
    except ValueError:
        return None
    return parts if len(parts) == 4 else None


@executor("MultiTalkReferenceMasks")
def multitalk_reference_masks(ctx: ExecContext, width: int, height: int, human_number: int, face_scale: float,
                              **boxes: Any) -> tuple:
    width, height, speakers = int(width), int(height), int(human_number)
    if width < 1 or height < 1:
        raise NodeInputError("width", f"{width}x{height}", "give a positive size")
    if not 1 <= speakers <= 4:
        raise NodeInputError("human_number", f"{speakers} speakers", "use 1 to 4")
    masks = []
    if speakers == 1:
        masks.append(torch.ones(height, width))
    else:
        strip = width // speakers
        row_lo, row_hi = int(height * face_scale), int(height * (1.0 - face_scale))
        for i in range(speakers):
            box = parse_box(boxes.get(f"bbox_person{i + 1}"))
            if box is None:
                start, end = i * strip, ((i + 1) * strip if i < speakers - 1 else width)
                box = [row_lo, int(start + strip * face_scale), row_hi, int(end - strip * face_scale)]
            mask = torch.zeros(height, width)
            mask[box[0]:box[2], box[1]:box[3]] = 1.0
            masks.append(mask)
    background = 1.0 - torch.stack(masks).sum(dim=0).clamp_max(1)
    return (torch.stack([*masks, background]).float(),)
