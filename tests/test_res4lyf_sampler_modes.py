"""RES4LYF's sampler modes "resample" and "unsample" (ClownsharKSampler_Beta and
ClownsharkChainsampler_Beta, pack revision 81fe5f4d, 2025-07-09).

References: the pack's schedule construction (SharkSampler's padding, then
``sample_rk_beta``'s start-step rules and ``prepare_sigmas``) worked out by hand for a
three-sigma schedule; the pack's flag that a leading 0 keeps ComfyUI from noising the
latent (so "resample" of a fresh latent is the standard run started from that latent as
its noise); the one-go run that a stopped run continued by a "resample" sampler must
equal (the state's purpose); and the inversion property the pack's unsample/resample
pair is built for: with eta 0 an exact ODE sampler taken up the schedule and back down
returns close to where it started.
"""

from __future__ import annotations


import pytest
import torch

from res4lyf_nodes import chain, clown, cond, ctx, model  # noqa: F401 (fixtures)
from wfrun.nodes.executor import NodeInputError
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.res4lyf import clownshark
from wfrun.packs.res4lyf.clownshark import mode_sigmas
from wfrun.sampling.ksampler import res4lyf as R

S = torch.float64
SIGMA_MIN = torch.tensor(0.01, dtype=S)


def t(*values):
    return torch.tensor(values, dtype=S)


def state(sigmas, end_step, mode, completed=False):
    return R.ResState(sigmas=sigmas, end_step=end_step, raw_x=torch.zeros(1), history=(), step_rng=None,
                      stage_rng=None, completed=completed, sampler_mode=mode, sigma_next=sigmas[end_step].clone())


# --- the schedule, by hand ------------------------------------------------------------------

def test_shark_sampler_pads_the_schedule_per_mode():
    s = t(1.0, 0.5, 0.0)
    assert torch.equal(mode_sigmas(s, "unsample"), t(0.0, 0.5, 1.0, 0.0))  # flipped, 0 appended
    assert torch.equal(mode_sigmas(s, "resample"), t(0.0, 1.0, 0.5, 0.0, 0.0))  # 0 before and after
    assert torch.equal(mode_sigmas(s, "standard"), s)


def test_resample_of_a_fresh_latent_runs_the_plain_schedule_from_step_0():
    # [0, 1, .5, 0, 0] -> padding cut -> [1, .5, 0] -> sigma_min before the 0
    sigmas, start, unsample = R.mode_schedule(t(0.0, 1.0, 0.5, 0.0, 0.0), SIGMA_MIN, "resample", None)
    assert torch.equal(sigmas, t(1.0, 0.5, 0.01, 0.0)) and start == 0 and unsample


def test_unsample_of_a_fresh_latent_climbs_from_sigma_min():
    # [0, .5, 1, 0] -> [.5, 1] -> sigma_min first (from 0) -> the 0 back in front, start at 1
    sigmas, start, unsample = R.mode_schedule(t(0.0, 0.5, 1.0, 0.0), SIGMA_MIN, "unsample", None)
    assert torch.equal(sigmas, t(0.0, 0.01, 0.5, 1.0)) and start == 1 and unsample


def test_resample_after_a_finished_unsample_starts_at_the_top():
    done = state(t(0.0, 0.01, 0.5, 1.0), 3, "unsample")  # the run stopped at step 3, sigma 1
    # the chain reverses the stored rising schedule and pads it: [0, 1, .5, .01, 0, 0]
    sigmas, start, _ = R.mode_schedule(t(0.0, 1.0, 0.5, 0.01, 0.0, 0.0), SIGMA_MIN, "resample", done)
    assert torch.equal(sigmas, t(1.0, 0.5, 0.01, 0.0)) and start == 0


def test_resample_after_a_stopped_standard_run_takes_its_schedule_and_step():
    stopped = state(t(1.0, 0.5, 0.01, 0.0), 1, "standard")
    # the node's own schedule ([1, .7, 0] padded) is replaced by the stored one
    sigmas, start, unsample = R.mode_schedule(t(0.0, 1.0, 0.7, 0.0, 0.0), SIGMA_MIN, "resample", stopped)
    assert torch.equal(sigmas, t(1.0, 0.5, 0.01, 0.0)) and start == 1 and not unsample


def test_unsample_after_a_stopped_standard_run_climbs_from_where_it_stopped():
    stopped = state(t(1.0, 0.5, 0.01, 0.0), 1, "standard")
    # [0, .01, .5, 1, 0] -> [.01, .5, 1] (already from sigma_min) -> [0, .01, .5, 1]; sigma .5 is step 2
    sigmas, start, _ = R.mode_schedule(t(0.0, 0.01, 0.5, 1.0, 0.0), SIGMA_MIN, "unsample", stopped)
    assert torch.equal(sigmas, t(0.0, 0.01, 0.5, 1.0)) and start == 2


