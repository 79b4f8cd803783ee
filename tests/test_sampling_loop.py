"""The WanVideoSampler loop and executors on tiny transformers."""

from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel

from node_helpers import node
from wfrun.engine.progress import QuietProgress
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import (ContextOptions, ControlEmbeds, ImageEmbeds, SamplerOptions, TextEmbeds,
                                        WanVideoModel)
from wfrun.sampling import context as cw
from wfrun.sampling.loop import SamplingRequest, sample

# The executors as the engine calls them: spec defaults under the inputs a test sets.
wanvideo_sampler = node("WanVideoSampler")
wanvideo_context_options = node("WanVideoContextOptions")
wanvideo_experimental_args = node("WanVideoExperimentalArgs")
wanvideo_slg = node("WanVideoSLG")
wanvideo_teacache = node("WanVideoTeaCache")


def tiny(in_channels=16, image=False, layers=2):
    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16,
                                 in_channels=in_channels, out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48,
                                 num_layers=layers, cross_attn_norm=True, image_dim=20 if image else None,
                                 added_kv_proj_dim=32 if image else None).eval()


def text(dim=24, prompts=1):
    g = torch.Generator().manual_seed(3)
    return TextEmbeds(prompt_embeds=tuple(torch.randn(7, dim, generator=g) for _ in range(prompts)),
                      negative_prompt_embeds=(torch.randn(5, dim, generator=g),))


