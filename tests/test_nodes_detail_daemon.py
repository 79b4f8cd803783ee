"""Detail Daemon's schedule and sigma lowering, FreeMemory pass-through and the Hunyuan
multi-LoRA loader on a Wan MODEL."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.custom_sampling import SamplerChoice
from wfrun.packs.detail_daemon.nodes import detail_schedule, schedule_at
from wfrun.sampling.ksampler.wrapped import unwrap


def test_the_schedule_is_two_ramps_between_start_and_end():
    # 11 steps, start 0.2 / end 0.8 / bias 0.5: indices 2, 5, 8; linear ramps to 0.1 and back
    got = detail_schedule(11, 0.2, 0.8, 0.5, 0.1, 1.0, 0.0, 0.0, 0.0, False)
    want = np.array([0, 0, 0, 1 / 3, 2 / 3, 1, 2 / 3, 1 / 3, 0, 0, 0]) * 0.1
    np.testing.assert_allclose(got, want, atol=1e-12)
    smooth = detail_schedule(11, 0.2, 0.8, 0.5, 0.1, 2.0, 0.0, 0.0, 0.5, True)
    v = np.array([0, 1 / 3, 2 / 3, 1])
    ramp = (0.5 * (1 - np.cos(np.pi * v))) ** 2 * 0.1 * 0.5
    np.testing.assert_allclose(smooth[2:6], ramp, atol=1e-12)
    offsets = detail_schedule(11, 0.2, 0.8, 0.5, 0.1, 1.0, 0.02, -0.03, 0.0, False)
    assert offsets[0] == pytest.approx(0.02) and offsets[-1] == pytest.approx(-0.03)
    assert offsets[5] == pytest.approx(0.1)


def test_the_model_is_called_at_the_lowered_sigma():
    sigmas = torch.linspace(1.0, 0.0, 11)
    (wrapped,) = node("DetailDaemonSamplerNode")(ExecContext(), sampler=SamplerChoice("euler"), detail_amount=0.5,
                                                 start=0.2, end=0.8, bias=0.5, exponent=1.0, start_offset=0.0,
                                                 end_offset=0.0, fade=0.0, smooth=False, cfg_scale_override=0.0)
    base, wrappers = unwrap(wrapped)
    assert base == SamplerChoice("euler") and len(wrappers) == 1
    seen = []
    denoiser = wrappers[0].wrap(lambda x, s: seen.append(float(s)) or x, sigmas, cfg=3.0)
    schedule = detail_schedule(10, 0.2, 0.8, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, False)
    for i in range(10):
        denoiser(torch.zeros(1), sigmas[i:i + 1])
        assert seen[-1] == pytest.approx(float(sigmas[i]) * max(1e-6, 1 - schedule[i] * 0.1 * 3.0), rel=1e-6)
    # between two step sigmas (a second-order sampler's sub-step): linear between their values
    mid = float(sigmas[4] + sigmas[5]) / 2
    assert schedule_at(mid, sigmas, torch.tensor(schedule)) == pytest.approx((schedule[4] + schedule[5]) / 2)
    # the override replaces the sampler's CFG
    (override,) = node("DetailDaemonSamplerNode")(ExecContext(), sampler=SamplerChoice("euler"), detail_amount=0.5,
                                                  start=0.2, end=0.8, bias=0.5, exponent=1.0, start_offset=0.0,
                                                  end_offset=0.0, fade=0.0, smooth=False, cfg_scale_override=6.0)
    override.wrap(lambda x, s: seen.append(float(s)) or x, sigmas, cfg=3.0)(torch.zeros(1), sigmas[5:6])
    assert seen[-1] == pytest.approx(float(sigmas[5]) * (1 - schedule[5] * 0.1 * 6.0), rel=1e-6)


def test_free_memory_nodes_pass_their_input_through():
    image = torch.rand(2, 8, 8, 3)
    assert node("FreeMemoryImage")(ExecContext(), image=image, aggressive=True)[0] is image
    latent = {"samples": torch.zeros(1, 16, 1, 2, 2)}
    assert node("FreeMemoryLatent")(ExecContext(), latent=latent, aggressive=False)[0] is latent


def test_hunyuan_multi_lora_loader_adds_its_loras_like_lora_loader_model_only(tiny_models):
    from safetensors.torch import save_file

    from wfrun.models.paths import ModelRoots

    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    out_f, in_f = model.transformer.blocks[0].attn1.to_q.weight.shape
    (tiny_models / "loras").mkdir(exist_ok=True)
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.ones(2, in_f),
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.ones(out_f, 2)},
              str(tiny_models / "loras" / "hy_multi.safetensors"))
    (patched,) = node("HunyuanMultiLoraLoader")(ctx, model=model, lora_01="hy_multi.safetensors", strength_01=0.7,
                                                blocks_type_01="all", lora_02="None", strength_02=1.0,
                                                blocks_type_02="all", lora_03="hy_multi.safetensors", strength_03=0.5,
                                                blocks_type_03="double_blocks", lora_04="hy_multi.safetensors",
                                                strength_04=0.0, blocks_type_04="all")
    (single,) = node("LoraLoaderModelOnly")(ctx, model=model, lora_name="hy_multi.safetensors", strength_model=0.7)
    # slot 1 as LoraLoaderModelOnly; 'None', strength 0 and a Hunyuan block filter on a Wan LoRA add nothing
    assert patched.loras == single.loras and len(patched.loras) == 1
    with pytest.raises(NodeInputError) as err:
        node("HunyuanMultiLoraLoader")(ctx, model="x")
    assert err.value.input_name == "model"


class _Recorder:
    """A CFG denoiser stand-in: records the sigma it is told, carries the model's sampling."""

    def __init__(self, shift):
        from wfrun.sampling.ksampler import FlowSampling
        self.ms, self.seen = FlowSampling(shift=shift), []

    def __call__(self, x, sigma):
        self.seen.append(float(sigma))
        return x


