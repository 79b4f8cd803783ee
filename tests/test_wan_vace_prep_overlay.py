"""FrameNumberOverlay: the label's place and colours checked on a grey frame: text pixels
only inside the box the corner and padding give, the fill colour present, an outline in
black, the rest the 8-bit frame unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def changed(out: torch.Tensor, frame: torch.Tensor) -> np.ndarray:
    base = np.floor(frame.numpy() * 255) / 255
    return np.abs(out.numpy() - base).max(axis=-1) > 1e-6


@pytest.mark.parametrize("position", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_label_sits_in_its_corner(position):
    frames = torch.full((2, 96, 160, 3), 0.3)
    (out,) = node("FrameNumberOverlay")(ExecContext(), images=frames, position=position, font_size=20,
                                        start_index=7, font_color="#ff0000", prefix="f", suffix="!")
    assert out.shape == frames.shape
    for i in range(2):
        ys, xs = np.nonzero(changed(out[i], frames[i]))
        assert len(ys) > 20
        # padding 10: the outline may reach one pixel further out
        if "left" in position:
            assert xs.min() >= 9 and xs.max() < 80
        else:
            assert xs.max() <= 160 - 10 and xs.min() > 80
        if "top" in position:
            assert ys.min() >= 9 and ys.max() < 48
        else:
            assert ys.max() <= 96 - 10 + 8 and ys.min() > 40  # the box's bottom ignores descender offsets
        pixels = out[i].numpy().reshape(-1, 3)
        assert np.any(np.all(np.isclose(pixels, [1, 0, 0]), axis=1))  # the fill
        assert np.any(np.all(pixels == 0, axis=1))  # the outline
    assert not torch.equal(out[0], out[1])  # "f7!" and "f8!" differ


def test_frames_pass_through_8_bits():
    frames = torch.full((1, 64, 64, 3), 0.3)
    (out,) = node("FrameNumberOverlay")(ExecContext(), images=frames)
    assert float(out[0, 63, 63, 0]) == pytest.approx(76 / 255)  # int(0.3 * 255) = 76


def test_unknown_colour_is_an_input_error():
    with pytest.raises(NodeInputError) as err:
        node("FrameNumberOverlay")(ExecContext(), images=torch.zeros(1, 32, 32, 3), font_color="nope")
    assert err.value.input_name == "font_color"
