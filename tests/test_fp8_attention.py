"""fp8 self-attention for ``--fast`` (wfrun.models.fp8_attention).

The cuDNN kernel itself needs a Hopper GPU (bench/attention_kernels.py measures it there,
with its error against fp32); here the parts around it run on the CPU: the per-tensor
quantization against its definition, the custom op's fallback (the same quantized inputs
through PyTorch's attention) against fp32 attention, its fake kernel through torch's
``opcheck``, and the processor against diffusers' own ``WanAttnProcessor`` on a tiny Wan
model: close in fp8, identical where it hands the call back."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from diffusers import WanTransformer3DModel
from diffusers.models.transformers.transformer_wan import WanAttnProcessor

from wfrun.models import fp8_attention as fa
from wfrun.models.fast import make_fast


def fp32_attention(q, k, v):
    """Plain softmax(q k^T / sqrt(d)) v per head, in float64: the reference."""
    q, k, v = (t.double().permute(0, 2, 1, 3) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
    return (weights @ v).permute(0, 2, 1, 3)


def test_quantize_per_tensor_maps_the_absolute_maximum_to_448_and_back():
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(1, 50, 2, 16, generator=g) * 3).to(torch.bfloat16)
    x8, descale = fa.quantize_per_tensor(x)
    assert x8.dtype == torch.float8_e4m3fn and descale.shape == (1, 1, 1, 1)
    assert descale.item() == pytest.approx(x.abs().max().float().item() / 448.0)
    assert x8.float().abs().max().item() == 448.0
    back = x8.float() * descale
    rel = (back - x.float()).abs() / x.float().abs().clamp_min(1e-3)
    assert rel[x.float().abs() > 0.5].max() <= 2 ** -4 + 1e-3  # e4m3: 3 mantissa bits, half an ulp
    zeros, descale0 = fa.quantize_per_tensor(torch.zeros(3, 4))
    assert torch.isfinite(descale0).all() and zeros.float().eq(0).all()


def test_fp8_attention_is_close_to_fp32_attention_and_not_equal(caplog):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 96, 2, 32, generator=g).to(torch.bfloat16) for _ in range(3))
    with caplog.at_level(logging.WARNING):
        out = fa.fp8_attention(q, k, v)
    assert out.shape == q.shape and out.dtype == torch.bfloat16
    ref = fp32_attention(q, k, v)
    err = ((out.double() - ref).norm() / ref.norm()).item()
    assert 1e-3 < err < 0.06  # fp8 inputs and output: a few percent, never exact
    bf16 = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v))).transpose(1, 2)
    assert ((bf16.double() - ref).norm() / ref.norm()).item() < err  # bf16 attention is the closer one


def test_output_scale_keeps_values_inside_e4m3_when_attention_is_one_hot():
    # peaked attention copies V's largest row: the output reaches V's maximum, inside the headroom
    v = torch.zeros(1, 8, 1, 16)
    v[0, 3, 0, :] = 1000.0
    k = torch.zeros(1, 8, 1, 16)
    k[0, 3, 0, :] = 30.0
    q = torch.ones(1, 8, 1, 16) * 30.0
    out = fa.fp8_attention(q, k, v)
    assert torch.isfinite(out).all()
    assert out[0, :, 0, 0].float() == pytest.approx(torch.full((8,), 1000.0), rel=0.07)


def test_custom_op_has_a_working_fake_kernel_for_compile():
    g = torch.Generator().manual_seed(2)
    q8, dq = fa.quantize_per_tensor(torch.randn(1, 32, 2, 16, generator=g))
    k8, dk = fa.quantize_per_tensor(torch.randn(1, 40, 2, 16, generator=g))
    v8, dv = fa.quantize_per_tensor(torch.randn(1, 40, 2, 16, generator=g))
    so = (fa.OUTPUT_HEADROOM / dv).reshape(1, 1, 1, 1)
    torch.library.opcheck(torch.ops.wfrun.cudnn_fp8_sdpa.default, (q8, k8, v8, dq, dk, dv, so, 0.25),
                          test_utils=("test_faketensor",))
    out = torch.ops.wfrun.cudnn_fp8_sdpa(q8, k8, v8, dq, dk, dv, so, 0.25)
    assert out.shape == (1, 32, 2, 16) and out.dtype == torch.float8_e4m3fn


def tiny(seed=0):
    torch.manual_seed(seed)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16,
                                 out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=2,
                                 cross_attn_norm=True).eval()


def forward(model):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 16, 3, 8, 8, generator=g)
    text = torch.randn(1, 7, 24, generator=g)
    with torch.no_grad():
        return model(x, torch.tensor([500.0]), text, return_dict=False)[0]


def test_processor_follows_diffusers_wan_self_attention_in_fp8():
    model = tiny()
    reference = forward(model)
    assert fa.use_fp8_attention(model) == 2
    assert fa.use_fp8_attention(model) == 0  # once only
    assert all(isinstance(b.attn1.processor, fa.Fp8SelfAttention) for b in model.blocks)
    assert all(isinstance(b.attn2.processor, WanAttnProcessor) for b in model.blocks)  # cross-attention kept
    got = forward(model)
    err = ((got - reference).norm() / reference.norm()).item()
    assert 1e-4 < err < 0.05


def test_processor_hands_back_what_it_does_not_cover():
    model = tiny()
    fa.use_fp8_attention(model)
    block = model.blocks[0]
    proc = block.attn1.processor
    calls = []

    class Spy(WanAttnProcessor):
        def __call__(self, *args, **kwargs):
            calls.append(args[3] if len(args) > 3 else kwargs.get("attention_mask"))
            return super().__call__(*args, **kwargs)

    proc.base = Spy()
    x = torch.randn(1, 10, 32)
    mask = torch.ones(1, 1, 10, 10, dtype=torch.bool)
    with torch.no_grad():
        masked = proc(block.attn1, x, None, mask, None)
        plain = WanAttnProcessor()(block.attn1, x, None, mask, None)
    assert len(calls) == 1 and torch.equal(masked, plain)  # a mask: diffusers' processor, unchanged
    proc._attention_backend = "_native_math"  # a kernel the workflow chose (diffusers sets it on the processor)
    assert proc.base._attention_backend == "_native_math"
    with torch.no_grad():
        proc(block.attn1, x, None, None, None)
    assert len(calls) == 2


def test_make_fast_leaves_attention_alone_where_the_device_cannot():
    model = tiny()
    assert make_fast(model, "cpu", fp8_attention=True) > 0  # fp8 matmuls run (exactly) on the CPU
    assert all(isinstance(b.attn1.processor, WanAttnProcessor) for b in model.blocks)
    assert not fa.fp8_attention_supported("cpu")


def test_smoothing_keeps_the_error_small_when_keys_and_values_share_an_offset():
    """A channel offset common to every key and value (a projection's bias) is taken out
    before quantizing (softmax ignores it in the keys; it comes back whole in the output), so
    the error on the part of the output that varies stays as without an offset; quantizing
    the raw tensors instead (computed here by hand) loses most of that part."""
    g = torch.Generator().manual_seed(4)
    q = torch.randn(1, 256, 1, 64, generator=g) * 2
    k = torch.randn(1, 256, 1, 64, generator=g) + 5 * torch.randn(1, 1, 1, 64, generator=g)
    v = torch.randn(1, 256, 1, 64, generator=g) + 5 * torch.randn(1, 1, 1, 64, generator=g)
    ref = fp32_attention(q, k, v)
    varying = (ref - ref.mean(dim=1, keepdim=True)).norm()
    got = fa.fp8_attention(q, k, v).double()
    smoothed = ((got - ref).norm() / varying).item()

    def raw(x):
        x8, d = fa.quantize_per_tensor(x)
        return x8.float() * d
    weights = torch.softmax(raw(q).permute(0, 2, 1, 3) @ raw(k).permute(0, 2, 3, 1) / 8, dim=-1)
    naive = (weights @ raw(v).permute(0, 2, 1, 3)).permute(0, 2, 1, 3).double()
    unsmoothed = ((naive - ref).norm() / varying).item()
    assert smoothed < 0.12 and unsmoothed > 3 * smoothed
