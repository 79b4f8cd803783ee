"""ComfyUI's core conditioning nodes (ZeroOut, Combine, SetTimestepRange, Concat, Average) and
the core sampler running several conditioning entries per prompt.

References, written here apart from wfrun's code: the nodes' arithmetic from ComfyUI's
``nodes.py``; for the sampler, ComfyUI's ``calc_cond_batch``: each entry whose range holds
the sigma gives a data prediction (x0), the prompt's x0 is their mean weighted by strength
(zeros when none applies), and a range ``start..end`` percent holds sigma when
``percent_to_sigma(end) <= sigma <= percent_to_sigma(start)`` — the flow formula
``sigma(p) = s·(1-p) / (1 + (s-1)·(1-p))`` written out below. The single-prompt predictions
the combined ones are checked against come from separate samplers run with each prompt alone.
"""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.model_input import WanPredictor
from wfrun.sampling import ksampler as ks


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def model(ctx):
    return node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")[0]


@pytest.fixture(scope="module")
def prompts(model):
    dim = model.transformer.config.text_dim
    g = torch.Generator().manual_seed(11)
    return [[[torch.randn(1, 512, dim, generator=g), {}]] for _ in range(3)]


def flow_sigma_at_percent(p: float, shift: float = 8.0) -> float:
    u = 1.0 - p
    return shift * u / (1 + (shift - 1) * u)


def latent():
    return {"samples": torch.zeros(1, 16, 2, 4, 4)}


