"""WanVideoAddPusaNoise with the flowmatch_pusa scheduler against the pack's sampler loop
written out here step by step (``nodes_sampler.py``' Pusa branch and ``FlowMatchSchedulerPusa``'s
``step`` and ``add_noise_for_conditioning_frames``, as formulas on plain tensors): per-frame
timesteps scaled by the multipliers, the given frames re-noised from the sampler's generator
in the first ``noisy_steps`` steps, sigmas scaled in the step; and the node's checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from node_helpers import node
from test_sampling_loop import request, t2v_embeds, tiny
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.conditioning import ExtraLatent
from wfrun.sampling.loop import SamplingError, predict, prepare, sample

CTX = ExecContext()


def _embeds(multipliers, noisy_steps):
    given = (ExtraLatent(torch.full((1, 16, 1, 4, 4), 0.5), 0), ExtraLatent(torch.full((1, 16, 1, 4, 4), -0.5), -1))
    emb = dataclasses.replace(t2v_embeds(frames=13), extra_latents=given)  # 4 latent frames, given: 0 and 3
    return node("WanVideoAddPusaNoise")(CTX, embeds=emb, noise_multipliers=multipliers, noisy_steps=noisy_steps)[0]


def _pack_loop(p, steps_left):
    """The pack's Pusa branch, literally: clean_latent_indices [0, 3]; seed_g is the generator
    after the initial noise; the scheduler's timesteps and sigmas those of flowmatch_pusa."""
    latent = p.latent.clone()
    ts, sig = p.schedule.stepper.timesteps.float(), p.schedule.stepper.sigmas.float()
    clean, mult = [0, 3], p.pusa.multipliers
    seed_g = p.generator
    cache_state = [None, None, None]
    for idx, t in enumerate(p.timesteps):
        timestep = torch.tensor([float(t)]).unsqueeze(1).repeat(1, latent.shape[1])
        for i in clean:
            timestep[:, i] = timestep[:, i] * mult[i]
            if idx < steps_left and mult[i] > 0:
                noise_for_cond = torch.randn((1, *latent.shape), generator=seed_g, device=torch.device("cpu"))
                t_cond = (torch.ones_like(timestep) * timestep.max())[:, i:i + 1]
                sigma = sig[torch.argmin((ts.unsqueeze(1) - t_cond).abs(), dim=0)] * mult[i]
                latent[:, i:i + 1] = (1 - sigma) * latent[:, i:i + 1] + sigma * noise_for_cond[0, :, i:i + 1]
        v = predict(p, latent, 1.0, p.text.positive, timestep, idx, None, None, cache_state, False)
        tid = torch.argmin((ts.unsqueeze(1) - timestep).abs(), dim=0)
        s, s_next = sig[tid].clone(), torch.zeros(latent.shape[1])
        not_last = tid != len(sig) - 1
        s_next[not_last] = sig[tid[not_last] + 1]
        for i in clean:
            if timestep[0, i] == 0:
                s[i] = s_next[i] = 0
                continue
            s[i], s_next[i] = s[i] * mult[i], s_next[i] * mult[i]
        zero = timestep[0] == 0
        s[zero], s_next[zero] = 0, 0
        latent = latent + v * (s_next - s).view(1, -1, 1, 1)
    return latent


@pytest.mark.parametrize("multipliers, noisy_steps", [([0.3, 0.0], 2), ([0.2, 0.5, 1.0, 0.8], -1)])
@torch.no_grad()
def test_pusa_noise_follows_the_packs_loop(multipliers, noisy_steps):
    model = tiny()
    req = request(model, image_embeds=_embeds(multipliers, noisy_steps), steps=4, cfg=1.0,
                  scheduler="flowmatch_pusa")[0]
    out = sample(req)["samples"][0]
    p = prepare(req)
    steps_left = len(p.timesteps) if noisy_steps == -1 else noisy_steps
    torch.testing.assert_close(out, _pack_loop(p, steps_left), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_zero_multipliers_hold_the_given_frames_as_without_pusa_noise():
    model = tiny()
    plain_emb = dataclasses.replace(_embeds([0.0, 0.0], -1), pusa_noise_multipliers=None)
    plain = sample(request(model, image_embeds=plain_emb, steps=3, cfg=1.0, scheduler="flowmatch_pusa")[0])
    zero = sample(request(model, image_embeds=_embeds([0.0, 0.0], -1), steps=3, cfg=1.0,
                          scheduler="flowmatch_pusa")[0])
    torch.testing.assert_close(zero["samples"], plain["samples"])


def test_node_and_sampler_refuse_what_the_pack_cannot_take():
    with pytest.raises(NodeInputError) as err:
        node("WanVideoAddPusaNoise")(CTX, embeds=t2v_embeds(), noise_multipliers=0.5)
    assert err.value.input_name == "noise_multipliers"
    with pytest.raises(SamplingError):  # one multiplier for two given frames
        prepare(request(tiny(), image_embeds=_embeds([0.3], -1), scheduler="flowmatch_pusa")[0])