def test_lying_sigma_lies_inside_the_percent_window_worked_by_hand():
    # shift 5: percent 0.1 -> sigma 5 * 0.9 / (1 + 4 * 0.9) = 0.97826 -> 0.9783;
    #          percent 0.9 -> 5 * 0.1 / (1 + 4 * 0.1) = 0.35714 -> 0.3571
    (lss,) = node("LyingSigmaSampler")(ExecContext(), sampler=SamplerChoice("euler"), dishonesty_factor=-0.1)
    assert (lss.start_percent, lss.end_percent) == (0.1, 0.9)  # the spec's defaults for the optional inputs
    rec = _Recorder(5.0)
    run = lss.wrap(rec, torch.linspace(1, 0, 5), cfg=1.0)
    for sigma, told in ((0.99, 0.99), (0.9783, 0.9783 * 0.9), (0.6, 0.54), (0.3571, 0.3571 * 0.9), (0.35, 0.35)):
        run(torch.zeros(1), torch.tensor([sigma]))
        assert rec.seen[-1] == pytest.approx(told, rel=1e-6), sigma
    # inside Detail Daemon (DD(LSS(euler))): LSS reads the model's sampling through DD's wrapper;
    # the sampler calls LSS first: 0.5 is in the window -> 0.45; DD's schedule over 4 steps is
    # [0, .25, .5, 0] x amount 0.5 -> at 0.45, between step 2 (0.5: 0.5) and step 3 (0.25: 0),
    # 0.5 * (0.45 - 0.25) / 0.25 = 0.4, times 0.1 = 0.04: the model is told 0.45 * 0.96
    (inner,) = node("LyingSigmaSampler")(ExecContext(), sampler=SamplerChoice("euler"), dishonesty_factor=-0.1)
    (dd,) = node("DetailDaemonSamplerNode")(ExecContext(), sampler=inner, detail_amount=0.5,
                                            start=0.0, end=1.0, bias=0.5, exponent=1.0, start_offset=0.0,
                                            end_offset=0.0, fade=0.0, smooth=False, cfg_scale_override=0.0)
    base, wrappers = unwrap(dd)
    assert base == SamplerChoice("euler") and len(wrappers) == 2
    sigmas = torch.linspace(1, 0, 5)
    fn = rec
    for w in wrappers:  # outermost first, as the custom sampler wraps them
        fn = w.wrap(fn, sigmas, cfg=1.0)
    fn(torch.zeros(1), torch.tensor([0.5]))
    assert rec.seen[-1] == pytest.approx(0.45 * 0.96, rel=1e-5)
    with pytest.raises(NodeInputError) as err:
        node("LyingSigmaSampler")(ExecContext(), sampler=SamplerChoice("euler"), dishonesty_factor="x")
    assert err.value.input_name == "dishonesty_factor"


def test_graph_sigmas_node_is_display_only():
    assert node("DetailDaemonGraphSigmasNode")(ExecContext(), sigmas=torch.linspace(1, 0, 5)) == ()
    with pytest.raises(NodeInputError) as err:
        node("DetailDaemonGraphSigmasNode")(ExecContext(), sigmas="1, 0")
    assert err.value.input_name == "sigmas"


def test_detail_daemon_node_scales_the_sigmas_worked_by_hand():
    sigmas = torch.linspace(1.0, 0.0, 11)
    args = dict(sigmas=sigmas, detail_amount=0.5, start=0.2, end=0.8, bias=0.5, exponent=1.0, start_offset=0.0,
                end_offset=0.0, fade=0.0, smooth=False, cfg_scale=2.0)
    # 10 steps, start 0.2 / mid 0.5 / end 0.8: indices 2, 4 (round(4.5) = 4), 7; step 4 is the peak 0.5
    (both, image) = node("DetailDaemonNode")(ExecContext(), **args, mode="both", sampler_name="euler")
    assert both[4] == pytest.approx(float(sigmas[4]) * (1 - 0.05 * 2.0))
    assert both[3] == pytest.approx(float(sigmas[3]) * (1 - 0.025 * 2.0))
    assert both[0] == sigmas[0] and both[-1] == 0.0
    (uncond, _) = node("DetailDaemonNode")(ExecContext(), **args, mode="uncond", sampler_name="euler")
    assert uncond[4] == pytest.approx(float(sigmas[4]) * 1.05)
    # heun: a schedule of 19 steps (indices 4, 9, 14), of which the first 10 are used
    (heun, _) = node("DetailDaemonNode")(ExecContext(), **args, mode="cond", sampler_name="heun")
    assert heun[9] == pytest.approx(float(sigmas[9]) * 0.95) and heun[6] == pytest.approx(float(sigmas[6]) * 0.98)
    assert image.shape == (1, 400, 600, 4) and float(image.min()) >= 0.0 and float(image[..., 3].min()) == 1.0
    with pytest.raises(NodeInputError) as err:
        node("DetailDaemonNode")(ExecContext(), **args, mode="x", sampler_name="euler")
    assert err.value.input_name == "mode"
