"""FreeInit (WanVideoFreeInitArgs + WanVideoSampler): the low-pass filters against the
FreeInit formulas written out point by point as the pack's ``freeinit_utils`` loops over
them, the frequency mix against numpy's FFT, and two sampler passes against one plain pass,
the re-initialization worked by hand, and a second plain pass from it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from node_helpers import node
from test_sampling_loop import request, tiny, tiny_files  # noqa: F401 (fixture)
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.freeinit import FreeInitArgs, low_pass_filter, mix_frequencies
from wfrun.sampling.loop import LoopState, prepare, run_steps, sample

CTX = ExecContext()


def _pointwise(shape, method, n, d_s, d_t):
    T, H, W = shape
    mask = torch.zeros(shape)
    for t in range(T):
        for h in range(H):
            for w in range(W):
                d = ((d_s / d_t) * (2 * t / T - 1)) ** 2 + (2 * h / H - 1) ** 2 + (2 * w / W - 1) ** 2
                if method == "gaussian":
                    mask[t, h, w] = math.exp(-1 / (2 * d_s ** 2) * d)
                elif method == "butterworth":
                    mask[t, h, w] = 1 / (1 + (d / d_s ** 2) ** n)
                else:
                    mask[t, h, w] = 1 if d <= d_s * 2 else 0
    return mask


@pytest.mark.parametrize("method", ["gaussian", "butterworth", "ideal"])
def test_filters_follow_the_formulas(method):
    args = FreeInitArgs(method=method, n=3, d_s=0.6, d_t=0.4)
    mask = low_pass_filter((2, 5, 6, 7), args)
    assert mask.shape == (2, 5, 6, 7)
    torch.testing.assert_close(mask[1], _pointwise((5, 6, 7), method, 3, 0.6, 0.4))
    assert not low_pass_filter((1, 2, 2, 2), FreeInitArgs(method=method, d_s=0.0)).any()


def test_frequency_mix_against_numpy():
    g = torch.Generator().manual_seed(0)
    x, noise = torch.randn(2, 3, 4, 6, generator=g), torch.randn(2, 3, 4, 6, generator=g)
    lpf = low_pass_filter(tuple(x.shape), FreeInitArgs(method="butterworth"))
    axes = (-3, -2, -1)
    fx = np.fft.fftshift(np.fft.fftn(x.numpy(), axes=axes), axes=axes)
    fn = np.fft.fftshift(np.fft.fftn(noise.numpy(), axes=axes), axes=axes)
    mixed = fx * lpf.numpy() + fn * (1 - lpf.numpy())
    want = np.fft.ifftn(np.fft.ifftshift(mixed, axes=axes), axes=axes).real
    torch.testing.assert_close(mix_frequencies(x, noise, lpf), torch.from_numpy(want).float(), rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_two_passes_are_a_pass_then_a_pass_from_the_reinitialized_latents():
    model = tiny()
    kw = dict(steps=3, scheduler="euler", cfg=1.0)
    (args,) = node("WanVideoFreeInitArgs")(CTX, freeinit_num_iters=2, freeinit_method="butterworth", freeinit_n=4)
    both = sample(request(model, freeinit=args, **kw)[0])["samples"][0]

    p = prepare(request(model, **kw)[0])
    initial = p.latent.clone()
    first = LoopState(latent=p.latent)
    run_steps(p, first)
    diffused = 0.001 * first.latent + 0.999 * initial
    fresh = torch.randn(diffused.shape, generator=p.generator)
    lpf = _pointwise(tuple(diffused.shape[1:]), "butterworth", 4, 1.0, 1.0)
    axes = (-3, -2, -1)
    mixed = np.fft.fftshift(np.fft.fftn(diffused.numpy(), axes=axes), axes=axes) * lpf.numpy() + \
        np.fft.fftshift(np.fft.fftn(fresh.numpy(), axes=axes), axes=axes) * (1 - lpf.numpy())
    start = torch.from_numpy(np.fft.ifftn(np.fft.ifftshift(mixed, axes=axes), axes=axes).real).float()
    again = prepare(request(model, **kw)[0])
    second = LoopState(latent=start)
    run_steps(again, second)
    torch.testing.assert_close(both, second.latent, rtol=1e-4, atol=1e-4)


def test_node_checks_and_the_packs_cutoffs(caplog):
    with pytest.raises(NodeInputError) as err:
        node("WanVideoFreeInitArgs")(CTX, freeinit_method="none")
    assert err.value.input_name == "freeinit_method"
    (args,) = node("WanVideoFreeInitArgs")(CTX, freeinit_d_s=0.25, freeinit_d_t=0.5)
    assert (args.d_s, args.d_t) == (1.0, 1.0)
    assert any("freeinit_d_s" in r.message for r in caplog.records)


@torch.no_grad()
def test_the_sampler_node_runs_freeinit_and_refuses_it_with_input_latents(tiny_files):
    from test_sampling_loop import load, t2v_embeds, text

    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    kw = dict(model=model, image_embeds=t2v_embeds(), text_embeds=text(dim=32), steps=2, cfg=1.0, shift=5.0, seed=0,
              scheduler="euler")
    plain = node("WanVideoSampler")(CTX, **kw)[0]["samples"]
    one = node("WanVideoSampler")(CTX, freeinit_args=FreeInitArgs(num_iters=1), **kw)[0]["samples"]
    torch.testing.assert_close(one, plain)
    two = node("WanVideoSampler")(CTX, freeinit_args=FreeInitArgs(num_iters=2), **kw)[0]["samples"]
    assert not torch.allclose(two, plain)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSampler")(CTX, freeinit_args=FreeInitArgs(), samples={"samples": torch.zeros(1, 16, 3, 4, 4)},
                                **kw)
    assert err.value.input_name == "freeinit_args"
