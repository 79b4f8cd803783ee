"""FILM VFI (ComfyUI-Frame-Interpolation) on wfrun's FILM network, with a tiny random
film_net in the release's layout, written as the release is: a TorchScript archive."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from node_helpers import node
from wfrun.models.film import (TINY_CONFIG, FilmConfig, FilmNet, film_config, image_pyramid, is_film_state_dict,
                               load_film, normalise_layout, read_film_state_dict, warp)
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelRoots
from wfrun.models.preflight import check_model_file
from wfrun.models.reader import PickleRefused
from wfrun.models.rife import tiny_ifnet_state_dict
from wfrun.models.tiny_film import tiny_film, write_tiny_film
from wfrun.models.tiny_upscale import save_weights
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.frame_interpolation.film_nodes import bisection_schedule, effective_times


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    write_tiny_film(root / "film" / "film_net_fp32.pt", seed=0)
    write_tiny_film(root / "film" / "film_copy.safetensors", seed=0)
    save_weights(tiny_ifnet_state_dict("4.7"), root / "film" / "rife49.pth")
    return root


@pytest.fixture
def ctx(models, tmp_path):
    return ExecContext(models=ModelRoots((models,)), output_dir=tmp_path)


def _net(frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
    """The tiny network's frame between two [H, W, 3] frames, clamped, as [H, W, 3]."""
    with torch.no_grad():
        out = tiny_film(0)(frame0.movedim(-1, 0)[None], frame1.movedim(-1, 0)[None], torch.full((1, 1), 0.5))
    return out.clamp(0, 1)[0].movedim(0, -1)


# --- pieces against formulas --------------------------------------------------------------


