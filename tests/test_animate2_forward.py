"""Wan Animate 2's forward (``wfrun.sampling.animate2``) against a reference written here from
ComfyUI's ``WanAnimate2Model`` by other means: the blocks' arithmetic spelled out, RoPE as
complex rotations read off diffusers' own table of a wider grid, and the per-frame attention
as one attention over generation and pose keys with a mask. Also: without pose latents it is
the plain I2V forward, and the core sampler runs WanAnimate2ToVideo's conditioning with it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.node_helpers import node
from wfrun.models.load import load_transformer
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.animate2 import Animate2Inputs, animate2_forward, takes_animate2
from wfrun.sampling.forward import rotary_embedding, transformer_forward

I2V = "diffusion_models/wan2.1_i2v_480p_14B_tiny_fp8_scaled.safetensors"


@pytest.fixture(scope="module")
def model(tiny_models):
    return load_transformer(tiny_models / I2V, dtype="fp32")


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE as complex multiplication: pairs (2i, 2i+1) times e^(i·angle_i); ``cos``/``sin``
    as diffusers keeps them (each angle twice)."""
    angle = torch.polar(torch.ones_like(cos[..., 0::2]), torch.atan2(sin[..., 1::2], cos[..., 0::2]))
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(pairs * angle).flatten(-2).type_as(x)


def _wide_rope(model, frames: int, height: int, width: int, t0: int, w0: int):
    """RoPE of frames ``t0..`` and columns ``w0..`` cut out of diffusers' rope of a grid that
    holds them (``[1, tokens, 1, D]``)."""
    p_t, p_h, p_w = model.config.patch_size
    grid = torch.zeros(1, 1, (t0 + frames) * p_t, height, (w0 * p_w) + width)
    cos, sin = model.rope(grid)
    f, h, w = t0 + frames, height // p_h, w0 + width // p_w
    cut = [t.reshape(f, h, w, -1)[t0:, :, w0:].reshape(1, -1, 1, t.shape[-1]) for t in (cos, sin)]
    return cut[0], cut[1]


