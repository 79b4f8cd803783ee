"""RES4LYF's ClownsharkChainsampler_Beta: continuing the run a ClownsharKSampler_Beta
stopped (``steps_to_run``).

The reference is the pack's own promise, which its state_info exists for: a sampler
stopped after k steps and chained samplers with the same settings land where one sampler
running every step lands (same schedule, same multistep history, the noise generators
continued, the last model call onto sigma_min done once, at the end).
"""

from __future__ import annotations

import pytest
import torch

from node_helpers import spec_defaults
from res4lyf_nodes import chain, clown, cond, ctx, empty_latent, model  # noqa: F401 (fixtures)
from wfrun.engine.executors import get_executor
from wfrun.nodes.executor import NodeInputError


@pytest.mark.parametrize("sampler_name", ["multistep/res_2m", "exponential/res_2s", "multistep/res_3m"])
@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_stopping_and_chaining_gives_the_one_go_result(ctx, model, cond, sampler_name, eta):
    full, full_denoised, _ = clown(ctx, model, cond, empty_latent(ctx), eta=eta, sampler_name=sampler_name)
    first, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=eta, sampler_name=sampler_name, steps_to_run=2)
    assert not torch.allclose(first["samples"], full["samples"], atol=1e-3)
    # the chain takes model and prompts from the latent, as the pack does when unconnected
    out, denoised, options = chain(ctx, first, eta=eta, sampler_name=sampler_name)
    torch.testing.assert_close(out["samples"], full["samples"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(denoised["samples"], full_denoised["samples"], rtol=1e-5, atol=1e-6)
    assert options["eta"] == eta


def test_a_chain_of_chains_and_a_batch(ctx, model, cond):
    full, _, _ = clown(ctx, model, cond, empty_latent(ctx, batch=2))
    a, _, _ = clown(ctx, model, cond, empty_latent(ctx, batch=2), steps_to_run=1)
    b, _, _ = chain(ctx, a, steps_to_run=3, model=model, positive=cond, negative=cond)
    c, _, _ = chain(ctx, b)
    torch.testing.assert_close(c["samples"], full["samples"], rtol=1e-5, atol=1e-6)
    assert [s.end_step for s in b["state_info"]] == [4, 4]
    assert all(s.completed for s in c["state_info"])


def test_the_chain_uses_its_own_settings_for_the_rest(ctx, model, cond):
    clip, = get_executor("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan")
    other = get_executor("CLIPTextEncode")(ctx, text="blurry", clip=clip)[0]
    values = {**spec_defaults("ClownsharKSampler_Beta"), "steps": 6, "scheduler": "simple", "cfg": 3.0, "seed": 11}
    first, _, _ = get_executor("ClownsharKSampler_Beta")(ctx, model=model, positive=cond, negative=other,
                                                         latent_image=empty_latent(ctx),
                                                         **{**values, "eta": 0.0, "steps_to_run": 3})
    same, _, _ = chain(ctx, first, eta=0.0)
    other_cfg, _, _ = chain(ctx, first, eta=0.0, cfg=1.0)
    other_sampler, _, _ = chain(ctx, first, eta=0.0, sampler_name="exponential/res_3s")
    assert not torch.allclose(same["samples"], other_cfg["samples"], atol=1e-4)
    assert not torch.allclose(same["samples"], other_sampler["samples"], atol=1e-4)


def test_a_finished_run_passes_through(ctx, model, cond):
    full, _, _ = clown(ctx, model, cond, empty_latent(ctx))
    out, denoised, _ = chain(ctx, full)
    assert torch.equal(out["samples"], full["samples"]) and torch.equal(denoised["samples"], out["samples"])


def test_chain_refusals(ctx, model, cond):
    first, _, _ = clown(ctx, model, cond, empty_latent(ctx), steps_to_run=2)
    cases = [
        (dict(latent=empty_latent(ctx), model=model, positive=cond, negative=cond), "latent_image"),
        (dict(latent=first, sampler_mode="reverse"), "sampler_mode"),
        (dict(latent={**first, "samples": torch.zeros(1, 16, 2, 8, 8)}), "latent_image"),
        (dict(latent={**first, "noise_mask": torch.ones(1, 4, 4)}), "latent_image"),
        (dict(latent=first, sampler_name="multistep/deis_2m"), "sampler_name"),
        (dict(latent=first, guides={}), "guides"),
    ]
    for changes, name in cases:
        latent = changes.pop("latent")
        with pytest.raises(NodeInputError) as err:
            chain(ctx, latent, **changes)
        assert err.value.input_name == name, changes
