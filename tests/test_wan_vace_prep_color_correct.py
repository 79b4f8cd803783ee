"""WanVACETransitionColorCorrect against a numpy re-derivation of the pack's per-frame gain
(Gaussian smoothing by explicit sums, the bridge line, the luma/chroma split), and its
pass-through cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def reference(control: np.ndarray, output: np.ndarray, context: int, strength: float, luma_s: float,
              chroma_s: float, sigma: float, lo: float, hi: float) -> np.ndarray:
    c_means = control.reshape(control.shape[0], -1, 3).mean(1).astype(np.float64)
    o_means = output.reshape(output.shape[0], -1, 3).mean(1).astype(np.float64)
    n = len(o_means)
    ctx = min(context, n // 2, len(c_means) // 2)
    if sigma > 0:
        radius = max(1, math.ceil(sigma * 3))
        w = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        w /= w.sum()
        target = np.array([[sum(w[k + radius] * o_means[min(max(i + k, 0), n - 1), ch]
                                for k in range(-radius, radius + 1)) for ch in range(3)] for i in range(n)])
    else:
        target = o_means.copy()
    target[:ctx] = c_means[:ctx]
    target[n - ctx:] = c_means[len(c_means) - ctx:]
    a = min(4, ctx)
    before, after = c_means[ctx - a:ctx].mean(0), c_means[len(c_means) - ctx:len(c_means) - ctx + a].mean(0)
    gen = n - 2 * ctx
    for j in range(gen):
        t = j / (gen - 1) if gen > 1 else 0.0
        target[ctx + j] = 0.5 * target[ctx + j] + 0.5 * (before * (1 - t) + after * t)
    cur, tgt = np.maximum(o_means, 1e-4), np.maximum(target, 1e-4)
    lw = np.array([0.2126, 0.7152, 0.0722])
    luma = np.maximum(tgt @ lw, 1e-4) / np.maximum(cur @ lw, 1e-4)
    chroma = (tgt / cur) / luma[:, None]
    combined = (1 + luma_s * (luma[:, None] - 1)) * (1 + chroma_s * (chroma - 1))
    gain = np.clip(1 + strength * (combined - 1), lo, hi)
    return np.clip(output * gain[:, None, None, :], 0, 1)


def clips(frames: int = 13):
    g = torch.Generator().manual_seed(3)
    control = torch.rand(frames, 4, 6, 3, generator=g) * 0.6 + 0.2
    output = (control * torch.tensor([1.2, 0.9, 1.05]) + 0.05 * torch.rand(frames, 4, 6, 3, generator=g)).clamp(0, 1)
    return control, output


@pytest.mark.parametrize("context, sigma, lo, hi", [(4, 12.0, 0.75, 1.25), (3, 1.5, 0.9, 1.1), (2, 0.0, 0.5, 2.0)])
def test_matches_the_numpy_reference(context, sigma, lo, hi):
    control, output = clips()
    (out,) = node("WanVACETransitionColorCorrect")(ExecContext(), control_video=control, vace_output=output,
                                                   context_frames=context, smooth_window=sigma, min_gain=lo,
                                                   max_gain=hi)
    expected = reference(control.numpy(), output.numpy(), context, 0.75, 0.75, 0.6, sigma, lo, hi)
    np.testing.assert_allclose(out.numpy(), expected, atol=2e-6)
    assert not torch.equal(out, output)


def test_context_frames_pull_back_to_the_source_colour():
    control, output = clips()
    (out,) = node("WanVACETransitionColorCorrect")(ExecContext(), control_video=control, vace_output=output,
                                                   correction_strength=1.0, luma_strength=1.0,
                                                   chroma_strength=1.0, min_gain=0.1, max_gain=3.0)
    # full strength, wide gain range: a context frame's mean becomes the source's mean
    np.testing.assert_allclose(out[0].mean(dim=(0, 1)).numpy(), control[0].mean(dim=(0, 1)).numpy(), atol=0.02)


def test_pass_through_cases():
    control, output = clips(5)
    run = node("WanVACETransitionColorCorrect")
    assert run(ExecContext(), control_video=control, vace_output=output, enabled=False)[0] is output
    assert run(ExecContext(), control_video=control, vace_output=output, correction_strength=0.0)[0] is output
    # 2 frames: the context would cover everything
    # (2 frames: the context would cover everything)
    short = output[:2]
    assert run(ExecContext(), control_video=control[:2], vace_output=short)[0] is short
    with pytest.raises(NodeInputError) as err:
        run(ExecContext(), control_video=control, vace_output=output, min_gain=1.0, max_gain=1.0 - 0.5)
    assert err.value.input_name == "min_gain"
