"""Normalized Attention Guidance (wfrun.sampling.nag) and the nodes that use it:
ComfyUI-NAG's KSamplerWithNAG (Advanced) on the core KSampler, WanVideoApplyNAG on the
wrapper's sampler.

References are independent of wfrun's code: the paper's equations written out token by
token, and diffusers' own attention module called once per context."""

from __future__ import annotations

import copy

import pytest
import torch
from diffusers import WanTransformer3DModel
from diffusers.models.transformers.transformer_wan import WanAttnProcessor

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.model_input import WanPredictor
from wfrun.packs.wanvideo.types import ImageEmbeds, SamplerOptions, TextEmbeds
from wfrun.sampling import nag as nag_module
from wfrun.sampling.forward import ForwardOptions, transformer_forward
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample
from wfrun.sampling.nag import NAGContext, NAGCrossAttnProcessor, NAGGuidance, NAGParams, NAGTextEmbeds, nag_combine


def paper_nag(z_pos: torch.Tensor, z_neg: torch.Tensor, scale: float, tau: float, alpha: float) -> torch.Tensor:
    """arXiv 2505.21179, section 3: Z~ = Z+ + phi (Z+ - Z-), with the packs' nag_scale = phi + 1;
    per token, Z^ = Z~ * min(|Z~|_1 / |Z+|_1, tau) / (|Z~|_1 / |Z+|_1); Z = alpha Z^ + (1 - alpha) Z+."""
    phi = scale - 1.0
    out = torch.empty_like(z_pos)
    for index in torch.cartesian_prod(*[torch.arange(n) for n in z_pos.shape[:-1]]).reshape(-1, z_pos.ndim - 1):
        where = tuple(int(i) for i in index)
        pos, neg = z_pos[where].double(), z_neg[where].double()
        extrapolated = pos + phi * (pos - neg)
        ratio = extrapolated.abs().sum() / pos.abs().sum()
        normalised = extrapolated * min(float(ratio), tau) / float(ratio)
        out[where] = (alpha * normalised + (1 - alpha) * pos).to(out.dtype)
    return out


def tiny(image=False, layers=2, seed=0):
    torch.manual_seed(seed)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16,
                                 out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=layers,
                                 cross_attn_norm=True, image_dim=20 if image else None,
                                 added_kv_proj_dim=32 if image else None).eval()


# --- the formula ---------------------------------------------------------------------------

def test_formula_matches_the_papers_equations_in_both_regimes():
    g = torch.Generator().manual_seed(0)
    z_pos = torch.randn(2, 9, 32, generator=g)
    z_neg = z_pos + torch.randn(2, 9, 32, generator=g) * torch.linspace(0.01, 1.0, 9).view(1, 9, 1)
    scale, tau, alpha = 10.0, 2.5, 0.25
    ratio = (z_pos * scale - z_neg * (scale - 1)).abs().sum(-1) / z_pos.abs().sum(-1)
    assert (ratio > tau).any() and (ratio <= tau).any()  # both the clamped and the free tokens are checked
    got = nag_combine(z_pos, z_neg, scale, tau, alpha)
    torch.testing.assert_close(got, paper_nag(z_pos, z_neg, scale, tau, alpha), rtol=1e-5, atol=1e-6)
    # the clamped tokens' guided part has exactly tau times the positive's L1 norm
    guided = (got - (1 - alpha) * z_pos) / alpha
    clamped = ratio > tau
    torch.testing.assert_close(guided.abs().sum(-1)[clamped], tau * z_pos.abs().sum(-1)[clamped], rtol=1e-5, atol=1e-5)


def test_scale_one_is_no_guidance_and_a_zero_token_stays_finite():
    z = torch.randn(1, 4, 8)
    torch.testing.assert_close(nag_combine(z, torch.randn(1, 4, 8), 1.0, 2.5, 0.25), z)
    zero = torch.zeros(1, 1, 8)
    assert torch.isfinite(nag_combine(zero, torch.randn(1, 1, 8), 10.0, 2.5, 0.5)).all()


# --- the cross-attention --------------------------------------------------------------------

def _without_out_projection(attn):
    bare = copy.deepcopy(attn)
    bare.to_out[0] = torch.nn.Identity()
    bare.set_processor(WanAttnProcessor())
    return bare


