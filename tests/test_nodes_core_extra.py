"""ComfyUI core's ImageBlend, AdjustBrightness, BetaSamplingScheduler, ManualSigmas,
ModelSamplingAuraFlow and EasyCache against formulas written out here from
``comfy_extras`` (numpy, scipy), not through wfrun's own helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from node_helpers import node
from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.ksampler import FlowSampling
from wfrun.sampling.ksampler.easycache import EasyCache, EasyCacheSettings

CTX = ExecContext()


def _model(shift: float = 8.0) -> CoreModel:
    net = nn.Module()
    net.blocks = nn.ModuleList([nn.Linear(4, 4)])
    return CoreModel(transformer=net, task="t2v", path=Path("m.safetensors"), dtype=torch.float32,
                     latent_channels=16, shift=shift)


# --- ImageBlend / AdjustBrightness -----------------------------------------------------------

def _np_blend(a: np.ndarray, b: np.ndarray, mode: str) -> np.ndarray:
    if mode == "normal":
        return b
    if mode == "multiply":
        return a * b
    if mode == "screen":
        return 1 - (1 - a) * (1 - b)
    if mode == "overlay":
        return np.where(a <= 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b))
    if mode == "soft_light":
        g = np.where(a <= 0.25, ((16 * a - 12) * a + 4) * a, np.sqrt(a))
        return np.where(b <= 0.5, a - (1 - 2 * b) * a * (1 - a), a + (2 * b - 1) * (g - a))
    return a - b


@pytest.mark.parametrize("mode", ["normal", "multiply", "screen", "overlay", "soft_light", "difference"])
def test_image_blend_modes_match_the_formulas(mode):
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 5, 6, 3), dtype=np.float32), rng.random((2, 5, 6, 3), dtype=np.float32)
    out, = node("ImageBlend")(CTX, image1=torch.from_numpy(a), image2=torch.from_numpy(b), blend_factor=0.7,
                              blend_mode=mode)
    expected = np.clip(a * 0.3 + _np_blend(a, b, mode) * 0.7, 0, 1)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("mode,chops", [("multiply", "multiply"), ("screen", "screen"), ("overlay", "overlay"),
                                        ("difference", "subtract")])
def test_image_blend_modes_match_pillow(mode, chops):
    """An independent implementation: Pillow's ImageChops on 8-bit images (subtract clamps
    a - b at 0, as ComfyUI's signed difference does once clamped)."""
    from PIL import Image, ImageChops

    rng = np.random.default_rng(5)
    a8, b8 = rng.integers(0, 256, (2, 7, 9, 3), dtype=np.uint8)
    expected = np.asarray(getattr(ImageChops, chops)(Image.fromarray(a8), Image.fromarray(b8)), dtype=np.float32)
    out, = node("ImageBlend")(CTX, image1=torch.from_numpy(a8[None] / 255.0).float(),
                              image2=torch.from_numpy(b8[None] / 255.0).float(), blend_factor=1.0, blend_mode=mode)
    assert np.abs(out[0].numpy() * 255 - expected).max() <= 1.01  # Pillow rounds to 8 bits


def test_image_blend_difference_is_signed_then_clamped():
    a, b = torch.full((1, 2, 2, 3), 0.2), torch.full((1, 2, 2, 3), 0.6)
    out, = node("ImageBlend")(CTX, image1=a, image2=b, blend_factor=1.0, blend_mode="difference")
    assert torch.equal(out, torch.zeros_like(a))  # 0.2 - 0.6 clamps to 0, not |0.2 - 0.6|


