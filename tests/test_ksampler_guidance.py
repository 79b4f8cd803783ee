"""KSampler's CFG denoiser: the cfg1 shortcut, ComfyUI's hook dicts, CFG++ capture."""

from __future__ import annotations

import pytest
import torch

from wfrun.sampling.ksampler import (FlowSampling, SamplerNotAvailableError, cfg_denoiser, ksampler_sigmas,
                                     prepare_noise, sample)

SHAPE = (1, 4, 2, 4, 4)
COND_V, UNCOND_V = 0.3, -0.2


class Recorder:
    """A toy model: a constant velocity per prompt, recording every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, timestep, which):
        self.calls.append((which, timestep.clone()))
        return torch.full_like(x, {"cond": COND_V, "uncond": UNCOND_V}.get(which, 0.9))


def test_cfg_one_makes_no_uncond_call():
    ms = FlowSampling(8.0)
    model = Recorder()
    den = cfg_denoiser(model, 1.0, ms)
    x, sigma = torch.randn(SHAPE), torch.tensor([0.5])
    out = den(x, sigma)
    assert [w for w, _ in model.calls] == ["cond"]
    assert torch.allclose(model.calls[0][1], torch.tensor([500.0]))
    assert torch.equal(out, x - 0.5 * COND_V * torch.ones_like(x))


def test_cfg_combines_cond_and_uncond_predictions():
    ms = FlowSampling(8.0)
    model = Recorder()
    x, sigma = torch.randn(SHAPE), torch.tensor([0.4])
    out = cfg_denoiser(model, 5.0, ms)(x, sigma)
    cond, uncond = x - 0.4 * COND_V, x - 0.4 * UNCOND_V
    assert sorted(w for w, _ in model.calls) == ["cond", "uncond"]
    assert torch.allclose(out, uncond + (cond - uncond) * 5.0, atol=1e-6)


def test_post_cfg_hook_gets_comfyuis_dict_and_replaces_x0():
    ms = FlowSampling(8.0)
    seen = []

    def hook(args):
        seen.append(args)
        return args["denoised"] * 0 + 7.0

    x, sigma = torch.randn(SHAPE), torch.tensor([0.25])
    out = cfg_denoiser(Recorder(), 3.0, ms, post_cfg=[hook])(x, sigma)
    assert torch.equal(out, torch.full_like(x, 7.0))
    args = seen[0]
    for key in ("denoised", "cond", "uncond", "cond_scale", "cond_denoised", "uncond_denoised", "sigma", "input"):
        assert key in args, key
    assert args["cond_scale"] == 3.0 and args["input"] is x and torch.equal(args["sigma"], sigma)
    assert torch.allclose(args["cond_denoised"], x - 0.25 * COND_V)
    assert torch.allclose(args["uncond_denoised"], x - 0.25 * UNCOND_V)
    cond, uncond = args["cond_denoised"], args["uncond_denoised"]
    assert torch.allclose(args["denoised"], uncond + (cond - uncond) * 3.0)


def test_post_cfg_sees_zero_uncond_under_the_cfg1_shortcut():
    seen = []
    cfg_denoiser(Recorder(), 1.0, FlowSampling(), post_cfg=[lambda a: seen.append(a) or a["denoised"]])(
        torch.randn(SHAPE), torch.tensor([0.5]))
    assert seen[0]["uncond"] is None
    assert torch.equal(seen[0]["uncond_denoised"], torch.zeros(SHAPE))


def cfg_zero_star(args):
    """CFGZeroStar as a post-cfg hook (optimized scale of the cond onto the uncond prediction)."""
    x, cond_p, uncond_p = args["input"], args["cond_denoised"], args["uncond_denoised"]
    pos, neg = (x - cond_p).flatten(1), (x - uncond_p).flatten(1)
    alpha = ((pos * neg).sum(1, keepdim=True) / ((neg ** 2).sum(1, keepdim=True) + 1e-8)).reshape(-1, 1, 1, 1, 1)
    return args["denoised"] + uncond_p * (alpha - 1.0) + args["cond_scale"] * uncond_p * (1.0 - alpha)


def test_cfg_zero_star_is_expressible():
    ms = FlowSampling(8.0)
    x, sigma = torch.randn(SHAPE), torch.tensor([0.6])
    out = cfg_denoiser(Recorder(), 4.0, ms, post_cfg=[cfg_zero_star])(x, sigma)
    cond, uncond = x - 0.6 * COND_V, x - 0.6 * UNCOND_V
    pos, neg = (x - cond).flatten(), (x - uncond).flatten()
    alpha = (pos @ neg) / (neg @ neg + 1e-8)
    plain = uncond + (cond - uncond) * 4.0
    assert torch.allclose(out, plain + uncond * (alpha - 1) + 4.0 * uncond * (1 - alpha), atol=1e-5)


def test_skip_layer_guidance_style_hook_calls_the_model_again():
    ms = FlowSampling(8.0)
    model = Recorder()

    def slg(args):
        skipped = args["calc_denoised"]("cond_skip_layers")
        return args["denoised"] + (args["cond_denoised"] - skipped) * 3.0

    x, sigma = torch.randn(SHAPE), torch.tensor([0.5])
    out = cfg_denoiser(model, 2.0, ms, post_cfg=[slg])(x, sigma)
    assert [w for w, _ in model.calls][-1] == "cond_skip_layers"
    cond, uncond, skipped = x - 0.5 * COND_V, x - 0.5 * UNCOND_V, x - 0.5 * 0.9
    assert torch.allclose(out, uncond + (cond - uncond) * 2.0 + (cond - skipped) * 3.0, atol=1e-6)


def test_pre_cfg_and_cfg_function_hooks():
    ms = FlowSampling(8.0)
    x, sigma = torch.randn(SHAPE), torch.tensor([0.5])

    def swap(args):
        assert args["conds"] == ("cond", "uncond")
        return list(reversed(args["conds_out"]))

    out = cfg_denoiser(Recorder(), 2.0, ms, pre_cfg=[swap])(x, sigma)
    cond, uncond = x - 0.5 * COND_V, x - 0.5 * UNCOND_V
    assert torch.allclose(out, cond + (uncond - cond) * 2.0, atol=1e-6)

    def only_cond(args):  # a sampler_cfg_function returns a noise prediction
        assert torch.allclose(args["cond"], x - args["cond_denoised"])
        return args["cond"]

    out = cfg_denoiser(Recorder(), 2.0, ms, cfg_function=only_cond)(x, sigma)
    assert torch.allclose(out, cond, atol=1e-6)


def test_cfg_pp_samplers_run_the_uncond_pass_even_at_cfg_one():
    ms = FlowSampling(3.0)
    model = Recorder()
    latent = torch.zeros(SHAPE)
    sigmas = ksampler_sigmas(ms, "simple", 4)
    sample(cfg_denoiser(model, 1.0, ms), latent, prepare_noise(latent, 0), sigmas, "euler_cfg_pp", seed=0, ms=ms)
    assert [w for w, _ in model.calls].count("uncond") == 4
    with pytest.raises(SamplerNotAvailableError, match="euler_cfg_pp"):
        sample(lambda x, s: x, latent, prepare_noise(latent, 0), sigmas, "euler_cfg_pp", seed=0, ms=ms)


def test_euler_cfg_pp_equals_euler_when_cond_equals_uncond():
    ms = FlowSampling(3.0)
    latent = torch.zeros(SHAPE)
    noise = prepare_noise(latent, 1)
    sigmas = ksampler_sigmas(ms, "simple", 6)

    def same(x, t, which):
        return x * 0.5 + 0.1

    a = sample(cfg_denoiser(same, 3.0, ms), latent, noise, sigmas, "euler", seed=1, ms=ms)
    b = sample(cfg_denoiser(same, 3.0, ms), latent, noise, sigmas, "euler_cfg_pp", seed=1, ms=ms)
    assert torch.allclose(a, b, atol=1e-5)
