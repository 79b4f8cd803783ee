"""WanVideoRoPEFunction's NTK factors: the RoPE base of each axis scaled by its factor, the
tables checked against diffusers' own ``get_1d_rotary_pos_embed`` at the scaled base; a
forward with the factors equals the plain forward of a model whose rope tables were built
by diffusers at that base; the sampler applies them with the ``comfy`` rope functions only."""

from __future__ import annotations

import copy

import pytest
import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed

from node_helpers import node
from test_sampling_loop import request, tiny, tiny_files  # noqa: F401 (fixture)
from tiny_transformer import tiny_wan
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import RopeChoice
from wfrun.sampling.conditioning import SamplerOptions
from wfrun.sampling.forward import ForwardOptions, rotary_embedding, transformer_forward
from wfrun.sampling.loop import sample

CTX = ExecContext()


def _diffusers_tables(rope, thetas):
    parts = [get_1d_rotary_pos_embed(dim, rope.max_seq_len, theta, use_real=True, repeat_interleave_real=True,
                                     freqs_dtype=torch.float64)
             for dim, theta in zip((rope.t_dim, rope.h_dim, rope.w_dim), thetas)]
    return torch.cat([c for c, _ in parts], dim=1), torch.cat([s for _, s in parts], dim=1)


def test_node_gives_the_name_or_the_factors():
    assert node("WanVideoRoPEFunction")(CTX, rope_function="comfy") == ("comfy",)
    (choice,) = node("WanVideoRoPEFunction")(CTX, rope_function="comfy", ntk_scale_f=2.0, ntk_scale_w=0.5)
    assert choice == RopeChoice("comfy", (2.0, 1.0, 0.5))
    with pytest.raises(NodeInputError):
        node("WanVideoRoPEFunction")(CTX, rope_function="comfy", ntk_scale_h=0.0)


def test_scaled_tables_are_diffusers_tables_at_the_scaled_base():
    model = tiny_wan(1)
    rope = model.rope
    cos, sin = rotary_embedding(model, 3, 4, 6, ntk=(2.0, 1.0, 3.0))
    ref_cos, ref_sin = _diffusers_tables(rope, (20000.0, 10000.0, 30000.0))
    ref = tiny_wan(1)
    ref.rope.freqs_cos, ref.rope.freqs_sin = ref_cos.float(), ref_sin.float()
    want_cos, want_sin = rotary_embedding(ref, 3, 4, 6)
    torch.testing.assert_close(cos, want_cos)
    torch.testing.assert_close(sin, want_sin)


@torch.no_grad()
def test_forward_with_factors_equals_a_model_built_at_that_base():
    model = tiny_wan(2)
    g = torch.Generator().manual_seed(2)
    x, context = torch.randn(1, 16, 3, 4, 4, generator=g), torch.randn(1, 512, 24, generator=g)
    scaled, _ = transformer_forward(model, x, torch.tensor([700.0]), context,
                                    options=ForwardOptions(ntk_alphas=(4.0, 1.0, 1.0)))
    ref = copy.deepcopy(model)
    ref_cos, ref_sin = _diffusers_tables(ref.rope, (40000.0, 10000.0, 10000.0))
    ref.rope.freqs_cos, ref.rope.freqs_sin = ref_cos.float(), ref_sin.float()
    want, _ = transformer_forward(ref, x, torch.tensor([700.0]), context)
    torch.testing.assert_close(scaled, want, rtol=1e-5, atol=1e-5)
    plain, _ = transformer_forward(model, x, torch.tensor([700.0]), context)
    assert not torch.allclose(scaled, plain, atol=1e-4)


@torch.no_grad()
def test_the_sampler_applies_the_factors_with_comfy_rope_only():
    model = tiny()

    def run(rope, ntk):
        opts = SamplerOptions(rope_function=rope, ntk_alphas=ntk)
        return sample(request(model, steps=2, scheduler="euler", options=opts)[0])["samples"]

    plain = run("comfy", (1.0, 1.0, 1.0))
    torch.testing.assert_close(run("default", (3.0, 1.0, 1.0)), plain)
    assert not torch.allclose(run("comfy", (3.0, 1.0, 1.0)), plain, atol=1e-5)


@torch.no_grad()
def test_wanvideo_sampler_takes_the_choice(tiny_files):
    from test_sampling_loop import load, t2v_embeds, text

    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    kw = dict(model=model, image_embeds=t2v_embeds(), text_embeds=text(dim=32), steps=2, cfg=1.0, shift=5.0, seed=0,
              scheduler="euler")
    plain = node("WanVideoSampler")(CTX, rope_function="comfy", **kw)[0]["samples"]
    scaled = node("WanVideoSampler")(CTX, rope_function=RopeChoice("comfy", (1.0, 1.0, 1.0)), **kw)[0]["samples"]
    torch.testing.assert_close(scaled, plain)
    other = node("WanVideoSampler")(CTX, rope_function=RopeChoice("comfy", (1.0, 2.0, 1.0)), **kw)[0]["samples"]
    assert not torch.allclose(other, plain, atol=1e-5)
