"""Uni3C (models/uni3c.py, sampling/uni3c.py, packs/wanvideo/uni3c.py): the controlnet's
forward against its formulas written out here (float64, complex RoPE as the pack applies
it), the loader on a file in the released key layout, and WanVideoSampler adding the
states after the blocks inside the window."""

from __future__ import annotations

import math

import pytest
import torch

from node_helpers import node
from wfrun.models.load import load_transformer
from wfrun.models.tiny import TRANSFORMER, TinySpec, write_file
from wfrun.models.uni3c import HEADS, load_uni3c, write_tiny
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.conditioning import ImageEmbeds, TextEmbeds
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample
from wfrun.sampling.uni3c import Uni3CEmbeds


@pytest.fixture(scope="module")
def controlnet_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("uni3c") / "controlnet" / "Wan21_Uni3C_controlnet_tiny.safetensors"
    return write_tiny(path, dtype=torch.float32, seed=5, conv_out_dim=TRANSFORMER["dim"], out_dim=TRANSFORMER["dim"],
                      layers=TRANSFORMER["layers"])


def rope_angles(head_dim: int, f: int, h: int, w: int) -> torch.Tensor:
    """[F·H·W, head_dim/2] complex: Wan's RoPE, the head split into time, height and width
    parts (h = w = 2·(D//6), t the rest), frequencies 10000^(-2i/d) of each part."""
    hd = wd = 2 * (head_dim // 6)
    td = head_dim - hd - wd
    parts = []
    for d, count, axis in ((td, f, 0), (hd, h, 1), (wd, w, 2)):
        freq = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        pos = torch.stack(torch.meshgrid(torch.arange(f), torch.arange(h), torch.arange(w), indexing="ij"), -1)
        parts.append(pos[..., axis].reshape(-1, 1).double() * freq)
    return torch.polar(torch.ones(1, dtype=torch.float64), torch.cat(parts, dim=1))


def reference(sd: dict, latents: torch.Tensor, temb: torch.Tensor) -> list[torch.Tensor]:
    sd = {k: v.double() for k, v in sd.items()}
    x, temb = latents.double(), temb.double()
    b, c, f, h, w = x.shape
    patches = x.reshape(b, c, f, h // 2, 2, w // 2, 2)
    tokens = torch.einsum("ocij,bcfyixj->bfyxo", sd["controlnet_patch_embedding.weight"][:, :, 0], patches)
    hs = (tokens + sd["controlnet_patch_embedding.bias"]).reshape(b, -1, tokens.shape[-1])
    hs = hs @ sd["proj_in.weight"].T + sd["proj_in.bias"]
    dim = hs.shape[-1]
    angles = rope_angles(dim // HEADS, f, h // 2, w // 2)

    def lin(name, t):
        return t @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]

    def modulated(name, t):
        shift, scale, gate = lin(f"{name}.linear", temb * torch.sigmoid(temb)).chunk(3, dim=1)
        mean, var = t.mean(-1, keepdim=True), t.var(-1, unbiased=False, keepdim=True)
        n = (t - mean) / torch.sqrt(var + 1e-5) * sd[f"{name}.norm.weight"] + sd[f"{name}.norm.bias"]
        return n * (1 + scale[:, None]) + shift[:, None], gate[:, None]

    def rms(name, t):
        return t / torch.sqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6) * sd[f"{name}.weight"]

    def rotate(t):  # [B, L, heads, D] pairs as complex numbers times the angles
        z = torch.view_as_complex(t.reshape(*t.shape[:-1], -1, 2).contiguous())
        return torch.view_as_real(z * angles[None, :, None]).flatten(-2)

    states = []
    n_layers = sum(1 for k in sd if k.endswith("ffn.0.weight"))
    for i in range(n_layers):
        p = f"controlnet_blocks.{i}"
        n, gate = modulated(f"{p}.norm1", hs)
        q = rms(f"{p}.self_attn.norm_q", lin(f"{p}.self_attn.to_q", n)).unflatten(-1, (HEADS, -1))
        k = rms(f"{p}.self_attn.norm_k", lin(f"{p}.self_attn.to_k", n)).unflatten(-1, (HEADS, -1))
        v = lin(f"{p}.self_attn.to_v", n).unflatten(-1, (HEADS, -1))
        q, k = rotate(q), rotate(k)
        att = torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(q.shape[-1])
        o = torch.einsum("bhlm,bmhd->blhd", att.softmax(-1), v).flatten(2)
        hs = hs + gate * lin(f"{p}.self_attn.to_out.0", o)
        n, gate = modulated(f"{p}.norm2", hs)
        a = lin(f"{p}.ffn.0", n)
        a = 0.5 * a * (1 + torch.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))
        hs = hs + gate * lin(f"{p}.ffn.2", a)
        states.append(lin(f"proj_out.{i}", hs))
    return states


def test_controlnet_forward_is_the_uni3c_formulas(controlnet_file):
    from safetensors.torch import load_file

    net = load_uni3c(controlnet_file, dtype=torch.float32)
    assert net.config.in_channels == 36 and net.config.layers == TRANSFORMER["layers"]
    assert net.controlnet_patch_embedding.weight.dtype == torch.float32
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 36, 3, 4, 6, generator=g)
    temb = torch.randn(2, TRANSFORMER["dim"], generator=g)
    with torch.no_grad():
        ours = net(latents, temb)
    ref = reference(load_file(str(controlnet_file)), latents, temb)
    assert len(ours) == len(ref) == TRANSFORMER["layers"]
    for a, b in zip(ours, ref):
        assert a.shape == (2, 3 * 2 * 3, TRANSFORMER["dim"])
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-5)
    half = load_uni3c(controlnet_file, dtype=torch.float16)
    assert half.proj_out[0].weight.dtype == torch.float16 and half.controlnet_patch_embedding.weight.dtype == torch.float32


