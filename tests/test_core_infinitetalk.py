"""ComfyUI's InfiniteTalk path: WanInfiniteTalkToVideo, the audio attention its MODEL brings
into the sampler, Painter and AudioConcat.

References are written here from ComfyUI's behaviour, independently of wfrun's code: a tiny
diffusers Wan block run step by step in ComfyUI's order with the audio term added after the
text cross-attention (per-frame, per-head softmax loops on the patch file's tensors; two
speakers' rotary positions with complex numbers), the audio windows by the rule spelled out
(frames ``start .. start + length - 1``, speakers in turn), and the node's tensors from the
inputs by hand."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file

from node_helpers import node
from wfrun.models.handles import CoreModel
from wfrun.models.multitalk import audio_frames, audio_tokens, load_multitalk, write_tiny
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.vae_nodes import encode_images
from wfrun.sampling import ksampler as ks
from wfrun.sampling.infinitetalk import InfiniteTalk, audio_attention

DIM, HEADS = 32, 2


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def patch_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("patch")
    return write_tiny(folder / "model_patches" / "infinitetalk_tiny.safetensors", seed=11, dtype=torch.float32,
                      dim=DIM, blocks=2, heads=HEADS)


@pytest.fixture(scope="module")
def patch(patch_file):
    return load_multitalk(patch_file)


@pytest.fixture(scope="module")
def sd(patch_file):
    return load_file(str(patch_file))


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models), device="cpu", offload_device="cpu")


@pytest.fixture(scope="module")
def vae(ctx):
    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


class TinyWan(torch.nn.Module):
    """What the hooks need of a Wan transformer: a patch embedding and diffusers' blocks."""

    def __init__(self, blocks: int = 2, seed: int = 0):
        super().__init__()
        from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed, WanTransformerBlock

        torch.manual_seed(seed)
        self.patch_embedding = torch.nn.Conv3d(16, DIM, (1, 2, 2), stride=(1, 2, 2))
        self.rope = WanRotaryPosEmbed(DIM // HEADS, (1, 2, 2), 64)
        self.blocks = torch.nn.ModuleList(
            WanTransformerBlock(DIM, 48, HEADS, qk_norm="rms_norm_across_heads", cross_attn_norm=True, eps=1e-6)
            for _ in range(blocks))
        for block in self.blocks:  # random norms and modulation, not the init's ones and zeros
            for p in block.parameters():
                if p.dim() < 2 or p is block.scale_shift_table:
                    p.data = torch.randn_like(p) * 0.1 + (1.0 if p.dim() == 1 and p.numel() == DIM else 0.0)

    def run(self, latent: torch.Tensor, context: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        x = self.patch_embedding(latent).flatten(2).transpose(1, 2)
        rotary = self.rope(latent)
        for block in self.blocks:
            x = block(x, context, temb, rotary)
        return x


def layer_norm(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def linear(sd, name, x):
    return x @ sd[name + ".weight"].T + sd[name + ".bias"]


def turn(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Channel pairs (2i, 2i+1) as complex numbers, turned by ``angles`` [..., hd/2]."""
    z = torch.complex(x[..., 0::2].double(), x[..., 1::2].double()) * torch.polar(torch.ones_like(angles.double()),
                                                                                 angles.double())
    return torch.stack([z.real, z.imag], dim=-1).flatten(-2).to(x.dtype)


def speaker_angles(pos: torch.Tensor, hd: int) -> torch.Tensor:
    return pos.double()[..., None] / (10000.0 ** (torch.arange(0, hd, 2).double() / hd))


def reference_audio(sd, block, x, audio, grid, positions=None):
    """``audio_cross_attn(norm_x(x))`` of patch block ``block`` by loops: each frame's tokens
    attend to that frame's audio tokens, head by head; with ``positions`` (two speakers) the
    queries are turned by each token's position and the keys by 2 (first half) or 22."""
    p = f"blocks.{block}."
    frames, h, w = grid
    per = h * w
    hd = DIM // HEADS
    normed = layer_norm(x, sd[p + "norm_x.weight"], sd[p + "norm_x.bias"])
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        for f in range(frames):
            rows = slice(f * per, (f + 1) * per)
            q = linear(sd, p + "audio_cross_attn.q_linear", normed[b, rows])
            kv = linear(sd, p + "audio_cross_attn.kv_linear", audio[f])
            k, v = kv[:, :DIM], kv[:, DIM:]
            heads = []
            for i in range(HEADS):
                s = slice(i * hd, (i + 1) * hd)
                qi, ki = q[:, s], k[:, s]
                if positions is not None:
                    qi = turn(qi, speaker_angles(positions[b, rows], hd))
                    centre = torch.tensor([2.0] * (k.shape[0] // 2) + [22.0] * (k.shape[0] - k.shape[0] // 2))
                    ki = turn(ki, speaker_angles(centre, hd))
                heads.append(torch.softmax(qi @ ki.T / hd ** 0.5, dim=-1) @ v[:, s])
            out[b, rows] = linear(sd, p + "audio_cross_attn.proj", torch.cat(heads, -1))
    return out


def wan_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's RoPE as complex turns: pair i of each token by the angle whose cos and sin the
    tables hold at 2i and 2i+1."""
    angles = torch.atan2(sin[..., 1::2], cos[..., 0::2])
    return turn(x, angles)


def reference_positions(block, hidden, rotary, masks, per):
    """Two speakers' positions from the block's self-attention by hand: q and k (projection,
    q/k RMS norm, RoPE), each token's softmax over the first frame's keys summed inside each
    mask over the mask's size, averaged over heads; each speaker's row rescaled into 0..4 or
    20..24; the larger share picks."""
    attn = block.attn1
    q = attn.norm_q(attn.to_q(hidden)).unflatten(2, (HEADS, -1))
    k = attn.norm_k(attn.to_k(hidden)).unflatten(2, (HEADS, -1))
    cos, sin = rotary
    q, k = wan_rope(q, cos, sin), wan_rope(k, cos, sin)
    hd = DIM // HEADS
    maps = torch.zeros(hidden.shape[0], 2, hidden.shape[1])
    for b in range(hidden.shape[0]):
        for t in range(hidden.shape[1]):
            for i in range(HEADS):
                weights = torch.softmax(k[b, :per, i] @ q[b, t, i] / hd ** 0.5, dim=0)
                for s in range(2):
                    maps[b, s, t] += weights[masks[s]].sum() / masks[s].sum() / HEADS
    out = torch.zeros(hidden.shape[0], hidden.shape[1])
    for b in range(hidden.shape[0]):
        rows = []
        for s, (low, high) in enumerate(((0.0, 4.0), (20.0, 24.0))):
            m = maps[b, s]
            rows.append((m - m.min()) / (m.max() - m.min() + 1e-8) * (high - low) + low)
        out[b] = torch.where(maps[b, 0] >= maps[b, 1], rows[0], rows[1])
    return out


def reference_block(block, x, context, temb, rotary, added):
    """A diffusers Wan block in ComfyUI's order, with ``added(block_input_after_cross, hidden1)``
    after the text cross-attention (``hidden1``: the self-attention's input)."""
    shift, scale, gate, c_shift, c_scale, c_gate = (block.scale_shift_table + temb.float()).chunk(6, dim=1)
    h1 = block.norm1(x) * (1 + scale) + shift
    x = x + block.attn1(h1, None, None, rotary) * gate
    x = x + block.attn2(block.norm2(x), context, None, None)
    x = x + added(x, h1)
    h3 = block.norm3(x) * (1 + c_scale) + c_shift
    return x + block.ffn(h3) * c_gate


def inputs(seed=0, frames=3, batch=1):
    g = torch.Generator().manual_seed(seed)
    latent = torch.randn(batch, 16, frames, 4, 8, generator=g)
    context = torch.randn(batch, 7, DIM, generator=g)
    temb = torch.randn(batch, 6, DIM, generator=g) * 0.1
    audio = torch.randn(1, frames, 32, 16, generator=g)
    return latent, context, temb, audio


# ---------------------------------------------------------------------------- the hook

@pytest.mark.parametrize("batch", [1, 2])
def test_the_hook_adds_scale_times_the_patch_after_the_text_cross_attention(patch, sd, batch):
    tr = TinyWan()
    latent, context, temb, audio = inputs(batch=batch)
    audio = audio.expand(1, -1, -1, -1)
    grid = (3, 2, 4)
    talk = InfiniteTalk(module=patch.module, scale=0.7, audio=audio)
    with torch.no_grad():
        plain = tr.run(latent, context, temb)
        with audio_attention(tr, talk):
            got = tr.run(latent, context, temb)
        after = tr.run(latent, context, temb)
        x = tr.patch_embedding(latent).flatten(2).transpose(1, 2)
        rotary = tr.rope(latent)
        for i, block in enumerate(tr.blocks):
            x = reference_block(block, x, context, temb, rotary,
                                lambda y, _h, i=i: 0.7 * reference_audio(sd, i, y, audio[0], grid))
    torch.testing.assert_close(got, x, atol=2e-5, rtol=2e-5)
    assert not torch.allclose(got, plain, atol=1e-3)  # the audio term is there
    torch.testing.assert_close(after, plain)  # and gone after the pass
    assert not any(hasattr(m, "_diffusers_hook") for m in tr.modules())


def test_two_speakers_turn_queries_by_the_reference_map_and_keys_by_their_band(patch, sd):
    tr = TinyWan(seed=3)
    latent, context, temb, _ = inputs(seed=4)
    audio = torch.randn(1, 3, 64, 16, generator=torch.Generator().manual_seed(5))
    masks = torch.tensor([[1, 1, 0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0, 1, 1]], dtype=torch.bool)  # left / right
    grid = (3, 2, 4)
    talk = InfiniteTalk(module=patch.module, scale=1.3, audio=audio, masks=masks)
    with torch.no_grad():
        with audio_attention(tr, talk):
            got = tr.run(latent, context, temb)
        x = tr.patch_embedding(latent).flatten(2).transpose(1, 2)
        rotary = tr.rope(latent)
        for i, block in enumerate(tr.blocks):
            def added(y, h1, i=i, block=block):
                positions = reference_positions(block, h1, rotary, masks, 8)
                return 1.3 * reference_audio(sd, i, y, audio[0], grid, positions)
            x = reference_block(block, x, context, temb, rotary, added)
    torch.testing.assert_close(got, x, atol=5e-5, rtol=5e-5)


def test_a_model_call_of_another_length_than_the_audio_is_refused(patch):
    from wfrun.sampling.infinitetalk import InfiniteTalkError

    tr = TinyWan()
    latent, context, temb, audio = inputs(frames=3)
    talk = InfiniteTalk(module=patch.module, scale=1.0, audio=audio[:, :2])
    with torch.no_grad(), audio_attention(tr, talk), pytest.raises(InfiniteTalkError, match="2 latent frames"):
        tr.run(latent, context, temb)
    assert not any(hasattr(m, "_diffusers_hook") for m in tr.modules())  # removed when the pass raised


# ---------------------------------------------------------------------------- pinned frames

def test_every_model_call_sees_the_motion_latent_and_x0_comes_from_that_input():
    motion = torch.randn(1, 16, 2, 2, 2)
    fmt = SimpleNamespace(process_in=lambda t: t * 2.0 + 1.0)
    talk = InfiniteTalk(module=None, scale=1.0, audio=torch.zeros(1), motion=motion, extend=True)
    seen = []

    def predict(x, timestep, which):
        seen.append(x.clone())
        return torch.full_like(x, 0.5)

    ms = ks.FlowSampling(shift=1.0, multiplier=1000.0)
    den = ks.cfg_denoiser(predict, 3.0, ms, model_input=talk.model_input(fmt.process_in))
    x = torch.randn(1, 16, 4, 2, 2)
    before = x.clone()
    sigma = torch.tensor([0.6])
    x0 = den(x, sigma)
    assert len(seen) == 2  # cond and uncond, each on the pinned input
    for got in seen:
        torch.testing.assert_close(got[:, :, :2], motion * 2.0 + 1.0)
        torch.testing.assert_close(got[:, :, 2:], before[:, :, 2:])
    pinned = before.clone()
    pinned[:, :, :2] = motion * 2.0 + 1.0
    torch.testing.assert_close(x0, pinned - 0.6 * 0.5)  # x0 = x' - sigma * v, both predictions alike
    torch.testing.assert_close(x, before)  # the sampler's own x is untouched
    out = talk.finish(torch.zeros(1, 16, 4, 2, 2))
    torch.testing.assert_close(out[:, :, :2], motion)
    assert out[:, :, 2:].eq(0).all()
    assert InfiniteTalk(module=None, scale=1.0, audio=torch.zeros(1), motion=motion).finish(x) is x


# ---------------------------------------------------------------------------- the node

def encoder_output(frames_50: int, seed: int, layers: int = 2, width: int = 32) -> dict:
    g = torch.Generator().manual_seed(seed)
    states = tuple(torch.randn(1, frames_50, width, generator=g) for _ in range(layers + 1))
    return {"encoded_audio": states[-1], "encoded_audio_all_layers": states, "audio_samples": frames_50 * 320}


def model() -> CoreModel:
    return CoreModel(transformer=SimpleNamespace(), task="i2v", path=Path("m.safetensors"), dtype=torch.float32,
                     latent_channels=16, shift=5.0, image_to_video=True)


def test_single_speaker_outputs(ctx, vae, patch):
    positive = [[torch.zeros(1, 512, 8), {}]]
    start = torch.rand(1, 48, 40, 3, generator=torch.Generator().manual_seed(1))
    enc = encoder_output(42, seed=2)
    m = model()
    got_model, pos, neg, latent, trim = node("WanInfiniteTalkToVideo")(
        ctx, mode="single_speaker", model=m, model_patch=patch, positive=positive, negative=positive, vae=vae,
        width=32, height=32, length=9, audio_encoder_output_1=enc, motion_frame_count=9, audio_scale=0.5,
        start_image=start)
    assert latent["samples"].shape == (1, 16, 3, 4, 4) and latent["samples"].eq(0).all()
    assert trim == 0 and m.infinitetalk is None  # the input MODEL is left alone
    ref_pos, _, _ = node("WanImageToVideo")(ctx, positive=positive, negative=positive, vae=vae, width=32,
                                             height=32, length=9, batch_size=1, start_image=start)
    torch.testing.assert_close(pos[0][1]["concat_latent_image"], ref_pos[0][1]["concat_latent_image"])
    mask = pos[0][1]["concat_mask"]
    assert mask.shape == (1, 1, 3, 4, 4) and mask[:, :, 0].eq(0).all() and mask[:, :, 1:].eq(1).all()
    assert neg[0][1]["concat_latent_image"] is pos[0][1]["concat_latent_image"]
    talk = got_model.infinitetalk
    assert talk.scale == 0.5 and talk.masks is None and not talk.extend
    torch.testing.assert_close(talk.motion, pos[0][1]["concat_latent_image"][:, :, :1])
    # 42 states at 50/s → 21 frames at 25/s; video frames 0..8
    frames = audio_frames(enc["encoded_audio_all_layers"])
    with torch.no_grad():
        want = audio_tokens(patch.module.audio_proj, [frames], 0, 9)  # video frames 0 .. 8
    torch.testing.assert_close(talk.audio, want)


def test_extending_reads_the_audio_from_where_the_motion_frames_sit(ctx, vae, patch):
    positive = [[torch.zeros(1, 512, 8), {}]]
    previous = torch.rand(14, 24, 40, 3, generator=torch.Generator().manual_seed(3))
    enc = encoder_output(60, seed=4)  # 30 frames at 25/s
    got_model, pos, _, latent, trim = node("WanInfiniteTalkToVideo")(
        ctx, mode="single_speaker", model=model(), model_patch=patch, positive=positive, negative=positive, vae=vae,
        width=32, height=32, length=13, audio_encoder_output_1=enc, motion_frame_count=5, audio_scale=1.0,
        previous_frames=previous)
    assert trim == 5 and latent["samples"].shape == (1, 16, 4, 4, 4)
    assert "concat_latent_image" not in pos[0][1]  # no start image: the prompt is left as it was
    talk = got_model.infinitetalk
    assert talk.extend
    from wfrun.media.image import upscale_image
    fitted = upscale_image(previous[-5:], 32, 32, "bilinear", "center")
    torch.testing.assert_close(talk.motion, encode_images(ctx, vae, fitted))
    assert talk.motion.shape[2] == 2  # 5 frames: 2 latent frames
    frames = audio_frames(enc["encoded_audio_all_layers"])
    with torch.no_grad():  # 14 previous frames, the last 5 are the motion frames: the video starts at 9
        want = audio_tokens(patch.module.audio_proj, [frames], 9, 22)
    torch.testing.assert_close(talk.audio, want)
    # past the audio's end (30 frames) the first frame stands in
    enc_short = encoder_output(40, seed=4)  # 20 frames
    got_model, *_ = node("WanInfiniteTalkToVideo")(
        ctx, mode="single_speaker", model=model(), model_patch=patch, positive=positive, negative=positive, vae=vae,
        width=32, height=32, length=13, audio_encoder_output_1=enc_short, motion_frame_count=5, audio_scale=1.0,
        previous_frames=previous)
    short = audio_frames(enc_short["encoded_audio_all_layers"])
    padded = torch.cat([short] + [short[:1]] * 2)  # frames 9 .. 21 need 22
    with torch.no_grad():
        want = audio_tokens(patch.module.audio_proj, [padded], 9, 22)
    torch.testing.assert_close(got_model.infinitetalk.audio, want)


def test_two_speakers_take_turns_and_their_masks_fall_on_the_token_grid(ctx, vae, patch):
    positive = [[torch.zeros(1, 512, 8), {}]]
    start = torch.rand(1, 32, 64, 3, generator=torch.Generator().manual_seed(6))
    first, second = encoder_output(20, seed=7), encoder_output(16, seed=8)
    mask_1 = torch.zeros(1, 60, 120)
    mask_1[:, :, :30] = 1.0  # the left quarter
    mask_2 = torch.zeros(1, 60, 120)
    mask_2[:, 30:, 90:] = 0.4  # the bottom right
    got_model, *_ = node("WanInfiniteTalkToVideo")(
        ctx, mode="two_speakers", model=model(), model_patch=patch, positive=positive, negative=positive, vae=vae,
        width=64, height=32, length=9, audio_encoder_output_1=first, motion_frame_count=9, audio_scale=1.0,
        start_image=start, **{"mode.audio_encoder_output_2": second, "mode.mask_1": mask_1, "mode.mask_2": mask_2})
    talk = got_model.infinitetalk
    # tokens: latent 4 x 8 → grid 2 x 4; nearest picks source rows 0, 30 and columns 0, 30, 60, 90
    want_masks = torch.tensor([[1, 0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1]], dtype=torch.bool)
    assert torch.equal(talk.masks, want_masks)
    a = audio_frames(first["encoded_audio_all_layers"])   # 10 frames
    b = audio_frames(second["encoded_audio_all_layers"])  # 8 frames
    one = torch.cat([a, torch.zeros_like(b)])  # the first speaks, then keeps silent
    two = torch.cat([torch.zeros_like(a), b])
    with torch.no_grad():
        want = audio_tokens(patch.module.audio_proj, [one, two], 0, 9)
    assert talk.audio.shape == (1, 3, 64, 16)
    torch.testing.assert_close(talk.audio, want)
    # two_speakers with nothing more connected runs as one speaker, as in ComfyUI
    got_model, *_ = node("WanInfiniteTalkToVideo")(
        ctx, mode="two_speakers", model=model(), model_patch=patch, positive=positive, negative=positive, vae=vae,
        width=64, height=32, length=9, audio_encoder_output_1=first, motion_frame_count=9, audio_scale=1.0,
        start_image=start)
    assert got_model.infinitetalk.masks is None and got_model.infinitetalk.audio.shape == (1, 3, 32, 16)


@pytest.mark.parametrize("change, name", [
    ({"length": 8}, "length"),
    ({"start_image": None}, "start_image"),
    ({"previous_frames": torch.rand(3, 32, 32, 3)}, "previous_frames"),
    ({"mode": "two_speakers", "mode.audio_encoder_output_2": "second"}, "mode.mask_1"),
    ({"mode": "two_speakers", "mode.mask_1": torch.ones(1, 8, 8), "mode.mask_2": torch.ones(1, 8, 8)},
     "mode.audio_encoder_output_2"),
    ({"mode": "two_speakers", "mode.audio_encoder_output_2": "second", "mode.mask_1": torch.zeros(1, 8, 8),
      "mode.mask_2": torch.ones(1, 8, 8)}, "mode.mask_1"),
    ({"mode": "two_speakers", "mode.audio_encoder_output_2": "second", "mode.mask_1": torch.ones(2, 8, 8),
      "mode.mask_2": torch.ones(1, 8, 8)}, "mode.mask_1"),
    ({"audio_encoder_output_1": {"encoded_audio": torch.zeros(1, 4, 8)}}, "audio_encoder_output_1"),
    ({"model_patch": "patch"}, "model_patch"),
    ({"mode": "three_speakers"}, "mode"),
])
def test_the_node_names_the_input_it_cannot_use(ctx, vae, patch, change, name):
    change = {k: (encoder_output(20, 9) if v == "second" else v) for k, v in change.items()}
    args = dict(mode="single_speaker", model=model(), model_patch=patch, positive=[[torch.zeros(1, 512, 8), {}]],
                negative=[[torch.zeros(1, 512, 8), {}]], vae=vae, width=32, height=32, length=9,
                audio_encoder_output_1=encoder_output(20, 1), motion_frame_count=5, audio_scale=1.0,
                start_image=torch.rand(1, 32, 32, 3))
    args.update(change)
    with pytest.raises(NodeInputError) as err:
        node("WanInfiniteTalkToVideo")(ctx, **args)
    assert err.value.input_name == name


def test_a_model_already_carrying_an_infinitetalk_patch_is_refused(ctx, vae, patch):
    positive = [[torch.zeros(1, 512, 8), {}]]
    args = dict(mode="single_speaker", model_patch=patch, positive=positive, negative=positive, vae=vae, width=32,
                height=32, length=9, audio_encoder_output_1=encoder_output(20, 1), motion_frame_count=5,
                audio_scale=1.0, start_image=torch.rand(1, 32, 32, 3))
    patched, *_ = node("WanInfiniteTalkToVideo")(ctx, model=model(), **args)
    with pytest.raises(NodeInputError, match="already carries"):
        node("WanInfiniteTalkToVideo")(ctx, model=patched, **args)


# ---------------------------------------------------------------------------- Painter, AudioConcat

def test_painter_lays_the_drawing_over_the_image_and_gives_its_alpha(tmp_path):
    folder = tmp_path / "input"
    folder.mkdir()
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[1:3, 2:5, 3] = 255
    rgba[0, 0, 3] = 51
    Image.fromarray(rgba, "RGBA").save(folder / "drawing.png")
    ctx = ExecContext(input_dir=folder)
    base = torch.rand(2, 4, 6, 3, generator=torch.Generator().manual_seed(0))
    image, mask = node("Painter")(ctx, mask="drawing.png", image=base)
    alpha = torch.from_numpy(rgba[..., 3].astype(np.float32) / 255.0)
    torch.testing.assert_close(mask, alpha[None])
    colour = torch.tensor([200 / 255.0, 0.0, 0.0])
    torch.testing.assert_close(image[0], colour * alpha[..., None] + base[0] * (1 - alpha[..., None]))
    # no drawing: a bg_color canvas of width x height and an empty mask
    image, mask = node("Painter")(ctx, mask="", width=64, height=128, bg_color="#ff8000")
    assert image.shape == (1, 128, 64, 3) and mask.shape == (1, 128, 64) and mask.eq(0).all()
    torch.testing.assert_close(image[0, 0, 0], torch.tensor([1.0, 128 / 255.0, 0.0]))
    # a drawing of another size is resized to the base
    image, mask = node("Painter")(ctx, mask="drawing.png", width=64, height=64)
    assert mask.shape == (1, 64, 64)


def test_audio_concat_joins_in_either_order_with_mono_doubled_and_rates_matched():
    a = {"waveform": torch.arange(6, dtype=torch.float32).reshape(1, 1, 6), "sample_rate": 8000}
    b = {"waveform": torch.ones(1, 2, 3), "sample_rate": 8000}
    (after,) = node("AudioConcat")(None, audio1=a, audio2=b, direction="after")
    assert after["sample_rate"] == 8000 and after["waveform"].shape == (1, 2, 9)
    assert torch.equal(after["waveform"][0, 1, :6], torch.arange(6.0)) and after["waveform"][:, :, 6:].eq(1).all()
    (before,) = node("AudioConcat")(None, audio1=a, audio2=b, direction="before")
    assert before["waveform"][:, :, :3].eq(1).all() and torch.equal(before["waveform"][0, 0, 3:], torch.arange(6.0))
    c = {"waveform": torch.ones(1, 2, 16), "sample_rate": 16000}
    (mixed,) = node("AudioConcat")(None, audio1=a, audio2=c, direction="after")
    assert mixed["sample_rate"] == 16000 and mixed["waveform"].shape == (1, 2, 12 + 16)  # 6 samples at 8 kHz → 12


# ---------------------------------------------------------------------------- end to end

@pytest.mark.parametrize("mode", ["two_speakers", "single_speaker"])
def test_the_core_infinitetalk_template_runs_with_painted_masks(tmp_path, mode):
    """ComfyUI's template (two speakers, then one extension from the first video's frames)
    on tiny stand-ins, with each speaker's mask painted (the template ships them empty); and
    switched to one speaker (the masks and second audio then unused)."""
    import comfyui_workflow_templates_json as templates

    doc = json.loads((Path(templates.__file__).parent / "templates" / "video_wan2_1_infinitetalk.json").read_text())
    nodes = doc["nodes"] + [n for sg in doc["definitions"]["subgraphs"] for n in sg["nodes"]]
    switched = [n for n in nodes if n["widgets_values"] and n["widgets_values"][0] == "two_speakers"]
    assert len(switched) == 4  # the two subgraph instances and the node inside each
    for n in switched:
        n["widgets_values"][0] = mode
    inputs_dir = tmp_path / "input"
    inputs_dir.mkdir()
    for n in doc["nodes"]:
        if n["type"] == "Painter":
            side = 1 if n["id"] == 174 else 2
            rgba = np.zeros((48, 64, 4), np.uint8)
            rgba[:, :32, 3] = 255 if side == 1 else 0
            rgba[:, 32:, 3] = 255 if side == 2 else 0
            Image.fromarray(rgba, "RGBA").save(inputs_dir / f"speaker{side}.png")
            # the file's 5th value (a second colour an older frontend saved) fits no Painter signature
            n["widgets_values"] = [f"speaker{side}.png", 1216, 960, "#000000"]
    path = tmp_path / "infinitetalk.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(main_cli(), ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device",
                                             "cpu", "--format", "json", "--input", str(inputs_dir)],
                                env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    from wfrun.jobs.smoke import MAX_FRAMES
    from wfrun.media.video import iter_frames

    videos = sorted(Path(p) for p in report["written"] if p.endswith(".mp4"))
    counts = sorted(len(list(iter_frames(v))) for v in videos)
    # the first video; then it and the extension (which starts with the motion frames again)
    assert counts == [MAX_FRAMES, 2 * MAX_FRAMES]
    for video in videos:
        assert all(np.isfinite(f).all() for f in iter_frames(video))


def main_cli():
    from wfrun.cli import main

    return main