def t2v_embeds(frames=9, h=32, w=32):
    return ImageEmbeds(num_frames=frames, target_shape=(16, (frames - 1) // 4 + 1, h // 8, w // 8))


def request(model, **kw):
    calls = []
    base = dict(transformer=model, image_embeds=t2v_embeds(), text_embeds=text(), steps=4, cfg=5.0, shift=5.0, seed=1,
                scheduler="unipc", on_block=calls.append)
    base.update(kw)
    return SamplingRequest(**base), calls


@torch.no_grad()
def test_t2v_sample_shape_and_determinism():
    model = tiny()
    req, calls = request(model)
    out = sample(req)
    assert out["samples"].shape == (1, 16, 3, 4, 4) and torch.isfinite(out["samples"]).all()
    assert len(calls) == 4 * 2 * 2  # steps x (cond+uncond) x blocks
    again = sample(request(model)[0])["samples"]
    torch.testing.assert_close(out["samples"], again, rtol=0, atol=0)


@torch.no_grad()
def test_noise_is_the_packs_cpu_generator_draw():
    # With zero steps of change (cfg 0 and a zero model output is not available), check the
    # first draw instead: noise = randn([16, T, h, w]) from Generator('cpu').manual_seed(seed).
    g = torch.Generator("cpu").manual_seed(1)
    expected = torch.randn(16, 3, 4, 4, dtype=torch.float32, generator=g)
    model = tiny()
    req, _ = request(model, steps=1, denoise_strength=1.0, scheduler="euler")
    seen = {}
    orig = sample.__globals__["transformer_forward"]

    def spy(tr, x, *a, **k):
        seen.setdefault("x", x[0, :16].clone())
        return orig(tr, x, *a, **k)

    sample.__globals__["transformer_forward"] = spy
    try:
        sample(req)
    finally:
        sample.__globals__["transformer_forward"] = orig
    torch.testing.assert_close(seen["x"], expected)


@torch.no_grad()
def test_cfg_list_applied_per_step():
    model = tiny()
    req, calls = request(model, cfg=[1.0, 5.0, 1.0, 5.0, 1.0])
    out = sample(req)
    # a cfg list sets the step count to its length (5); uncond runs only where cfg != 1
    assert len(calls) == (5 + 2) * 2
    assert torch.isfinite(out["samples"]).all()


@torch.no_grad()
def test_denoise_strength_with_samples():
    model = tiny()
    init = {"samples": torch.randn(1, 16, 3, 4, 4)}
    req, calls = request(model, steps=4, cfg=1.0, denoise_strength=0.5, samples=init)
    progress = QuietProgress()
    req.progress = progress
    out = sample(req)
    # steps -> int(4/0.5) = 8 scheduled, the last int(8*0.5)+1 = 5 run
    assert len(calls) == 5 * 2 and progress.step_counts == [5]
    full = sample(request(model, steps=4, cfg=1.0, samples=init)[0])["samples"]
    assert not torch.allclose(out["samples"], full)
    # closer to the input than a full denoise from noise
    assert (out["samples"] - init["samples"]).abs().mean() < (full - init["samples"]).abs().mean()


@torch.no_grad()
def test_batched_cfg_equals_separate():
    model = tiny()
    a = sample(request(model)[0])["samples"]
    b = sample(request(model, options=SamplerOptions(batched_cfg=True))[0])["samples"]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@torch.no_grad()
def test_teacache_and_slg_and_experimental_in_loop():
    model = tiny(layers=3)
    ctx = ExecContext()
    tea = wanvideo_teacache(ctx, rel_l1_thresh=100.0, start_step=1, end_step=-1, use_coefficients=False, mode="e")[0]
    req, calls = request(model, steps=6, options=SamplerOptions(teacache=tea))
    out = sample(req)
    assert out["teacache_skipped"] == {0: [2, 3, 4, 5], 1: [2, 3, 4, 5]}
    assert len(calls) == 2 * 2 * 3  # steps 0 and 1 computed, cond and uncond, 3 blocks
    slg = wanvideo_slg(ctx, blocks="1", start_percent=0.0, end_percent=1.0)[0]
    req, calls = request(model, steps=2, options=SamplerOptions(slg=slg))
    sample(req)
    assert calls.count(1) == 2 and calls.count(0) == 4  # block 1 skipped in both uncond passes
    exp = wanvideo_experimental_args(ctx, cfg_zero_star=True, use_zero_init=True, zero_star_steps=0,
                                     use_fresca=True)[0]
    req, calls = request(model, steps=3, options=SamplerOptions(experimental=exp))
    out = sample(req)
    assert torch.isfinite(out["samples"]).all() and len(calls) == 2 * 2 * 3  # step 0 zero-initialised


@pytest.mark.parametrize("schedule", ["uniform_standard", "uniform_looped", "static_standard"])
@pytest.mark.parametrize("frames,size,overlap", [(21, 9, 3), (13, 5, 2), (31, 21, 4), (8, 8, 2)])
@pytest.mark.parametrize("method", ["linear", "pyramid"])
def test_context_windows_cover_and_fuse(schedule, frames, size, overlap, method):
    fn = cw.SCHEDULES[schedule]
    for step in range(4):
        windows = fn(step, 4, frames, size, 1, overlap)
        assert set(f for w in windows for f in w) == set(range(frames))
        assert all(len(w) == min(size, frames) for w in windows)
        total = torch.zeros(frames)
        weighted = torch.zeros(frames)
        for w in windows:
            m = cw.window_mask(torch.ones(1, len(w), 1, 1), w, frames, overlap, looped=schedule == "uniform_looped",
                               method=method)[0, :, 0, 0]
            assert (m >= 0).all() and (m <= 1).all()
            total[w] += m
            weighted[w] += m * 3.0
        assert (total > 0).all()
        torch.testing.assert_close(weighted / total, torch.full((frames,), 3.0))


def test_static_windows_match_pack_example():
    assert cw.static_standard(0, 1, 10, 4, 1, 1) == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert cw.ordered_halving(1) == 0.5 and cw.ordered_halving(2) == 0.25


@torch.no_grad()
def test_context_window_sampling_and_prompts():
    model = tiny()
    co = wanvideo_context_options(ExecContext(), context_schedule="uniform_standard", context_frames=9,
                                  context_stride=4, context_overlap=4, freenoise=True)[0]
    req, calls = request(model, image_embeds=t2v_embeds(frames=25), text_embeds=text(prompts=2),
                         options=SamplerOptions(context=co), steps=2)
    out = sample(req)
    assert out["samples"].shape == (1, 16, 7, 4, 4) and torch.isfinite(out["samples"]).all()
    # several prompts without windows: split over frames
    out2 = sample(request(model, image_embeds=t2v_embeds(frames=25), text_embeds=text(prompts=2), steps=2)[0])
    assert torch.isfinite(out2["samples"]).all()


# --- the executor on the tiny checkpoints ------------------------------------------------

@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    from wfrun.models.tiny import write_tiny_models

    return write_tiny_models(tmp_path_factory.mktemp("tiny"))


def load(root, name, model_type):
    from wfrun.models.load import load_transformer

    path = root / "diffusion_models" / name
    tr = load_transformer(path, dtype=torch.float32, quantization="none")
    return WanVideoModel(transformer=tr, model_type=model_type, path=path, base_dtype=torch.float32)


@torch.no_grad()
def test_executor_t2v_end_to_end(tiny_files):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    progress = QuietProgress()
    ctx = ExecContext(progress=progress)
    latent, _ = wanvideo_sampler(ctx, model=model, image_embeds=t2v_embeds(), text_embeds=text(dim=32), steps=3,
                                 cfg=6.0, shift=5.0, seed=0, scheduler="unipc", riflex_freq_index=1,
                                 rope_function="comfy", force_offload=True)
    assert latent["samples"].shape == (1, 16, 3, 4, 4) and torch.isfinite(latent["samples"]).all()
    assert progress.step_counts == [3]


@torch.no_grad()
def test_executor_i2v_end_to_end(tiny_files):
    model = load(tiny_files, "Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors", "i2v")
    g = torch.Generator().manual_seed(0)
    emb = ImageEmbeds(num_frames=9, image_embeds=torch.randn(20, 3, 4, 4, generator=g), lat_h=4, lat_w=4,
                      max_seq_len=12, clip_context=torch.randn(1, 5, 32, generator=g))
    latent, _ = wanvideo_sampler(ExecContext(), model=model, image_embeds=emb, text_embeds=text(dim=32), steps=2,
                                 cfg=4.0, shift=3.0, seed=2, scheduler="euler", riflex_freq_index=0,
                                 teacache_args=wanvideo_teacache(ExecContext(), start_step=0)[0])
    assert latent["samples"].shape == (1, 16, 3, 4, 4) and torch.isfinite(latent["samples"]).all()


def test_executor_rejects_wrong_embeds_before_sampling(tiny_files):
    t2v = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    i2v = load(tiny_files, "Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors", "i2v")
    ctl = load(tiny_files, "Wan2.1-Fun-1.3B-Control_tiny_bf16.safetensors", "fun_control")
    image = ImageEmbeds(num_frames=9, image_embeds=torch.zeros(20, 3, 4, 4), lat_h=4, lat_w=4, max_seq_len=12)
    control = ImageEmbeds(num_frames=9, target_shape=(16, 3, 4, 4),
                          control_embeds=ControlEmbeds(control_images=torch.zeros(16, 3, 4, 4)))
    common = dict(text_embeds=text(dim=32), steps=2, cfg=1.0, shift=5.0, seed=0, scheduler="unipc",
                  riflex_freq_index=0)
    for model, emb, words in [(t2v, image, "text-to-video"), (t2v, control, "text-to-video"),
                              (i2v, t2v_embeds(), "needs an image"), (ctl, t2v_embeds(), "control embeds")]:
        with pytest.raises(NodeInputError) as err:
            wanvideo_sampler(ExecContext(), model=model, image_embeds=emb, **common)
        assert err.value.input_name == "image_embeds" and words in str(err.value) and err.value.hint
    with pytest.raises(NodeInputError, match="multitalk"):
        wanvideo_sampler(ExecContext(), model=t2v, image_embeds=t2v_embeds(), **{**common, "scheduler": "multitalk"})
    # Fun control with control embeds samples.
    latent, _ = wanvideo_sampler(ExecContext(), model=ctl, image_embeds=control, **common)
    assert latent["samples"].shape == (1, 16, 3, 4, 4) and torch.isfinite(latent["samples"]).all()


@torch.no_grad()
def test_phantom_reference_frames_passes_and_guidance():
    """Phantom: the last T latent frames carry the reference latents in the cond and the extra
    pass, zeros in the uncond one; noise = u + pcfg (p - u) + cfg (c - p); frames trimmed."""
    from wfrun.packs.wanvideo.types import PhantomArgs

    refs = torch.full((16, 2, 4, 4), 0.25)
    model = tiny()
    prompts = text()
    seen = []

    def fake_forward(tr, z, tt, ctx, clip, fo):
        tail = z[0, :16, -2:]
        kind = "ref" if torch.equal(tail, refs.to(tail)) else ("zeros" if not tail.abs().any() else "noisy")
        positive = torch.equal(ctx[0, :7].float(), prompts.prompt_embeds[0].float())
        seen.append((kind, positive))
        value = {(True, "ref"): 1.0, (False, "zeros"): 0.0, (False, "ref"): 0.5}.get((positive, kind), 0.0)
        return torch.full((z.shape[0], 16, *z.shape[2:]), value), None

    def run(pcfg, start=0.0):
        embeds = ImageEmbeds(num_frames=9, target_shape=(16, 3 + 2, 4, 4),
                             phantom=PhantomArgs(refs, pcfg, start, 1.0))
        req, _ = request(model, image_embeds=embeds, text_embeds=prompts, steps=1, cfg=5.0, scheduler="euler")
        orig = sample.__globals__["transformer_forward"]
        sample.__globals__["transformer_forward"] = fake_forward
        try:
            return sample(req)["samples"][0]
        finally:
            sample.__globals__["transformer_forward"] = orig

    with_extra = run(3.0)
    assert seen == [("ref", True), ("zeros", False), ("ref", False)]
    assert with_extra.shape == (16, 3, 4, 4)  # the 2 reference frames are dropped
    seen.clear()
    plain_cfg = run(1.0)  # pcfg 1: no extra pass, ordinary cfg between cond and uncond
    assert seen == [("ref", True), ("zeros", False)]
    noise = torch.randn(16, 5, 4, 4, generator=torch.Generator("cpu").manual_seed(1))[:, :3]
    # one Euler step is linear in the prediction: 5 * (1 - 0) vs 0 + 3 (0.5 - 0) + 5 (1 - 0.5)
    torch.testing.assert_close((noise - plain_cfg) / (noise - with_extra), torch.full_like(noise, 5.0 / 4.0))
    seen.clear()
    run(3.0, start=0.5)  # outside the window: the noisy frames stay, two ordinary passes
    assert seen == [("noisy", True), ("noisy", False)]


@torch.no_grad()
def test_easycache_skips_by_its_rule_and_a_zero_threshold_changes_nothing():
    from wfrun.sampling.conditioning import EasyCacheArgs
    from wfrun.sampling.forward import EasyCache

    model = tiny(layers=3)
    ctx = ExecContext()
    easy = node("WanVideoEasyCache")(ctx, easycache_thresh=100.0, start_step=2, end_step=-1,
                                     cache_device="offload_device")[0]
    assert isinstance(easy, EasyCacheArgs)
    req, calls = request(model, steps=6, options=SamplerOptions(teacache=easy))
    out = sample(req)
    # steps 0-1 before the range; step 2 opens a prediction and computes; 3-5 reuse its residual
    assert out["teacache_skipped"] == {0: [3, 4, 5], 1: [3, 4, 5]}
    assert len(calls) == 3 * 2 * 3
    zero = node("WanVideoEasyCache")(ctx, easycache_thresh=0.0, start_step=0, end_step=-1,
                                     cache_device="offload_device")[0]
    cached = sample(request(model, steps=4, options=SamplerOptions(teacache=zero))[0])["samples"]
    plain = sample(request(model, steps=4)[0])["samples"]
    torch.testing.assert_close(cached, plain, rtol=0, atol=0)
    # the rule on known tensors: change since the last computed input over the last output
    cache = EasyCache.create(EasyCacheArgs(easycache_thresh=0.3, start_step=0), 10, "cpu")
    x0 = torch.ones(1, 4, 2)
    calc, pid = cache.decide(None, 0, x0, None, None)
    assert calc
    cache.after_blocks(pid, x0.clone(), x0 * 3)          # residual 2, output mean 3
    cache.after_step(pid, x0 * 3)
    calc, _ = cache.decide(pid, 1, x0 * 1.5, None, None)  # change 0.5 / 3 < 0.3: reuse
    x = cache.reuse(pid, 1, x0 * 1.5)
    assert not calc and torch.equal(x, x0 * 1.5 + 2)
    cache.after_step(pid, x)
    calc, _ = cache.decide(pid, 2, x0 * 2.5, None, None)  # 1.5 / 3.5 >= 0.3: compute
    assert calc


@torch.no_grad()
def test_riflex_index_past_the_temporal_frequencies_names_the_input():
    """riflex_freq_index's range reaches 1000, but the wrapper's RIFLEx sets omega[k - 1] of
    the temporal RoPE frequencies (an IndexError past them). diffusers' split: h and w get
    2 * (head_dim // 6) dims each, t the rest; head_dim 16 -> t_dim 8 -> 4 frequencies."""
    from wfrun.sampling.loop import SamplingError

    model = tiny()
    head = model.config.attention_head_dim
    frequencies = (head - 4 * (head // 6)) // 2
    assert frequencies == 4
    out = sample(request(model, steps=1, options=SamplerOptions(riflex_freq_index=frequencies))[0])
    assert torch.isfinite(out["samples"]).all()
    with pytest.raises(SamplingError) as err:
        sample(request(model, steps=1, options=SamplerOptions(riflex_freq_index=frequencies + 1))[0])
    assert err.value.input_name == "riflex_freq_index" and "4 temporal" in str(err.value)


def test_flf2v_model_refuses_one_images_clip_tokens():
    """WanVideoClipVisionEncode's combine_embeds 'average' gives one image's tokens [1, n, d];
    an FLF2V model views them as [-1, 2n, d] before adding its table of 2n positions (the
    pack's MLPProj), which one image's n * d values cannot fill: refused naming image_embeds.
    Both images' tokens (concat, [1, 2n, d]) pass."""
    from wfrun.packs.wanvideo.sampler import check_conditioning

    torch.manual_seed(0)
    flf = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=36,
                                out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=1,
                                cross_attn_norm=True, image_dim=20, added_kv_proj_dim=32, pos_embed_seq_len=10).eval()
    model = WanVideoModel(transformer=flf, model_type="i2v", path="Wan2_1-FLF2V-14B-720P_tiny.safetensors",
                          base_dtype=torch.float32)
    base = dict(num_frames=9, image_embeds=torch.zeros(20, 3, 4, 4), lat_h=4, lat_w=4, max_seq_len=12)
    check_conditioning(model, ImageEmbeds(**base, clip_context=torch.zeros(1, 10, 20)))
    with pytest.raises(NodeInputError) as err:
        check_conditioning(model, ImageEmbeds(**base, clip_context=torch.zeros(1, 5, 20)))
    assert err.value.input_name == "image_embeds" and "1 x 5" in str(err.value) and "concat" in err.value.hint
