"""WanVideoAddControlEmbeds (ComfyUI-WanVideoWrapper, 2025-08-14 on): Fun control added to
embeds made elsewhere, and what the sampler then feeds the model — each checked against
the pack's rules written out here, on diffusers' own forward:

- the node replaces only ``control_embeds`` (latents squeezed, the reference's first frame);
- Wan 2.2 Fun Control (52 input channels), image embeds: every step's model input is
  ``[latents, control or zeros outside the window, mask, image latents]``;
- the same model, empty embeds and no control latents (a reference alone): zeros for the
  control, the mask and the image latents, and the reference's ``ref_conv`` tokens in
  front of the video's (one more RoPE frame, dropped before the output);
- Wan 2.1 Fun Control (48): image embeds lose their mask and their latents after frame 0;
- control latents of another size and a reference on a model without ``ref_conv`` are
  refused by name.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from diffusers import WanTransformer3DModel

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.conditioning import ControlEmbeds, ImageEmbeds, TextEmbeds
from wfrun.sampling.loop import SamplingError, SamplingRequest, prepare, sample

TEXT_DIM = 24
T, H, W = 3, 4, 6  # latent frames and size: 9 frames of 48x32


def tiny_fun(in_channels: int, ref_conv: bool = False) -> WanTransformer3DModel:
    torch.manual_seed(0)
    model = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16,
                                  in_channels=in_channels, out_channels=16, text_dim=TEXT_DIM, freq_dim=16,
                                  ffn_dim=48, num_layers=2, cross_attn_norm=True).eval()
    if ref_conv:
        model.ref_conv = nn.Conv2d(16, 32, kernel_size=(2, 2), stride=(2, 2))
    return model


def text() -> TextEmbeds:
    g = torch.Generator().manual_seed(3)
    return TextEmbeds(prompt_embeds=(torch.randn(7, TEXT_DIM, generator=g),),
                      negative_prompt_embeds=(torch.randn(5, TEXT_DIM, generator=g),))


def padded(prompt: torch.Tensor) -> torch.Tensor:
    return torch.cat([prompt, prompt.new_zeros(512 - prompt.shape[0], prompt.shape[1])]).unsqueeze(0)


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def i2v_embeds() -> ImageEmbeds:
    """WanVideoImageToVideoEncode's embeds for a start image: 4 mask channels (frame 0 set)
    and 16 latent channels."""
    mask = torch.zeros(4, T, H, W)
    mask[:, 0] = 1
    return ImageEmbeds(num_frames=(T - 1) * 4 + 1, image_embeds=torch.cat([mask, randn(16, T, H, W, seed=1)]),
                       lat_h=H, lat_w=W, max_seq_len=T * H * W // 4)


def add_control(embeds: ImageEmbeds, latents: dict | None = None, ref: dict | None = None,
                start: float = 0.0, end: float = 1.0) -> ImageEmbeds:
    (out,) = node("WanVideoAddControlEmbeds")(ExecContext(), embeds=embeds, start_percent=start, end_percent=end,
                                              latents=latents, fun_ref_image=ref)
    return out


def request(model, embeds: ImageEmbeds, steps: int = 3) -> SamplingRequest:
    return SamplingRequest(transformer=model, image_embeds=embeds, text_embeds=text(), steps=steps, cfg=1.0,
                           shift=5.0, seed=7, scheduler="euler")


def euler_run(model, req: SamplingRequest, model_input) -> torch.Tensor:
    """The pack's loop without guidance: ``x += v * (sigma_next - sigma)``, the model's
    input built by ``model_input(latent, step index, step percent)``."""
    p = prepare(req)
    latent = p.latent.clone()
    context = padded(text().prompt_embeds[0])
    sigmas = [float(t) / 1000 for t in p.timesteps] + [0.0]
    for i, t in enumerate(p.timesteps):
        v = model_input(latent, i, i / len(p.timesteps), t.reshape(1), context)
        latent = latent + v * (sigmas[i + 1] - sigmas[i])
    return latent


# --- the node -------------------------------------------------------------------------------

def test_the_node_replaces_only_the_control_embeds():
    base = i2v_embeds()
    old = ControlEmbeds(control_images=torch.ones(16, T, H, W), start_percent=0.3)
    base = ImageEmbeds(**{**base.__dict__, "control_embeds": old})
    control = randn(1, 16, T, H, W, seed=2)
    ref = randn(1, 16, 2, H, W, seed=3)
    out = add_control(base, {"samples": control}, {"samples": ref}, start=0.1, end=0.6)
    assert out.control_embeds.control_images.shape == (16, T, H, W)
    assert torch.equal(out.control_embeds.control_images, control[0])
    assert torch.equal(out.control_embeds.fun_ref_image, ref[:, :, 0])
    assert (out.control_embeds.start_percent, out.control_embeds.end_percent) == (0.1, 0.6)
    for name in ("num_frames", "image_embeds", "lat_h", "lat_w", "max_seq_len", "clip_context", "end_image"):
        assert getattr(out, name) is getattr(base, name), name
    bare = add_control(base)
    assert bare.control_embeds.control_images is None and bare.control_embeds.fun_ref_image is None


@pytest.mark.parametrize("name, value", [("embeds", {"samples": 1}), ("latents", torch.zeros(1, 16, T, H, W)),
                                         ("latents", {"samples": torch.zeros(16, H, W)}),
                                         ("fun_ref_image", {"samples": torch.zeros(1, 16, H, W)})])
def test_bad_inputs_are_named(name, value):
    inputs = dict(embeds=i2v_embeds(), start_percent=0.0, end_percent=1.0)
    inputs[name] = value
    with pytest.raises(NodeInputError) as err:
        node("WanVideoAddControlEmbeds")(ExecContext(), **inputs)
    assert err.value.input_name == name


# --- what the sampler feeds the model -------------------------------------------------------

@torch.no_grad()
def test_wan22_fun_control_on_image_embeds_in_and_out_of_the_window():
    model = tiny_fun(52)
    base = i2v_embeds()
    control = randn(1, 16, T, H, W, seed=4)
    embeds = add_control(base, {"samples": control}, start=0.0, end=0.5)
    got = sample(request(model, embeds))["samples"][0]

    y = base.image_embeds  # mask then latents, as WanVideoImageToVideoEncode gave them

    def model_input(latent, idx, pct, t, context):
        inside = 0.0 <= pct <= 0.5 or (idx == 0 and pct >= 0.0)
        ctl = control[0] if inside else torch.zeros_like(control[0])
        x = torch.cat([latent, ctl, y]).unsqueeze(0)
        return model(x, t, context, return_dict=False)[0][0]

    expected = euler_run(model, request(model, embeds), model_input)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    # the window matters: steps 0 and 1 of 3 are inside, step 2 is not
    always = sample(request(model, add_control(base, {"samples": control})))["samples"][0]
    assert not torch.allclose(always, got)


@torch.no_grad()
def test_wan22_fun_reference_alone_on_empty_embeds():
    model = tiny_fun(52, ref_conv=True)
    (empty,) = node("WanVideoEmptyEmbeds")(ExecContext(), width=W * 8, height=H * 8, num_frames=(T - 1) * 4 + 1)
    ref = randn(1, 16, 1, H, W, seed=5)
    embeds = add_control(empty, ref={"samples": ref})
    got = sample(request(model, embeds, steps=2))["samples"][0]

    w, b = model.ref_conv.weight, model.ref_conv.bias
    ref_tokens = torch.nn.functional.conv2d(ref[:, :, 0], w, b, stride=2)

    def put_reference(module, args, out):
        out = out.clone()
        out[:, :, 0] = ref_tokens
        return out

    def model_input(latent, idx, pct, t, context):
        # zeros for control (no latents), mask and image latents; one frame in front for the reference
        x = torch.cat([latent, torch.zeros(16 + 4 + 16, T, H, W)]).unsqueeze(0)
        x = torch.cat([torch.zeros_like(x[:, :, :1]), x], dim=2)
        handle = model.patch_embedding.register_forward_hook(put_reference)
        try:
            return model(x, t, context, return_dict=False)[0][0][:, 1:]
        finally:
            handle.remove()

    expected = euler_run(model, request(model, embeds, steps=2), model_input)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@torch.no_grad()
def test_wan21_fun_control_drops_the_mask_of_image_embeds():
    model = tiny_fun(48)
    base = i2v_embeds()
    control = randn(1, 16, T, H, W, seed=6)
    embeds = add_control(base, {"samples": control})
    got = sample(request(model, embeds, steps=2))["samples"][0]

    latents = base.image_embeds[4:].clone()
    latents[:, 1:] = 0  # the pack: Fun 2.1 models take no mask; only the start frame's latent stays

    def model_input(latent, idx, pct, t, context):
        x = torch.cat([latent, control[0], latents]).unsqueeze(0)
        return model(x, t, context, return_dict=False)[0][0]

    expected = euler_run(model, request(model, embeds, steps=2), model_input)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert torch.count_nonzero(base.image_embeds[4:, 1:]) > 0  # the embeds themselves are untouched


def test_control_latents_of_another_size_are_refused():
    embeds = add_control(i2v_embeds(), {"samples": torch.zeros(1, 16, T + 1, H, W)})
    with pytest.raises(SamplingError) as err:
        prepare(request(tiny_fun(52), embeds))
    assert err.value.input_name == "image_embeds" and "frame count" in (err.value.hint or "")


def test_a_reference_for_a_model_without_ref_conv_is_refused():
    (empty,) = node("WanVideoEmptyEmbeds")(ExecContext(), width=W * 8, height=H * 8, num_frames=(T - 1) * 4 + 1)
    embeds = add_control(empty, ref={"samples": torch.zeros(1, 16, 1, H, W)})
    with pytest.raises(SamplingError) as err:
        prepare(request(tiny_fun(52), embeds))
    assert err.value.input_name == "image_embeds" and "ref_conv" in str(err.value)
