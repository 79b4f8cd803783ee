"""ComfyUI's custom-sampling nodes (KSamplerSelect, BasicScheduler, SamplerCustom) and
LatentUpscaleBy on the tiny Wan model.

References: the flow sigmas written out from ComfyUI's formulas (``sigma(t) = s·t / (1 +
(s-1)·t)`` over t = k/1000, the "simple" schedule picking every 1000/steps-th from the top),
and ComfyUI's documented equivalence: KSampler = SamplerCustom with KSamplerSelect and
BasicScheduler (for the samplers that keep every sigma)."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.custom_sampling import SamplerChoice


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def model(ctx):
    return node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")[0]


@pytest.fixture(scope="module")
def cond(ctx):
    clip, = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan")
    return node("CLIPTextEncode")(ctx, text="a fox in the snow", clip=clip)[0]


def flow_sigma(t: float, shift: float = 8.0) -> float:
    return shift * t / (1 + (shift - 1) * t)


def test_ksampler_select():
    assert node("KSamplerSelect")(ExecContext(), sampler_name="euler") == (SamplerChoice("euler"),)
    with pytest.raises(NodeInputError) as err:
        node("KSamplerSelect")(ExecContext(), sampler_name="no_such_sampler")
    assert err.value.input_name == "sampler_name"


def test_basic_scheduler_simple_sigmas(model):
    sigmas, = node("BasicScheduler")(ExecContext(), model=model, scheduler="simple", steps=4)
    expected = [flow_sigma(t) for t in (1.0, 0.75, 0.5, 0.25)] + [0.0]
    assert sigmas.dtype == torch.float32 and sigmas.ndim == 1
    assert sigmas.tolist() == pytest.approx(expected, abs=1e-6)
    # denoise 0.5 over 2 steps: the last 3 sigmas of the 4-step schedule
    half, = node("BasicScheduler")(ExecContext(), model=model, scheduler="simple", steps=2, denoise=0.5)
    assert half.tolist() == pytest.approx(expected[-3:], abs=1e-6)
    none, = node("BasicScheduler")(ExecContext(), model=model, scheduler="simple", steps=2, denoise=0.0)
    assert none.numel() == 0


@pytest.mark.parametrize("inputs,name", [({"scheduler": "fancy"}, "scheduler"), ({"steps": 0}, "steps"),
                                         ({"denoise": "1"}, "denoise")])
def test_basic_scheduler_bad_inputs(model, inputs, name):
    with pytest.raises(NodeInputError) as err:
        node("BasicScheduler")(ExecContext(), **{"model": model, "scheduler": "simple", **inputs})
    assert err.value.input_name == name


def latent(ctx):
    return node("EmptyHunyuanLatentVideo")(ctx, width=32, height=32, length=5, batch_size=1)[0]


def test_sampler_custom_equals_ksampler(ctx, model, cond):
    sampler, = node("KSamplerSelect")(ctx, sampler_name="euler")
    sigmas, = node("BasicScheduler")(ctx, model=model, scheduler="simple", steps=2)
    out, denoised = node("SamplerCustom")(ctx, model=model, add_noise=True, noise_seed=3, cfg=4.0, positive=cond,
                                          negative=cond, sampler=sampler, sigmas=sigmas, latent_image=latent(ctx))
    reference, = node("KSampler")(ctx, model=model, seed=3, steps=2, cfg=4.0, sampler_name="euler",
                                  scheduler="simple", positive=cond, negative=cond, latent_image=latent(ctx),
                                  denoise=1.0)
    assert torch.equal(out["samples"], reference["samples"])
    # euler's last step lands on sigma 0, where the result is that step's x0 prediction
    assert torch.allclose(denoised["samples"], out["samples"], atol=1e-5)


def test_sampler_custom_partial_run_gives_its_x0(ctx, model, cond):
    sampler, = node("KSamplerSelect")(ctx, sampler_name="euler")
    sigmas, = node("BasicScheduler")(ctx, model=model, scheduler="simple", steps=2)
    out, denoised = node("SamplerCustom")(ctx, model=model, add_noise=True, noise_seed=3, cfg=1.0, positive=cond,
                                          negative=cond, sampler=sampler, sigmas=sigmas[:2], latent_image=latent(ctx))
    assert out["samples"].shape == denoised["samples"].shape == (1, 16, 2, 4, 4)
    assert not torch.allclose(out["samples"], denoised["samples"])  # leftover noise vs. the clean prediction
    # no sigmas: nothing runs, both outputs are the input latent
    empty = torch.zeros(0)
    same, also = node("SamplerCustom")(ctx, model=model, add_noise=True, noise_seed=3, cfg=1.0, positive=cond,
                                       negative=cond, sampler=sampler, sigmas=empty, latent_image=latent(ctx))
    assert also is same and torch.count_nonzero(same["samples"]) == 0


@pytest.mark.parametrize("inputs,name", [({"sampler": "euler"}, "sampler"), ({"sigmas": torch.zeros(2, 2)}, "sigmas"),
                                         ({"latent_image": torch.zeros(1, 16, 2, 4, 4)}, "latent_image")])
def test_sampler_custom_bad_inputs(ctx, model, cond, inputs, name):
    good = {"model": model, "add_noise": True, "noise_seed": 0, "cfg": 1.0, "positive": cond, "negative": cond,
            "sampler": SamplerChoice("euler"), "sigmas": torch.tensor([1.0, 0.0]), "latent_image": latent(ctx)}
    with pytest.raises(NodeInputError) as err:
        node("SamplerCustom")(ctx, **{**good, **inputs})
    assert err.value.input_name == name


def test_latent_upscale_by_works_frame_by_frame():
    samples = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(1, 2, 3, 2, 2)
    out, = node("LatentUpscaleBy")(ExecContext(), samples={"samples": samples, "batch_index": [0]},
                                   upscale_method="nearest-exact", scale_by=2.0)
    expected = samples.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2)  # each value a 2x2 block
    assert torch.equal(out["samples"], expected) and out["batch_index"] == [0]
    out, = node("LatentUpscaleBy")(ExecContext(), samples={"samples": torch.ones(1, 16, 2, 4, 6)},
                                   upscale_method="bilinear")  # spec default scale 1.5: round(4*1.5), round(6*1.5)
    assert out["samples"].shape == (1, 16, 2, 6, 9) and torch.allclose(out["samples"], torch.ones(1))


@pytest.mark.parametrize("inputs,name", [({"upscale_method": "bislerp"}, "upscale_method"),
                                         ({"samples": torch.zeros(1, 4, 4, 4)}, "samples"),
                                         ({"scale_by": 0.01}, "scale_by")])
def test_latent_upscale_by_bad_inputs(inputs, name):
    good = {"samples": {"samples": torch.zeros(1, 16, 1, 4, 4)}, "upscale_method": "bilinear", "scale_by": 2.0}
    with pytest.raises(NodeInputError) as err:
        node("LatentUpscaleBy")(ExecContext(), **{**good, **inputs})
    assert err.value.input_name == name


def test_sampler_custom_advanced_equals_sampler_custom(ctx, model, cond):
    # ComfyUI: SamplerCustom = SamplerCustomAdvanced with RandomNoise(seed) and CFGGuider(cfg)
    sampler, = node("KSamplerSelect")(ctx, sampler_name="euler_ancestral")
    sigmas, = node("BasicScheduler")(ctx, model=model, scheduler="simple", steps=2)
    other, = node("CLIPTextEncode")(ctx, text="a cat", clip=node("CLIPLoader")(
        ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan")[0])
    reference, _ = node("SamplerCustom")(ctx, model=model, add_noise=True, noise_seed=7, cfg=3.0, positive=cond,
                                         negative=other, sampler=sampler, sigmas=sigmas, latent_image=latent(ctx))
    noise, = node("RandomNoise")(ctx, noise_seed=7)
    guider, = node("CFGGuider")(ctx, model=model, positive=cond, negative=other, cfg=3.0)
    out, _ = node("SamplerCustomAdvanced")(ctx, noise=noise, guider=guider, sampler=sampler, sigmas=sigmas,
                                           latent_image=latent(ctx))
    assert torch.equal(out["samples"], reference["samples"])
    # BasicGuider: CFG 1 with the one prompt; DisableNoise: no noise added, as add_noise off
    basic, = node("BasicGuider")(ctx, model=model, conditioning=cond)
    quiet, = node("DisableNoise")(ctx)
    plain, _ = node("SamplerCustomAdvanced")(ctx, noise=quiet, guider=basic, sampler=sampler, sigmas=sigmas,
                                             latent_image=latent(ctx))
    same, _ = node("SamplerCustom")(ctx, model=model, add_noise=False, noise_seed=0, cfg=1.0, positive=cond,
                                    negative=other, sampler=sampler, sigmas=sigmas, latent_image=latent(ctx))
    assert torch.equal(plain["samples"], same["samples"])
    with pytest.raises(NodeInputError) as err:
        node("SamplerCustomAdvanced")(ctx, noise=7, guider=guider, sampler=sampler, sigmas=sigmas,
                                      latent_image=latent(ctx))
    assert err.value.input_name == "noise"


def test_split_sigmas_cut_as_comfyui():
    sigmas = torch.linspace(1.0, 0.0, 11)
    high, low = node("SplitSigmas")(ExecContext(), sigmas=sigmas, step=4)
    assert high.tolist() == sigmas[:5].tolist() and low.tolist() == sigmas[4:].tolist()
    # denoise 0.3 of 10 steps: the last 3 steps (4 sigmas) apart, the rest before them
    high, low = node("SplitSigmasDenoise")(ExecContext(), sigmas=sigmas, denoise=0.3)
    assert high.tolist() == sigmas[:8].tolist() and low.tolist() == sigmas[7:].tolist()
    high, low = node("SplitSigmasDenoise")(ExecContext(), sigmas=sigmas, denoise=0.0)
    assert len(high) == 0 and low.tolist() == sigmas[-1:].tolist()  # ComfyUI's sigmas[:-0] is empty


def test_wan_block_swap_passes_the_model_on(ctx, model):
    assert node("wanBlockSwap")(ctx, model=model)[0] is model


def test_an_odd_latent_is_padded_to_the_patches_circularly_and_cut_back(ctx, model, cond):
    from wfrun.packs.comfy_core_models.model_input import WanPredictor, pad_to_patches

    x = torch.randn(1, 16, 2, 5, 7, generator=torch.Generator().manual_seed(0))
    padded = pad_to_patches(x, (1, 2, 2))
    # ComfyUI's pad_to_patch_size: circular, at the end: row 5 is row 0, column 7 is column 0
    assert padded.shape == (1, 16, 2, 6, 8)
    assert torch.equal(padded[..., 5, :7], x[..., 0, :]) and torch.equal(padded[..., :5, 7], x[..., :, 0])
    predictor = WanPredictor(model, cond, cond, "cpu", sigmas=torch.tensor([1.0, 0.5, 0.0]))
    t = torch.tensor([500.0])
    with torch.no_grad():
        out = predictor(x, t, "cond")
        tr = model.transformer
        ref = tr(hidden_states=padded.to(model.dtype), timestep=t, encoder_hidden_states=cond[0][0].to(model.dtype),
                 return_dict=False)[0]
    assert out.shape == x.shape
    torch.testing.assert_close(out, ref.float()[..., :5, :7], rtol=1e-4, atol=1e-5)


def test_latent_upscale_sizes_like_comfyui():
    latent = torch.rand(1, 16, 2, 6, 8, generator=torch.Generator().manual_seed(0))  # 48x64 pixels
    up = lambda **kw: node("LatentUpscale")(ExecContext(), samples={"samples": latent}, **kw)[0]["samples"]  # noqa: E731
    # both given: each at least 64 px, then // 8 latents
    assert up(upscale_method="nearest-exact", width=128, height=32, crop="disabled").shape == (1, 16, 2, 8, 16)
    # one side 0: the other by the latent's aspect ratio (96 high -> round(8 * 96 / 6) = 128 wide)
    assert up(upscale_method="bilinear", width=0, height=96, crop="disabled").shape == (1, 16, 2, 12, 16)
    assert up(upscale_method="bilinear", width=0, height=0, crop="disabled") is latent
    # nearest-exact at twice the size: each value a 2x2 block, frame by frame
    assert torch.equal(up(upscale_method="nearest-exact", width=128, height=96, crop="disabled"),
                       latent.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2))
    # center crop to a square first (ComfyUI's common_upscale): 6x8 -> the middle 6x6, then 8x8
    cropped = up(upscale_method="nearest-exact", width=64, height=64, crop="center")
    expected = torch.nn.functional.interpolate(latent[..., 1:7].reshape(1, 16, 2, 6, 6).movedim(2, 1).reshape(2, 16, 6, 6),
                                               size=(8, 8), mode="nearest-exact").reshape(1, 2, 16, 8, 8).movedim(1, 2)
    assert torch.equal(cropped, expected)
