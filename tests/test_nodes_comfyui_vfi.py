"""GACLove/ComfyUI-VFI's ``RIFEInterpolation``: frames chosen by time as the pack's
``_calculate_target_frame_positions`` does (worked out by hand below), frames that fall on a
source frame copied, the others made by Practical-RIFE 4.25's IFNet on frames padded to a
multiple of 128 (not clipped), blocks at ``[16, 8, 4, 2, 1] / scale``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.rife import load_ifnet, tiny_ifnet_state_dict
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfyui_vfi.nodes import frame_positions


@pytest.fixture(scope="module")
def state():
    return tiny_ifnet_state_dict("4.26", seed=5)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, state) -> ExecContext:
    root = tmp_path_factory.mktemp("models")
    (root / "rife").mkdir()
    # a training save, as Practical-RIFE releases it: every key under module.
    torch.save({f"module.{k}": v for k, v in state.items()}, root / "rife" / "flownet.pkl")
    torch.save({"module.encode.cnn0.weight": torch.zeros(4, 3, 3, 3)}, root / "rife" / "broken.pkl")
    return ExecContext(models=ModelRoots((root,)))


def test_frame_positions_follow_the_clip_time():
    # 4 frames at 2 fps last 2 s: 3 frames at 1.5 fps (int(3.0)), at source positions 0, 4/3, 8/3
    got = frame_positions(4, 2.0, 1.5)
    assert [(a, b) for a, b, _ in got] == [(0, 1), (1, 2), (2, 3)]
    assert got[0][2] == 0.0 and got[1][2] == pytest.approx(1 / 3) and got[2][2] == pytest.approx(2 / 3)
    # 3 frames 10 -> 20 fps: 6 frames at positions 0, .5, 1, 1.5, 2, 2.5; the last pairs frame 2 with itself
    got = frame_positions(3, 10.0, 20.0)
    assert got == [(0, 1, 0.0), (0, 1, 0.5), (1, 2, 0.0), (1, 2, 0.5), (2, 2, 0.0), (2, 2, 0.0)]


def test_new_frames_are_ifnet_frames_of_the_padded_unclipped_pair(ctx, state):
    torch.manual_seed(0)
    images = torch.rand(3, 40, 72, 3) * 1.2 - 0.1  # values past 0..1: the pack does not clip them
    (out,) = node("RIFEInterpolation")(ctx, images=images, source_fps=10.0, target_fps=20.0, scale=1.0,
                                       model_name="flownet.pkl", use_fp16=False)
    assert out.shape == (6, 40, 72, 3)
    for k, src in ((0, 0), (2, 1), (4, 2), (5, 2)):
        assert torch.equal(out[k], images[src])
    net = load_ifnet(state)
    pad = (0, 128 - 72, 0, 128 - 40)
    for k, (a, b) in ((1, (0, 1)), (3, (1, 2))):
        f0 = F.pad(images[a].permute(2, 0, 1)[None], pad)
        f1 = F.pad(images[b].permute(2, 0, 1)[None], pad)
        expected = net(f0, f1, torch.tensor(0.5), [16, 8, 4, 2, 1], clamp=False)[0, :, :40, :72].permute(1, 2, 0)
        assert torch.allclose(out[k], expected, atol=1e-6)
    clipped = net(F.pad(images[0].clamp(0, 1).permute(2, 0, 1)[None], pad),
                  F.pad(images[1].clamp(0, 1).permute(2, 0, 1)[None], pad), 0.5, [16, 8, 4, 2, 1])
    assert not torch.allclose(out[1], clipped[0, :, :40, :72].permute(1, 2, 0))


def test_scale_changes_padding_and_block_scales(ctx, state):
    images = torch.rand(2, 16, 16, 3)
    (out,) = node("RIFEInterpolation")(ctx, images=images, source_fps=1.0, target_fps=2.0, scale=0.5,
                                       model_name="flownet.pkl")
    net = load_ifnet(state)
    pad = (0, 256 - 16, 0, 256 - 16)  # max(128, int(128 / 0.5))
    f0, f1 = (F.pad(images[i].permute(2, 0, 1)[None], pad) for i in (0, 1))
    expected = net(f0, f1, torch.tensor(0.5), [32, 16, 8, 4, 2], clamp=False)[0, :, :16, :16].permute(1, 2, 0)
    assert out.shape[0] == 4 and torch.allclose(out[1], expected, atol=1e-6)


def test_equal_rates_give_the_images_back_without_a_model(ctx):
    images = torch.rand(2, 8, 8, 3)
    (out,) = node("RIFEInterpolation")(ctx, images=images, source_fps=24.0, target_fps=24.005, scale=1.0,
                                       model_name="missing.pkl")
    assert out is images


@pytest.mark.parametrize("inputs, name", [({"model_name": "broken.pkl"}, "model_name"),
                                          ({"model_name": "flownet.pth"}, "model_name"),
                                          ({"source_fps": 0.0}, "source_fps"),
                                          ({"images": torch.rand(2, 8, 8, 4)}, "images")])
def test_bad_inputs_are_input_errors(ctx, inputs, name):
    args = {"images": torch.rand(2, 8, 8, 3), "source_fps": 10.0, "target_fps": 20.0, "scale": 1.0,
            "model_name": "flownet.pkl", **inputs}
    with pytest.raises(NodeInputError) as err:
        node("RIFEInterpolation")(ctx, **args)
    assert err.value.input_name == name