@pytest.fixture(scope="module")
def i2v_model(tmp_path_factory):
    spec = TinySpec("diffusion_models", "Wan2_1-I2V-14B-480P_tiny_fp32.safetensors", "wan_transformer", "i2v",
                    "original", "fp32")
    return load_transformer(write_file(spec, tmp_path_factory.mktemp("i2v")), dtype=torch.float32).eval()


def test_sampler_adds_each_state_after_its_block(i2v_model, controlnet_file, tmp_path):
    """Steps 0 and 1 of 4 are inside the window 0..0.3: there the controlnet runs on the
    input's first 20 channels and the render latents with the call's temb, and block b's
    output grows by strength · state_b; at steps 2 and 3 the blocks pass on unchanged.
    (The test's hooks are registered first, so they see each block's own output.)"""
    ctx = ExecContext(input_dir=tmp_path)
    net = load_uni3c(controlnet_file, dtype=torch.float32)
    g = torch.Generator().manual_seed(1)
    render = {"samples": torch.randn(1, 16, 2, 4, 6, generator=g)}
    (embeds,) = node("WanVideoUni3C_embeds")(ctx, controlnet=net, render_latent=render, strength=0.7,
                                             start_percent=0.0, end_percent=0.3)
    image = ImageEmbeds(num_frames=5, image_embeds=torch.randn(20, 2, 4, 6, generator=g), lat_h=4, lat_w=6,
                        clip_context=torch.randn(257, 32, generator=g))
    text = TextEmbeds(prompt_embeds=(torch.randn(5, 32, generator=g),), negative_prompt_embeds=())
    rec = {k: [] for k in ("in", "temb", "out0", "in1", "out1", "final")}
    hooks = [i2v_model.patch_embedding.register_forward_pre_hook(lambda m, a: rec["in"].append(a[0].clone())),
             i2v_model.condition_embedder.register_forward_hook(lambda m, a, o: rec["temb"].append(o[0].clone())),
             i2v_model.blocks[0].register_forward_hook(lambda m, a, o: rec["out0"].append(o.clone())),
             i2v_model.blocks[1].register_forward_pre_hook(lambda m, a: rec["in1"].append(a[0].clone())),
             i2v_model.blocks[1].register_forward_hook(lambda m, a, o: rec["out1"].append(o.clone())),
             i2v_model.norm_out.register_forward_pre_hook(lambda m, a: rec["final"].append(a[0].clone()))]
    calls = []
    hooks.append(net.register_forward_hook(lambda m, a, o: calls.append((a[0].clone(), [s.clone() for s in o]))))
    try:
        with torch.no_grad():
            sample(SamplingRequest(transformer=i2v_model, image_embeds=image, text_embeds=text, steps=4, cfg=1.0,
                                   shift=5.0, seed=0, scheduler="euler", uni3c=embeds))
    finally:
        for h in hooks:
            h.remove()
    assert len(calls) == 2 and len(rec["in"]) == 4
    for step, (latents, states) in enumerate(calls):
        torch.testing.assert_close(latents, torch.cat([rec["in"][step][:1, :20], render["samples"]], dim=1))
        with torch.no_grad():
            torch.testing.assert_close(states[0], net(latents, rec["temb"][step])[0])
        torch.testing.assert_close(rec["in1"][step], rec["out0"][step] + 0.7 * states[0])
        torch.testing.assert_close(rec["final"][step], rec["out1"][step] + 0.7 * states[1])
    for step in (2, 3):
        torch.testing.assert_close(rec["in1"][step], rec["out0"][step])
        torch.testing.assert_close(rec["final"][step], rec["out1"][step])


def test_misfits_are_refused(i2v_model, controlnet_file, tmp_path):
    ctx = ExecContext(input_dir=tmp_path)
    net = load_uni3c(controlnet_file, dtype=torch.float32)
    g = torch.Generator().manual_seed(2)
    image = ImageEmbeds(num_frames=5, image_embeds=torch.randn(20, 2, 4, 6, generator=g), lat_h=4, lat_w=6)
    text = TextEmbeds(prompt_embeds=(torch.randn(5, 32, generator=g),), negative_prompt_embeds=())
    short = Uni3CEmbeds(controlnet=net, render_latent=torch.randn(1, 16, 3, 4, 6))
    with pytest.raises(SamplingError, match="3 frames") as err:
        sample(SamplingRequest(transformer=i2v_model, image_embeds=image, text_embeds=text, steps=1, cfg=1.0,
                               shift=5.0, seed=0, scheduler="euler", uni3c=short))
    assert err.value.input_name == "uni3c_embeds"
    with pytest.raises(NodeInputError, match="not implemented"):
        node("WanVideoUni3C_embeds")(ctx, controlnet=net, render_latent={"samples": torch.zeros(1, 16, 2, 4, 6)},
                                     render_mask=torch.zeros(5, 32, 48))
    with pytest.raises(NodeInputError, match="WANVIDEOCONTROLNET"):
        node("WanVideoUni3C_embeds")(ctx, controlnet="nope", render_latent={"samples": torch.zeros(1, 16, 2, 4, 6)})