@torch.no_grad()
def test_cross_attention_equals_diffusers_attention_called_with_each_context():
    model = tiny()
    attn = model.blocks[0].attn2
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(1, 24, 32, generator=g)
    positive, negative = torch.randn(1, 512, 32, generator=g), torch.randn(1, 512, 32, generator=g) * 3
    params = NAGParams(10.0, 2.5, 0.25)
    bare = _without_out_projection(attn)
    expected = attn.to_out[0](paper_nag(bare(hidden, encoder_hidden_states=positive),
                                        bare(hidden, encoder_hidden_states=negative), 10.0, 2.5, 0.25))
    got = NAGCrossAttnProcessor(attn.processor, negative, params)(attn, hidden, positive)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    plain = attn(hidden, encoder_hidden_states=positive)
    assert not torch.allclose(got, plain, atol=1e-3)


@torch.no_grad()
def test_i2v_cross_attention_guides_the_text_part_and_adds_the_image_part():
    model = tiny(image=True)
    attn = model.blocks[0].attn2
    g = torch.Generator().manual_seed(2)
    hidden = torch.randn(1, 24, 32, generator=g)
    image, positive, negative = (torch.randn(1, n, 32, generator=g) for n in (7, 512, 512))
    bare = _without_out_projection(attn)
    text_only = copy.deepcopy(bare)
    text_only.add_k_proj = None  # diffusers' processor then attends the text alone
    z_pos, z_neg = text_only(hidden, encoder_hidden_states=positive), text_only(hidden, encoder_hidden_states=negative)
    image_part = bare(hidden, encoder_hidden_states=torch.cat([image, positive], dim=1)) - z_pos
    expected = attn.to_out[0](paper_nag(z_pos, z_neg, 4.0, 2.0, 0.5) + image_part)
    got = NAGCrossAttnProcessor(attn.processor, negative, NAGParams(4.0, 2.0, 0.5), image_tokens=7)(
        attn, hidden, torch.cat([image, positive], dim=1))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


class ReferenceNAGProcessor:
    """NAG from two calls of diffusers' own processor (output projection taken out)."""

    def __init__(self, negative):
        self.negative = negative
        self.base = WanAttnProcessor()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        out0 = attn.to_out[0]
        attn.to_out[0] = torch.nn.Identity()
        try:
            z_pos = self.base(attn, hidden_states, encoder_hidden_states)
            z_neg = self.base(attn, hidden_states, self.negative.expand(hidden_states.shape[0], -1, -1))
        finally:
            attn.to_out[0] = out0
        return out0(paper_nag(z_pos, z_neg, 8.0, 2.5, 0.25))


@torch.no_grad()
def test_forward_with_nag_equals_diffusers_forward_with_a_reference_processor():
    model = tiny(layers=2)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 16, 2, 4, 4, generator=g)
    prompt, nag_prompt = torch.randn(2, 512, 24, generator=g), torch.randn(1, 512, 24, generator=g)
    t = torch.tensor([700.0, 300.0])
    got, _ = transformer_forward(model, x, t, prompt, options=ForwardOptions(
        nag=NAGContext(nag_prompt, NAGParams(8.0, 2.5, 0.25))))
    assert all(isinstance(b.attn2.processor, WanAttnProcessor) for b in model.blocks)  # put back
    negative = model.condition_embedder.text_embedder(nag_prompt)
    for block in model.blocks:
        block.attn2.set_processor(ReferenceNAGProcessor(negative))
    expected = model(x, t, prompt, return_dict=False)[0]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


# --- the core KSampler (ComfyUI-NAG) ---------------------------------------------------------

@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def core(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    dim = model.transformer.config.text_dim
    g = torch.Generator().manual_seed(0)
    cond = lambda: [[torch.randn(1, 512, dim, generator=g), {}]]  # noqa: E731
    return model, cond(), cond(), cond(), {"samples": torch.zeros(1, 16, 2, 4, 4)}


@torch.no_grad()
def test_predictor_guides_the_positive_pass_while_sigma_is_at_least_sigma_end(core):
    model, positive, negative, nag_negative, _ = core
    guidance = NAGGuidance(nag_negative[0][0], NAGParams(10.0, 2.5, 0.25), sigma_end=0.5)
    plain = WanPredictor(model, positive, negative, "cpu")
    guided = WanPredictor(model, positive, negative, "cpu", nag=guidance)
    x = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(4))
    for sigma, on in ((0.8, True), (0.5, True), (0.3, False)):
        timestep = torch.tensor([sigma * model.multiplier])
        a, b = plain(x, timestep, "cond"), guided(x, timestep, "cond")
        assert (not torch.equal(a, b)) == on, f"sigma {sigma}"
        torch.testing.assert_close(guided(x, timestep, "uncond"), plain(x, timestep, "uncond"), rtol=0, atol=0)


