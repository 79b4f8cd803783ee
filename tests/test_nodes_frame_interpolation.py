"""RIFE VFI (ComfyUI-Frame-Interpolation) on wfrun's IFNet with random weights in the real
key layout of rife49 (4.7), rife417 and rife426."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.rife import ARCHS, IFNet, load_ifnet, scale_list, tiny_ifnet_state_dict, warp
from wfrun.models.tiny_upscale import save_weights
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    save_weights(tiny_ifnet_state_dict("4.7"), root / "rife" / "rife49.pth")
    save_weights(tiny_ifnet_state_dict("4.26"), root / "rife" / "rife426.pth")
    return root


@pytest.fixture
def ctx(models, tmp_path):
    return ExecContext(models=ModelRoots((models,)), output_dir=tmp_path)


@pytest.mark.parametrize("n, multiplier", [(3, 2), (2, 3)])
def test_frame_count_and_originals_kept_in_place(ctx, n, multiplier):
    frames = torch.rand(n, 24, 40, 3)
    (out,) = node("RIFE VFI")(ctx, ckpt_name="rife49.pth", frames=frames, multiplier=multiplier)
    assert out.shape == ((n - 1) * multiplier + 1, 24, 40, 3) and out.dtype == torch.float32
    assert torch.equal(out[::multiplier], frames)  # bit for bit, as the pack copies them
    assert 0 <= float(out.min()) and float(out.max()) <= 1


def test_multiplier_one_returns_the_frames(ctx):
    frames = torch.rand(3, 16, 16, 3)
    (out,) = node("RIFE VFI")(ctx, ckpt_name="rife49.pth", frames=frames, multiplier=1)
    assert torch.equal(out, frames)


def test_middle_frames_are_the_networks_output_and_batching_changes_nothing(ctx, models):
    frames = torch.rand(2, 20, 20, 3)
    (one,) = node("RIFE VFI")(ctx, ckpt_name="rife49.pth", frames=frames, multiplier=3, batch_size=1)
    (two,) = node("RIFE VFI")(ctx, ckpt_name="rife49.pth", frames=frames, multiplier=3, batch_size=2)
    assert torch.allclose(one, two, atol=1e-5)
    net = load_ifnet(tiny_ifnet_state_dict("4.7"))
    pixels = frames.movedim(-1, 1)
    with torch.no_grad():
        mid = net(pixels[:1], pixels[1:], torch.tensor([1 / 3]), scale_list("4.7", 1.0))
    assert torch.allclose(one[1], mid[0].movedim(0, -1), atol=1e-5)


def test_the_426_architecture_runs(ctx):
    frames = torch.rand(2, 16, 24, 3)
    (out,) = node("RIFE VFI")(ctx, ckpt_name="rife426.pth", frames=frames, multiplier=2)
    assert out.shape == (3, 16, 24, 3)


def test_identical_frames_interpolate_to_themselves():
    """A still scene: zero flow or not, warping and blending one image gives it back."""
    net = load_ifnet(tiny_ifnet_state_dict("4.17"))
    image = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        zero = warp(image, torch.zeros(1, 2, 16, 16))
    assert torch.allclose(zero, image, atol=1e-5)
    assert isinstance(net, IFNet) and net.arch.name == "4.17"


@pytest.mark.parametrize("arch, params", [("4.7", 5_325_012), ("4.17", 5_364_312), ("4.26", 5_664_776)])
def test_release_width_layouts_load(arch, params):
    """At the release's widths, the key layout and sizes of rife49/417/426 (Practical-RIFE's
    IFNet: ``block{i}.conv0``, ``convblock`` of ResConvs with ``beta``, ``lastconv``,
    ``encode``)."""
    state = tiny_ifnet_state_dict(arch, width=None)
    assert sum(v.numel() for v in state.values()) == params
    assert {"block0.conv0.0.0.weight", "block0.convblock.7.beta", "block0.lastconv.0.weight"} <= set(state)
    net = load_ifnet(state)
    assert net.arch.widths == ARCHS[arch].widths


def test_one_frame_comes_back_alone(ctx):
    # the pack's loop runs over pairs and then appends the last frame: one frame in, that frame out
    frame = torch.rand(1, 8, 8, 3)
    (out,) = node("RIFE VFI")(ctx, ckpt_name="rife49.pth", frames=frame, multiplier=4)
    assert torch.equal(out, frame)


def test_bad_inputs_are_named(ctx, models):
    with pytest.raises(NodeInputError) as err:
        node("RIFE VFI")(ctx, ckpt_name="rife49.pth", frames=torch.rand(0, 8, 8, 3))
    assert err.value.input_name == "frames"
    with pytest.raises(NodeInputError) as err:
        node("RIFE VFI")(ctx, ckpt_name="rife47.pth", frames=torch.rand(2, 8, 8, 3))
    assert err.value.input_name == "ckpt_name"  # not in the models folder
    save_weights({"encode.0.weight": torch.zeros(1)}, models / "rife" / "rife417.pth")
    with pytest.raises(NodeInputError) as err:
        node("RIFE VFI")(ctx, ckpt_name="rife417.pth", frames=torch.rand(2, 8, 8, 3))
    assert "RIFE" in str(err.value)


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_hostile_checkpoint_is_refused_and_runs_no_code(ctx, models, capfd):
    torch.save({"block0.conv0.0.0.weight": torch.zeros(1), "x": Payload()}, models / "rife" / "rife47.pth")
    with pytest.raises(NodeInputError) as err:
        node("RIFE VFI")(ctx, ckpt_name="rife47.pth", frames=torch.rand(2, 8, 8, 3))
    assert "weights-only" in str(err.value)
    assert "must never run" not in capfd.readouterr().out


# --- the end of a workflow: upscale, then interpolate, through `wfrun run` -------------------