def counted_ksampler(ctx, model, positive, negative, **kw):
    inputs = dict(model=model, seed=7, steps=3, cfg=3.0, sampler_name="euler", scheduler="simple",
                  positive=positive, negative=negative, latent_image=latent(), denoise=1.0)
    inputs.update(kw)
    calls = []
    handle = model.transformer.blocks[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        (out,) = node("KSampler")(ctx, **inputs)
    finally:
        handle.remove()
    return out["samples"], len(calls)


# --- the nodes ----------------------------------------------------------------------------

def test_zero_out_zeroes_tensor_and_pooled_and_keeps_the_rest():
    tensor = torch.randn(1, 6, 4)
    image = torch.randn(1, 16, 2, 4, 4)
    cond = [[tensor, {"pooled_output": torch.ones(1, 3), "concat_latent_image": image}],
            [tensor * 2, {"pooled_output": None}]]
    (out,) = node("ConditioningZeroOut")(ExecContext(), conditioning=cond)
    assert len(out) == 2
    assert torch.equal(out[0][0], torch.zeros(1, 6, 4)) and out[0][0].dtype == tensor.dtype
    assert torch.equal(out[0][1]["pooled_output"], torch.zeros(1, 3))
    assert out[0][1]["concat_latent_image"] is image
    assert torch.equal(out[1][0], torch.zeros(1, 6, 4)) and out[1][1] == {"pooled_output": None}
    # the input is untouched
    assert torch.equal(cond[0][1]["pooled_output"], torch.ones(1, 3)) and cond[0][0] is tensor


def test_combine_concatenates_and_timestep_range_marks_every_entry():
    a, b, c = ([[torch.full((1, 2, 3), float(i)), {"k": i}]] for i in range(3))
    (both,) = node("ConditioningCombine")(ExecContext(), conditioning_1=a + b, conditioning_2=c)
    assert [e[1]["k"] for e in both] == [0, 1, 2] and both[0][0] is a[0][0]
    (ranged,) = node("ConditioningSetTimestepRange")(ExecContext(), conditioning=both, start=0.2, end=0.7)
    assert [(e[1]["start_percent"], e[1]["end_percent"], e[1]["k"]) for e in ranged] == [(0.2, 0.7, i)
                                                                                          for i in range(3)]
    assert "start_percent" not in both[0][1]


def test_concat_appends_the_first_from_entry_on_the_token_axis():
    to = [[torch.randn(1, 5, 4), {"x": 1}], [torch.randn(1, 2, 4), {}]]
    src = [[torch.randn(1, 3, 4), {}], [torch.randn(1, 9, 4), {}]]
    (out,) = node("ConditioningConcat")(ExecContext(), conditioning_to=to, conditioning_from=src)
    assert [e[0].shape[1] for e in out] == [8, 5]
    assert torch.equal(out[0][0][:, :5], to[0][0]) and torch.equal(out[0][0][:, 5:], src[0][0])
    assert out[0][1] == {"x": 1} and out[0][1] is not to[0][1]
    with pytest.raises(NodeInputError) as err:
        node("ConditioningConcat")(ExecContext(), conditioning_to=to, conditioning_from=[[torch.randn(1, 3, 7), {}]])
    assert err.value.input_name == "conditioning_from"


def test_average_mixes_tensors_padding_with_zero_tokens_and_pooled():
    to = [[torch.randn(1, 5, 4), {"pooled_output": torch.ones(1, 2)}], [torch.randn(1, 2, 4), {}],
          [torch.randn(1, 3, 4), {"pooled_output": None}]]
    src = [[torch.randn(1, 3, 4), {"pooled_output": torch.full((1, 2), 3.0)}]]
    (out,) = node("ConditioningAverage")(ExecContext(), conditioning_to=to, conditioning_from=src,
                                         conditioning_to_strength=0.25)
    padded = torch.cat([src[0][0], torch.zeros(1, 2, 4)], dim=1)
    torch.testing.assert_close(out[0][0], 0.25 * to[0][0] + 0.75 * padded)
    torch.testing.assert_close(out[1][0], 0.25 * to[1][0] + 0.75 * src[0][0][:, :2])
    torch.testing.assert_close(out[0][1]["pooled_output"], torch.full((1, 2), 0.25 + 2.25))
    # no key: ComfyUI mixes "from" with itself; a key holding None: "from"'s as it is
    torch.testing.assert_close(out[1][1]["pooled_output"], torch.full((1, 2), 3.0))
    assert out[2][1]["pooled_output"] is src[0][1]["pooled_output"]


def test_nodes_name_a_bad_conditioning():
    with pytest.raises(NodeInputError) as err:
        node("ConditioningCombine")(ExecContext(), conditioning_1=[[torch.zeros(1, 2, 3), {}]], conditioning_2="text")
    assert err.value.input_name == "conditioning_2"
    with pytest.raises(NodeInputError) as err:
        node("ConditioningZeroOut")(ExecContext(), conditioning=[["not a tensor", {}]])
    assert err.value.input_name == "conditioning"


# --- the sampler --------------------------------------------------------------------------

def _denoiser(model, positive, negative, cfg):
    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    return ks.cfg_denoiser(WanPredictor(model, positive, negative, "cpu"), cfg, ms), ms


@torch.no_grad()
def test_combined_prompts_predict_the_mean_of_each_prompt_alone(model, prompts):
    p1, p2, neg = prompts
    (both,) = node("ConditioningCombine")(ExecContext(), conditioning_1=p1, conditioning_2=p2)
    combined, ms = _denoiser(model, both, neg, 4.0)
    one, _ = _denoiser(model, p1, neg, 4.0)
    two, _ = _denoiser(model, p2, neg, 4.0)
    x = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    sigmas = ks.ksampler_sigmas(ms, "simple", 3, 1.0, sampler_name="euler")
    for sigma in sigmas[:-1]:
        s = sigma.reshape(1)
        # CFG is linear: the mean of the cond x0s guided = the mean of each prompt's guided x0
        torch.testing.assert_close(combined(x, s), (one(x, s) + two(x, s)) / 2, rtol=1e-5, atol=1e-5)

    # and over a whole euler run, step by step, from the same noise
    noise = ks.prepare_noise(latent()["samples"], 7)
    got = ks.sample(combined, torch.zeros_like(noise), noise, sigmas, "euler", seed=7, ms=ms)
    want = ks.sample(lambda x, s: (one(x, s) + two(x, s)) / 2, torch.zeros_like(noise), noise, sigmas, "euler",
                     seed=7, ms=ms)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@torch.no_grad()
def test_strength_weights_the_mean(model, prompts):
    p1, p2, neg = prompts
    heavy = [[p2[0][0], {"strength": 3.0}]]
    predictor = WanPredictor(model, p1 + heavy, neg, "cpu")
    alone1, alone2 = WanPredictor(model, p1, neg, "cpu"), WanPredictor(model, p2, neg, "cpu")
    x = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0.7 * model.multiplier])
    torch.testing.assert_close(predictor(x, t, "cond"), (alone1(x, t, "cond") + 3 * alone2(x, t, "cond")) / 4,
                               rtol=1e-5, atol=1e-5)
    # strengths summing to 0: ComfyUI's x0 is 0 · out / (0 + 1e-37) = zeros
    assert WanPredictor(model, [[p1[0][0], {"strength": 0.0}]], neg, "cpu")(x, t, "cond") is None


def test_same_prompt_twice_gives_the_same_run_with_twice_the_calls(ctx, model, prompts):
    p1, _, neg = prompts
    (twice,) = node("ConditioningCombine")(ExecContext(), conditioning_1=p1, conditioning_2=p1)
    once, calls_once = counted_ksampler(ctx, model, p1, neg)
    out, calls = counted_ksampler(ctx, model, twice, neg)
    assert torch.equal(out, once)  # (a + a) / 2 == a exactly
    assert calls == calls_once + calls_once // 2  # the positive side runs twice per step, the negative once


def test_a_range_covering_no_step_equals_running_without_that_entry(ctx, model, prompts):
    p1, p2, neg = prompts
    # 3 simple steps evaluate sigma(1), sigma(2/3), sigma(1/3) of t: percents 0, 1/3, 2/3
    evaluated = [flow_sigma_at_percent(p) for p in (0.0, 1 / 3, 2 / 3)]
    start, end = 0.9, 0.95
    assert all(not (flow_sigma_at_percent(end) <= s <= flow_sigma_at_percent(start)) for s in evaluated)
    (late,) = node("ConditioningSetTimestepRange")(ExecContext(), conditioning=p2, start=start, end=end)
    (both,) = node("ConditioningCombine")(ExecContext(), conditioning_1=p1, conditioning_2=late)
    alone, calls_alone = counted_ksampler(ctx, model, p1, neg)
    out, calls = counted_ksampler(ctx, model, both, neg)
    assert torch.equal(out, alone) and calls == calls_alone