def _advanced(ctx, model, positive, negative, latent, **kw):
    inputs = dict(model=model, add_noise="enable", noise_seed=5, steps=3, cfg=1.0, sampler_name="euler",
                  scheduler="simple", positive=positive, negative=negative, latent_image=latent, start_at_step=0,
                  end_at_step=10000, return_with_leftover_noise="disable")
    inputs.update(kw)
    calls = []
    handle = model.transformer.blocks[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        if "nag_negative" in inputs:
            (out,) = node("KSamplerWithNAG (Advanced)")(ctx, **inputs)
        else:
            (out,) = node("KSamplerAdvanced")(ctx, **inputs)
    finally:
        handle.remove()
    return out["samples"], len(calls)


@torch.no_grad()
def test_ksampler_with_nag_advanced_at_cfg_one(ctx, core):
    model, positive, negative, nag_negative, latent = core
    plain, plain_calls = _advanced(ctx, model, positive, negative, latent)
    assert plain_calls == 3  # cfg 1: the positive pass only
    guided, calls = _advanced(ctx, model, positive, negative, latent, nag_negative=nag_negative, nag_scale=10.0,
                              nag_tau=2.5, nag_alpha=0.25, nag_sigma_end=0.0)
    assert calls == 3 and torch.isfinite(guided).all() and not torch.allclose(guided, plain, atol=1e-4)
    # the same run as the core sampler handed the guidance itself
    direct, _ = _advanced(ctx, model, positive, negative, latent,
                          nag=NAGGuidance(nag_negative[0][0], NAGParams(10.0, 2.5, 0.25), 0.0))
    torch.testing.assert_close(guided, direct, rtol=0, atol=0)
    # nag_scale 1 switches NAG off (the pack's apply_guidance), and so does a sigma_end above every sigma
    for off in (dict(nag_scale=1.0, nag_sigma_end=0.0), dict(nag_scale=10.0, nag_sigma_end=2.0)):
        same, _ = _advanced(ctx, model, positive, negative, latent, nag_negative=nag_negative, nag_tau=2.5,
                            nag_alpha=0.25, **off)
        torch.testing.assert_close(same, plain, rtol=0, atol=0)


@torch.no_grad()
def test_ksampler_with_nag_runs_the_plain_ksampler_with_guidance(ctx, core):
    model, positive, negative, nag_negative, latent = core
    inputs = dict(model=model, seed=2, steps=2, cfg=3.0, sampler_name="euler", scheduler="simple",
                  positive=positive, negative=negative, latent_image=latent, denoise=1.0)
    (plain,) = node("KSampler")(ctx, **inputs)
    (guided,) = node("KSamplerWithNAG")(ctx, nag_negative=nag_negative, nag_scale=5.0, nag_tau=2.5, nag_alpha=0.25,
                                        nag_sigma_end=0.0, **inputs)
    (direct,) = node("KSampler")(ctx, nag=NAGGuidance(nag_negative[0][0], NAGParams(5.0, 2.5, 0.25)), **inputs)
    assert not torch.allclose(guided["samples"], plain["samples"], atol=1e-4)
    torch.testing.assert_close(guided["samples"], direct["samples"], rtol=0, atol=0)


def test_ksampler_with_nag_names_bad_inputs(ctx, core):
    model, positive, negative, _, latent = core
    run = node("KSamplerWithNAG (Advanced)")
    base = dict(model=model, positive=positive, negative=negative, latent_image=latent, nag_scale=10.0)
    with pytest.raises(NodeInputError) as err:
        run(ctx, nag_negative="not a conditioning", **base)
    assert err.value.input_name == "nag_negative"
    with pytest.raises(NodeInputError) as err:
        run(ctx, nag_negative=[[torch.zeros(1, 512, 7), {}]], **base)
    assert err.value.input_name == "nag_negative" and "width 7" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        node("KSamplerAdvanced")(ctx, nag="guidance", add_noise="enable", sampler_name="euler", scheduler="simple",
                                 return_with_leftover_noise="disable",
                                 **{k: v for k, v in base.items() if k != "nag_scale"})
    assert err.value.input_name == "nag"


# --- the wrapper: WanVideoApplyNAG + WanVideoSampler ------------------------------------------

def _embeds(prompts=1, seed=3):
    g = torch.Generator().manual_seed(seed)
    return TextEmbeds(tuple(torch.randn(7, 24, generator=g) for _ in range(prompts)),
                      (torch.randn(5, 24, generator=g),))


def _request(model, text_embeds, **kw):
    base = dict(transformer=model, image_embeds=ImageEmbeds(num_frames=5, target_shape=(16, 2, 4, 4)),
                text_embeds=text_embeds, steps=2, cfg=3.0, shift=5.0, seed=1, scheduler="euler")
    base.update(kw)
    return SamplingRequest(**base)


@torch.no_grad()
def test_apply_nag_guides_every_cond_pass_of_the_wrapper_sampler(monkeypatch):
    model = tiny()
    text = _embeds()
    nag_text = _embeds(seed=9)
    (embeds,) = node("WanVideoApplyNAG")(None, original_text_embeds=text, nag_text_embeds=nag_text, nag_scale=11.0,
                                         nag_tau=2.5, nag_alpha=0.25)
    assert isinstance(embeds, NAGTextEmbeds) and embeds.prompt_embeds == text.prompt_embeds
    assert embeds.negative_prompt_embeds == text.negative_prompt_embeds
    assert embeds.nag_prompt_embeds == nag_text.prompt_embeds and embeds.nag == NAGParams(11.0, 2.5, 0.25)
    plain = sample(_request(model, text))["samples"]
    seen = []
    real = nag_module.nag_combine
    monkeypatch.setattr(nag_module, "nag_combine", lambda *a: seen.append(1) or real(*a))
    guided = sample(_request(model, embeds))["samples"]
    assert len(seen) == 2 * 2  # steps x blocks, cond passes only (cfg 3 also runs the uncond passes)
    assert not torch.allclose(guided, plain, atol=1e-4)
    # nag_scale 1 guides nothing (the wrapper applies it all the same)
    (off,) = node("WanVideoApplyNAG")(None, original_text_embeds=text, nag_text_embeds=nag_text, nag_scale=1.0,
                                      nag_tau=2.5, nag_alpha=0.25)
    torch.testing.assert_close(sample(_request(model, off))["samples"], plain, rtol=1e-6, atol=1e-6)


def test_apply_nag_and_the_sampler_name_bad_inputs():
    run = node("WanVideoApplyNAG")
    with pytest.raises(NodeInputError) as err:
        run(None, original_text_embeds={"prompt_embeds": []}, nag_text_embeds=_embeds())
    assert err.value.input_name == "original_text_embeds"
    with pytest.raises(NodeInputError) as err:
        run(None, original_text_embeds=_embeds(), nag_text_embeds=_embeds(prompts=2))
    assert err.value.input_name == "nag_text_embeds"
    (embeds,) = run(None, original_text_embeds=_embeds(prompts=2), nag_text_embeds=_embeds())
    with pytest.raises(SamplingError) as err:
        sample(_request(tiny(), embeds))
    assert err.value.input_name == "text_embeds"
    (embeds,) = run(None, original_text_embeds=_embeds(), nag_text_embeds=_embeds())
    with pytest.raises(SamplingError) as err:
        sample(_request(tiny(), embeds, options=SamplerOptions(batched_cfg=True)))
    assert err.value.input_name == "batched_cfg"


@torch.no_grad()
def test_vace_blocks_cross_attention_is_guided_too(monkeypatch):
    """Both packs hand their VACE blocks the same (NAG-carrying) context as the main blocks."""
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(0)
    model = WanVACETransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16,
                                      in_channels=16, out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48,
                                      num_layers=2, cross_attn_norm=True, vace_layers=[0, 1],
                                      vace_in_channels=96).eval()
    g = torch.Generator().manual_seed(5)
    x, prompt, nag_prompt = torch.randn(1, 16, 2, 4, 4, generator=g), torch.randn(1, 512, 24), torch.randn(1, 512, 24)
    vace = ((torch.randn(1, 96, 2, 4, 4, generator=g), 1.0),)
    seen = []
    real = nag_module.nag_combine
    monkeypatch.setattr(nag_module, "nag_combine", lambda *a: seen.append(1) or real(*a))
    options = ForwardOptions(vace=vace, nag=NAGContext(nag_prompt, NAGParams(5.0, 2.5, 0.25)))
    guided, _ = transformer_forward(model, x, torch.tensor([600.0]), prompt, options=options)
    assert len(seen) == 2 + 2  # main blocks and VACE blocks
    plain, _ = transformer_forward(model, x, torch.tensor([600.0]), prompt, options=ForwardOptions(vace=vace))
    assert not torch.allclose(guided, plain, atol=1e-4)
    assert all(isinstance(b.attn2.processor, WanAttnProcessor) for b in list(model.blocks) + list(model.vace_blocks))


