"""ComfyUI core's context windows (ContextWindowsManual, WanContextWindowsManual) on the core
samplers: the window schedules, fuse weights and FreeNoise against ComfyUI's rules restated
here, the nodes' frame conversions by saved signature, and the windowed predictions against
per-window predictor runs fused in the test."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.model_input import WanPredictor
from wfrun.sampling.ksampler import context_windows as cw


# --- ComfyUI's rules, restated ----------------------------------------------------------------

def bit_reversed(step: int) -> float:
    """Step's 64-bit reversal as a fraction (0, 1/2, 1/4, 3/4, …)."""
    out, frac = 0.0, 0.5
    for bit in range(64):
        if step >> bit & 1:
            out += frac
        frac /= 2
    return out


def ref_uniform(T, L, overlap, stride, step, closed):
    strides = min(stride, int(math.ceil(math.log2(T / L))) + 1)
    found = []
    for k in range(strides):
        hop = 2 ** k
        pad = int(round(T * bit_reversed(step)))
        begin = int(bit_reversed(step) * hop) + pad
        end = T + pad - (0 if closed else overlap)
        j = begin
        while j < end:
            found.append([(j + hop * n) % T for n in range(L)])
            j += L * hop - overlap
    return found


def ref_standard_uniform(T, L, overlap, stride, step):
    wins = ref_uniform(T, L, overlap, stride, step, closed=False)
    i = 0
    dup = set()
    while i < len(wins):
        w = wins[i]
        wrap = next((p for p in range(1, len(w)) if w[p] % T < w[p - 1] % T), None)
        if wrap is not None:
            first_value = w[wrap]
            rel = [(v - w[0]) % T for v in w]
            wins[i] = [v + (T - 1 - rel[-1]) for v in rel]
            if first_value not in wins[(i + 1) % len(wins)]:
                wins.insert(i + 1, list(range(first_value, first_value + L)))
        if wins[i] in wins[:i]:
            dup.add(i)
        i += 1
    return [w for i, w in enumerate(wins) if i not in dup]


def ref_static(T, L, overlap):
    out, start = [], 0
    while True:
        if start + L >= T:
            out.append(list(range(T - L, T)))
            return out
        out.append(list(range(start, start + L)))
        start += L - overlap


def ref_batched(T, L):
    return [list(range(s, min(s + L, T))) for s in range(0, T, L)]


def ref_weights(method, window, T, overlap):
    n = len(window)
    if method == "flat":
        return [1.0] * n
    if method in ("pyramid", "relative"):
        return [min(i + 1, n - i) for i in range(n)]
    w = [1.0] * n
    if min(window) > 0:
        w[:overlap] = np.linspace(1e-37, 1, overlap, dtype=np.float32).tolist()
    if max(window) < T - 1:
        w[n - overlap:] = np.linspace(1, 1e-37, overlap, dtype=np.float32).tolist()
    return w


def settings(**kw):
    base = dict(length=4, overlap=1, schedule="standard_static", fuse_method="pyramid")
    base.update(kw)
    return cw.ContextWindowSettings(**base)