def _bilinear_border(image: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """Sample [C, H, W] at pixel (x, y), bilinearly, coordinates clamped to the image."""
    _, h, w = image.shape
    x, y = min(max(x, 0.0), w - 1.0), min(max(y, 0.0), h - 1.0)
    x0, y0 = math.floor(x), math.floor(y)
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    ax, ay = x - x0, y - y0
    return ((1 - ay) * ((1 - ax) * image[:, y0, x0] + ax * image[:, y0, x1])
            + ay * ((1 - ax) * image[:, y1, x0] + ax * image[:, y1, x1]))


def test_backward_warp_samples_each_pixel_at_its_flow():
    torch.manual_seed(0)
    image = torch.rand(1, 2, 5, 7, dtype=torch.float64)
    flow = torch.randn(1, 2, 5, 7, dtype=torch.float64) * 2.5  # some past the border
    got = warp(image, flow)
    for y in range(5):
        for x in range(7):
            want = _bilinear_border(image[0], x + float(flow[0, 0, y, x]), y + float(flow[0, 1, y, x]))
            assert torch.allclose(got[0, :, y, x], want, atol=1e-12), (x, y)
    shift = torch.zeros(1, 2, 5, 7, dtype=torch.float64)
    shift[:, 0] = 1.0  # read one pixel to the right: a plain shift, the edge repeated
    assert torch.allclose(warp(image, shift)[..., :-1], image[..., 1:], atol=1e-12)


def test_image_pyramid_is_repeated_two_by_two_means():
    image = torch.rand(1, 3, 128, 90, dtype=torch.float64)
    pyramid = image_pyramid(image, 7)
    assert [tuple(p.shape[2:]) for p in pyramid] == [(128, 90), (64, 45), (32, 22), (16, 11), (8, 5), (4, 2), (2, 1)]
    level = image
    for expected in pyramid[1:4]:
        h, w = level.shape[2] // 2 * 2, level.shape[3] // 2 * 2
        level = level[..., :h, :w].reshape(1, 3, h // 2, 2, w // 2, 2).mean(dim=(3, 5))  # floor sizes
        assert torch.allclose(expected, level, atol=1e-12)


def test_the_two_by_two_fusion_convolution_is_pytorch_same_padding():
    """The 2x2 convolutions are ``padding='same'`` in the release (PyTorch puts the extra row
    and column after); wfrun pads explicitly, with the same result."""
    net = tiny_film(0)
    up = net.fuse.convs[0][0]
    same = nn.Conv2d(up.in_channels, up.out_channels, 2, padding="same")
    same.load_state_dict(up.state_dict())
    x = torch.rand(1, up.in_channels, 9, 6)
    assert torch.allclose(same(x), up(F.pad(x, (0, 1, 0, 1))), atol=1e-6)


def test_release_widths_match_the_ports_channel_table():
    """The port's fusion lists its input widths (128, 202, 256, 522, 512, 1162, 1930, 2442):
    per level, finest first, the 2x2 convolution's and the first 3x3's."""
    net = FilmNet()
    widths = []
    for group in reversed(net.fuse.convs):
        widths += [group[0].in_channels, group[1][0].in_channels]
    assert widths == [128, 202, 256, 522, 512, 1162, 1930, 2442]
    state = net.state_dict()
    assert is_film_state_dict(state) and film_config(state) == FilmConfig()
    assert tuple(state["predict_flow._predictor._convs.0.0.weight"].shape) == (256, 1920, 3, 3)
    assert tuple(state["predict_flow._predictors.2._convs.0.0.weight"].shape) == (32, 128, 3, 3)
    assert tuple(state["predict_flow._predictor._convs.4.weight"].shape) == (2, 128, 1, 1)


# --- checkpoints ----------------------------------------------------------------------------


def test_traced_archive_and_reader_agree_bit_for_bit(models):
    """Consistency: the TorchScript file run by TorchScript (a file this test made) against
    wfrun's reader and module, at a size other than the traced one."""
    path = models / "film" / "film_net_fp32.pt"
    net = load_film(read_film_state_dict(path))
    x0, x1 = torch.rand(1, 3, 72, 100), torch.rand(1, 3, 72, 100)
    dt = torch.full((1, 1), 0.5)
    with torch.no_grad():
        assert torch.equal(torch.jit.load(str(path))(x0, x1, dt), net(x0, x1, dt))
    copy = read_film_state_dict(models / "film" / "film_copy.safetensors")
    assert all(torch.equal(copy[k], v) for k, v in net.state_dict().items())


def test_the_later_export_layout_loads_and_honours_time():
    """The port's 2023-11 export wraps the convolutions without activation in a Sequential
    too (``fuse.convs.K.0.0.weight``, ``_convs.4.0.weight``) and honours the time."""
    import re

    state = dict(tiny_film(0).state_dict())
    later = {re.sub(r"^(fuse\.convs\.\d+\.0|predict_flow\.(?:_predictor|_predictors\.\d+)\._convs\.4)\.(weight|bias)$",
                    r"\1.0.\2", k): v for k, v in state.items()}
    assert "fuse.convs.0.0.0.weight" in later and "predict_flow._predictor._convs.4.0.bias" in later
    assert normalise_layout(later) == (state, True) and normalise_layout(state) == (state, False)
    net, old = load_film(later), load_film(state)
    assert net.honours_time and not old.honours_time
    x0, x1 = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        half = net(x0, x1, torch.full((1, 1), 0.5))
        assert torch.equal(half, old(x0, x1, torch.full((1, 1), 0.9)))  # the release ignores the time
        assert not torch.allclose(half, net(x0, x1, torch.full((1, 1), 0.9)))


def test_preflight_reads_the_archive_as_data_only_for_torchscript_loaders(models, tmp_path):
    path = models / "film" / "film_net_fp32.pt"
    assert check_model_file(path, "film", torchscript=True).kind == "unknown"
    with pytest.raises(PickleRefused):
        check_model_file(path, "film", allow_pickle=False)
    saved = tmp_path / "state.pt"  # a torch.save pickle under the same loader: still refused
    torch.save(dict(tiny_film(0).state_dict()), saved)
    with pytest.raises(PickleRefused):
        check_model_file(saved, "film", allow_pickle=False, torchscript=True)


def test_a_rife_file_is_not_film(models):
    with pytest.raises(ValueError, match="not a FILM"):
        load_film(read_film_state_dict(models / "film" / "rife49.pth"))


# --- the node ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n, multiplier", [(3, 2), (2, 4)])
def test_frame_count_originals_and_middle_frames(ctx, n, multiplier):
    frames = torch.rand(n, 64, 72, 3)
    (out,) = node("FILM VFI")(ctx, ckpt_name="film_net_fp32.pt", frames=frames, multiplier=multiplier)
    assert out.shape == ((n - 1) * multiplier + 1, 64, 72, 3) and out.dtype == torch.float32
    assert torch.equal(out[::multiplier], frames)  # bit for bit
    half = multiplier // 2
    assert torch.allclose(out[half], _net(frames[0], frames[1]), atol=1e-5)
    if multiplier == 4:  # bisection: the quarter frames come from the made middle frame
        assert torch.allclose(out[1], _net(frames[0], out[2]), atol=1e-5)
        assert torch.allclose(out[3], _net(out[2], frames[1]), atol=1e-5)


def test_multiplier_three_follows_the_packs_bisection(ctx):
    """The pack makes position 2 (t=2/3, nearest the middle in float32) from the two frames,
    then position 1 between frame 0 and it; the release network makes midpoints."""
    frames = torch.rand(2, 64, 64, 3)
    (out,) = node("FILM VFI")(ctx, ckpt_name="film_net_fp32.pt", frames=frames, multiplier=3)
    assert out.shape[0] == 4 and torch.equal(out[0], frames[0]) and torch.equal(out[3], frames[1])
    assert torch.allclose(out[2], _net(frames[0], frames[1]), atol=1e-5)
    assert torch.allclose(out[1], _net(frames[0], out[2]), atol=1e-5)


def test_a_list_multiplier_gives_one_per_pair(ctx):
    frames = torch.rand(3, 64, 64, 3)
    (out,) = node("FILM VFI")(ctx, ckpt_name="film_copy.safetensors", frames=frames, multiplier=[3, 1])
    assert out.shape[0] == 3 + 1 + 1 and torch.equal(out[[0, 3, 4]], frames)


@pytest.mark.parametrize("multiplier", [2, 4, 8, 16])
def test_powers_of_two_land_on_k_over_multiplier(multiplier):
    schedule = bisection_schedule(multiplier - 1)
    assert all(dt == 0.5 for *_, dt in schedule)
    assert effective_times(multiplier - 1) == [k / multiplier for k in range(1, multiplier)]


@pytest.mark.parametrize("inbetweens", [1, 2, 4, 6, 11])
def test_each_frame_is_made_once_from_made_neighbours(inbetweens):
    made = {0, inbetweens + 1}
    for new, left, right, dt in bisection_schedule(inbetweens):
        assert left in made and right in made and left < new < right and new not in made
        assert not any(left < m < right for m in made)  # nearest made neighbours
        assert math.isclose(dt, (new - left) / (right - left), rel_tol=1e-6)
        made.add(new)
    assert made == set(range(inbetweens + 2))
    assert effective_times(2) == [0.25, 0.5] and effective_times(2, midpoint=False) == pytest.approx([1 / 3, 2 / 3])


def test_one_frame_comes_back_alone(ctx):
    # the pack's loop runs over pairs, then appends the last frame: one frame in, that frame out
    frame = torch.rand(1, 64, 64, 3)
    (out,) = node("FILM VFI")(ctx, ckpt_name="film_net_fp32.pt", frames=frame, multiplier=3)
    torch.testing.assert_close(out, frame)


def test_bad_inputs_are_named(ctx):
    run = node("FILM VFI")
    with pytest.raises(NodeInputError) as err:
        run(ctx, ckpt_name="film_net_fp32.pt", frames=torch.rand(0, 64, 64, 3))
    assert err.value.input_name == "frames"
    with pytest.raises(NodeInputError) as err:
        run(ctx, ckpt_name="film_net_fp32.pt", frames=torch.rand(2, 64, 64, 3), optional_interpolation_states=[1])
    assert err.value.input_name == "optional_interpolation_states"
    with pytest.raises(NodeInputError) as err:
        run(ctx, ckpt_name="rife49.pth", frames=torch.rand(2, 64, 64, 3))
    assert err.value.input_name == "ckpt_name" and "not a FILM" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        run(ctx, ckpt_name="absent.pt", frames=torch.rand(2, 64, 64, 3))
    assert err.value.input_name == "ckpt_name"


def test_a_hostile_archive_in_the_film_folder_is_refused_and_runs_nothing(ctx, models, tmp_path):
    import os
    import pickle
    import zipfile

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = models / "film" / "evil.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/data.pkl", pickle.dumps(Evil(), protocol=2))
        zf.writestr("evil/code/__torch__.py", "")
    with pytest.raises(NodeInputError) as err:
        node("FILM VFI")(ctx, ckpt_name="evil.pt", frames=torch.rand(2, 64, 64, 3))
    assert err.value.input_name == "ckpt_name" and "system" in str(err.value)
    with pytest.raises(CheckpointError):
        check_model_file(path, "film", torchscript=True)
    assert not marker.exists()


def test_smoke_stand_in_is_a_tiny_torchscript_film(tmp_path):
    from wfrun.models.standins import family_for, write_standins

    standin = family_for("FILM VFI", "ckpt_name", "film", "film_net_fp32.pt")
    assert standin.family.kind == "film" and standin.relpath == "film/film_net_fp32.pt"
    folder = write_standins([standin], tmp_path / "tiny", cache=tmp_path / "cache")
    state = read_film_state_dict(folder / "film" / "film_net_fp32.pt")
    assert film_config(state) == TINY_CONFIG


def test_frames_under_the_pyramid_minimum_are_edge_padded_and_cropped_back(ctx):
    side = tiny_film(0).cfg.min_size
    g = torch.Generator().manual_seed(0)
    small = torch.rand(2, side - 16, side - 8, 3, generator=g)
    (out,) = node("FILM VFI")(ctx, ckpt_name="film_net_fp32.pt", frames=small, multiplier=2)
    assert out.shape == (3, side - 16, side - 8, 3)
    assert torch.equal(out[0], small[0]) and torch.equal(out[2], small[1])
    # the made frame is the edge-padded pair's, cropped back
    padded = F.pad(small.movedim(-1, 1), (0, 8, 0, 16), mode="replicate").movedim(1, -1)
    torch.testing.assert_close(out[1], _net(padded[0], padded[1])[:side - 16, :side - 8])