# --- ComfyUI-NAG's custom-sampling nodes ---------------------------------------------------------

def _custom_advanced(ctx, model, guider, latent, steps=2):
    (sampler,) = node("KSamplerSelect")(ctx, sampler_name="euler")
    (sigmas,) = node("BasicScheduler")(ctx, model=model, scheduler="simple", steps=steps, denoise=1.0)
    (noise,) = node("RandomNoise")(ctx, noise_seed=2)
    out, _ = node("SamplerCustomAdvanced")(ctx, noise=noise, guider=guider, sampler=sampler, sigmas=sigmas,
                                           latent_image=latent)
    return out["samples"]


@torch.no_grad()
def test_nag_cfg_guider_is_ksampler_with_nag_through_the_custom_sampler(ctx, core):
    # KSampler (euler, simple) and SamplerCustomAdvanced with BasicScheduler run the same sigmas
    model, positive, negative, nag_negative, latent = core
    nag = dict(nag_negative=nag_negative, nag_scale=5.0, nag_tau=2.5, nag_alpha=0.25, nag_sigma_end=0.0)
    (guider,) = node("NAGCFGGuider")(ctx, model=model, positive=positive, negative=negative, cfg=3.0,
                                     latent_image=latent, **nag)
    got = _custom_advanced(ctx, model, guider, latent)
    (want,) = node("KSamplerWithNAG")(ctx, model=model, seed=2, steps=2, cfg=3.0, sampler_name="euler",
                                      scheduler="simple", positive=positive, negative=negative, latent_image=latent,
                                      denoise=1.0, **nag)
    torch.testing.assert_close(got, want["samples"], rtol=0, atol=0)
    (plain,) = node("CFGGuider")(ctx, model=model, positive=positive, negative=negative, cfg=3.0)
    assert not torch.allclose(got, _custom_advanced(ctx, model, plain, latent), atol=1e-4)
    # nag_scale 1 is the plain guider
    (off,) = node("NAGCFGGuider")(ctx, model=model, positive=positive, negative=negative, cfg=3.0,
                                  latent_image=latent, **{**nag, "nag_scale": 1.0})
    assert off == plain


