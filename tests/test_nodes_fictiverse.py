"""ComfyUI_Fictiverse's Resize To Megapixels and Audio Duration, against the pack's arithmetic
worked out by hand."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def test_resize_to_megapixels_rounds_each_side_to_the_multiple():
    ctx = ExecContext()
    # 1 MP (10^6 px) at 16:9: h = sqrt(10^6 / (16/9)) = 750, w = 1333.33 -> 1328 (83 x 16), 752 (47 x 16)
    assert node("Resize To Megapixels")(ctx, width=1920, height=1080, megapixels=1.0, multiple_of=16) == (1328, 752)
    # square: 1000 x 1000 at multiple 64 -> 1000/64 = 15.625 -> 16 x 64 = 1024
    assert node("Resize To Megapixels")(ctx, width=512, height=512, megapixels=1.0, multiple_of=64) == (1024, 1024)
    # halves go to even (Python's round): 0.5 MP of 1:2 -> h = 1000, w = 500; 500 / 200 = 2.5 -> 2 -> 400
    assert node("Resize To Megapixels")(ctx, width=100, height=200, megapixels=0.5, multiple_of=200) == (400, 1000)


def test_the_spec_takes_the_packs_defaults():
    assert node("Resize To Megapixels")(ExecContext(), width=1024, height=1024) == (1024, 1024)  # 1 MP, multiple 64


def test_audio_duration_truncates_to_milliseconds():
    audio = {"waveform": torch.zeros(1, 2, 44100 * 2 + 30), "sample_rate": 44100}  # 2.00068 s
    assert node("Audio Duration")(ExecContext(), audio=audio) == (2000, 2.0)
    with pytest.raises(NodeInputError) as err:
        node("Audio Duration")(ExecContext(), audio=torch.zeros(3))
    assert err.value.input_name == "audio"
