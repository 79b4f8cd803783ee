"""wfrun's native ESRGAN (RRDBNet) and Real-ESRGAN compact upscalers, which run where
spandrel is not installed, against spandrel itself on the same tiny weights: the same scale,
input channels and output (padding and cropping included), in each key layout."""

from __future__ import annotations

import pytest
import torch

import spandrel  # the `upscale` extra: this suite runs where it is installed (see README)

from wfrun.models.tiny_upscale import tiny_compact_state_dict, tiny_esrgan_state_dict
from wfrun.models.upscale_native import load_native


def old_layout(sd, upsamples):
    """BasicSR names → the original ESRGAN repository's (``model.N``)."""
    blocks = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    names = {"conv_first": "model.0", "conv_body": f"model.1.sub.{blocks}",
             "conv_hr": f"model.{3 * upsamples + 2}", "conv_last": f"model.{3 * upsamples + 4}",
             **{f"conv_up{k}": f"model.{3 * k}" for k in range(1, upsamples + 1)}}
    out = {}
    for key, value in sd.items():
        module, kind = key.rsplit(".", 1)
        if module.startswith("body."):
            _, b, rdb, c = module.split(".")
            out[f"model.1.sub.{b}.RDB{rdb[3:]}.{c}.0.{kind}"] = value
        else:
            out[f"{names[module]}.{kind}"] = value
    return out


def compare(state, sizes=((8, 12), (9, 7), (1, 5))):
    theirs = spandrel.ModelLoader().load_from_state_dict({k: v.clone() for k, v in state.items()}).eval()
    ours = load_native(state, "tiny.pth")
    assert (ours.scale, ours.input_channels, ours.output_channels) == \
        (theirs.scale, theirs.input_channels, theirs.output_channels)
    assert ours.architecture.id == theirs.architecture.id
    for i, (h, w) in enumerate(sizes):
        image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            expected = theirs(image)
        got = ours(image)
        assert got.shape == expected.shape == (1, 3, h * ours.scale, w * ours.scale)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("upsamples,unshuffle", [(2, 1), (2, 2), (2, 4), (1, 1), (3, 1), (0, 1)])
@pytest.mark.parametrize("layout", ["new", "old"])
def test_rrdbnet_equals_spandrels(upsamples, unshuffle, layout):
    sd = tiny_esrgan_state_dict(blocks=2, upsamples=upsamples, unshuffle=unshuffle, seed=upsamples + unshuffle)
    compare(sd if layout == "new" else old_layout(sd, upsamples))


@pytest.mark.parametrize("scale,convs", [(4, 3), (2, 2), (1, 1)])
def test_compact_equals_spandrels(scale, convs):
    compare(tiny_compact_state_dict(scale=scale, convs=convs, seed=scale))
