"""Sigmas and timesteps of every WanVideoSampler scheduler, from the pack's formulas.

Expected values are computed here from the formulas written in the pack's scheduler files
(ComfyUI-WanVideoWrapper wanvideo/schedulers/, 2025-07), not by calling wfrun.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from wfrun.sampling.schedulers import SCHEDULERS, SchedulerError, build_schedule

SHIFTS = [1.0, 3.0, 5.0, 8.0]


def shifted(s, shift):
    return shift * s / (1 + (shift - 1) * s)


def pack_multistep(steps, shift, beta=False):
    """Flow UniPC / DPM++: training sigmas shifted once, inference linspace shifted again."""
    sigma_max = float(np.float32(shifted(np.float32(0.999), np.float32(shift))))
    s = shifted(np.linspace(sigma_max, 0.0, steps + 1)[:-1], shift)
    if beta:
        lo, hi = s[-1], s[0]
        s = np.array([lo + p * (hi - lo) for p in scipy.stats.beta.ppf(1 - np.linspace(0, 1, steps), 0.6, 0.6)])
    return s


def diffusers_euler(steps, shift, beta=False):
    """diffusers FlowMatchEuler: t from 1000 to shift(0.001)*1000 in `steps`, shifted again."""
    sigma_min = shifted(0.001, shift)
    s = shifted(np.linspace(1.0, sigma_min, steps), shift)
    if beta:
        lo, hi = s[-1], s[0]
        s = np.array([lo + p * (hi - lo) for p in scipy.stats.beta.ppf(1 - np.linspace(0, 1, steps), 0.6, 0.6)])
    return s


@pytest.mark.parametrize("shift", SHIFTS)
@pytest.mark.parametrize("name", ["unipc", "unipc/beta", "dpm++", "dpm++/beta", "dpm++_sde", "dpm++_sde/beta"])
@pytest.mark.parametrize("steps", [4, 30])
def test_flow_multistep_sigmas(name, shift, steps):
    sched = build_schedule(name, steps, shift)
    expected = pack_multistep(steps, shift, beta=name.endswith("/beta"))
    sig = sched.stepper.sigmas.numpy()
    np.testing.assert_allclose(sig[:-1], expected, rtol=2e-6, atol=2e-7)
    assert sig[-1] == 0.0
    assert sched.timesteps.dtype == torch.int64
    np.testing.assert_array_equal(sched.timesteps.numpy(), (expected * 1000).astype(np.int64))
    assert sched.steps == steps and len(sched.timesteps) == steps


@pytest.mark.parametrize("shift", SHIFTS)
@pytest.mark.parametrize("name", ["euler", "euler/beta", "lcm", "lcm/beta"])
def test_euler_and_lcm_sigmas(name, shift):
    sched = build_schedule(name, 20, shift)
    expected = diffusers_euler(20, shift, beta=name.endswith("/beta"))
    np.testing.assert_allclose(sched.stepper.sigmas.numpy()[:-1], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sched.timesteps.numpy(), expected * 1000, rtol=1e-5, atol=1e-3)


def test_euler_accvideo_keeps_every_fifth():
    full = diffusers_euler(50, 5.0)
    sched = build_schedule("euler/accvideo", 50, 5.0)
    np.testing.assert_allclose(sched.timesteps.numpy(), full[0:50:5] * 1000, rtol=1e-5)
    assert len(sched.stepper.sigmas) == 11 and sched.stepper.sigmas[-1] == 0
    with pytest.raises(SchedulerError):
        build_schedule("euler/accvideo", 30, 5.0)


@pytest.mark.parametrize("shift", SHIFTS)
def test_deis_sigmas(shift):
    sched = build_schedule("deis", 12, shift)
    sig = sched.stepper.sigmas.numpy()
    assert abs(sig[-1] - 1e-6) < 1e-9
    # diffusers' flow sigmas: 1 - linspace(1, 1/1000, steps+1), shifted once, reversed, last dropped.
    expected = shifted(1 - np.linspace(1, 1 / 1000, 13), shift)[::-1][:-1]
    np.testing.assert_allclose(sig[:-1], expected, rtol=1e-5)


@pytest.mark.parametrize("shift", SHIFTS)
def test_res_multistep_sigmas(shift):
    steps = 9
    full = np.linspace(1.0, 0.003 / 1.002, 1000)
    picked = [full[int(round(i * 1000 / steps))] for i in range(steps)] + [0.0]
    expected = shifted(np.array(picked), shift)
    sched = build_schedule("res_multistep", steps, shift)
    np.testing.assert_allclose(sched.stepper.sigmas.numpy(), expected, rtol=1e-5, atol=1e-7)
    # The pack walks all its timesteps, the trailing 0 included.
    np.testing.assert_allclose(sched.timesteps.numpy(), expected * 1000, rtol=1e-5, atol=1e-4)


def test_causvid_and_distill():
    assert build_schedule("flowmatch_causvid", 4, 5.0, transformer_dim=1536).timesteps.tolist() == [1000, 750, 500, 250]
    assert build_schedule("flowmatch_causvid", 6, 5.0, transformer_dim=5120).timesteps.tolist() == [999, 934, 862, 756, 603, 410]
    with pytest.raises(SchedulerError):
        build_schedule("flowmatch_causvid", 6, 5.0, transformer_dim=1536)
    shift = 8.0
    train = shifted(np.linspace(1.0, 0.0, 1001)[:-1], shift) * 1000
    expected = train[[1, 250, 500, 750]]
    np.testing.assert_allclose(build_schedule("flowmatch_distill", 4, shift).timesteps.numpy(), expected, rtol=1e-5)


def test_pusa_sigmas_start_at_denoise():
    sched = build_schedule("flowmatch_pusa", 10, 5.0)
    np.testing.assert_allclose(sched.stepper.sigmas.numpy(), shifted(np.linspace(1, 0, 11)[:-1], 5.0), rtol=1e-5)
    assert sched.per_frame_timesteps


@pytest.mark.parametrize("name", ["unipc", "dpm++", "euler", "flowmatch_pusa", "res_multistep"])
def test_denoise_strength_divides_then_slices(name):
    # The pack: steps = int(steps/denoise); build; steps = int(steps*denoise); timesteps[-(steps+1):]
    full = build_schedule(name, int(10 / 0.5), 5.0)
    part = build_schedule(name, 10, 5.0, denoise_strength=0.5)
    assert part.steps == 10
    if name != "flowmatch_pusa":  # pusa's schedule itself also starts at the denoise level
        torch.testing.assert_close(part.timesteps, full.timesteps[-11:])
    assert len(part.timesteps) == 11


def test_custom_sigmas_unipc():
    sig = torch.tensor([1.0, 0.8, 0.5, 0.2, 0.0])
    sched = build_schedule("unipc", 4, 5.0, sigmas=sig)
    assert sched.timesteps.tolist() == [1000, 800, 500, 200]
    torch.testing.assert_close(sched.stepper.sigmas, sig)


def test_unknown_and_unsupported_schedulers():
    with pytest.raises(SchedulerError, match="multitalk") as err:
        build_schedule("multitalk", 4, 5.0)
    assert "unipc" in err.value.hint
    with pytest.raises(SchedulerError, match="unknown"):
        build_schedule("ddim", 4, 5.0)
    assert build_schedule("uni_pc", 4, 5.0).name == "unipc"


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_scheduler_steps_to_finite_values(name):
    steps = 50 if name == "euler/accvideo" else 4
    sched = build_schedule(name, steps, 5.0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 2, 4, 4, generator=g)
    for t in sched.timesteps:
        ts = torch.tensor([t])
        if sched.per_frame_timesteps:
            ts = ts.unsqueeze(1).repeat(1, x.shape[2])
        x = sched.stepper.step(0.5 * x, ts, x, generator=g)
    assert x.shape == (1, 4, 2, 4, 4) and torch.isfinite(x).all()


def test_euler_step_matches_flow_update():
    sched = build_schedule("euler", 5, 3.0)
    x = torch.randn(1, 2, 1, 2, 2)
    v = torch.randn_like(x)
    s = sched.stepper.sigmas
    out = sched.stepper.step(v, torch.tensor([sched.timesteps[0]]), x)
    torch.testing.assert_close(out, x + (s[1] - s[0]) * v)


# ------------------------------------------------------------------ schedules the pack cannot walk

@pytest.mark.parametrize("name", ["unipc", "dpm++", "dpm++_sde", "euler", "euler/beta", "lcm", "deis"])
def test_shift_zero_is_refused_naming_shift(name):
    """shift's minimum, 0: shift*s / (1 + (shift-1)*s) is 0 for every s (0/0 at s = 1), so
    the schedule has no noise levels and the pack's scheduler (diffusers-derived: it finds its
    place from the first timestep) fails; wfrun names shift instead."""
    assert shifted(np.linspace(0.999, 0.0, 5), 0.0).max() == 0.0
    with pytest.raises(SchedulerError) as err:
        build_schedule(name, 4, 0.0)
    assert err.value.input_name == "shift" and "shift 0" in str(err.value)


def test_repeated_first_timestep_is_refused_naming_shift():
    """unipc/beta at shift 0.01 and 50 steps: the pack's timesteps int64(sigma*1000) start
    90, 90, 90 (the formula above); its UniPC takes the second 90 as its place, walks off
    the end and fails ``assert self.this_order > 0``. A nearby shift where they differ runs."""
    first = (pack_multistep(50, 0.01, beta=True) * 1000).astype(np.int64)
    assert first[0] == first[1] == first[2]
    with pytest.raises(SchedulerError) as err:
        build_schedule("unipc/beta", 50, 0.01)
    assert err.value.input_name == "shift" and f"timestep {first[0]} 3 times" in str(err.value)
    assert len(set((pack_multistep(4, 0.01, beta=True) * 1000).astype(np.int64)[:2])) == 2
    build_schedule("unipc/beta", 4, 0.01)  # distinct first timesteps: accepted


def test_repeated_custom_sigmas_name_sigmas():
    with pytest.raises(SchedulerError) as err:
        build_schedule("unipc", 4, 5.0, sigmas=torch.tensor([0.9, 0.9, 0.5, 0.2, 0.0]))
    assert err.value.input_name == "sigmas"


def test_huge_shift_repeats_the_top_timestep():
    """shift's maximum, 1000, at 4 steps: the two highest pack sigmas both floor to timestep 999."""
    first = (pack_multistep(4, 1000.0) * 1000).astype(np.int64)
    assert first[0] == first[1] == 999
    with pytest.raises(SchedulerError) as err:
        build_schedule("unipc", 4, 1000.0)
    assert err.value.input_name == "shift" and err.value.hint == "use a smaller shift or fewer steps"


def test_sigmas_only_callers_get_any_shift():
    """TripleKSampler's shift searches only read sigmas, which the pack computes at shift 0 too."""
    sched = build_schedule("unipc", 4, 0.0, walked=False)
    assert float(sched.stepper.sigmas.abs().max()) == 0.0
