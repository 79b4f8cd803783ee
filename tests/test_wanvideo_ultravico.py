"""UltraViCo attention (WanVideoUltraVicoSettings with the loader's ``sageattn_ultravico``):
the dense attention against PyTorch's SDPA where the edits do nothing, and against the
pack's kernel rules written out element by element; through WanVideoSampler it leaves a
short video as plain attention gives it at alpha 1 and changes a long one at another alpha."""

from __future__ import annotations

import dataclasses
import math

import torch

from node_helpers import node
from test_sampling_loop import load, t2v_embeds, text, tiny_files  # noqa: F401 (fixture)
from wfrun.nodes.executor import ExecContext
from wfrun.sampling.ultravico import ultravico_attention


def _qkv(s, h=2, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, s, h, d, generator=g, dtype=torch.float64) for _ in range(3)]


def test_without_far_tokens_it_is_plain_attention():
    q, k, v = _qkv(12)
    out = ultravico_attention(q, k, v, alpha=0.5, frame_tokens=4)  # reach 42 tokens: nothing is far
    sdpa = torch.nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    torch.testing.assert_close(out, sdpa.transpose(1, 2), rtol=1e-5, atol=1e-6)  # computed in float32


def test_the_kernel_rules_element_by_element():
    s, ft, alpha = 30, 1, 0.6
    q, k, v = _qkv(s, h=1, d=4, seed=1)
    out = ultravico_attention(q, k, v, alpha=alpha, frame_tokens=ft)
    kc = k[0, :, 0] - k[0, :, 0].mean(dim=0)
    want = torch.zeros(s, 4, dtype=torch.float64)
    for m in range(s):
        logits = []
        for n in range(s):
            x = float(q[0, m, 0] @ kc[n]) / 2.0
            if abs(m - n) > ft * 21 / 2 and x >= 0:
                x *= alpha
            if m <= ft and n > 21 * ft:
                x = -math.inf
            logits.append(x)
        w = torch.softmax(torch.tensor(logits, dtype=torch.float64), dim=0)
        want[m] = w @ v[0, :, 0]
    torch.testing.assert_close(out[0, :, 0], want, rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_through_the_sampler(tiny_files):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    ctx = ExecContext()
    kw = dict(text_embeds=text(dim=32), steps=2, cfg=1.0, shift=5.0, seed=0, scheduler="euler")
    ultra = dataclasses.replace(model, attention_mode="sageattn_ultravico")
    (one,) = node("WanVideoUltraVicoSettings")(ctx, model=ultra, alpha=1.0)
    short = t2v_embeds()
    plain = node("WanVideoSampler")(ctx, model=model, image_embeds=short, **kw)[0]["samples"]
    torch.testing.assert_close(node("WanVideoSampler")(ctx, model=one, image_embeds=short, **kw)[0]["samples"], plain,
                               rtol=1e-4, atol=1e-4)
    long = t2v_embeds(frames=49)  # 13 latent frames of 4 tokens: tokens 11 frames apart are far
    (half,) = node("WanVideoUltraVicoSettings")(ctx, model=ultra, alpha=0.5)
    plain_long = node("WanVideoSampler")(ctx, model=model, image_embeds=long, **kw)[0]["samples"]
    edited = node("WanVideoSampler")(ctx, model=half, image_embeds=long, **kw)[0]["samples"]
    assert not torch.allclose(edited, plain_long, atol=1e-4)
    assert model.ultravico_alpha is None and half.ultravico_alpha == 0.5


@torch.no_grad()
def test_with_enhance_a_video_it_names_feta_args(tiny_files):
    """The loader's attention_mode sageattn_ultravico with WanVideoEnhanceAVideo: both replace
    the blocks' self-attention, which wfrun's forward cannot combine; refused naming feta_args
    before any step (it was an internal error from inside the forward)."""
    import pytest

    from wfrun.nodes.executor import NodeInputError

    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    ctx = ExecContext()
    ultra = dataclasses.replace(model, attention_mode="sageattn_ultravico")
    (feta,) = node("WanVideoEnhanceAVideo")(ctx)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSampler")(ctx, model=ultra, image_embeds=t2v_embeds(), text_embeds=text(dim=32), steps=1,
                                cfg=1.0, shift=5.0, seed=0, scheduler="euler", feta_args=feta)
    assert err.value.input_name == "feta_args" and "Enhance-A-Video" in str(err.value)