@torch.no_grad()
def test_a_range_switches_its_entry_at_the_percent_sigma(model, prompts):
    p1, p2, neg = prompts
    (early,) = node("ConditioningSetTimestepRange")(ExecContext(), conditioning=p2, start=0.0, end=0.5)
    predictor = WanPredictor(model, p1 + early, neg, "cpu")
    alone1, alone2 = WanPredictor(model, p1, neg, "cpu"), WanPredictor(model, p2, neg, "cpu")
    x = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    edge = flow_sigma_at_percent(0.5)  # 8/9: both bounds are inclusive in ComfyUI
    for sigma, applies in ((1.0, True), (edge, True), (edge * 0.999, False), (0.2, False)):
        t = torch.tensor([sigma], dtype=torch.float32) * model.multiplier
        want = (alone1(x, t, "cond") + alone2(x, t, "cond")) / 2 if applies else alone1(x, t, "cond")
        torch.testing.assert_close(predictor(x, t, "cond"), want, rtol=1e-5, atol=1e-5, msg=f"sigma {sigma}")


@torch.no_grad()
def test_no_entry_in_range_predicts_zeros_as_comfyui(model, prompts):
    p1, _, neg = prompts
    (late,) = node("ConditioningSetTimestepRange")(ExecContext(), conditioning=p1, start=0.5, end=1.0)
    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    x = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(4))
    sigma = torch.tensor([1.0])
    assert WanPredictor(model, late, neg, "cpu")(x, sigma * model.multiplier, "cond") is None
    # cfg 1: the positive x0 alone, which is ComfyUI's zeros
    assert torch.equal(ks.cfg_denoiser(WanPredictor(model, late, neg, "cpu"), 1.0, ms)(x, sigma), torch.zeros_like(x))
    # cfg 3: uncond + (0 - uncond) * 3
    uncond = ks.cfg_denoiser(WanPredictor(model, neg, neg, "cpu"), 1.0, ms)(x, sigma)
    torch.testing.assert_close(ks.cfg_denoiser(WanPredictor(model, late, neg, "cpu"), 3.0, ms)(x, sigma),
                               uncond - 3 * uncond)


def test_one_entry_runs_as_before_bit_for_bit(ctx, model, prompts):
    p1, _, neg = prompts
    plain, calls = counted_ksampler(ctx, model, p1, neg)
    # the same entry with a range covering every step goes through the range check, same result
    (ranged,) = node("ConditioningSetTimestepRange")(ExecContext(), conditioning=p1, start=0.0, end=1.0)
    out, calls_ranged = counted_ksampler(ctx, model, ranged, neg)
    assert torch.equal(out, plain) and calls == calls_ranged == 6


@torch.no_grad()
def test_one_entry_prediction_is_the_transformer_call(model, prompts):
    from wfrun.sampling.forward import ForwardOptions, transformer_forward

    p1, _, neg = prompts
    x = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(5))
    t = torch.tensor([0.6]) * model.multiplier
    got = WanPredictor(model, p1, neg, "cpu")(x, t, "cond")
    want, _ = transformer_forward(model.transformer, x.to(model.dtype), t.float(), p1[0][0].to(model.dtype), None,
                                  ForwardOptions(step_percent=0.5))
    assert torch.equal(got, want.float())


def test_area_and_mask_entries_are_refused_by_name(ctx, model, prompts):
    p1, _, neg = prompts
    for key, value in (("area", (8, 8, 0, 0)), ("mask", torch.ones(1, 4, 4))):
        with pytest.raises(NodeInputError) as err:
            counted_ksampler(ctx, model, p1 + [[p1[0][0], {key: value}]], neg)
        assert err.value.input_name == "positive" and key in str(err.value)


def test_step_caches_with_several_entries(ctx, model, prompts):
    p1, p2, neg = prompts
    (both,) = node("ConditioningCombine")(ExecContext(), conditioning_1=p1, conditioning_2=p2)
    magcache = node("MagCache")(ctx, model=model, model_type="wan2.1_t2v_14B", magcache_thresh=0.24,
                                retention_ratio=0.2, magcache_K=4, start_step=0, end_step=-1)[0]
    with pytest.raises(NodeInputError) as err:
        counted_ksampler(ctx, magcache, both, neg)
    assert err.value.input_name == "positive" and "MagCache" in str(err.value)
    # EasyCache that never skips (threshold 0) around a prompt with no entry in range on the
    # first steps: the calls with nothing to run pass through, the result is the plain run's
    (late,) = node("ConditioningSetTimestepRange")(ExecContext(), conditioning=p1, start=0.5, end=1.0)
    easy = node("EasyCache")(ctx, model=model, reuse_threshold=0.0, start_percent=0.0, end_percent=1.0,
                             verbose=False)[0]
    plain, calls = counted_ksampler(ctx, model, late, neg)
    cached, calls_cached = counted_ksampler(ctx, easy, late, neg)
    assert torch.equal(cached, plain) and calls_cached == calls < 6
