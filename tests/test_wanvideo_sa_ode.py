"""The SA-ODE scheduler (``sa_ode_stable``; WanVideoSchedulerSA_ODE) against its published
formulas: three steps worked by hand (linear sigmas, second-order Adams-Bashforth), and a
12-step run against the rules written out on plain numbers (cosine sigmas, adaptive order,
smoothing, damping and the late blend); the node hands its settings to the sampler."""

from __future__ import annotations

import math

import pytest
import torch

from node_helpers import node
from test_sampling_loop import load, t2v_embeds, text, tiny_files  # noqa: F401 (fixture)
from wfrun.nodes.executor import ExecContext
from wfrun.sampling.schedulers import build_schedule


def test_three_steps_by_hand():
    sched = build_schedule("sa_ode_stable", 3, 1.0)
    torch.testing.assert_close(sched.timesteps, torch.tensor([1000.0, 2000 / 3, 1000 / 3]))
    x0 = torch.tensor([1.0])
    v = [torch.tensor([0.3]), torch.tensor([-0.2]), torch.tensor([0.5])]
    x = x0
    for t, vi in zip(sched.timesteps, v):
        x = sched.stepper.step(vi, t, x)
    x1 = 1.0 - 0.3 / 3
    x2 = x1 - (1.5 * -0.2 - 0.5 * 0.3) / 3
    x3 = x2 - (1.5 * 0.5 - 0.5 * -0.2) / 3
    assert float(x) == pytest.approx(x3, abs=1e-6)


def _reference(steps, shift, outputs, adaptive, smoothing, threshold, factor, order=3):
    ts = [i / steps for i in range(steps + 1)]
    sig = [0.5 * (1 + math.cos(math.pi * t)) for t in ts]
    sig = [shift * s / (1 + (shift - 1) * s) for s in sig]
    x, buf, smoothed = 1.0, [], None
    for i, out in enumerate(outputs):
        s, s_next = sig[i], sig[i + 1]
        buf = (buf + [out])[-(order + 1):]
        k = order
        if adaptive:
            k = min(2, order) if s > 0.7 else (order if s > threshold else max(1, order - 1))
        k = min(k, len(buf))
        if len(buf) < 2:
            vel = out
        elif k >= 3:
            vel = 23 / 12 * buf[-1] - 16 / 12 * buf[-2] + 5 / 12 * buf[-3]
        elif k == 2:
            vel = 1.5 * buf[-1] - 0.5 * buf[-2]
        else:
            vel = buf[-1]
        if smoothing:
            if s < threshold:
                smoothed = vel if smoothed is None else factor * smoothed + (1 - factor) * vel
                vel = smoothed
            else:
                smoothed = vel
        dt = s_next - s
        if s < threshold:
            dt *= 0.5 + 0.5 * s / threshold
        new = x + vel * dt
        if s < 0.05 and len(buf) >= 3:
            stab = x + sum(buf[-3:]) / 3 * dt
            new = s / 0.05 * new + (1 - s / 0.05) * stab
        x = new
    return x


@pytest.mark.parametrize("adaptive, smoothing", [(True, True), (False, True), (True, False)])
def test_twelve_steps_follow_the_rules(adaptive, smoothing):
    outputs = [0.1 * math.sin(i + 1) + 0.05 * i for i in range(12)]
    options = dict(use_adaptive_order=adaptive, use_velocity_smoothing=smoothing, convergence_threshold=0.3,
                   smoothing_factor=0.7)
    sched = build_schedule("sa_ode_stable", 12, 3.0, options=options)
    x = torch.tensor([1.0], dtype=torch.float64)
    for t, out in zip(sched.timesteps, outputs):
        x = sched.stepper.step(torch.tensor([out], dtype=torch.float64), t, x)
    want = _reference(12, 3.0, outputs, adaptive, smoothing, 0.3, 0.7)
    assert float(x) == pytest.approx(want, rel=1e-5, abs=1e-6)


@torch.no_grad()
def test_the_node_settings_reach_the_sampler(tiny_files):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    ctx = ExecContext()
    outs = node("WanVideoSchedulerSA_ODE")(ctx, steps=12, shift=5.0, use_adaptive_order=True,
                                           smoothing_factor=0.5)
    choice = outs[3]
    assert dict(choice.options)["smoothing_factor"] == 0.5 and choice.name == "sa_ode_stable"
    kw = dict(model=model, image_embeds=t2v_embeds(), text_embeds=text(dim=32), steps=12, cfg=1.0, shift=5.0, seed=0)
    via_node = node("WanVideoSampler")(ctx, scheduler=choice, **kw)[0]["samples"]
    by_name = node("WanVideoSampler")(ctx, scheduler="sa_ode_stable", **kw)[0]["samples"]  # smoothing 0.8
    assert torch.isfinite(via_node).all() and not torch.allclose(via_node, by_name)
    same = node("WanVideoSchedulerSA_ODE")(ctx, steps=12, shift=5.0, use_adaptive_order=True, smoothing_factor=0.8)[3]
    torch.testing.assert_close(node("WanVideoSampler")(ctx, scheduler=same, **kw)[0]["samples"], by_name)
