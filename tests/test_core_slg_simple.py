"""ComfyUI's SkipLayerGuidanceDiTSimple on the core samplers: inside the sigma window its
uncond prediction is diffusers' own forward of a copy of the tiny Wan model whose listed
block passes its input through; the cond prediction, and the uncond one outside the window,
are the plain model's. The window is worked out by hand from the flow shift:
``sigma(p) = s (1 - p) / (1 + (s - 1)(1 - p))``."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.model_input import WanPredictor
from wfrun.sampling.conditioning import SLGArgs
from wfrun.sampling.hooks import sampling_pass

SHIFT = 3.0


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def setup(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    (model,) = node("ModelSamplingSD3")(ctx, model=model, shift=SHIFT)
    dim = model.transformer.config.text_dim
    g = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, 512, dim, generator=g), {}]]
    negative = [[torch.randn(1, 512, dim, generator=g), {}]]
    latent = {"samples": torch.zeros(1, 16, 3, 4, 4)}
    return model, positive, negative, latent


def shifted(percent: float) -> float:
    t = 1.0 - percent
    return SHIFT * t / (1 + (SHIFT - 1) * t)


class _PassThrough(torch.nn.Module):
    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


def test_the_uncond_pass_skips_the_blocks_inside_the_sigma_window(ctx, setup):
    model, positive, negative, _ = setup
    (patched,) = node("SkipLayerGuidanceDiTSimple")(ctx, model=model, double_layers="1", single_layers="",
                                                     start_percent=0.25, end_percent=0.6)
    assert model.uncond_skip_sigmas is None and patched.transformer is model.transformer
    blocks, high, low = patched.uncond_skip_sigmas
    assert blocks == (1,)
    assert high == pytest.approx(shifted(0.25)) and low == pytest.approx(shifted(0.6))
    skipped = copy.deepcopy(model.transformer)
    skipped.blocks[1] = _PassThrough()
    plain = copy.deepcopy(model.transformer)  # outside the pass's hooks
    sigmas = torch.tensor([1.0, 0.85, 0.7, 0.5, 0.3, 0.1])
    inside = [low <= float(s) <= high for s in sigmas]
    assert inside == [False, True, True, False, False, False]  # sigma(0.25) = 0.9, sigma(0.6) = 2/3
    predictor = WanPredictor(patched, positive, negative, "cpu", sigmas=torch.cat([sigmas, torch.zeros(1)]))
    x = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    with sampling_pass(patched.transformer, slg=SLGArgs(blocks=blocks, start_percent=0.0, end_percent=1.0)), \
            torch.no_grad():
        for sigma, within in zip(sigmas, inside):
            t = sigma.reshape(1) * 1000
            for which, cond in (("uncond", negative), ("cond", positive)):
                got = predictor(x, t, which)
                reference = skipped if (which == "uncond" and within) else plain
                want = reference(hidden_states=x, timestep=t, encoder_hidden_states=cond[0][0], return_dict=False)[0]
                torch.testing.assert_close(got, want.float(), rtol=1e-4, atol=1e-5)
                if reference is skipped:
                    other = plain(hidden_states=x, timestep=t, encoder_hidden_states=cond[0][0], return_dict=False)[0]
                    assert not torch.allclose(got, other.float(), atol=1e-3)


def _sample(ctx, model, setup, cfg):
    _, positive, negative, latent = setup
    (out,) = node("KSampler")(ctx, model=model, seed=3, steps=3, cfg=cfg, sampler_name="euler", scheduler="simple",
                               positive=positive, negative=negative, latent_image=latent, denoise=1.0)
    return out["samples"]


def test_the_sampler_changes_only_with_an_uncond_pass(ctx, setup):
    model = setup[0]
    (patched,) = node("SkipLayerGuidanceDiTSimple")(ctx, model=model, double_layers="0, 1", single_layers="7",
                                                     start_percent=0.0, end_percent=1.0)
    assert patched.uncond_skip_sigmas == ((0, 1), 1.0, 0.0)
    # cfg 1: no uncond pass, so nothing to skip
    torch.testing.assert_close(_sample(ctx, patched, setup, 1.0), _sample(ctx, model, setup, 1.0), rtol=0, atol=0)
    assert not torch.allclose(_sample(ctx, patched, setup, 4.0), _sample(ctx, model, setup, 4.0))


def test_no_layers_leave_the_model_and_two_skip_patches_are_refused(ctx, setup):
    model = setup[0]
    assert node("SkipLayerGuidanceDiTSimple")(ctx, model=model, double_layers="", single_layers="",
                                              start_percent=0.0, end_percent=1.0)[0] is model
    (both,) = node("SkipLayerGuidanceDiTSimple")(ctx, model=model, double_layers="1", single_layers="",
                                                  start_percent=0.0, end_percent=1.0)
    (both,) = node("SkipLayerGuidanceDiT")(ctx, model=both, double_layers="1", single_layers="", scale=3.0,
                                           start_percent=0.0, end_percent=1.0, rescaling_scale=0.0)
    with pytest.raises(NodeInputError) as err:
        _sample(ctx, both, setup, 4.0)
    assert err.value.input_name == "model" and "SkipLayerGuidanceDiTSimple" in str(err.value)
