"""The forward's family extras — VACE hints, Fun Camera's adapter, the Fun reference latent,
per-token timesteps — each against an independent reference: diffusers' own forward (its
VACE model; its Wan 2.2 per-token timesteps), or diffusers' plain forward with the extra
written out in functional torch from the file's weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from wfrun.models import tiny as tiny_module
from wfrun.models.load import load_transformer
from wfrun.sampling.forward import ForwardOptions, transformer_forward

DIMS = dict(tiny_module.TRANSFORMER, layers=4, vace_blocks=2)


def _load(tmp_path, task: str, name: str, seed: int = 0):
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in tiny_module.transformer_weights(task, seed, DIMS).items()}, str(path))
    return load_transformer(path, dtype="fp32", num_heads=DIMS["heads"]).eval(), load_file(str(path))


def _text(seed=3):
    return torch.randn(1, 7, DIMS["text_dim"], generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_vace_hints_match_diffusers_vace_forward(tmp_path):
    model, _ = _load(tmp_path, "vace", "wan2.1_vace_14B_fp16.safetensors")
    assert type(model).__name__ == "WanVACETransformer3DModel"
    assert list(model.config.vace_layers) == [0, 2]  # 4 blocks, 2 VACE blocks: after blocks 0 and 2
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, 3, 4, 6, generator=g)
    vace = torch.randn(1, 96, 3, 4, 6, generator=g)
    t, ctx = torch.tensor([640.0]), _text()
    for strength in (1.0, 0.35):
        expected = model(x, t, ctx, control_hidden_states=vace,
                         control_hidden_states_scale=torch.full((2,), strength), return_dict=False)[0]
        got, _ = transformer_forward(model, x, t, ctx, options=ForwardOptions(vace=((vace, strength),)))
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # two contexts add their hints: strength 0 on the second equals the first alone
    double, _ = transformer_forward(model, x, t, ctx, options=ForwardOptions(vace=((vace, 0.35), (vace * 3, 0.0))))
    torch.testing.assert_close(double, got, rtol=1e-5, atol=1e-5)
    plain, _ = transformer_forward(model, x, t, ctx)
    assert not torch.allclose(plain, got)  # the hints change the output


@torch.no_grad()
def test_vace_context_on_a_model_without_vace_is_refused(tmp_path):
    model, _ = _load(tmp_path, "t2v", "wan2.1_t2v_1.3B.safetensors")
    x = torch.randn(1, 16, 2, 4, 4)
    with pytest.raises(ValueError, match="VACE"):
        transformer_forward(model, x, torch.tensor([1.0]), _text(),
                            options=ForwardOptions(vace=((torch.zeros(1, 96, 2, 4, 4), 1.0),)))


def _adapter_reference(sd: dict, rays: torch.Tensor, prefix: str = "control_adapter.") -> torch.Tensor:
    """ComfyUI's WanCamAdapter written out: pixel-unshuffle by 8, a stride-2 2x2 conv, one
    residual block of two 3x3 convs; frames folded into the batch."""
    b, c, f, h, w = rays.shape
    x = rays.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
    x = F.conv2d(F.pixel_unshuffle(x, 8), sd[prefix + "conv.weight"].float(), sd[prefix + "conv.bias"].float(), stride=2)
    r = prefix + "residual_blocks.0."
    y = F.conv2d(F.relu(F.conv2d(x, sd[r + "conv1.weight"].float(), sd[r + "conv1.bias"].float(), padding=1)),
                 sd[r + "conv2.weight"].float(), sd[r + "conv2.bias"].float(), padding=1)
    x = x + y
    return x.reshape(b, f, *x.shape[1:]).permute(0, 2, 1, 3, 4)


@torch.no_grad()
def test_camera_adapter_output_is_added_to_the_patch_embedding(tmp_path):
    model, sd = _load(tmp_path, "fun-camera", "wan2.1_fun_camera_v1.1_1.3B_bf16.safetensors")
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 32, 3, 4, 6, generator=g)
    rays = torch.randn(1, 24, 3, 32, 48, generator=g)  # pixel resolution: latents x 8
    clip = torch.randn(1, 5, DIMS["image_dim"], generator=g)
    t, ctx = torch.tensor([333.0]), _text()
    addition = _adapter_reference(sd, rays)
    handle = model.patch_embedding.register_forward_hook(lambda m, a, out: out + addition)
    try:
        expected = model(x, t, ctx, encoder_hidden_states_image=clip, return_dict=False)[0]
    finally:
        handle.remove()
    got, _ = transformer_forward(model, x, t, ctx, clip, options=ForwardOptions(camera=rays))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_reference_latent_is_a_clean_frame_zero(tmp_path):
    """The reference's ``ref_conv`` tokens in front of the video's, RoPE over one more frame,
    dropped before the head = diffusers' plain forward on a video with one more frame in
    front whose patch embedding is the reference's, minus that frame's output."""
    model, sd = _load(tmp_path, "fun-control-a14b", "wan2.2_fun_control_low_noise_14B_fp16.safetensors")
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 52, 2, 4, 6, generator=g)
    ref = torch.randn(1, 16, 4, 6, generator=g)
    t, ctx = torch.tensor([777.0]), _text()
    ref_tokens = F.conv2d(ref, sd["ref_conv.weight"].float(), sd["ref_conv.bias"].float(), stride=2)

    def put_reference(module, args, out):
        out = out.clone()
        out[:, :, 0] = ref_tokens
        return out

    padded = torch.cat([torch.zeros_like(x[:, :, :1]), x], dim=2)
    handle = model.patch_embedding.register_forward_hook(put_reference)
    try:
        expected = model(padded, t, ctx, return_dict=False)[0][:, :, 1:]
    finally:
        handle.remove()
    got, _ = transformer_forward(model, x, t, ctx, options=ForwardOptions(reference=ref))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    without, _ = transformer_forward(model, x, t, ctx)
    assert without.shape == got.shape and not torch.allclose(without, got)


@torch.no_grad()
def test_per_token_timesteps_match_diffusers_wan22(tmp_path):
    """TI2V-5B under a noise mask: a timestep per token, as diffusers' Wan 2.2 forward takes them."""
    model, _ = _load(tmp_path, "ti2v-5b", "wan2.2_ti2v_5B_fp16.safetensors")
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 48, 3, 4, 6, generator=g)
    per_frame = torch.tensor([[0.0, 500.0, 500.0]])
    per_token = per_frame.repeat_interleave(2 * 3, dim=1)  # 2x3 tokens a frame
    t_ctx = _text()
    expected = model(x, per_token, t_ctx, return_dict=False)[0]
    got, _ = transformer_forward(model, x, per_token, t_ctx)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    by_frame, _ = transformer_forward(model, x, per_frame, t_ctx)
    torch.testing.assert_close(by_frame, expected, rtol=1e-5, atol=1e-5)