def _block(block, x, context, proj, rope, extra_kv=None, mask=None, reference=(0, 1.0)):
    """One diffusers Wan block written out; the self-attention may take extra keys/values
    under a mask; ``reference``: (tokens, factor) scaling the first tokens' values."""
    shift, scale, gate, c_shift, c_scale, c_gate = (block.scale_shift_table + proj.float()).chunk(6, dim=1)
    h = (block.norm1(x.float()) * (1 + scale) + shift).type_as(x)
    a = block.attn1
    q = _rotate(a.norm_q(a.to_q(h)).unflatten(2, (a.heads, -1)), *rope)
    k = _rotate(a.norm_k(a.to_k(h)).unflatten(2, (a.heads, -1)), *rope)
    v = a.to_v(h).unflatten(2, (a.heads, -1))
    kept = (k, v)
    tokens, factor = reference
    v = torch.cat([v[:, :tokens] * factor, v[:, tokens:]], dim=1)
    if extra_kv is not None:
        k, v = torch.cat([k, extra_kv[0]], dim=1), torch.cat([v, extra_kv[1]], dim=1)
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    o = a.to_out[0](o.transpose(1, 2).flatten(2))
    x = (x.float() + o * gate).type_as(x)
    x = x + block.attn2(block.norm2(x.float()).type_as(x), context, None, None)
    h = (block.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
    return (x.float() + block.ffn(h).float() * c_gate).type_as(x), kept


def _reference(model, hidden, t, context, clip, pose, pose_context, pose_clip, pose_strength, ref_strength):
    b, _, frames, height, width = hidden.shape
    p_t, p_h, p_w = model.config.patch_size
    f, gh, gw = frames // p_t, height // p_h, width // p_w
    hw = f and gh * gw

    def embed(timestep, text, image):
        temb, proj, txt, img = model.condition_embedder(timestep, text, image)
        return temb, proj.unflatten(1, (6, -1)), torch.cat([img, txt], dim=1)

    temb, proj, ctx = embed(t, context, clip)
    _, proj_p, ctx_p = embed(torch.ones_like(t), pose_context, pose_clip)
    x = model.patch_embedding(hidden).flatten(2).transpose(1, 2)
    xp = model.patch_embedding(torch.cat([pose, torch.ones_like(pose[:, :4]), pose], dim=1)).flatten(2).transpose(1, 2)
    rope = _wide_rope(model, f, height, width, 0, 0)
    rope_p = _wide_rope(model, f - 1, height, width, 1, gw)
    mask = torch.ones(f * hw, f * hw + (f - 1) * hw, dtype=torch.bool)
    mask[:, f * hw:] = False
    for j in range(1, f):  # generation frame j sees pose frame j - 1
        mask[j * hw:(j + 1) * hw, f * hw + (j - 1) * hw:f * hw + j * hw] = True
    for block in model.blocks:
        xp, (kp, vp) = _block(block, xp, ctx_p, proj_p, rope_p)
        x, _ = _block(block, x, ctx, proj, rope, (kp, vp * pose_strength), mask, (hw, ref_strength))
    shift, scale = (model.scale_shift_table + temb.unsqueeze(1)).chunk(2, dim=1)
    x = model.proj_out((model.norm_out(x.float()) * (1 + scale) + shift).type_as(x))
    x = x.view(b, f, gh, gw, p_t, p_h, p_w, -1)
    return torch.einsum("bfhwxyzc->bcfxhywz", x).reshape(b, -1, f * p_t, gh * p_h, gw * p_w)


def _case(model, frames=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    dim_t, dim_i = model.config.text_dim, model.config.image_dim
    return dict(hidden=torch.randn(2, 36, frames, 4, 6, generator=g), t=torch.tensor([600.0, 600.0]),
                context=torch.randn(2, 7, dim_t, generator=g), clip=torch.randn(2, 5, dim_i, generator=g),
                pose=torch.randn(2, 16, frames - 1, 4, 6, generator=g),
                pose_context=torch.randn(2, 9, dim_t, generator=g), pose_clip=torch.randn(2, 5, dim_i, generator=g))


def test_the_tiny_i2v_model_is_shaped_as_animate2(model):
    assert takes_animate2(model)


def test_pose_rope_is_diffusers_rope_further_along_time_and_width(model):
    got = rotary_embedding(model, 2, 4, 6, t_start=1, w_start=3)
    want = _wide_rope(model, 2, 4, 6, 1, 3)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("pose_strength, ref_strength", [(1.0, 1.0), (0.6, 1.4)])
def test_forward_equals_the_written_out_reference(model, pose_strength, ref_strength):
    c = _case(model)
    inputs = Animate2Inputs(pose=c["pose"], context=c["pose_context"], clip=c["pose_clip"],
                            pose_strength=pose_strength, reference_strength=ref_strength)
    with torch.no_grad():
        got = animate2_forward(model, c["hidden"], c["t"], c["context"], c["clip"], inputs)
        want = _reference(model, c["hidden"], c["t"], c["context"], c["clip"], c["pose"], c["pose_context"],
                          c["pose_clip"], pose_strength, ref_strength)
    assert got.shape == (2, 16, 3, 4, 6)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_the_pose_branch_takes_the_generations_prompt_and_clip_when_it_has_none(model):
    c = _case(model, seed=1)
    with torch.no_grad():
        got = animate2_forward(model, c["hidden"], c["t"], c["context"], c["clip"],
                               Animate2Inputs(pose=c["pose"], context=None, clip=None))
        want = _reference(model, c["hidden"], c["t"], c["context"], c["clip"], c["pose"], c["context"], c["clip"],
                          1.0, 1.0)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_without_pose_latents_it_is_the_plain_i2v_forward(model):
    c = _case(model, seed=2)
    with torch.no_grad():
        got = animate2_forward(model, c["hidden"], c["t"], c["context"], c["clip"],
                               Animate2Inputs(pose=None, context=c["pose_context"]))
        want, _ = transformer_forward(model, c["hidden"], c["t"], c["context"], c["clip"])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_pose_latents_of_the_wrong_length_are_refused(model):
    c = _case(model)
    with pytest.raises(ValueError, match="reference slot"):
        animate2_forward(model, c["hidden"], c["t"], c["context"], c["clip"],
                         Animate2Inputs(pose=c["pose"][:, :, :1], context=None))


def test_the_core_sampler_runs_animate2_conditioning(tiny_models):
    """WanAnimate2ToVideo → SamplerCustom-style prediction: the predictor's call is
    ``animate2_forward`` on the concatenated I2V input and the normalised pose latents."""
    from wfrun.packs.comfy_core_models.latent_format import latent_format
    from wfrun.packs.comfy_core_models.model_input import WanPredictor, concat_channels

    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (vae,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    (core,) = node("UNETLoader")(ctx, unet_name=I2V.split("/")[1], weight_dtype="default")
    core = core.patched(dtype=torch.float32)
    core.transformer.float()
    g = torch.Generator().manual_seed(4)
    dim = core.transformer.config.text_dim
    positive = [[torch.randn(1, 7, dim, generator=g), {}]]
    negative = [[torch.randn(1, 7, dim, generator=g), {}]]
    pose_text = [[torch.randn(1, 9, dim, generator=g), {}]]
    pos, neg, latent, *_ = node("WanAnimate2ToVideo")(
        ctx, positive=positive, negative=negative, vae=vae, width=16, height=16, length=5, batch_size=1,
        reference_image=torch.rand(1, 16, 16, 3, generator=g), pose_video=torch.rand(5, 16, 16, 3, generator=g),
        positive_pose=pose_text, reference_image_strength=0.8)
    predictor = WanPredictor(core, pos, neg, "cpu")
    x = torch.randn_like(latent["samples"])
    with torch.no_grad():
        got = predictor(x, torch.tensor([700.0]), "cond")
        options = pos[0][1]
        hidden = torch.cat([x, concat_channels(core, options, x)], dim=1)
        pose = latent_format(16).process_in(options["pose_video_latent"])
        want = animate2_forward(core.transformer, hidden, torch.tensor([700.0]), positive[0][0], None,
                                Animate2Inputs(pose=pose, context=pose_text[0][0], reference_strength=0.8))
    torch.testing.assert_close(got, want)


def test_animate2_conditioning_on_another_model_is_refused_by_name(tiny_models):
    from wfrun.packs.comfy_core_models.model_input import WanPredictor

    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (vae,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    (t2v,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    positive = [[torch.zeros(1, 7, t2v.transformer.config.text_dim), {}]]
    pos, neg, *_ = node("WanAnimate2ToVideo")(ctx, positive=positive, negative=positive, vae=vae, width=16,
                                              height=16, length=5, batch_size=1)
    with pytest.raises(NodeInputError) as err:
        WanPredictor(t2v, pos, neg, "cpu")
    assert "WanAnimate2ToVideo" in str(err.value) and "Wan 2.1 I2V 14B" in str(err.value)


def test_an_int8_quantized_checkpoint_is_refused_by_name(tiny_models, tmp_path):
    """The templates' Animate 2 files are ComfyUI int8 'convrot' quantizations: integer
    weights with per-row scales, rotated; the loader says so instead of loading them."""
    from safetensors.torch import load_file, save_file

    from wfrun.models.header import CheckpointError

    state = load_file(tiny_models / I2V)
    out = {}
    for key, value in state.items():
        if key.endswith((".scale_weight", ".weight_scale", "scaled_fp8")):
            continue
        if key.endswith(".weight") and value.ndim == 2 and ".blocks." in f".{key}":
            w = value.float()
            scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127
            out[key] = (w / scale).round().to(torch.int8)
            out[key[:-len("weight")] + "weight_scale"] = scale.squeeze(1)
        else:
            out[key] = value.float() if value.is_floating_point() else value
    path = tmp_path / "wan_animate_2_int8_convrot.safetensors"
    save_file(out, path)
    with pytest.raises(CheckpointError) as err:
        load_transformer(path, dtype="fp32", num_heads=2)
    assert "int8" in str(err.value) and path.name in str(err.value) and "bf16, fp16 or fp8 release" in str(err.value)