def test_resample_after_a_stopped_unsample_comes_down_from_where_it_stopped():
    stopped = state(t(0.0, 0.01, 0.5, 1.0), 2, "unsample")  # reached sigma .5
    sigmas, start, _ = R.mode_schedule(t(0.0, 1.0, 0.5, 0.01, 0.0, 0.0), SIGMA_MIN, "resample", stopped)
    assert torch.equal(sigmas, t(1.0, 0.5, 0.01, 0.0)) and start == 1


def test_a_reached_sigma_found_twice_fails_as_in_the_pack():
    odd = R.ResState(sigmas=t(1.0, 0.5, 0.01, 0.0), end_step=1, raw_x=torch.zeros(1), history=(), step_rng=None,
                     stage_rng=None, completed=False, sampler_mode="unsample", sigma_next=t(0.5)[0])
    with pytest.raises(R.ModeScheduleError):
        R.mode_schedule(t(0.0, 1.0, 0.5, 0.5, 0.2, 0.5, 0.0, 0.0), SIGMA_MIN, "resample", odd)


# --- at the nodes, on the tiny Wan model ----------------------------------------------------


def latent_of(values):
    return {"samples": values.clone()}


def start_latent():
    g = torch.Generator().manual_seed(3)
    return torch.randn(1, 16, 2, 4, 4, generator=g) * 0.5


