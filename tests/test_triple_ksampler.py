"""ComfyUI-TripleKSampler's TripleWVSamplerAdvanced: the stage arithmetic against the
pack's formulas worked by hand, and the node equal to three WanVideoSampler runs chained
by hand (the pack's ``process`` calls) on the tiny model."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from test_sampling_loop import load, t2v_embeds, text, tiny_files  # noqa: F401 (fixture)
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.triple_ksampler import switching as sw
from wfrun.packs.triple_ksampler.wv_sampler import plan


def test_perfect_alignment_is_the_packs_formula():
    assert sw.perfect_alignment(30, 1, 6) == (5, 30)     # start 1: ceil(30/6) = 5, 5 * 6 = 30
    assert sw.perfect_alignment(20, 1, 8) == (3, 24)     # ceil(20/8) = 3
    assert sw.perfect_alignment(20, 4, 10) == (8, 20)    # 20 * 4 = 80 divisible by 10: 80/10
    assert sw.perfect_alignment(20, 3, 7) == (9, 21)     # first total >= 20 with 3 * total % 7 == 0: 21
    assert sw.perfect_alignment(20, 0, 8) == (0, 0)      # Lightning only
    assert sw.manual_total_base_steps(10, 4, 7) == 17    # floor(10 * 7 / 4) (the pack's own example)
    assert sw.manual_total_base_steps(1, 6, 7) == 1      # floor(7/6) = 1, at least base_steps
    with pytest.raises(sw.StageError) as err:
        sw.perfect_alignment(0, 2, 8)
    assert err.value.input_name == "base_quality_threshold"


def test_switch_steps_of_each_strategy():
    sigmas = [1.0, 0.95, 0.9, 0.8, 0.5, 0.0]
    assert sw.boundary_switch(sigmas, 5, 0.875) == 3     # first sigma below 0.875
    assert sw.boundary_switch(sigmas, 5, 0.1) == 4       # none below: steps, then at most steps - 1
    fixed = lambda steps, shift: sigmas  # noqa: E731
    assert sw.switch_step_for("50% of steps", -1, 0.5, 7, fixed, 5.0) == 4           # ceil(7/2)
    assert sw.switch_step_for("Manual switch step", -1, 0.5, 7, fixed, 5.0) == 4
    assert sw.switch_step_for("Manual switch step", 2, 0.5, 7, fixed, 5.0) == 2
    assert sw.switch_step_for("Manual boundary", -1, 0.92, 5, fixed, 5.0) == 2
    assert sw.switch_step_for("I2V boundary", -1, 0.5, 5, fixed, 5.0) == 3             # 0.900: 0.8 < 0.9
    with pytest.raises(sw.StageError):
        sw.check_basic(6, 3, "Manual switch step", 2)     # switch before lightning_start
    with pytest.raises(sw.StageError):
        sw.check_resolved(0, 6, 3, "50% of steps", -1)   # Lightning only takes base_steps 0 or -1


def test_t2v_refined_on_the_wrapper_schedule_worked_by_hand():
    # dpm++_sde, 6 steps, shift 6.8: sigma_i = s t / (1 + (s - 1) t), t = 1 - i/6;
    # i = 2: 0.9315, i = 3 (t = 0.5): 6.8/7.8 = 0.8718 < 0.875 -> switch 3.
    # At t = 0.5 the sigma is s / (s + 1), which is 0.875 for s = 7: the refined shift.
    p = plan(sigma_shift=6.8, base_quality_threshold=30, base_steps=-1, lightning_start=1, lightning_steps=6,
             lightning_scheduler="dpm++_sde", switch_strategy="T2V boundary (refined)", switch_step=-1,
             switch_boundary=0.875)
    assert (p["base_steps"], p["total_base_steps"], p["switch"]) == (5, 30, 3)
    assert p["shift"] == pytest.approx(7.0, abs=1e-6)
    unrefined = plan(sigma_shift=6.8, base_quality_threshold=30, base_steps=-1, lightning_start=1,
                     lightning_steps=6, lightning_scheduler="dpm++_sde", switch_strategy="T2V boundary",
                     switch_step=-1, switch_boundary=0.875)
    assert unrefined["switch"] == 3 and unrefined["shift"] == 6.8


def test_refinement_walks_in_hundredths_and_stops_before_it_gets_worse():
    at = lambda steps, shift: [1.0, shift / 10, 0.0]  # noqa: E731
    assert sw.refined_shift(at, 2, 1, 0.5, 4.0) == pytest.approx(5.0, abs=1e-9)
    assert sw.refined_shift(at, 2, 1, 0.5, 6.0) == pytest.approx(5.0, abs=1e-9)
    assert sw.refined_shift(at, 2, 1, 0.5, 5.0) == 5.0   # neither direction better


@torch.no_grad()
def test_the_node_is_three_wanvideo_samplers_chained(tiny_files):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    ctx = ExecContext()
    common = dict(image_embeds=t2v_embeds(), text_embeds=text(dim=32), shift=5.0, force_offload=False,
                  riflex_freq_index=0, rope_function="default")
    latent, denoised = node("TripleWVSamplerAdvanced")(
        ctx, base_high=model, lightning_high=model, lightning_low=model, seed=3, sigma_shift=5.0,
        base_quality_threshold=4, base_steps=-1, base_cfg=3.0, base_scheduler="euler", lightning_start=1,
        lightning_steps=4, lightning_cfg=1.0, lightning_scheduler="unipc", switch_strategy="Manual switch step",
        switch_step=2, image_embeds=common["image_embeds"], text_embeds=common["text_embeds"], force_offload=False,
        riflex_freq_index=0, rope_function="default")
    wvs = node("WanVideoSampler")
    # base 1 of 4 (threshold 4, start 1: ceil(4/4) = 1, total 4), then steps 1-2 and 2-end of 4
    s1, _ = wvs(ctx, model=model, steps=4, cfg=3.0, scheduler="euler", seed=3, start_step=0, end_step=1,
                add_noise_to_samples=True, **common)
    s2, _ = wvs(ctx, model=model, steps=4, cfg=1.0, scheduler="unipc", seed=3, samples=s1, start_step=1,
                end_step=2, add_noise_to_samples=False, **common)
    s3, d3 = wvs(ctx, model=model, steps=4, cfg=1.0, scheduler="unipc", seed=4, samples=s2, start_step=2,
                 end_step=-1, add_noise_to_samples=False, **common)
    torch.testing.assert_close(latent["samples"], s3["samples"], rtol=0, atol=0)
    torch.testing.assert_close(denoised["samples"], d3["samples"], rtol=0, atol=0)
    skipped, _ = wvs(ctx, model=model, steps=4, cfg=1.0, scheduler="unipc", seed=4, samples=s1, start_step=2,
                     end_step=-1, add_noise_to_samples=False, **common)
    assert not torch.allclose(skipped["samples"], latent["samples"])  # stage 2 did something


def test_dry_run_is_refused_by_name(tiny_files):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    with pytest.raises(NodeInputError) as err:
        node("TripleWVSamplerAdvanced")(ExecContext(), base_high=model, lightning_high=model, lightning_low=model,
                                        image_embeds=t2v_embeds(), dry_run=True)
    assert err.value.input_name == "dry_run"


@torch.no_grad()
def test_simple_wv_node_is_lightning_cfg_one_with_one_scheduler(tiny_files):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    ctx = ExecContext()
    common = dict(image_embeds=t2v_embeds(), text_embeds=text(dim=32), shift=5.0, force_offload=False,
                  riflex_freq_index=0, rope_function="default")
    # lightning_start 0: no base stage; 50% of 4 steps: switch 2; both stages cfg 1.0 (base_cfg unused)
    latent, _ = node("TripleWVSampler")(
        ctx, base_high=model, lightning_high=model, lightning_low=model, seed=3, sigma_shift=5.0, base_cfg=3.0,
        lightning_start=0, lightning_steps=4, scheduler="euler", switch_strategy="50% of steps",
        image_embeds=common["image_embeds"], text_embeds=common["text_embeds"], force_offload=False,
        riflex_freq_index=0, rope_function="default")
    wvs = node("WanVideoSampler")
    s2, _ = wvs(ctx, model=model, steps=4, cfg=1.0, scheduler="euler", seed=3, start_step=0, end_step=2,
                add_noise_to_samples=True, **common)
    s3, _ = wvs(ctx, model=model, steps=4, cfg=1.0, scheduler="euler", seed=4, samples=s2, start_step=2,
                end_step=-1, add_noise_to_samples=False, **common)
    torch.testing.assert_close(latent["samples"], s3["samples"], rtol=0, atol=0)
