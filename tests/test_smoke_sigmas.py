"""Explicit sigmas beside a step count: the wrapper's euler/lcm take ComfyUI sigmas (ending in
the final 0) without their last value, and ``--smoke`` thins such a list with the steps it
caps. References: diffusers' ``FlowMatchEulerDiscreteScheduler`` given the list by hand, and
the thinned lists and split points worked out by hand."""

from __future__ import annotations

import pytest
import torch

from wfrun.graph.model import NodeInstance
from wfrun.jobs.smoke import RuntimeCaps, capped_sigmas, capped_step_range
from wfrun.sampling.schedulers import SchedulerError, build_schedule

#: Lightning's 4-step list as a StringToFloatList -> FloatToSigmas pair gives it (set4 038).
LIGHTNING = [1.0, 0.9375001, 0.8333333, 0.625, 0.0]


@pytest.mark.parametrize("name", ["euler", "lcm"])
def test_comfyui_sigmas_ending_in_zero_lose_the_last_value_as_the_pack_does(name):
    from diffusers import FlowMatchEulerDiscreteScheduler

    reference = FlowMatchEulerDiscreteScheduler(shift=1.0)
    reference.set_timesteps(4, sigmas=LIGHTNING[:-1])  # the pack's sigmas[:-1].tolist()
    for given in (LIGHTNING, LIGHTNING[:-1]):  # the mid-2025 list, and the earlier one-per-step list
        schedule = build_schedule(name, 4, 1.0, sigmas=given)
        assert torch.allclose(schedule.timesteps.float(), reference.timesteps.float())
        assert torch.allclose(schedule.stepper.sigmas.float(), reference.sigmas.float())
    with pytest.raises(SchedulerError, match="do not fit"):
        build_schedule(name, 4, 1.0, sigmas=LIGHTNING[:3])  # fits neither rule: the pack's error


def test_a_sigma_list_is_thinned_with_the_capped_steps_keeping_its_ends():
    assert capped_sigmas(LIGHTNING, 4, 2) == [1.0, 0.8333333, 0.0]
    assert capped_sigmas(LIGHTNING[:-1], 4, 2) == [1.0, 0.625]  # one sigma a step: first and last
    eight = [1 - i / 8 for i in range(9)]
    assert capped_sigmas(eight, 8, 2) == [1.0, 0.5, 0.0]
    tensor = torch.tensor(LIGHTNING)
    assert torch.equal(capped_sigmas(tensor, 4, 2), torch.tensor([1.0, 0.8333333, 0.0]))
    assert capped_sigmas(LIGHTNING, 4, 4) is LIGHTNING  # not capped: as saved
    odd = LIGHTNING + [0.0, 0.0]
    assert capped_sigmas(odd, 4, 2) is odd  # fit no step count before: the sampler's own error stays


def test_a_split_at_half_the_steps_still_splits_at_the_same_sigma():
    """Two samplers splitting Lightning's 4 steps at 2 (set4 038): capped to 2 steps split at
    1, the first runs from sigma 1 to 0.8333 and the second from 0.8333 to 0, as before the
    cap each half started at those sigmas."""
    assert capped_step_range({"steps": 4, "end_step": 2}) == {"end_step": 1}
    thin = capped_sigmas(torch.tensor(LIGHTNING), 4, 2)
    high = build_schedule("euler", 2, 1.0, sigmas=thin, step_range=(0, 1))
    low = build_schedule("euler", 2, 1.0, sigmas=thin, step_range=(1, -1))
    assert high.timesteps.tolist() == pytest.approx([1000.0])
    assert low.timesteps.tolist() == pytest.approx([833.3333], rel=1e-6)


def test_runtime_caps_thin_sigmas_given_to_a_sampler_whose_steps_were_capped():
    caps = RuntimeCaps.__new__(RuntimeCaps)
    caps.changes, caps.targets, caps.saved_steps = [], {}, {"27": 4, "30": 2}
    sampler = NodeInstance(id="27", class_type="WanVideoSampler", title="High", inputs={})
    got = caps(sampler, {"steps": 2, "sigmas": torch.tensor(LIGHTNING), "end_step": 1})
    assert got["sigmas"].tolist() == pytest.approx([1.0, 0.8333333, 0.0])
    assert got["steps"] == 2 and got["end_step"] == 1
    assert any("sigmas = [1, 0.8333, 0]" in line for line in caps.changes)
    saved_at_two = NodeInstance(id="30", class_type="WanVideoSampler", title="Low", inputs={})
    given = torch.tensor(LIGHTNING)
    assert caps(saved_at_two, {"steps": 2, "sigmas": given})["sigmas"] is given  # saved so: left alone
