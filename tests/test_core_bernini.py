"""ComfyUI's BerniniConditioning and the Wan forward's in-context streams (PR #14216).

The node's rules restated by hand: the zero latent's shape, the reference sizes (long edge
capped, sides snapped to 16 with Python's halves-to-even ``round``), the order of the
streams (source video, reference video, each image of each slot) and each stream as the
VAE encodes the resized pixels. The model side is checked against ComfyUI's RoPE rule
rebuilt from scratch (position ids per axis, the 1-D source rotation composed as 2x2
rotation matrices) on a tiny Wan 2.2 A14B transformer: each stream's tokens after the
video's, positions from 0, the source id's turn, cut before the head."""

from __future__ import annotations

import math

import pytest
import torch

from tests.node_helpers import node
from wfrun.media.image import upscale_image
from wfrun.models.families import WAN21
from wfrun.models.paths import ModelRoots
from wfrun.models.rope import turned_by_source
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.bernini import long_edge_size
from wfrun.sampling.forward import ForwardOptions, transformer_forward

T2V_A14B = "wan2.2_t2v_low_noise_14B_tiny_fp8_scaled.safetensors"


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def parts(ctx):
    (vae,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    (clip,) = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan", device="default")
    (pos,) = node("CLIPTextEncode")(ctx, text="make it night", clip=clip)
    (neg,) = node("CLIPTextEncode")(ctx, text="blur", clip=clip)
    return vae, pos, neg


def _encode(ctx, vae, pixels):
    return node("VAEEncode")(ctx, pixels=pixels, vae=vae)[0]["samples"]


# ---------------------------------------------------------------------------- the node

@pytest.mark.parametrize("height,width,max_size,want", [
    (1080, 1920, 848, (480, 848)),  # 848/1920 of 1080 = 477 -> 29.8 strides -> 30
    (100, 50, 848, (96, 48)),       # never enlarged: 6.25 and 3.125 strides -> 6 and 3
    (40, 72, 848, (32, 64)),        # 2.5 and 4.5 strides: halves round to even, 2 and 4
    (8, 8, 848, (16, 16)),          # at least one stride
])
def test_long_edge_size_by_hand(height, width, max_size, want):
    assert long_edge_size(height, width, max_size) == want


def test_nothing_connected_gives_the_zero_latent_and_untouched_prompts(ctx, parts):
    vae, pos, neg = parts
    p, n, latent = node("BerniniConditioning")(ctx, positive=pos, negative=neg, vae=vae, width=48, height=32,
                                               length=9, batch_size=2)
    assert latent["samples"].shape == (2, 16, 3, 4, 6) and not latent["samples"].any()
    assert "context_latents" not in p[0][1] and "context_latents" not in n[0][1]
    assert torch.equal(p[0][0], pos[0][0])


@torch.no_grad()
def test_streams_in_comfyui_order_each_encoded_alone(ctx, parts):
    vae, pos, neg = parts
    g = torch.Generator().manual_seed(3)
    source = torch.rand(7, 40, 56, 3, generator=g)     # 7 frames, the node keeps length=5
    moving = torch.rand(6, 24, 64, 3, generator=g)     # a wide clip: long edge 64 -> 32
    slot0 = torch.rand(1, 48, 32, 3, generator=g)      # a tall image: 48 -> 32 high, 21.3 -> 16 wide
    slot1 = torch.rand(2, 32, 32, 3, generator=g)      # two images in one slot: two streams
    p, n, latent = node("BerniniConditioning")(
        ctx, positive=pos, negative=neg, vae=vae, width=32, height=32, length=5, batch_size=1,
        source_video=source, reference_video=moving, ref_max_size=32,
        **{"reference_images.reference_image_1": slot1, "reference_images.reference_image_0": slot0})
    want = [
        _encode(ctx, vae, upscale_image(source[:5], 32, 32, "area", "center")),
        _encode(ctx, vae, upscale_image(moving[:5], 32, 16, "area")),   # 24x64 -> 12x32 -> 16x32 (16-snap)
        _encode(ctx, vae, upscale_image(slot0, 16, 32, "area")),
        _encode(ctx, vae, upscale_image(slot1[:1], 32, 32, "area")),
        _encode(ctx, vae, upscale_image(slot1[1:], 32, 32, "area")),
    ]
    streams = p[0][1]["context_latents"]
    assert [tuple(s.shape) for s in streams] == [(1, 16, 2, 4, 4), (1, 16, 2, 2, 4), (1, 16, 1, 4, 2),
                                                (1, 16, 1, 4, 4), (1, 16, 1, 4, 4)]
    for got, expected in zip(streams, want):
        torch.testing.assert_close(got, expected)
    assert n[0][1]["context_latents"] is streams or all(torch.equal(a, b) for a, b in
                                                         zip(n[0][1]["context_latents"], streams))
    assert latent["samples"].shape == (1, 16, 2, 4, 4)


def test_a_bad_reference_is_named(ctx, parts):
    vae, pos, neg = parts
    with pytest.raises(NodeInputError) as err:
        node("BerniniConditioning")(ctx, positive=pos, negative=neg, vae=vae, width=32, height=32, length=5,
                                    batch_size=1, **{"reference_images.reference_image_0": "cat.png"})
    assert err.value.input_name == "reference_images.reference_image_0"


# ---------------------------------------------------------------------------- RoPE by hand

def _rotation(angle: torch.Tensor) -> torch.Tensor:
    """2x2 rotation matrices ``[..., 2, 2]`` as ComfyUI's ``rope`` lays them out."""
    c, s = angle.cos(), angle.sin()
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def test_source_turn_is_the_composed_rotation():
    """ComfyUI multiplies each pair's rotation matrix by the source position's (head-wide
    frequencies); the tables turned here must hold that product's cos and sin."""
    dim, theta = 12, 10000.0
    angles = torch.rand(1, 5, 1, dim // 2, dtype=torch.float64) * 7
    cos, sin = angles.cos().repeat_interleave(2, -1).float(), angles.sin().repeat_interleave(2, -1).float()
    omega = theta ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    product = _rotation(angles) @ _rotation(3 * omega)
    c, s = turned_by_source(cos, sin, 3, theta)
    torch.testing.assert_close(c[..., 0::2].double(), product[..., 0, 0], atol=1e-6, rtol=0)
    torch.testing.assert_close(s[..., 0::2].double(), product[..., 1, 0], atol=1e-6, rtol=0)
    assert turned_by_source(cos, sin, 0)[0] is cos


def _comfy_tables(head_dim: int, grids: list[tuple[int, int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """ComfyUI's ``rope_encode`` for the video (source 0) and each stream (source i): ids
    from 0 on every axis of the grid, axes of ``d - 4(d//6)``, ``2(d//6)``, ``2(d//6)`` dims,
    theta 10000; a stream's pairs turned by its source id over the whole head."""
    theta = 10000.0
    axes = [head_dim - 4 * (head_dim // 6), 2 * (head_dim // 6), 2 * (head_dim // 6)]
    cos, sin = [], []
    for source, (t, h, w) in enumerate(grids):
        ids = torch.stack(torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij"), -1)
        ids = ids.reshape(-1, 3).double()
        angle = torch.cat([ids[:, a:a + 1] * theta ** (-torch.arange(0, n, 2, dtype=torch.float64) / n)
                           for a, n in enumerate(axes)], dim=1)
        angle = angle + source * theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        cos.append(angle.cos().repeat_interleave(2, -1))
        sin.append(angle.sin().repeat_interleave(2, -1))
    return torch.cat(cos).float().view(1, -1, 1, head_dim), torch.cat(sin).float().view(1, -1, 1, head_dim)


@torch.no_grad()
def test_forward_appends_streams_as_comfyui(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name=T2V_A14B, weight_dtype="default")
    tr = model.transformer  # float32 compute on the CPU
    g = torch.Generator().manual_seed(5)
    video = torch.randn(1, 16, 2, 4, 6, generator=g)
    streams = (torch.randn(1, 16, 2, 4, 6, generator=g), torch.randn(1, 16, 1, 6, 2, generator=g))
    t = torch.tensor([700.0])
    text = torch.randn(1, 512, tr.config.text_dim, generator=g)
    out, _ = transformer_forward(tr, video, t, text, None, ForwardOptions(context_latents=streams))

    # the reference: the same modules, tokens and tables assembled by hand
    head_dim = tr.config.attention_head_dim
    tokens = [tr.patch_embedding(x).flatten(2).transpose(1, 2) for x in (video, *streams)]
    x = torch.cat(tokens, dim=1)
    rotary = _comfy_tables(head_dim, [(2, 2, 3), (2, 2, 3), (1, 3, 1)])
    temb, proj, context, _ = tr.condition_embedder(t, text, None)
    proj = proj.unflatten(1, (6, -1))
    for block in tr.blocks:
        x = block(x, context, proj, rotary)
    x = x[:, :tokens[0].shape[1]]
    shift, scale = (tr.scale_shift_table + temb.unsqueeze(1)).chunk(2, dim=1)
    x = tr.proj_out(tr.norm_out(x) * (1 + scale) + shift)
    want = x.reshape(1, 2, 2, 3, 1, 2, 2, -1).permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(1, -1, 2, 4, 6)
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-4)
    plain, _ = transformer_forward(tr, video, t, text, None, ForwardOptions())
    assert not torch.allclose(out, plain, atol=1e-4)  # the streams reach the video's tokens
    assert math.isfinite(float(out.abs().max()))


# ---------------------------------------------------------------------------- sampling

@torch.no_grad()
def test_ksampler_with_bernini_streams(ctx, parts):
    vae, pos, neg = parts
    source = torch.rand(5, 32, 32, 3, generator=torch.Generator().manual_seed(2))
    p, n, latent = node("BerniniConditioning")(ctx, positive=pos, negative=neg, vae=vae, width=32, height=32,
                                               length=5, batch_size=1, source_video=source)
    (model,) = node("UNETLoader")(ctx, unet_name=T2V_A14B, weight_dtype="default")
    run = dict(model=model, seed=1, steps=2, cfg=2.0, sampler_name="euler", scheduler="simple", latent_image=latent,
               denoise=1.0)
    (out,) = node("KSampler")(ctx, positive=p, negative=n, **run)
    (plain,) = node("KSampler")(ctx, positive=pos, negative=neg, **run)
    assert out["samples"].shape == latent["samples"].shape and torch.isfinite(out["samples"]).all()
    assert not torch.allclose(out["samples"], plain["samples"])


def test_streams_on_an_image_to_video_model_are_refused(ctx, parts):
    vae, pos, neg = parts
    source = torch.rand(1, 32, 32, 3)
    p, n, latent = node("BerniniConditioning")(ctx, positive=pos, negative=neg, vae=vae, width=32, height=32,
                                               length=1, batch_size=1, source_video=source)
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.2_i2v_high_noise_14B_tiny_fp8_scaled.safetensors",
                                  weight_dtype="default")
    with pytest.raises(NodeInputError) as err:
        node("KSampler")(ctx, model=model, seed=1, steps=1, cfg=1.0, sampler_name="euler", scheduler="simple",
                         positive=p, negative=n, latent_image=latent, denoise=1.0)
    assert err.value.input_name == "positive" and "36 input channels" in str(err.value)


def test_streams_on_a_vace_model_are_refused(ctx, parts):
    vae, pos, neg = parts
    p, n, latent = node("BerniniConditioning")(ctx, positive=pos, negative=neg, vae=vae, width=32, height=32,
                                               length=1, batch_size=1, source_video=torch.rand(1, 32, 32, 3))
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_vace_1.3B_tiny_fp16.safetensors", weight_dtype="default")
    with pytest.raises(NodeInputError) as err:
        node("KSampler")(ctx, model=model, seed=1, steps=1, cfg=1.0, sampler_name="euler", scheduler="simple",
                         positive=p, negative=n, latent_image=latent, denoise=1.0)
    assert "VACE" in str(err.value)


def test_streams_are_normalised_with_the_latent_format(ctx, parts):
    """The model reads the streams as ComfyUI's ``process_latent_in``: (x - mean) / std per
    channel (Wan 2.1 VAE statistics)."""
    from wfrun.packs.comfy_core_models.model_input import context_streams

    (model,) = node("UNETLoader")(ctx, unet_name=T2V_A14B, weight_dtype="default")
    raw = torch.randn(1, 16, 2, 4, 6)
    (got,) = context_streams(model, {"context_latents": [raw]}, 2, "positive")
    mean = torch.tensor(WAN21.mean).view(1, 16, 1, 1, 1)
    std = torch.tensor(WAN21.std).view(1, 16, 1, 1, 1)
    torch.testing.assert_close(got, ((raw - mean) / std).expand(2, -1, -1, -1, -1))


def test_under_context_windows_a_full_length_stream_is_cut_and_others_stay_whole():
    """ComfyUI's ``WAN21.resize_cond_for_context_window`` for ``context_latents``: a stream
    with the latent's frame count (more than one) is sliced to the window, any other whole."""
    from wfrun.packs.comfy_core_models.context_windows import window_inputs
    from wfrun.sampling.ksampler.context_windows import Window

    source = torch.arange(6, dtype=torch.float32).view(1, 1, 6, 1, 1).expand(1, 16, 6, 2, 2)
    image = torch.randn(1, 16, 1, 2, 2)
    clip = torch.randn(1, 16, 4, 2, 2)  # a shorter reference video
    extras = {"vace": (), "camera": None, "context": (source, image, clip)}
    _, cut, _ = window_inputs(Window(indices=[2, 3, 4], total=6), None, extras, None)
    got = cut["context"]
    assert got[0][0, 0, :, 0, 0].tolist() == [2.0, 3.0, 4.0]
    assert got[1] is image and got[2] is clip


@torch.no_grad()
def test_ksampler_with_streams_in_context_windows(ctx, parts):
    vae, pos, neg = parts
    source = torch.rand(17, 32, 32, 3, generator=torch.Generator().manual_seed(4))
    p, n, latent = node("BerniniConditioning")(ctx, positive=pos, negative=neg, vae=vae, width=32, height=32,
                                               length=17, batch_size=1, source_video=source,
                                               **{"reference_images.reference_image_0": source[:1]})
    (model,) = node("UNETLoader")(ctx, unet_name=T2V_A14B, weight_dtype="default")
    (windowed,) = node("WanContextWindowsManual")(ctx, model=model, context_length=9, context_overlap=4,
                                                  context_schedule="standard_uniform", context_stride=1,
                                                  closed_loop=False, fuse_method="pyramid", freenoise=False)
    (out,) = node("KSampler")(ctx, model=windowed, seed=1, steps=2, cfg=2.0, sampler_name="euler",
                              scheduler="simple", positive=p, negative=n, latent_image=latent, denoise=1.0)
    assert out["samples"].shape == (1, 16, 5, 4, 4) and torch.isfinite(out["samples"]).all()
