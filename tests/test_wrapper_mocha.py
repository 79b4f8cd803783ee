"""The wrapper's MoCha (MochaEmbeds and the sampler's MoCha path): the tokens' RoPE against the
pack's ``rope_apply_mocha`` written out here as its complex products (tables from position
-1, the index rules per part), the mask's latent frame by hand, the embeds' layout, and the
sampler calling the model on the video's frames followed by the embeds."""

from __future__ import annotations

import math

import pytest
import torch

from wfrun.models.load import load_transformer
from wfrun.models.rope import apply_rotary
from wfrun.models.tiny import TinySpec, write_file
from wfrun.packs.wanvideo.mocha import latent_mask
from wfrun.sampling import mocha
from wfrun.sampling.conditioning import ImageEmbeds, MochaEmbeds, TextEmbeds
from wfrun.sampling.forward import rotary_at_positions
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample


def pack_tables(dim: int, count: int = 64, k: int = 0, frames: int = 0) -> torch.Tensor:
    """``rope_params_mocha(count, dim, start=-1)``: row ``i`` is position ``i - 1``; RIFLEx
    puts ``0.9·2π/frames`` in frequency ``k-1``."""
    inv = 1.0 / torch.pow(10000, torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    if k > 0:
        inv[k - 1] = 0.9 * 2 * math.pi / frames
    freqs = torch.outer(torch.arange(-1, count - 1, dtype=torch.float64), inv)
    return torch.polar(torch.ones_like(freqs), freqs)


def pack_rope(x: torch.Tensor, f: int, h: int, w: int, head_dim: int, k: int = 0, frames: int = 0) -> torch.Tensor:
    """The pack's ``rope_apply_mocha`` on one sample ``[tokens, heads, head_dim]``, with its
    index rules (repeat frames 1..sf, mask row 1, image row 0, bias rows h+1.., w+1..)."""
    c = head_dim // 2
    sizes = [c - 2 * (c // 3), c // 3, c // 3]
    f0 = pack_tables(2 * sizes[0], k=k, frames=frames)
    f1 = pack_tables(2 * sizes[1])
    f2 = pack_tables(2 * sizes[2])
    sf = (f - 2) // 2

    def part(t_rows, h_rows, w_rows):
        n = len(t_rows)
        return torch.cat([f0[t_rows].view(n, 1, 1, -1).expand(n, h, w, -1),
                          f1[h_rows].view(1, h, 1, -1).expand(n, h, w, -1),
                          f2[w_rows].view(1, 1, w, -1).expand(n, h, w, -1)], dim=-1)

    rows_h, rows_w = list(range(1, 1 + h)), list(range(1, 1 + w))
    repeat = part(list(range(1, 1 + sf)), rows_h, rows_w)
    parts = [repeat, repeat, part([1], rows_h, rows_w), part([0], rows_h, rows_w)]
    if f != 2 * sf + 2:
        parts.append(part([0], list(range(h + 1, 2 * h + 1)), list(range(w + 1, 2 * w + 1))))
    table = torch.cat(parts).reshape(f * h * w, 1, -1)
    xc = torch.view_as_complex(x.double().reshape(x.shape[0], x.shape[1], -1, 2))
    return torch.view_as_real(xc * table).flatten(2)


class _Rope:
    """The three axis widths of diffusers' Wan RoPE for ``head_dim``."""

    def __init__(self, head_dim: int):
        self.h_dim = self.w_dim = 2 * (head_dim // 6)
        self.t_dim = head_dim - 2 * self.h_dim
        self.freqs_cos = torch.zeros(1, dtype=torch.float64)


class _Model:
    def __init__(self, head_dim: int):
        self.rope = _Rope(head_dim)


@pytest.mark.parametrize("refs", [1, 2])
@pytest.mark.parametrize("riflex", [0, 3])
def test_token_rope_is_the_packs_rope_apply_mocha(refs, riflex):
    frames, h, w, heads, head_dim = 3, 2, 3, 2, 24
    pos = mocha.positions(frames, h, w, refs)
    tokens = (2 * frames + 1 + refs) * h * w
    assert all(p.numel() == tokens for p in pos)
    cos, sin = rotary_at_positions(_Model(head_dim), pos, riflex_k=riflex, riflex_frames=frames)
    x = torch.randn(tokens, heads, head_dim, generator=torch.Generator().manual_seed(refs), dtype=torch.float64)
    ours = apply_rotary(x[None], cos, sin)[0]
    expected = pack_rope(x, 2 * frames + 1 + refs, h, w, head_dim, k=riflex, frames=frames)
    torch.testing.assert_close(ours, expected.to(ours.dtype), rtol=1e-5, atol=1e-5)


def test_positions_by_hand():
    t, r, c = mocha.positions(2, 1, 2, 2)  # tokens: video 2x2, source 2x2, mask 2, ref 2, ref2 2
    assert t.tolist() == [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, -1, -1, -1, -1]
    assert r.tolist() == [0] * 12 + [1, 1]
    assert c.tolist() == [0, 1] * 6 + [2, 3]
    with pytest.raises(mocha.MochaError, match="1 or 2"):
        mocha.positions(2, 1, 2, 3)


def test_mask_frame_by_hand():
    mask = torch.tensor([[0.0, 0.49, 0.51, 1.0], [0.5, 0.9, 0.1, 0.6]])
    out = latent_mask(mask, 2, 2, torch.float32)  # nearest: rows 0 and 1, columns 0 and 2
    assert out.shape == (16, 1, 2, 2)
    assert out[0, 0].tolist() == [[-1.0, 1.0], [-1.0, -1.0]]
    assert torch.equal(out[5], out[0])
    # in bf16 0.501 rounds to 0.5 (steps of 2^-8 there), which is not above 0.5 (the pack interpolates in the VAE's dtype)
    assert latent_mask(torch.full((2, 2), 0.501), 1, 1, torch.bfloat16)[0, 0, 0, 0] == -1.0
    assert latent_mask(torch.full((2, 2), 0.501), 1, 1, torch.float32)[0, 0, 0, 0] == 1.0


@pytest.fixture(scope="module")
def t2v_model(tmp_path_factory):
    spec = TinySpec("diffusion_models", "Wan2_1_mocha-14B-preview_tiny_fp32.safetensors", "wan_transformer",
                    "t2v", "original", "fp32")
    return load_transformer(write_file(spec, tmp_path_factory.mktemp("mocha")), dtype=torch.float32).eval()


def test_sampler_runs_the_embeds_after_the_video_with_the_mocha_rope(t2v_model):
    frames, h, w = 2, 4, 6
    g = torch.Generator().manual_seed(3)
    latents = torch.randn(16, frames + 1 + 1, h, w, generator=g)
    embeds = ImageEmbeds(num_frames=5, target_shape=(16, frames, h, w), mocha=MochaEmbeds(latents, 1))
    text = TextEmbeds(prompt_embeds=(torch.randn(5, 32),), negative_prompt_embeds=(torch.randn(5, 32),))
    seen, rot = [], []
    handle = t2v_model.patch_embedding.register_forward_pre_hook(lambda m, a: seen.append(a[0][0, :, frames:].clone()))
    try:
        with torch.no_grad():
            out = sample(SamplingRequest(transformer=t2v_model, image_embeds=embeds, text_embeds=text, steps=2,
                                         cfg=1.0, shift=5.0, seed=0, scheduler="euler"))
    finally:
        handle.remove()
    assert len(seen) == 2 and all(torch.equal(s, latents) for s in seen)  # the embeds follow the video, unchanged
    assert out["samples"].shape == (1, 16, frames, h, w)
    wrong = ImageEmbeds(num_frames=5, target_shape=(16, frames, h, w), mocha=MochaEmbeds(latents[:, :3], 1))
    with pytest.raises(SamplingError, match="expected 4"):
        sample(SamplingRequest(transformer=t2v_model, image_embeds=wrong, text_embeds=text, steps=1, cfg=1.0,
                               shift=5.0, seed=0, scheduler="euler"))


def test_embeds_node_layout(tiny_models):
    from node_helpers import node
    from wfrun.models.paths import ModelRoots
    from wfrun.nodes.executor import ExecContext, NodeInputError
    from wfrun.packs.wanvideo.vae import encode_video

    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    vae = node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")[0]
    g = torch.Generator().manual_seed(4)
    video = torch.rand(7, 32, 48, 4, generator=g)  # 7 frames: cut to 5; an alpha channel: dropped
    ref1, ref2 = torch.rand(1, 32, 48, 3, generator=g), torch.rand(1, 32, 48, 3, generator=g)
    mask = torch.zeros(1, 32, 48)
    mask[:, :16] = 1.0
    (emb,) = node("MochaEmbeds")(ctx, vae=vae, force_offload=832, input_video=video, mask=mask, ref1=ref1, ref2=ref2)
    assert emb.target_shape == (16, 2, 4, 6) and emb.num_frames == 5 and emb.mocha.num_refs == 2
    lat = emb.mocha.latents
    assert lat.shape == (16, 2 + 1 + 2, 4, 6)

    def enc(x):
        return encode_video(vae, x[..., :3].movedim(-1, 0) * 2 - 1, "cpu").float()

    torch.testing.assert_close(lat[:, :2], enc(video[:5]))
    assert lat[:, 2, :2].eq(1).all() and lat[:, 2, 2:].eq(-1).all()
    torch.testing.assert_close(lat[:, 3:4], enc(ref1))
    torch.testing.assert_close(lat[:, 4:5], enc(ref2))
    with pytest.raises(NodeInputError, match="one mask frame"):
        node("MochaEmbeds")(ctx, vae=vae, force_offload=True, input_video=video, mask=mask.repeat(2, 1, 1), ref1=ref1)
    with pytest.raises(NodeInputError, match="reference for a 48x32 video"):
        node("MochaEmbeds")(ctx, vae=vae, force_offload=True, input_video=video, mask=mask, ref1=ref1[:, :16])