@pytest.mark.parametrize("sampler_name", ["multistep/res_2m", "exponential/res_2s"])
def test_resample_of_a_fresh_latent_is_the_standard_run_with_that_latent_as_its_noise(
        ctx, model, cond, monkeypatch, sampler_name):
    start = start_latent()
    resampled, _, _ = clown(ctx, model, cond, latent_of(start), eta=0.0, sampler_name=sampler_name,
                            sampler_mode="resample")
    assert "state_info" in resampled
    # the pack's leading 0: ComfyUI leaves the latent un-noised (only taken into the
    # model's latent space), so it is x at sigma 1
    as_noise = latent_format(model.latent_channels).process_in(start)
    monkeypatch.setattr(clownshark, "start_noise", lambda latent, seed, dtype=torch.float64, scale=1.0: as_noise.to(dtype) * scale)
    zeros = latent_of(torch.zeros_like(start))
    standard, _, _ = clown(ctx, model, cond, zeros, eta=0.0, sampler_name=sampler_name)
    torch.testing.assert_close(resampled["samples"], standard["samples"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_clownshark_resample_continues_a_stopped_run_like_the_chain(ctx, model, cond, eta):
    """The 007 workflow's pair: ClownsharKSampler_Beta stopped early, then another one in
    "resample" mode. Its own steps/scheduler are replaced by the stored schedule."""
    empty = latent_of(torch.zeros(1, 16, 2, 4, 4))
    full, full_denoised, _ = clown(ctx, model, cond, empty, eta=eta)
    first, _, _ = clown(ctx, model, cond, empty, eta=eta, steps_to_run=2)
    # seed -1 continues the noise generators: the one-go result
    rest, rest_denoised, _ = clown(ctx, model, cond, first, eta=eta, sampler_mode="resample", seed=-1,
                                   steps=30, scheduler="beta")
    torch.testing.assert_close(rest["samples"], full["samples"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rest_denoised["samples"], full_denoised["samples"], rtol=1e-5, atol=1e-6)
    # a seed draws fresh step noise (seed + 1), which only matters with eta
    seeded, _, _ = clown(ctx, model, cond, first, eta=eta, sampler_mode="resample", seed=0)
    assert torch.allclose(seeded["samples"], full["samples"], rtol=1e-5, atol=1e-6) == (eta == 0.0)
    assert all(s.completed and s.sampler_mode == "resample" for s in seeded["state_info"])


def fine_schedule(steps):
    """Even steps in log sigma from 1 to 0.01 (just above the tiny model's sigma_min,
    0.0079), then 0: no step of the round trip is a long jump."""
    return torch.cat([torch.logspace(0, -2, steps), torch.zeros(1)])


def _round_trip_error(ctx, model, cond, steps, chained):
    start, name, sigmas = start_latent(), "exponential/res_3s", fine_schedule(steps)
    up, _, _ = clown(ctx, model, cond, latent_of(start), eta=0.0, sampler_name=name, sigmas=sigmas,
                     sampler_mode="unsample", bongmath=False)
    assert [s.sampler_mode for s in up["state_info"]] == ["unsample"] and not up["state_info"][0].completed
    if chained:
        down, _, _ = chain(ctx, up, eta=0.0, sampler_name=name, sampler_mode="resample", bongmath=False)
    else:
        down, _, _ = clown(ctx, model, cond, up, eta=0.0, sampler_name=name, sigmas=sigmas,
                           sampler_mode="resample", bongmath=False, seed=-1)
    far = float((up["samples"] - start).abs().max())
    return float((down["samples"] - start).abs().max()), far


@pytest.mark.parametrize("chained", [True, False])
def test_unsample_then_resample_with_eta_0_comes_back(ctx, model, cond, chained):
    """Up from the latent (taken as x at sigma_min) to sigma 1 and back with the exact
    3-stage RES ODE. What remains: the two passes' discretisation error, which must fall
    as the steps get finer (12 -> 48 steps: asserted at least 4x), and a floor the pack
    builds in, the last model call at sigma_min (its x0 prediction moves x by sigma_min
    times the model's velocity, about 1-2% of the distance to the noise here). So: within
    3% of how far unsampling took the latent at 48 steps."""
    coarse, _ = _round_trip_error(ctx, model, cond, 12, chained)
    fine, far = _round_trip_error(ctx, model, cond, 48, chained)
    assert far > 1.0  # unsampling went somewhere
    assert fine < 0.03 * far, (fine, far)
    assert fine * 4 < coarse, (fine, coarse)


def test_chain_unsample_after_a_stopped_standard_run_then_resample(ctx, model, cond):
    """Chain unsample takes a stopped standard run back up from where it stopped (the
    stored schedule reversed); a following resample brings it down to the same point
    (same tolerance reasoning as above, without the sigma_min floor)."""
    empty, name = latent_of(torch.zeros(1, 16, 2, 4, 4)), "exponential/res_3s"
    stopped, _, _ = clown(ctx, model, cond, empty, eta=0.0, sigmas=fine_schedule(48), steps_to_run=30,
                          bongmath=False, sampler_name=name)
    up, _, _ = chain(ctx, stopped, eta=0.0, sampler_mode="unsample", sampler_name=name, bongmath=False)
    reached = up["state_info"][0]
    assert reached.sampler_mode == "unsample" and float(reached.sigma_next) == 1.0
    assert reached.end_step == len(reached.sigmas) - 1
    down, _, _ = chain(ctx, up, eta=0.0, sampler_mode="resample", sampler_name=name, bongmath=False,
                       steps_to_run=30)
    assert down["state_info"][0].end_step == 30
    diff = float((down["samples"] - stopped["samples"]).abs().max())
    far = float((up["samples"] - stopped["samples"]).abs().max())
    assert far > 1.0 and diff < 0.03 * far, (diff, far)


def test_mode_refusals(ctx, model, cond):
    start = latent_of(start_latent())
    masked = {**start, "noise_mask": torch.ones(1, 4, 4)}
    cases = [
        (dict(latent=masked, sampler_mode="resample"), "latent_image"),
        (dict(latent=masked, sampler_mode="unsample"), "latent_image"),
        # an unsample schedule not ending at 0: the pack noises the latent with torch's global seed
        (dict(latent=start, sampler_mode="unsample", seed=-1, sigmas=torch.tensor([1.0, 0.5, 0.2])), "sigmas"),
        (dict(latent=start, sampler_mode="rewind"), "sampler_mode"),
    ]
    for changes, name in cases:
        latent = changes.pop("latent")
        with pytest.raises(NodeInputError) as err:
            clown(ctx, model, cond, latent, **changes)
        assert err.value.input_name == name, changes
    # with a seed, that schedule's noise is the node's seeded starting noise: it runs
    out, _, _ = clown(ctx, model, cond, start, sampler_mode="unsample", seed=4,
                      sigmas=torch.tensor([1.0, 0.5, 0.2]))
    assert torch.isfinite(out["samples"]).all()
    # the chain needs a state in either mode (the pack reads latent_image['state_info'])
    for mode in ("resample", "unsample"):
        with pytest.raises(NodeInputError) as err:
            chain(ctx, start, sampler_mode=mode, model=model, positive=cond, negative=cond)
        assert err.value.input_name == "latent_image"


def test_bongmath_is_skipped_on_step_0_of_a_padded_schedule(ctx, model, cond):
    """Schedule [.5, .45, 0]: step 0 (h = 0.105, sigma .5) is the only one where bongmath
    can act (step 1 onto sigma_min has h > 0.5). Standard mode: the switch matters;
    resample of a fresh latent: the pack skips it on step 0, so it does not."""
    start, sigmas = latent_of(start_latent()), torch.tensor([0.5, 0.45, 0.0])
    runs = {(mode, bong): clown(ctx, model, cond, start, eta=0.5, sigmas=sigmas, sampler_mode=mode,
                                bongmath=bong, sampler_name="exponential/res_2s")[0]["samples"]
            for mode in ("standard", "resample") for bong in (True, False)}
    assert not torch.allclose(runs["standard", True], runs["standard", False], atol=1e-4)
    assert torch.equal(runs["resample", True], runs["resample", False])