def test_image_blend_resizes_image2_and_fits_the_channels():
    a = torch.rand(1, 8, 8, 3)
    b = torch.rand(1, 4, 4, 4)  # RGBA of another size: its alpha is dropped, then resized to 8x8
    out, = node("ImageBlend")(CTX, image1=a, image2=b, blend_factor=0.0, blend_mode="normal")
    assert out.shape == (1, 8, 8, 3) and torch.allclose(out, a)
    grey = torch.rand(1, 8, 8, 1)  # image1 has more channels: it gains a channel of ones, grey broadcasts
    out, = node("ImageBlend")(CTX, image1=a, image2=grey, blend_factor=1.0, blend_mode="multiply")
    assert out.shape == (1, 8, 8, 4)
    assert torch.allclose(out[..., :3], a * grey) and torch.allclose(out[..., 3:], grey)
    with pytest.raises(NodeInputError):  # 4 + 1 channels against 3: ComfyUI fails too
        node("ImageBlend")(CTX, image1=b, image2=a, blend_mode="normal")


def test_image_blend_refuses_unknown_mode():
    with pytest.raises(NodeInputError):
        node("ImageBlend")(CTX, image1=torch.rand(1, 2, 2, 3), image2=torch.rand(1, 2, 2, 3), blend_mode="hue")


def test_adjust_brightness_scales_and_clamps():
    x = np.linspace(0, 1, 24, dtype=np.float32).reshape(1, 2, 4, 3)
    out, = node("AdjustBrightness")(CTX, images=torch.from_numpy(x), factor=1.5)
    np.testing.assert_allclose(out.numpy(), np.clip(x * 1.5, 0, 1), atol=1e-7)


# --- sigmas ------------------------------------------------------------------------------------

def _flow_table(shift: float) -> np.ndarray:
    t = np.arange(1, 1001, dtype=np.float64) / 1000
    return shift * t / (1 + (shift - 1) * t)


