"""KJNodes' native TeaCache and Enhance-A-Video on the core KSampler: the blocks run only on
the steps the TeaCache rule computes (counted with a hook on the first block), the step
window follows the percentages, and both patches leave the input MODEL alone."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext
from wfrun.packs.comfy_core_models.model_input import step_index

STEPS = 6


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def setup(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    dim = model.transformer.config.text_dim
    g = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, 512, dim, generator=g), {}]]
    negative = [[torch.randn(1, 512, dim, generator=g), {}]]
    latent = {"samples": torch.zeros(1, 16, 3, 4, 4)}
    return model, positive, negative, latent


def _sample(ctx, model, positive, negative, latent):
    calls = []
    handle = model.transformer.blocks[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        (out,) = node("KSampler")(ctx, model=model, seed=3, steps=STEPS, cfg=4.0, sampler_name="euler",
                                   scheduler="simple", positive=positive, negative=negative, latent_image=latent,
                                   denoise=1.0)
    finally:
        handle.remove()
    return out["samples"], len(calls)


def test_teacache_computes_only_where_its_rule_says(ctx, setup):
    model, positive, negative, latent = setup
    plain, plain_calls = _sample(ctx, model, positive, negative, latent)
    assert plain_calls == 2 * STEPS  # cond and uncond every step
    # a threshold no change reaches: inside the window only the first step computes
    (cached,) = node("WanVideoTeaCacheKJ")(ctx, model=model, rel_l1_thresh=10.0, start_percent=0.5, end_percent=1.0,
                                           cache_device="offload_device", coefficients="disabled")
    assert model.teacache is None and cached.transformer is model.transformer
    out, calls = _sample(ctx, cached, positive, negative, latent)
    # steps 0-2 (i / 6 < 0.5) compute; step 3 opens the window and computes; 4 and 5 reuse
    assert calls == 2 * 4
    assert out.shape == plain.shape and not torch.allclose(out, plain)
    (off,) = node("WanVideoTeaCacheKJ")(ctx, model=model, rel_l1_thresh=0.0, start_percent=0.0, end_percent=1.0,
                                        cache_device="offload_device", coefficients="14B")
    assert off is model


def test_enhance_a_video_scales_self_attention_only_when_weighted(ctx, setup):
    model, positive, negative, latent = setup
    (same,) = node("WanVideoEnhanceAVideoKJ")(ctx, model=model, latent=latent, weight=0.0)
    assert same is model
    (enhanced,) = node("WanVideoEnhanceAVideoKJ")(ctx, model=model, latent=latent, weight=4.0)
    assert enhanced.feta == (4.0, 3) and model.feta is None
    plain, _ = _sample(ctx, model, positive, negative, latent)
    out, _ = _sample(ctx, enhanced, positive, negative, latent)
    assert torch.isfinite(out).all() and not torch.allclose(out, plain)


def test_step_index_finds_the_step_of_a_sigma():
    sigmas = torch.tensor([1.0, 0.8, 0.5, 0.2, 0.0])
    assert [step_index(sigmas, torch.tensor([s])) for s in (1.0, 0.8, 0.5, 0.2)] == [0, 1, 2, 3]
    assert step_index(sigmas, torch.tensor([0.65])) == 1  # between two sigmas: the earlier step


class _PassThrough(torch.nn.Module):
    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


def test_skip_layer_guidance_wan_skips_its_blocks_on_the_uncond_pass_inside_the_window(ctx, setup):
    import copy

    from wfrun.packs.comfy_core_models.model_input import WanPredictor
    from wfrun.sampling.conditioning import SLGArgs
    from wfrun.sampling.hooks import sampling_pass

    model, positive, negative, latent = setup
    (patched,) = node("SkipLayerGuidanceWanVideo")(ctx, model=model, blocks="1", start_percent=0.3, end_percent=0.7)
    assert model.uncond_skip is None and patched.uncond_skip == ((1,), 0.3, 0.7)
    # reference: diffusers' own forward of a copy whose block 1 passes its input through
    ref_model = copy.deepcopy(model.transformer)
    ref_model.blocks[1] = _PassThrough()
    plain_model = copy.deepcopy(model.transformer)  # outside the pass's hooks
    sigmas = torch.linspace(1.0, 0.0, STEPS + 1)
    predictor = WanPredictor(patched, positive, negative, "cpu", sigmas=sigmas)
    x = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    blocks, start, end = patched.uncond_skip
    with sampling_pass(patched.transformer, slg=SLGArgs(blocks=blocks, start_percent=start, end_percent=end)), \
            torch.no_grad():
        for step in range(STEPS):
            sigma = sigmas[step:step + 1]
            t = sigma * 1000
            inside = start <= step / STEPS <= end
            for which, cond in (("uncond", negative), ("cond", positive)):
                got = predictor(x, t, which)
                reference = ref_model if (which == "uncond" and inside) else plain_model
                want = reference(hidden_states=x, timestep=t, encoder_hidden_states=cond[0][0],
                                 return_dict=False)[0]
                torch.testing.assert_close(got, want.float(), rtol=1e-4, atol=1e-5)
                if reference is ref_model:  # the skip changes the prediction
                    plain = plain_model(hidden_states=x, timestep=t, encoder_hidden_states=cond[0][0],
                                              return_dict=False)[0]
                    assert not torch.allclose(got, plain.float(), atol=1e-3)


def test_skip_layer_guidance_wan_names_bad_blocks_and_ignores_missing_ones(ctx, setup):
    from wfrun.nodes.executor import NodeInputError

    model = setup[0]
    with pytest.raises(NodeInputError) as err:
        node("SkipLayerGuidanceWanVideo")(ctx, model=model, blocks="9, x", start_percent=0.2, end_percent=1.0)
    assert err.value.input_name == "blocks"
    # a block the model lacks is never patched, as in ComfyUI (a 40-block setting on a smaller model)
    (patched,) = node("SkipLayerGuidanceWanVideo")(ctx, model=model, blocks="99", start_percent=0.2, end_percent=1.0)
    assert patched.uncond_skip == ((99,), 0.2, 1.0)


def test_cfg_zero_star_and_init_is_the_papers_rule_after_its_zeroed_steps(ctx, setup):
    model = setup[0]
    (patched,) = node("CFGZeroStarAndInit")(ctx, model=model, use_zero_init=True, zero_init_steps=1)
    assert model.cfg_function is None
    sigmas = torch.linspace(1.0, 0.0, 7)
    fn = patched.cfg_function(sigmas)
    g = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(2, 4, 3, generator=g), torch.randn(2, 4, 3, generator=g)
    for step in (0, 1):  # steps 0..zero_init_steps predict no noise
        out = fn({"cond": cond, "uncond": uncond, "cond_scale": 5.0, "timestep": sigmas[step:step + 1]})
        assert torch.count_nonzero(out) == 0
    out = fn({"cond": cond, "uncond": uncond, "cond_scale": 5.0, "timestep": sigmas[3:4]})
    for b in range(2):  # CFG-Zero*: alpha = <c, u> / |u|^2 per batch entry
        c, u = cond[b].flatten(), uncond[b].flatten()
        a = float(c @ u / (u @ u + 1e-8))
        torch.testing.assert_close(out[b], uncond[b] * a + 5.0 * (cond[b] - uncond[b] * a))


def test_wan_video_nag_patch_equals_the_nag_sampler_without_a_sigma_end(ctx, setup):
    model, positive, negative, latent = setup
    nag_prompt = [[negative[0][0] * 0.5, {}]]
    (patched,) = node("WanVideoNAG")(ctx, model=model, conditioning=nag_prompt, nag_scale=5.0, nag_alpha=0.25,
                                     nag_tau=2.5)
    common = dict(seed=3, steps=2, cfg=1.0, sampler_name="euler", scheduler="simple", positive=positive,
                  negative=negative, latent_image=latent)
    (out,) = node("KSampler")(ctx, model=patched, denoise=1.0, **common)
    (ref,) = node("KSamplerWithNAG")(ctx, model=model, nag_negative=nag_prompt, nag_scale=5.0, nag_tau=2.5,
                                     nag_alpha=0.25, nag_sigma_end=0.0, denoise=1.0, **common)
    (plain,) = node("KSampler")(ctx, model=model, denoise=1.0, **common)
    torch.testing.assert_close(out["samples"], ref["samples"], rtol=0, atol=0)
    assert not torch.allclose(out["samples"], plain["samples"])
    assert node("WanVideoNAG")(ctx, model=model, conditioning=nag_prompt, nag_scale=0.0, nag_alpha=0.25,
                               nag_tau=2.5)[0] is model


def test_scheduled_cfg_guidance_guides_only_inside_its_window(ctx, setup):
    model, positive, negative, latent = setup
    sampler, = node("KSamplerSelect")(ctx, sampler_name="euler")
    sigmas, = node("BasicScheduler")(ctx, model=model, scheduler="simple", steps=4)
    noise, = node("RandomNoise")(ctx, noise_seed=5)
    calls = []
    handle = model.transformer.blocks[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        (guider,) = node("ScheduledCFGGuidance")(ctx, model=model, positive=positive, negative=negative, cfg=4.0,
                                                 start_percent=0.0, end_percent=1.0)
        full, _ = node("SamplerCustomAdvanced")(ctx, noise=noise, guider=guider, sampler=sampler, sigmas=sigmas,
                                                latent_image=latent)
        assert len(calls) == 2 * 4  # CFG on every step: cond and uncond
        calls.clear()
        (window,) = node("ScheduledCFGGuidance")(ctx, model=model, positive=positive, negative=negative, cfg=4.0,
                                                 start_percent=0.5, end_percent=1.0)
        node("SamplerCustomAdvanced")(ctx, noise=noise, guider=window, sampler=sampler, sigmas=sigmas,
                                      latent_image=latent)
        assert len(calls) == 4 + 2  # steps 2 and 3 (2/4, 3/4 inside [0.5, 1]) run the negative pass too
    finally:
        handle.remove()
    # a whole window equals ComfyUI's plain CFGGuider at that CFG
    (plain,) = node("CFGGuider")(ctx, model=model, positive=positive, negative=negative, cfg=4.0)
    ref, _ = node("SamplerCustomAdvanced")(ctx, noise=noise, guider=plain, sampler=sampler, sigmas=sigmas,
                                           latent_image=latent)
    torch.testing.assert_close(full["samples"], ref["samples"], rtol=0, atol=0)
    (listed,) = node("ScheduledCFGGuidance")(ctx, model=model, positive=positive, negative=negative,
                                             cfg=[4.0, 4.0], start_percent=0.0, end_percent=1.0)
    from wfrun.nodes.executor import NodeInputError

    with pytest.raises(NodeInputError) as err:
        node("SamplerCustomAdvanced")(ctx, noise=noise, guider=listed, sampler=sampler, sigmas=sigmas,
                                      latent_image=latent)
    assert err.value.input_name == "guider"


def test_riflex_patch_reaches_the_rotary_embedding(ctx, setup):
    from wfrun.packs.comfy_core_models.model_input import WanPredictor
    from wfrun.sampling.forward import ForwardOptions, transformer_forward

    model, positive, negative, latent = setup
    (patched,) = node("ApplyRifleXRoPE_WanVideo")(ctx, model=model, latent=latent, k=2)
    assert patched.riflex == (2, latent["samples"].shape[2]) and model.riflex is None
    x = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([600.0])
    with torch.no_grad():
        got = WanPredictor(patched, positive, negative, "cpu", sigmas=torch.tensor([1.0, 0.0]))(x, t, "cond")
        want = transformer_forward(model.transformer, x, t, positive[0][0], None,
                                   ForwardOptions(riflex_k=2, riflex_frames=3))[0]
        plain = WanPredictor(model, positive, negative, "cpu", sigmas=torch.tensor([1.0, 0.0]))(x, t, "cond")
    torch.testing.assert_close(got, want.float(), rtol=0, atol=0)
    assert not torch.allclose(got, plain)
    from wfrun.nodes.executor import NodeInputError

    with pytest.raises(NodeInputError) as err:
        node("ApplyRifleXRoPE_WanVideo")(ctx, model=model, latent=latent, k=99)
    assert err.value.input_name == "k"
