"""fofr's toolkit: sizes scaled to a pixel budget, rounded to multiples, and the incrementer."""

from __future__ import annotations

import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext

ctx = ExecContext()


def test_sizes_follow_the_packs_formula():
    image = torch.zeros(1, 720, 1280, 3)
    # scale = sqrt(644² / (1280·720)) = 0.6708; 1280·s/28 = 30.67 -> 31·28 = 868; 720·s/28 = 17.25 -> 17·28 = 476
    assert node("Width and height for scaling image to ideal resolution 🪴")(
        ctx, image=image, target_size=644, multiple_of=28) == (868, 476)
    assert node("Width and height from aspect ratio 🪴")(ctx, aspect_ratio="16:9", target_size=1024,
                                                       multiple_of=8) == (1368, 768)
    assert node("Incrementer 🪴")(ctx, current_index=23, max=10) == (1,)
    assert node("Incrementer 🪴")(ctx, current_index=23, max=0) == (23,)