@torch.no_grad()
def test_nag_guider_is_the_positive_alone_at_cfg_one_with_nag(ctx, core):
    model, positive, negative, nag_negative, latent = core
    nag = dict(nag_negative=nag_negative, nag_scale=8.0, nag_tau=2.5, nag_alpha=0.25, nag_sigma_end=0.0)
    (guider,) = node("NAGGuider")(ctx, model=model, conditioning=positive, latent_image=latent, **nag)
    got = _custom_advanced(ctx, model, guider, latent)
    # cfg 1 runs no negative pass, so any negative gives the same KSamplerWithNAG result
    (want,) = node("KSamplerWithNAG")(ctx, model=model, seed=2, steps=2, cfg=1.0, sampler_name="euler",
                                      scheduler="simple", positive=positive, negative=negative, latent_image=latent,
                                      denoise=1.0, **nag)
    torch.testing.assert_close(got, want["samples"], rtol=0, atol=0)
    with pytest.raises(NodeInputError) as err:
        node("NAGGuider")(ctx, model=model, conditioning=positive, latent_image="x", **nag)
    assert err.value.input_name == "latent_image"


@torch.no_grad()
def test_sampler_custom_with_nag_is_sampler_custom_with_the_guidance(ctx, core):
    model, positive, negative, nag_negative, latent = core
    (sampler,) = node("KSamplerSelect")(ctx, sampler_name="euler")
    (sigmas,) = node("BasicScheduler")(ctx, model=model, scheduler="simple", steps=2, denoise=1.0)
    inputs = dict(model=model, add_noise=True, noise_seed=4, cfg=2.0, positive=positive, negative=negative,
                  sampler=sampler, sigmas=sigmas, latent_image=latent)
    out, denoised = node("SamplerCustomWithNAG")(ctx, nag_negative=nag_negative, nag_scale=6.0, nag_tau=2.5,
                                                 nag_alpha=0.25, nag_sigma_end=0.0, **inputs)
    want, want_denoised = node("SamplerCustom")(
        ctx, nag=NAGGuidance(nag_negative[0][0], NAGParams(6.0, 2.5, 0.25)), **inputs)
    plain, _ = node("SamplerCustom")(ctx, **inputs)
    torch.testing.assert_close(out["samples"], want["samples"], rtol=0, atol=0)
    torch.testing.assert_close(denoised["samples"], want_denoised["samples"], rtol=0, atol=0)
    assert not torch.allclose(out["samples"], plain["samples"], atol=1e-4)
