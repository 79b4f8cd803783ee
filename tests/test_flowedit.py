"""FlowEdit (WanVideoFlowEdit into WanVideoSampler): the step formula against a direct
re-derivation of the paper's Algorithm 1 with the pack's schedule conventions on a toy
velocity model, the pack's double-shifted and drift timesteps against the shift algebra,
and the sampler's pass on a tiny transformer (identical prompts leave the video as it is)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from node_helpers import node
from test_sampling_loop import t2v_embeds, text, tiny
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import ContextOptions, TextEmbeds, WanVideoModel
from wfrun.sampling.flowedit import FlowEditPhase, double_shifted_timesteps, with_drift

wanvideo_flowedit = node("WanVideoFlowEdit")
wanvideo_sampler = node("WanVideoSampler")


def toy_velocity(prompt: int):
    """A guided toy velocity ``u + s*(c - u)`` whose cond/uncond parts are linear in z and t."""
    g = torch.Generator().manual_seed(10 + prompt)
    a_c, a_u = torch.randn(4, 4, generator=g) * 0.3, torch.randn(4, 4, generator=g) * 0.3
    b = torch.randn(4, generator=g)

    def v(z, idx, t, scale):
        cond = torch.einsum("ij,j...->i...", a_c, z) + (t / 1000) * b[:, None, None]
        uncond = torch.einsum("ij,j...->i...", a_u, z)
        return uncond + scale * (cond - uncond)
    return v


def paper_flowedit(x_src, ts, skip, drift, cfg, v_src, v_tgt, noises):
    """Kulikov et al. Algorithm 1 (FlowEdit), written from the paper with the pack's
    conventions: sigmas are timesteps/1000, the first ``skip`` steps are not run, the step
    after the last is the last timestep itself, and the last ``drift`` steps sample the
    target alone from ``Z_FE + Z_src - X_src`` with Euler (noise still drawn each step)."""
    s = [float(t) / 1000 for t in ts]
    n = len(s)
    z_fe = x_src.clone()
    noise = iter(noises)
    for i in range(skip, n - drift):
        s_next = s[i + 1] if i + 1 < n else s[i]
        eps = next(noise)
        z_src = (1 - s[i]) * x_src + s[i] * eps
        z_tar = z_fe + z_src - x_src
        z_fe = z_fe + (s_next - s[i]) * (v_tgt(z_tar, i, ts[i], cfg) - v_src(z_src, i, ts[i], cfg))
    for i in range(max(skip, n - drift), n):
        s_next = s[i + 1] if i + 1 < n else s[i]
        eps = next(noise)
        if i == n - drift:
            z_fe = z_fe + ((1 - s[i]) * x_src + s[i] * eps) - x_src
        z_fe = z_fe + (s_next - s[i]) * v_tgt(z_fe, i, ts[i], cfg)
    return z_fe


@pytest.mark.parametrize("skip, drift", [(0, 0), (2, 0), (1, 3), (0, 6)])
def test_phase_is_the_papers_algorithm_on_a_toy_model(skip, drift):
    ts = torch.tensor([990.0, 940.0, 870.0, 760.0, 600.0, 420.0])
    g = torch.Generator().manual_seed(0)
    x_src = torch.randn(4, 2, 3, generator=g)
    noises = [torch.randn(4, 2, 3, generator=g) for _ in ts]
    src, tgt = toy_velocity(0), toy_velocity(1)
    phase = FlowEditPhase(x_src=x_src, timesteps=ts, skip_steps=skip, drift_steps=drift,
                          drift_cfg=[3.0] * 7, sampler_cfg=[3.0] * 7)
    used = iter(noises)
    for idx in range(len(ts)):
        if phase.runs(idx):
            phase.step(idx, next(used), src, tgt)
    expected = paper_flowedit(x_src, ts, skip, drift, 3.0, src, tgt, noises)
    torch.testing.assert_close(phase.x_tgt, expected, rtol=1e-5, atol=1e-5)


def test_phase_takes_drift_cfg_from_the_first_edit_step_on():
    # the pack assigns drift_cfg to its cfg at a non-drift step and never back: with drift
    # steps after edit steps, every step uses drift_cfg; with drift steps only, the sampler's cfg
    ts = torch.tensor([900.0, 700.0, 500.0, 300.0])
    seen = []

    def v(z, idx, t, scale):
        seen.append((idx, scale))
        return torch.zeros_like(z)
    phase = FlowEditPhase(x_src=torch.zeros(2), timesteps=ts, skip_steps=0, drift_steps=2,
                          drift_cfg=[7.0] * 5, sampler_cfg=[2.0] * 5)
    for idx in range(4):
        phase.step(idx, torch.zeros(2), v, v)
    assert {s for _, s in seen} == {7.0}
    seen.clear()
    phase = FlowEditPhase(x_src=torch.zeros(2), timesteps=ts, skip_steps=2, drift_steps=2,
                          drift_cfg=[7.0] * 5, sampler_cfg=[2.0] * 5)
    for idx in (2, 3):
        phase.step(idx, torch.zeros(2), v, v)
    assert seen == [(2, 2.0), (3, 2.0)]  # drift steps: the target alone


def shifted(s, k):
    return k * s / (1 + (k - 1) * s)


@pytest.mark.parametrize("steps, shift", [(10, 5.0), (24, 7.0), (3, 1.0)])
def test_double_shift_is_one_shift_by_the_square(steps, shift):
    # two flow shifts by k compose to one by k**2: the pack's sigmas shifted again by diffusers
    s = np.linspace(1, 0, steps + 1)[:steps]
    expected = torch.tensor(1000 * shifted(s, shift * shift), dtype=torch.float32)
    torch.testing.assert_close(double_shifted_timesteps(steps, shift), expected, rtol=1e-5, atol=1e-3)


def test_drift_replaces_the_last_timesteps_and_ends_at_zero():
    ts = torch.tensor([999.0, 900.0, 800.0, 700.0, 600.0, 500.0])
    out = with_drift(ts, 5, 3, 7.0)
    drift = 1000 * shifted(np.linspace(1, 0, 6)[:5], 49.0)
    assert out[:3].tolist() == ts[:3].tolist()
    torch.testing.assert_close(out[3:], torch.tensor([drift[3], drift[4], 0.0], dtype=torch.float32),
                               rtol=1e-5, atol=1e-3)
    assert with_drift(ts, 5, 0, 7.0).tolist() == ts.tolist()


# --- the sampler's pass on a tiny transformer -----------------------------------------------

def model_of(transformer):
    return WanVideoModel(transformer=transformer, path=Path("tiny.safetensors"), model_type="t2v",
                         base_dtype=torch.float32)


def source_latents(seed=5):
    g = torch.Generator().manual_seed(seed)
    return {"samples": torch.randn(1, 16, 3, 4, 4, generator=g)}


def run(flowedit, samples=None, **kw):
    ctx = ExecContext()
    args = dict(model=model_of(tiny()), image_embeds=t2v_embeds(), text_embeds=text(), steps=6, cfg=5.0, shift=5.0,
                seed=3, scheduler="euler", samples=source_latents() if samples is None else samples,
                flowedit_args=flowedit)
    args.update(kw)
    return wanvideo_sampler(ctx, **args)


@torch.no_grad()
def test_same_prompt_leaves_the_source_video():
    # FlowEdit's velocity difference is zero when source and target agree: no edit
    flowedit = wanvideo_flowedit(ExecContext(), source_embeds=text(), skip_steps=1, drift_steps=0)[0]
    out = run(flowedit)[0]["samples"]
    torch.testing.assert_close(out, source_latents()["samples"], rtol=0, atol=1e-4)


@torch.no_grad()
def test_another_prompt_edits_and_drift_ends_clean():
    g = torch.Generator().manual_seed(8)
    other = TextEmbeds(prompt_embeds=(torch.randn(6, 24, generator=g),),
                       negative_prompt_embeds=text().negative_prompt_embeds)
    ctx = ExecContext()
    edited = run(wanvideo_flowedit(ctx, source_embeds=other, skip_steps=1, drift_steps=0)[0])[0]["samples"]
    assert (edited - source_latents()["samples"]).abs().max() > 1e-3
    again = run(wanvideo_flowedit(ctx, source_embeds=other, skip_steps=1, drift_steps=0)[0])[0]["samples"]
    torch.testing.assert_close(edited, again, rtol=0, atol=0)  # the generator's stream, seeded
    drifted = run(wanvideo_flowedit(ctx, source_embeds=other, skip_steps=1, drift_steps=2)[0])[0]["samples"]
    assert torch.isfinite(drifted).all() and (drifted - edited).abs().max() > 1e-4


@torch.no_grad()
def test_flowedit_refusals_name_the_input():
    ctx = ExecContext()
    flowedit = wanvideo_flowedit(ctx, source_embeds=text(), skip_steps=1, drift_steps=0)[0]
    with pytest.raises(NodeInputError) as err:
        run(flowedit, samples={"samples": torch.zeros(1, 16, 2, 4, 4)})
    assert err.value.input_name == "samples"
    with pytest.raises(NodeInputError) as err:
        run(wanvideo_flowedit(ctx, source_embeds=text(), skip_steps=6, drift_steps=0)[0])
    assert err.value.input_name == "flowedit_args"
    with pytest.raises(NodeInputError) as err:
        run(flowedit, context_options=ContextOptions(context_schedule="uniform_standard", context_frames=9,
                                                     context_stride=4, context_overlap=4, freenoise=False,
                                                     verbose=False, fuse_method="linear"))
    assert err.value.input_name == "context_options"
    with pytest.raises(NodeInputError) as err:
        wanvideo_flowedit(ctx, source_embeds="a prompt", skip_steps=1, drift_steps=0)
    assert err.value.input_name == "source_embeds"


# --- the pack's FlowEdit examples end to end on tiny models ---------------------------------

CORPUS_FILES = ["2025-03-17_b827a43_wanvideo_flowedit_I2V_example_01.json",
                "2025-06-13_ad43eed_wanvideo_flowedit_I2V_example_01.json"]
NAMES = {
    "diffusion_models/WanVideo\\Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors":
        "diffusion_models/Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors",
    "vae/wanvideo\\Wan2_1_VAE_bf16.safetensors": "vae/Wan2_1_VAE_tiny_bf16.safetensors",
    "text_encoders/umt5-xxl-enc-bf16.safetensors": "text_encoders/umt5-xxl-enc-tiny-bf16.safetensors",
    "clip_vision/open-clip-xlm-roberta-large-vit-huge-14_visual_fp32.safetensors":
        "clip_vision/open-clip-xlm-roberta-large-vit-huge-14_visual_tiny_fp16.safetensors",
}


@pytest.fixture(scope="module")
def linked(tiny_models, tmp_path_factory):
    from run_helpers import linked_models

    return linked_models(tiny_models, tmp_path_factory.mktemp("models"), NAMES)


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_flowedit_example_runs(linked, tmp_path, name):
    from run_helpers import CORPUS_WAN, run_workflow, videos
    from wfrun.media.samples import write_control_video, write_start_end_images

    write_control_video(tmp_path / "input" / "wolf_interpolated.mp4", 64, 64, frames=9)
    write_start_end_images(tmp_path / "input", 64, 64, names=("hunhyuanwolf.png", "unused_end.png"))
    # the video's 9 frames at 64x64 set the size and count (by link); 4 steps at denoise 0.95
    # walk 4 timesteps: one skipped, two edited, one drift step
    report = run_workflow(CORPUS_WAN / name, linked, tmp_path,
                          ["27.steps=4", "63.skip_steps=1", "63.drift_steps=1", "38.precision=fp32"],
                          input_dir=tmp_path / "input")
    # the edited video, and the side-by-side of source, reference image and edit
    assert videos(report) == {"WanVideoWrapper_I2V_00001.mp4": (9, 64, 64),
                              "WanVideoWrapper_I2V_00002.mp4": (9, 192, 64)}
