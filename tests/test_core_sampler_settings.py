"""ComfyUI's sampler nodes with settings (SamplerEulerAncestral, SamplerDPMPP_2M_SDE, SamplerLMS,
…) and sigma tools (FlipSigmas, SetFirstSigma, ExtendIntermediateSigmas).

References: a sampler node at the settings its sampler name implies gives KSamplerSelect's
result bit for bit; Euler ancestral at eta 0 is Euler (the RF ancestral step then adds no
noise and steps to the next sigma); other settings change the result. The sigma tools against
ComfyUI's code written out."""

from __future__ import annotations

import math

import pytest
import torch

from node_helpers import node, tiny_core
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.fixture(scope="module")
def core(tiny_models):
    ctx, model, positive, negative = tiny_core(tiny_models)
    (sigmas,) = node("BasicScheduler")(ctx, model=model, scheduler="simple", steps=3, denoise=1.0)
    return ctx, model, positive, negative, sigmas


def _run(core, sampler) -> torch.Tensor:
    ctx, model, positive, negative, sigmas = core
    (out, _) = node("SamplerCustom")(ctx, model=model, add_noise=True, noise_seed=7, cfg=2.0, positive=positive,
                                     negative=negative, sampler=sampler, sigmas=sigmas,
                                     latent_image={"samples": torch.zeros(1, 16, 2, 4, 4)})
    return out["samples"]


def _select(core, name):
    return _run(core, node("KSamplerSelect")(core[0], sampler_name=name)[0])


@torch.no_grad()
def test_sampler_nodes_at_their_defaults_are_ksampler_select(core):
    ctx = core[0]
    cases = [(node("SamplerEulerAncestral")(ctx, eta=1.0, s_noise=1.0), "euler_ancestral"),
             (node("SamplerDPMPP_2S_Ancestral")(ctx, eta=1.0, s_noise=1.0), "dpmpp_2s_ancestral"),
             (node("SamplerDPMPP_2M_SDE")(ctx, solver_type="midpoint", eta=1.0, s_noise=1.0, noise_device="cpu"),
              "dpmpp_2m_sde"),
             (node("SamplerDPMPP_2M_SDE")(ctx, solver_type="heun", eta=1.0, s_noise=1.0, noise_device="gpu"),
              "dpmpp_2m_sde_heun_gpu"),
             (node("SamplerDPMPP_3M_SDE")(ctx, eta=1.0, s_noise=1.0, noise_device="cpu"), "dpmpp_3m_sde"),
             (node("SamplerDPMPP_SDE")(ctx, eta=1.0, s_noise=1.0, r=0.5, noise_device="cpu"), "dpmpp_sde"),
             (node("SamplerLMS")(ctx, order=4), "lms")]
    for (sampler,), name in cases:
        assert torch.equal(_run(core, sampler), _select(core, name)), name


@torch.no_grad()
def test_settings_change_the_run(core):
    ctx = core[0]
    (deterministic,) = node("SamplerEulerAncestral")(ctx, eta=0.0, s_noise=1.0)
    torch.testing.assert_close(_run(core, deterministic), _select(core, "euler"), rtol=1e-5, atol=1e-5)
    (half,) = node("SamplerEulerAncestral")(ctx, eta=0.5, s_noise=1.0)
    assert not torch.allclose(_run(core, half), _select(core, "euler_ancestral"), atol=1e-4)
    (order1,) = node("SamplerLMS")(ctx, order=1)  # the second step (of three; the last lands on x0) differs
    assert not torch.allclose(_run(core, order1), _select(core, "lms"), atol=1e-6)
    with pytest.raises(NodeInputError) as err:
        node("SamplerDPMPP_SDE")(ctx, eta=1.0, s_noise=1.0, r=0.5, noise_device="tpu")
    assert err.value.input_name == "noise_device"


def test_flip_and_set_first_sigma():
    ctx = ExecContext()
    sigmas = torch.tensor([1.0, 0.6, 0.2, 0.0])
    assert torch.equal(node("FlipSigmas")(ctx, sigmas=sigmas)[0], torch.tensor([0.0001, 0.2, 0.6, 1.0]))
    assert torch.equal(sigmas, torch.tensor([1.0, 0.6, 0.2, 0.0]))  # the input is left alone
    assert torch.equal(node("SetFirstSigma")(ctx, sigmas=sigmas, sigma=0.9)[0], torch.tensor([0.9, 0.6, 0.2, 0.0]))


def _comfy_extend(sigmas, steps, start_at_sigma, end_at_sigma, spacing):
    """ComfyUI's ExtendIntermediateSigmas.execute, written out."""
    if start_at_sigma < 0:
        start_at_sigma = float("inf")
    interpolator = {"linear": lambda x: x, "cosine": lambda x: torch.sin(x * math.pi / 2),
                    "sine": lambda x: 1 - torch.cos(x * math.pi / 2)}[spacing]
    x = torch.linspace(0, 1, steps + 1)[1:-1]
    computed = interpolator(x)
    out = []
    for i in range(len(sigmas) - 1):
        out.append(sigmas[i])
        if end_at_sigma <= sigmas[i] <= start_at_sigma:
            out.extend((computed * (sigmas[i + 1] - sigmas[i]) + sigmas[i]).tolist())
    out.append(sigmas[-1])
    return torch.FloatTensor(out)


@pytest.mark.parametrize("steps,start,end,spacing", [(2, -1.0, 0.3, "linear"), (4, 0.8, 0.0, "cosine"),
                                                      (3, -1.0, 0.0, "sine"), (1, -1.0, 0.0, "linear")])
def test_extend_intermediate_sigmas_is_comfyui_s(steps, start, end, spacing):
    sigmas = torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0])
    (out,) = node("ExtendIntermediateSigmas")(ExecContext(), sigmas=sigmas, steps=steps, start_at_sigma=start,
                                             end_at_sigma=end, spacing=spacing)
    assert torch.equal(out, _comfy_extend(sigmas, steps, start, end, spacing))