def test_beta_sampling_scheduler_picks_the_table_at_beta_quantiles():
    sigmas, = node("BetaSamplingScheduler")(CTX, model=_model(shift=5.0), steps=10, alpha=0.7, beta=0.55)
    idx = np.rint(scipy.stats.beta.ppf(1 - np.linspace(0, 1, 10, endpoint=False), 0.7, 0.55) * 999).astype(int)
    keep = [i for n, i in enumerate(idx) if n == 0 or i != idx[n - 1]]
    expected = np.append(_flow_table(5.0)[keep], 0.0)
    np.testing.assert_allclose(sigmas.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert sigmas.dtype == torch.float32


def test_beta_sampling_scheduler_at_0_6_is_basic_schedulers_beta():
    model = _model()
    beta, = node("BetaSamplingScheduler")(CTX, model=model, steps=8, alpha=0.6, beta=0.6)
    basic, = node("BasicScheduler")(CTX, model=model, scheduler="beta", steps=8, denoise=1.0)
    assert torch.equal(beta, basic)


def test_manual_sigmas_reads_numbers_in_order():
    sigmas, = node("ManualSigmas")(CTX, sigmas="0.9000, 0.8333, 0.6250, 0.0000")
    assert sigmas.tolist() == pytest.approx([0.9, 0.8333, 0.625, 0.0])
    odd, = node("ManualSigmas")(CTX, sigmas="1; .5 / -2 +3")
    assert odd.tolist() == [1.0, 0.5, -2.0, 3.0]
    with pytest.raises(NodeInputError):
        node("ManualSigmas")(CTX, sigmas="1..5")


# --- model patches ------------------------------------------------------------------------------

def test_model_sampling_aura_flow_sets_shift_and_multiplier_one():
    model = _model()
    out, = node("ModelSamplingAuraFlow")(CTX, model=model, shift=1.4)
    assert (out.shift, out.multiplier) == (1.4, 1.0) and (model.shift, model.multiplier) == (8.0, 1000.0)
    ms = FlowSampling(shift=out.shift, multiplier=out.multiplier)
    assert float(ms.timestep(torch.tensor(0.5))) == 0.5  # the model sees sigma itself as timestep
    sd3, = node("ModelSamplingSD3")(CTX, model=model, shift=1.4)
    assert torch.equal(ms.sigmas, FlowSampling(shift=sd3.shift, multiplier=sd3.multiplier).sigmas)


def test_easycache_node_records_its_settings_on_a_copy():
    model = _model()
    out, = node("EasyCache")(CTX, model=model, reuse_threshold=0.2, start_percent=0.15, end_percent=0.95)
    assert out.easycache == EasyCacheSettings(0.2, 0.15, 0.95, False) and model.easycache is None
    assert out.transformer is model.transformer


# --- EasyCache's rules --------------------------------------------------------------------------

class Model:
    """``output = 2x + 1`` for the positive prompt, ``2x - 1`` for the negative; counts calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, x: torch.Tensor, timestep: torch.Tensor, which: str) -> torch.Tensor:
        self.calls.append((round(float(timestep.reshape(-1)[0]) / 1000, 6), which))
        return 2 * x + (1.0 if which == "cond" else -1.0)


def _run(values: list[float], sigmas: list[float], threshold: float, start=0.15, end=0.95):
    model = Model()
    cache = EasyCache(model, EasyCacheSettings(threshold, start, end), FlowSampling(shift=1.0))
    outs = []
    for v, s in zip(values, sigmas):
        x, t = torch.full((1, 2, 1, 16, 16), v), torch.tensor([s * 1000.0])
        outs.append((cache(x, t, "cond"), cache(x, t, "uncond")))
    return model, cache, outs


def test_easycache_skips_by_the_accumulated_change_rate():
    # shift 1: the window is sigma <= 1 - 0.15 = 0.85 and sigma > 1 - 0.95 = 0.05
    values = [1.0, 1.1, 1.2, 1.3, 1.31, 1.32, 1.6]
    sigmas = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    model, cache, outs = _run(values, sigmas, threshold=0.05)
    # 0.8 and 0.7 always run (no norm, then no rate yet); the rate is then 2 (output change / input change).
    # 0.6: 2 * 0.01 / |2*1.3 + 1| = 0.0056 < 0.05: skipped; 0.5: +2 * 0.02 / 3.6 = 0.0167 in all: skipped;
    # 0.4: +2 * 0.3 / 3.6 -> above 0.05: runs and the sum starts again
    ran = sorted({s for s, _ in model.calls})
    assert ran == [0.4, 0.7, 0.8, 0.9, 1.0]
    assert cache.skipped == 2
    # a skipped call is its input plus the difference cached at the last call that ran (step 0.7)
    for i in (4, 5):
        x = values[i]
        assert torch.allclose(outs[i][0], torch.full_like(outs[i][0], x + (2 * 1.3 + 1 - 1.3)))
        assert torch.allclose(outs[i][1], torch.full_like(outs[i][1], x + (2 * 1.3 - 1 - 1.3)))
    assert torch.allclose(outs[6][0], torch.full_like(outs[6][0], 2 * 1.6 + 1))


def test_easycache_window_is_in_shifted_sigma_and_past_the_end_nothing_is_skipped():
    values = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
    sigmas = [0.9, 0.8, 0.7, 0.6, 0.04, 0.03]
    model, cache, _ = _run(values, sigmas, threshold=10.0, end=0.95)
    # 0.9 is before the window, 0.8 and 0.7 run to measure, 0.6 is skipped (threshold 10);
    # at 0.04 and 0.03 (at or below 1 - 0.95) the model always runs
    assert sorted({s for s, _ in model.calls}) == [0.03, 0.04, 0.7, 0.8, 0.9] and cache.skipped == 1
    shifted = EasyCache(Model(), EasyCacheSettings(0.2, 0.15, 0.95), FlowSampling(shift=8.0))
    assert shifted.start_sigma == pytest.approx(8 * 0.85 / (1 + 7 * 0.85))
    assert shifted.end_sigma == pytest.approx(8 * 0.05 / (1 + 7 * 0.05))


def test_easycache_never_skips_with_zero_threshold():
    model, cache, _ = _run([1.0, 1.0, 1.0, 1.0], [0.8, 0.7, 0.6, 0.5], threshold=0.0)
    assert cache.skipped == 0 and len(model.calls) == 8
