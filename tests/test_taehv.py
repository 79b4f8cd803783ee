"""TAEHV (the WanVideoWrapper's tiny VAE): frame and size arithmetic as the architecture
documents it, the released key layout read from a safetensors file, numbers checked against
plain-torch references written here, and the loader/decode/encode nodes end to end."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.taehv import (TAEHV, MemBlock, TaehvError, TGrow, TPool, load_taehv, taehv_from_state_dict,
                                tiny_taehv_state_dict)
from wfrun.models.tiny_upscale import save_weights
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import TinyVAE


@pytest.fixture(scope="module")
def model() -> TAEHV:
    return taehv_from_state_dict(tiny_taehv_state_dict(16, seed=1)).double()


# --- frame and size arithmetic -------------------------------------------------------------

@pytest.mark.parametrize("frames, latents", [(1, 1), (4, 1), (5, 2), (8, 2), (9, 3), (17, 5)])
def test_encode_gives_one_latent_per_four_frames_rounding_up(model, frames, latents):
    z = model.encode_video(torch.rand(1, frames, 3, 32, 48, dtype=torch.float64))
    assert z.shape == (1, latents, 16, 4, 6)


@pytest.mark.parametrize("latents", [1, 2, 5])
def test_decode_gives_4t_minus_3_frames_at_8x(model, latents):
    x = model.decode_video(torch.randn(1, latents, 16, 3, 5, dtype=torch.float64))
    assert x.shape == (1, 4 * (latents - 1) + 1, 3, 24, 40)
    assert x.min() >= 0 and x.max() <= 1


def test_wan_frame_counts_round_trip(model):
    """4n+1 frames -> n+1 latents -> 4n+1 frames, as the real Wan VAE."""
    video = torch.rand(1, 13, 3, 16, 16, dtype=torch.float64)
    assert model.decode_video(model.encode_video(video)).shape == video.shape


def test_taew2_2_has_48_channels_and_16x_space():
    wan22 = taehv_from_state_dict(tiny_taehv_state_dict(48, seed=2))
    z = wan22.encode_video(torch.rand(1, 5, 3, 32, 64))
    assert z.shape == (1, 2, 48, 2, 4)
    assert wan22.decode_video(z).shape == (1, 5, 3, 32, 64)


def test_padding_repeats_the_last_frame(model):
    """A count that is not a multiple of 4 is padded with copies of the last frame."""
    video = torch.rand(1, 5, 3, 16, 16, dtype=torch.float64)
    padded = torch.cat([video, video[:, -1:].repeat(1, 3, 1, 1, 1)], 1)
    torch.testing.assert_close(model.encode_video(video), model.encode_video(padded))


def test_chunked_equals_all_at_once(model):
    video = torch.rand(1, 9, 3, 16, 24, dtype=torch.float64)
    z = model.encode_video(video, parallel=True)
    torch.testing.assert_close(model.encode_video(video, parallel=False), z)
    torch.testing.assert_close(model.decode_video(z, parallel=False), model.decode_video(z, parallel=True))


def test_causal_in_time(model):
    """Changing the last latent changes no earlier decoded frame (memory only flows forward)."""
    z = torch.randn(1, 3, 16, 2, 2, dtype=torch.float64)
    changed = z.clone()
    changed[:, -1] += 1.0
    a, b = model.decode_video(z), model.decode_video(changed)
    torch.testing.assert_close(a[:, :5], b[:, :5])  # frames of latents 0 and 1
    assert not torch.allclose(a[:, 5:], b[:, 5:])


# --- independent references ----------------------------------------------------------------

def test_memblock_matches_plain_torch():
    torch.manual_seed(0)
    block = MemBlock(4, 6).double()
    x, past = torch.randn(3, 4, 5, 5, dtype=torch.float64), torch.randn(3, 4, 5, 5, dtype=torch.float64)
    sd = block.state_dict()
    h = torch.cat([x, past], 1)
    h = F.relu(F.conv2d(h, sd["conv.0.weight"], sd["conv.0.bias"], padding=1))
    h = F.relu(F.conv2d(h, sd["conv.2.weight"], sd["conv.2.bias"], padding=1))
    h = F.conv2d(h, sd["conv.4.weight"], sd["conv.4.bias"], padding=1)
    expected = F.relu(h + F.conv2d(x, sd["skip.weight"]))
    torch.testing.assert_close(block(x, past), expected)


def test_tpool_and_tgrow_order_frames_as_channel_blocks():
    torch.manual_seed(0)
    pool, grow = TPool(3, 2).double(), TGrow(3, 2).double()
    frames = torch.randn(4, 3, 2, 2, dtype=torch.float64)
    wp = pool.conv.weight[:, :, 0, 0]  # [3, 6]: input channels = frame 0's 3, then frame 1's 3
    expected = torch.stack([torch.einsum("oc,chw->ohw", wp, torch.cat([frames[2 * i], frames[2 * i + 1]]))
                            for i in range(2)])
    torch.testing.assert_close(pool(frames), expected)
    wg = grow.conv.weight[:, :, 0, 0]  # [6, 3]: output rows = frame 0's 3, then frame 1's 3
    grown = grow(frames)
    for i in range(4):
        full = torch.einsum("oc,chw->ohw", wg, frames[i])
        torch.testing.assert_close(grown[2 * i], full[:3])
        torch.testing.assert_close(grown[2 * i + 1], full[3:])


def _reference_decode(sd: dict, latents: torch.Tensor) -> torch.Tensor:
    """A frame-by-frame decoder from the state dict alone: each latent walks the layers, a
    MemBlock remembers its previous input, a TGrow splits into frames that continue in order;
    the first 3 frames are dropped. Layer indices as in the released files."""
    mem_blocks = {3, 4, 5, 9, 10, 11, 15, 16, 17}
    grows = {7: 1, 13: 2, 19: 2}
    memory: dict[int, torch.Tensor] = {}
    out: list[torch.Tensor] = []

    def memblock(i, x):
        past = memory.get(i, torch.zeros_like(x))
        memory[i] = x
        h = torch.cat([x, past], 1)
        h = F.relu(F.conv2d(h, sd[f"decoder.{i}.conv.0.weight"], sd[f"decoder.{i}.conv.0.bias"], padding=1))
        h = F.relu(F.conv2d(h, sd[f"decoder.{i}.conv.2.weight"], sd[f"decoder.{i}.conv.2.bias"], padding=1))
        h = F.conv2d(h, sd[f"decoder.{i}.conv.4.weight"], sd[f"decoder.{i}.conv.4.bias"], padding=1)
        return F.relu(h + x)

    def walk(i, x):
        if i == 23:
            out.append(x)
        elif i == 0:
            walk(1, 3 * torch.tanh(x / 3))
        elif i in (1, 22):
            walk(i + 1, F.conv2d(x, sd[f"decoder.{i}.weight"], sd[f"decoder.{i}.bias"], padding=1))
        elif i in (2, 21):
            walk(i + 1, F.relu(x))
        elif i in mem_blocks:
            walk(i + 1, memblock(i, x))
        elif i in (6, 12, 18):
            walk(i + 1, F.interpolate(x, scale_factor=2, mode="nearest"))
        elif i in grows:
            y = F.conv2d(x, sd[f"decoder.{i}.conv.weight"])
            for k in range(grows[i]):
                walk(i + 1, y[:, k * x.shape[1]:(k + 1) * x.shape[1]])
        else:  # 8, 14, 20: bias-free 3x3 convs
            walk(i + 1, F.conv2d(x, sd[f"decoder.{i}.weight"], padding=1))

    for t in range(latents.shape[1]):
        walk(0, latents[:, t])
    return torch.stack(out, 1)[:, 3:].clamp(0, 1)


def test_decoder_matches_frame_by_frame_reference():
    sd = {k: v.double() for k, v in tiny_taehv_state_dict(16, seed=5).items()}
    model = taehv_from_state_dict(sd).double()
    z = torch.randn(1, 3, 16, 3, 4, dtype=torch.float64)
    torch.testing.assert_close(model.decode_video(z), _reference_decode(sd, z))


# --- the released key layout ---------------------------------------------------------------

def test_release_widths_have_the_released_shapes():
    shapes = {k: tuple(v.shape) for k, v in TAEHV().state_dict().items()}
    assert shapes["encoder.0.weight"] == (64, 3, 3, 3)
    assert shapes["encoder.2.conv.weight"] == (64, 128, 1, 1)   # TPool(64, 2)
    assert shapes["encoder.12.conv.weight"] == (64, 64, 1, 1)   # TPool(64, 1)
    assert shapes["encoder.4.conv.0.weight"] == (64, 128, 3, 3)  # MemBlock sees x and past
    assert shapes["encoder.17.weight"] == (16, 64, 3, 3)
    assert shapes["decoder.1.weight"] == (256, 16, 3, 3)
    assert shapes["decoder.13.conv.weight"] == (256, 128, 1, 1)  # TGrow(128, 2)
    assert shapes["decoder.22.weight"] == (3, 64, 3, 3)
    assert not any(".skip." in k for k in shapes)  # every MemBlock keeps its width: identity skip
    assert len(shapes) == len(set(tiny_taehv_state_dict(16)))


def test_loads_from_a_safetensors_file_in_the_released_layout(tmp_path):
    state = {k: v.half() for k, v in tiny_taehv_state_dict(16, seed=3, first_grow_stride=2).items()}
    path = save_weights(state, tmp_path / "taew2_1.safetensors")
    model = load_taehv(path, dtype=torch.float32)
    assert model.latent_channels == 16 and model.dtype == torch.float32
    loaded = model.state_dict()
    torch.testing.assert_close(loaded["decoder.1.weight"], state["decoder.1.weight"].float())
    rows = loaded["decoder.7.conv.weight"].shape[0]  # a stride-2 first TGrow: its last frame's rows kept
    torch.testing.assert_close(loaded["decoder.7.conv.weight"], state["decoder.7.conv.weight"][-rows:].float())


def test_a_file_of_another_layout_is_refused(tmp_path):
    path = save_weights({"decoder.conv_in.weight": torch.zeros(2, 2)}, tmp_path / "other.safetensors")
    with pytest.raises(TaehvError):
        load_taehv(path)


# --- the nodes ---------------------------------------------------------------------------

@pytest.fixture
def ctx(tmp_path):
    save_weights({k: v.half() for k, v in tiny_taehv_state_dict(16, seed=4).items()},
                 tmp_path / "vae_approx" / "taew2_1.safetensors")
    return ExecContext(models=ModelRoots((tmp_path,)), output_dir=tmp_path, device="cpu", offload_device="cpu")


def test_loader_decode_and_encode_nodes(ctx):
    (vae,) = node("WanVideoTinyVAELoader")(ctx, model_name="taew2_1.safetensors", precision="fp32", parallel=False)
    assert isinstance(vae, TinyVAE) and vae.dtype == torch.float32
    latents = torch.randn(1, 16, 3, 4, 6)
    (images,) = node("WanVideoDecode")(ctx, vae=vae, samples={"samples": latents})
    assert images.shape == (9, 32, 48, 3) and images.dtype == torch.float32
    expected = vae.model.decode_video(latents[0].movedim(0, 1)[None], parallel=False)[0].permute(0, 2, 3, 1)
    torch.testing.assert_close(images, expected)
    (encoded,) = node("WanVideoEncode")(ctx, vae=vae, image=images)
    assert encoded["samples"].shape == (1, 16, 3, 4, 6)
    direct = vae.model.encode_video(images.permute(0, 3, 1, 2)[None], parallel=False).movedim(2, 1)  # 0..1 frames in, as the pack
    torch.testing.assert_close(encoded["samples"], direct)


def test_decode_refuses_latents_of_the_other_wan(ctx):
    (vae,) = node("WanVideoTinyVAELoader")(ctx, model_name="taew2_1.safetensors", precision="fp32", parallel=True)
    with pytest.raises(NodeInputError):
        node("WanVideoDecode")(ctx, vae=vae, samples={"samples": torch.randn(1, 48, 2, 2, 2)})


def test_smoke_standin_is_a_loadable_taew_of_the_named_wan(tmp_path):
    from wfrun.models.standins import family_for, write_standins

    standins = [family_for("WanVideoTinyVAELoader", "model_name", "vae_approx", name)
                for name in ("taew2_1.safetensors", "taew2_2.safetensors")]
    root = write_standins(standins, tmp_path / "tiny", cache=tmp_path / "cache")
    assert load_taehv(root / "vae_approx" / "taew2_1.safetensors").latent_channels == 16
    assert load_taehv(root / "vae_approx" / "taew2_2.safetensors").latent_channels == 48