@pytest.mark.parametrize("T,L,overlap", [(9, 4, 1), (21, 8, 2), (13, 5, 3), (33, 9, 4), (20, 20 // 3, 0)])
def test_schedules_follow_comfyuis_rules(T, L, overlap):
    for step in range(9):
        for stride in (1, 2, 3):
            s = settings(length=L, overlap=overlap, stride=stride)
            got = cw.window_indices(dataclass_replace(s, schedule="standard_uniform"), T, step)
            assert got == ref_standard_uniform(T, L, overlap, stride, step), (step, stride)
            for closed in (False, True):
                got = cw.window_indices(dataclass_replace(s, schedule="looped_uniform", closed_loop=closed), T, step)
                assert got == ref_uniform(T, L, overlap, stride, step, closed), (step, stride, closed)
        assert cw.window_indices(dataclass_replace(s, schedule="standard_static"), T, step) == ref_static(T, L, overlap)
        assert cw.window_indices(dataclass_replace(s, schedule="batched"), T, step) == ref_batched(T, L)


def test_standard_uniform_differs_from_the_wrappers_closed_windows():
    """The pack's uniform_standard closes the loop; core's stops ``overlap`` short."""
    from wfrun.sampling import context
    s = settings(length=4, overlap=2, schedule="standard_uniform")
    assert cw.window_indices(s, 10, 1) == ref_standard_uniform(10, 4, 2, 1, 1)
    assert cw.window_indices(s, 10, 1) != context.uniform_standard(1, None, 10, 4, 1, 2)


def dataclass_replace(s, **kw):
    import dataclasses
    return dataclasses.replace(s, **kw)


def test_fuse_weights_follow_comfyuis_rules():
    for method in ("flat", "pyramid", "relative", "overlap-linear"):
        for window, T, overlap in (([0, 1, 2, 3, 4], 12, 2), ([3, 4, 5, 6], 12, 3), ([8, 9, 10, 11], 12, 1),
                                   ([2, 3, 4, 5, 6, 7], 12, 2)):
            got = cw.fuse_weights(method, window, T, overlap)
            assert got.dtype == torch.float32
            assert got.tolist() == pytest.approx(ref_weights(method, window, T, overlap), rel=0, abs=0), method
    with pytest.raises(cw.ContextWindowError):
        cw.fuse_weights("overlap-linear", [0, 1, 2], 9, 0)  # a ramp out of no frames: ComfyUI fails too


def ref_freenoise(noise, dim, L, overlap, seed):
    g = torch.Generator().manual_seed(seed)
    noise = noise.clone()
    T = noise.shape[dim]
    step = L - overlap
    start = 0
    while start < T - L:
        place = start + L
        count = min(step, T - place)
        src = torch.randperm(count, generator=g) + start
        dest = noise.narrow(dim, place, count)
        dest.copy_(noise.index_select(dim, src))
        start += step
    return noise


@pytest.mark.parametrize("T,L,overlap", [(11, 4, 1), (12, 5, 2), (7, 3, 0), (21, 21, 5)])
def test_freenoise_shuffles_as_comfyui(T, L, overlap):
    noise = torch.randn(2, 3, T, 2, 3, generator=torch.Generator().manual_seed(1))
    expected = ref_freenoise(noise, 2, L, overlap, 77)
    got = cw.freenoise(noise.clone(), settings(length=L, overlap=overlap), 77)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


# --- the nodes ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def t2v(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    return model


def _at(ctx, date):
    import dataclasses
    return dataclasses.replace(ctx, saved_date=date)


def test_wan_node_converts_pixel_frames_by_saved_signature(ctx, t2v):
    wan = node("WanContextWindowsManual")
    common = dict(model=t2v, context_length=81, context_overlap=30, context_schedule="standard_static",
                  context_stride=1, closed_loop=False, fuse_method="pyramid")
    (old,) = wan(_at(ctx, "2025-08-13"), **common)
    assert (old.context_windows.length, old.context_windows.overlap) == (21, 8)  # (30 - 1) // 4 + 1
    assert not old.context_windows.freenoise and not old.context_windows.causal_fix  # no freenoise input then
    (mid,) = wan(_at(ctx, "2025-12-05"), freenoise=True, **common)
    assert mid.context_windows.freenoise and not mid.context_windows.causal_fix and mid.context_windows.dim == 2
    (new,) = wan(_at(ctx, "2026-06-19"), retain_first_frame=True, **common)
    s = new.context_windows
    assert (s.length, s.overlap, s.freenoise, s.causal_fix, s.cond_retain) == (21, 7, True, True, (0,))
    (edge,) = wan(_at(ctx, "2025-12-05"), **{**common, "context_length": 1, "context_overlap": 0})
    assert (edge.context_windows.length, edge.context_windows.overlap) == (1, 0)
    assert t2v.context_windows is None  # the loaded model is untouched
    with pytest.raises(NodeInputError) as err:
        wan(ctx, **{**common, "context_schedule": "uniform_standard"})  # the wrapper's name, not core's
    assert err.value.input_name == "context_schedule"


def test_generic_node_takes_latent_frames_and_index_lists(ctx, t2v):
    cwm = node("ContextWindowsManual")
    common = dict(model=t2v, context_length=5, context_overlap=2, context_schedule="batched", context_stride=1,
                  closed_loop=False, fuse_method="relative", dim=2)
    (m,) = cwm(ctx, cond_retain_index_list="0, 2", latent_retain_index_list="1", **common)
    s = m.context_windows
    assert (s.length, s.overlap, s.cond_retain, s.latent_retain, s.causal_fix) == (5, 2, (0, 2), (1,), True)
    (old,) = cwm(_at(ctx, "2026-03-19"), **common)
    assert not old.context_windows.causal_fix  # no causal_window_fix input before 2026-05-05
    with pytest.raises(NodeInputError) as err:
        cwm(ctx, cond_retain_index_list="first", **common)
    assert err.value.input_name == "cond_retain_index_list"


# --- the windowed predictions ------------------------------------------------------------------

@pytest.fixture(scope="module")
def i2v(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_i2v_480p_14B_tiny_fp8_scaled.safetensors",
                                  weight_dtype="default")
    g = torch.Generator().manual_seed(3)
    dim = model.transformer.config.text_dim
    T = 9
    image = torch.randn(1, 16, T, 4, 4, generator=g)
    mask = torch.ones(1, 4, T, 4, 4)
    mask[:, :, 0] = 0.0
    return model, torch.randn(1, 512, dim, generator=g), torch.randn(1, 512, dim, generator=g), image, mask


def _cond(text, image, mask):
    return [[text, {"concat_latent_image": image, "concat_mask": mask}]]


def _window_reference(model, text, image, mask, x, timestep, which, frames, retain=()):
    """One window predicted by a fresh predictor given only the window's frames."""
    img, msk = image[:, :, frames].clone(), mask[:, :, frames].clone()
    for p in retain:
        img[:, :, p], msk[:, :, p] = image[:, :, p], mask[:, :, p]
    cond = _cond(text, img, msk)
    pred = WanPredictor(model, cond, cond, "cpu")
    return pred(x[:, :, frames], timestep, which)


@torch.no_grad()
@pytest.mark.parametrize("fuse,causal,retain", [("pyramid", False, ()), ("overlap-linear", True, ()),
                                                ("flat", False, (0,)), ("relative", True, (0,))])
def test_windowed_prediction_is_the_fused_per_window_predictions(i2v, fuse, causal, retain):
    model, text, neg, image, mask = i2v
    T, L, overlap = image.shape[2], 4, 2
    sigmas = torch.tensor([1.0, 0.7, 0.3, 0.0])
    s = settings(length=L, overlap=overlap, schedule="standard_uniform", fuse_method=fuse, causal_fix=causal,
                 cond_retain=retain)
    plain = WanPredictor(model, _cond(text, image, mask), _cond(neg, image, mask), "cpu", sigmas=sigmas)
    windowed = cw.WindowedPredictor(plain, s, sigmas, model.multiplier)
    x = torch.randn(1, 16, T, 4, 4, generator=torch.Generator().manual_seed(5))
    step = 1
    timestep = torch.tensor([float(sigmas[step]) * model.multiplier])
    got = windowed(x, timestep, "cond")
    windows = ref_standard_uniform(T, L, overlap, 1, step)
    assert len(windows) > 1
    if fuse == "relative":
        expected = torch.zeros_like(x)
        seen = [0.0] * T
    else:
        total, counts = torch.zeros_like(x), torch.zeros(T)
    for w in windows:
        frames = ([w[0] - 1] if causal and w[0] > 0 else []) + w
        pred = _window_reference(model, text, image, mask, x, timestep, "cond", frames, retain)
        pred = pred[:, :, len(frames) - len(w):]
        if fuse == "relative":
            centre, half = (w[0] + w[-1]) / 2, (w[-1] - w[0] + 0.01) / 2
            for pos, i in enumerate(w):
                b = max(0.01, 1 - abs(i - centre) / half)
                expected[:, :, i] = (expected[:, :, i] * seen[i] + pred[:, :, pos] * b) / (seen[i] + b)
                seen[i] += b
        else:
            weights = torch.tensor(ref_weights(fuse, w, T, overlap), dtype=torch.float32)
            total[:, :, w] += pred * weights.view(1, 1, -1, 1, 1)
            counts[w] += weights
    if fuse != "relative":
        expected = total / counts.view(1, 1, -1, 1, 1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_a_window_as_long_as_the_video_is_no_window(i2v):
    model, text, neg, image, mask = i2v
    x = torch.randn(1, 16, image.shape[2], 4, 4, generator=torch.Generator().manual_seed(6))
    sigmas = torch.tensor([1.0, 0.5, 0.0])
    plain = WanPredictor(model, _cond(text, image, mask), _cond(neg, image, mask), "cpu", sigmas=sigmas)
    windowed = cw.WindowedPredictor(plain, settings(length=image.shape[2], overlap=2), sigmas, model.multiplier)
    t = torch.tensor([500.0])
    torch.testing.assert_close(windowed(x, t, "uncond"), plain(x, t, "uncond"), rtol=0, atol=0)


def _ksampler(ctx, model, latent, **kw):
    dim = model.transformer.config.text_dim
    g = torch.Generator().manual_seed(0)
    pos, neg = [[torch.randn(1, 512, dim, generator=g), {}]], [[torch.randn(1, 512, dim, generator=g), {}]]
    inputs = dict(model=model, seed=4, steps=3, cfg=2.5, sampler_name="euler", scheduler="simple",
                  positive=pos, negative=neg, latent_image=latent, denoise=1.0)
    inputs.update(kw)
    (out,) = node("KSampler")(ctx, **inputs)
    return out["samples"]


@torch.no_grad()
def test_ksampler_with_a_window_covering_the_video_equals_no_windows_bit_for_bit(ctx, t2v):
    latent = {"samples": torch.zeros(1, 16, 5, 4, 4)}
    plain = _ksampler(ctx, t2v, latent)
    for fuse in ("pyramid", "relative"):
        (patched,) = node("WanContextWindowsManual")(ctx, model=t2v, context_length=17, context_overlap=8,
                                                     context_schedule="standard_uniform", context_stride=1,
                                                     closed_loop=False, fuse_method=fuse, freenoise=True)
        assert patched.context_windows.length == 5
        torch.testing.assert_close(_ksampler(ctx, patched, latent), plain, rtol=0, atol=0)


@torch.no_grad()
def test_ksampler_runs_each_window_and_shuffles_the_noise(ctx, t2v):
    latent = {"samples": torch.zeros(1, 16, 9, 4, 4)}
    calls = []
    handle = t2v.transformer.blocks[0].register_forward_hook(lambda m, a, o: calls.append(a[0].shape[1]))
    try:
        (patched,) = node("WanContextWindowsManual")(_at(ctx, "2025-12-05"), model=t2v, context_length=17,
                                                     context_overlap=8, context_schedule="standard_static",
                                                     context_stride=1, closed_loop=False, fuse_method="pyramid",
                                                     freenoise=False)
        windowed = _ksampler(ctx, patched, latent)
    finally:
        handle.remove()
    # 9 latent frames in windows of 5 with overlap 2: [0-4], [3-7], [4-8]; cond and uncond for 3 steps
    assert ref_static(9, 5, 2) == [[0, 1, 2, 3, 4], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8]]
    assert len(calls) == 3 * 2 * 3 and len(set(calls)) == 1
    assert torch.isfinite(windowed).all()
    assert not torch.equal(windowed, _ksampler(ctx, t2v, latent))
    (noisy,) = node("WanContextWindowsManual")(_at(ctx, "2025-12-05"), model=t2v, context_length=17,
                                               context_overlap=8, context_schedule="standard_static",
                                               context_stride=1, closed_loop=False, fuse_method="pyramid",
                                               freenoise=True)
    assert not torch.equal(_ksampler(ctx, noisy, latent), windowed)


@torch.no_grad()
def test_bad_window_settings_and_step_caches_are_named_errors(ctx, t2v):
    latent = {"samples": torch.zeros(1, 16, 9, 4, 4)}
    (same,) = node("ContextWindowsManual")(ctx, model=t2v, context_length=3, context_overlap=3,
                                           context_schedule="standard_static", context_stride=1, closed_loop=False,
                                           fuse_method="pyramid", dim=2)
    with pytest.raises(NodeInputError) as err:
        _ksampler(ctx, same, latent)
    assert err.value.input_name == "model" and "overlap" in str(err.value)
    (rows,) = node("ContextWindowsManual")(ctx, model=t2v, context_length=2, context_overlap=0,
                                           context_schedule="batched", context_stride=1, closed_loop=False,
                                           fuse_method="flat", dim=3)
    with pytest.raises(NodeInputError, match="dimension 3"):
        _ksampler(ctx, rows, latent)
    (cached,) = node("EasyCache")(ctx, model=same, reuse_threshold=0.2, start_percent=0.15, end_percent=0.95,
                                  verbose=False)
    with pytest.raises(NodeInputError, match="step cache"):
        _ksampler(ctx, cached, latent)


@torch.no_grad()
def test_vace_contexts_are_cut_to_each_window(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_vace_1.3B_tiny_fp16.safetensors", weight_dtype="default")
    g = torch.Generator().manual_seed(8)
    T, L, overlap = 7, 3, 1
    text = torch.randn(1, 512, model.transformer.config.text_dim, generator=g)
    frames, masks = torch.randn(1, 32, T, 4, 4, generator=g), torch.rand(1, 64, T, 4, 4, generator=g)

    def cond(f, m):
        return [[text, {"vace_frames": [f], "vace_mask": [m], "vace_strength": [0.8]}]]

    sigmas = torch.tensor([1.0, 0.4, 0.0])
    s = settings(length=L, overlap=overlap, schedule="standard_static", fuse_method="pyramid", causal_fix=True)
    windowed = cw.WindowedPredictor(WanPredictor(model, cond(frames, masks), cond(frames, masks), "cpu"), s, sigmas,
                                    model.multiplier)
    x = torch.randn(1, 16, T, 4, 4, generator=g)
    t = torch.tensor([400.0])
    got = windowed(x, t, "cond")
    total, counts = torch.zeros_like(x), torch.zeros(T)
    for w in ref_static(T, L, overlap):
        fr = ([w[0] - 1] if w[0] > 0 else []) + w
        c = cond(frames[:, :, fr], masks[:, :, fr])
        pred = WanPredictor(model, c, c, "cpu")(x[:, :, fr], t, "cond")[:, :, len(fr) - len(w):]
        weights = torch.tensor(ref_weights("pyramid", w, T, overlap), dtype=torch.float32)
        total[:, :, w] += pred * weights.view(1, 1, -1, 1, 1)
        counts[w] += weights
    torch.testing.assert_close(got, total / counts.view(1, 1, -1, 1, 1), rtol=1e-5, atol=1e-6)
