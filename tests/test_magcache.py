"""MagCache in both places it appears: the wrapper's WanVideoMagCache (cache_args of
WanVideoSampler) and ComfyUI-MagCache's MagCache MODEL patch on the core KSampler.

The skip sequences are predicted by plain-python versions of the packs' documented rules
written here (:func:`ref_wrapper`, :func:`ref_core`), the step mapping is checked against
``numpy.interp``, and the tiny-model runs count the transformer's block calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import WanTransformer3DModel

from node_helpers import node, tiny_core
from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import ImageEmbeds, SamplerOptions, TextEmbeds
from wfrun.sampling import magcache_ratios as R
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample
from wfrun.sampling.magcache import (WRAPPER_RATIOS, CoreMagCache, CoreMagCacheSettings, MagCache, MagCacheArgs,
                                     core_step, wrapper_index, wrapper_variant)


# --- the rules, written out ---------------------------------------------------------------------

def ref_wrapper(table, steps, thresh, k, start, end):
    """Steps the wrapper skips (per prediction): the first step in range opens the state, later
    ones multiply in entry ``int(step * (len/2) / 50)`` and skip while the summed |1 - ratio|
    is at most the threshold and at most K steps were accumulated."""
    end = steps - 1 if end == -1 else end
    ratio, err, n, opened, skipped = 1.0, 0.0, 0, False, []
    for s in range(steps):
        if not start <= s <= end:
            continue
        if not opened:
            opened = True
            continue
        ratio *= table[int(s * ((len(table) // 2) / 50))]
        n += 1
        err += abs(1 - ratio)
        if err <= thresh and n <= k:
            skipped.append(s)
        else:
            ratio, err, n = 1.0, 0.0, 0
    return skipped


def ref_core(table, steps, thresh, k, retention, start, end, negative=True):
    """Steps the core node skips: from ``int(steps * retention)`` inside start..end, the step
    mapped onto the table's steps; the negative prompt reads entry 2m, the positive 2m+1 (alone:
    2m); either one asking to skip skips both."""
    length = len(table) // 2
    first, end = int(steps * retention), (steps + end if end < 0 else end)
    states, skipped = {"cond": [1.0, 0.0, 0], "uncond": [1.0, 0.0, 0]}, []
    for i in range(steps):
        skip = False
        if i >= first and start <= i <= end:
            m = i if steps == length else int(i * ((length - 1) / (steps - 1)))
            for pos, who in enumerate(["uncond", "cond"] if negative else ["cond"]):
                st = states[who]
                st[0] *= table[2 * m + pos]
                st[2] += 1
                st[1] += abs(1 - st[0])
                if st[1] <= thresh and st[2] <= k:
                    skip = True
                else:
                    states[who] = [1.0, 0.0, 0]
        if skip and i > 0:
            skipped.append(i)
    return skipped


# --- decisions and table lookups ------------------------------------------------------------------

def _drive_wrapper(cache: MagCache, steps: int) -> list[int]:
    """The forward's protocol for one prediction, on constant tensors."""
    x, pid, skipped = torch.ones(1, 3, 2), None, []
    for s in range(steps):
        if not cache.active(s):
            continue
        calc, pid = cache.decide(pid, s, x, None, None)
        if calc:
            cache.after_blocks(pid, x.clone(), x * 2)
        else:
            assert torch.equal(cache.reuse(pid, s, x), x + x)  # input plus the last residual
            skipped.append(s)
    return skipped


@pytest.mark.parametrize("variant", ["1_3B", "14B", "i2v_480", "i2v_720", "14B_2.2", "i2v_14B_2.2"])
@pytest.mark.parametrize("thresh,k,start,end,steps", [(0.02, 4, 1, -1, 30), (0.1, 2, 0, -1, 12),
                                                      (0.3, 6, 3, 20, 40), (0.05, 1, 1, -1, 50)])
def test_wrapper_decisions_follow_the_rule(variant, thresh, k, start, end, steps):
    args = MagCacheArgs(magcache_thresh=thresh, magcache_K=k, start_step=start, end_step=end)
    cache = MagCache.create(args, steps, variant, "cpu")
    assert _drive_wrapper(cache, steps) == ref_wrapper(WRAPPER_RATIOS[variant], steps, thresh, k, start, end)


def test_wrapper_reads_its_interleaved_table_at_its_fixed_50_steps():
    assert [wrapper_index(s, 100) for s in (0, 1, 7, 49, 99)] == [0, 1, 7, 49, 99]  # T2V: the step itself
    assert [wrapper_index(s, 80) for s in (0, 5, 10, 49)] == [0, 4, 8, 39]          # I2V: 40 / 50 of it
    # past the table (over 100 steps) the pack fails; wfrun says so before sampling
    with pytest.raises(Exception, match="covers 100 entries"):
        MagCache.create(MagCacheArgs(0.02, 4, 1, -1), 101, "14B", "cpu")
    MagCache.create(MagCacheArgs(0.02, 4, 1, 60), 101, "14B", "cpu")  # an end step inside it is fine


def test_wrapper_table_choice_by_file_name():
    assert wrapper_variant("14B", "Wan2_2-T2V-A14B-HIGH_fp8.safetensors") == "14B_2.2"
    assert wrapper_variant("i2v_720", "wan2.2_i2v_low_noise_14B.safetensors") == "i2v_14B_2.2"
    assert wrapper_variant("i2v_480", "Wan2_1-I2V-14B-480P_fp8.safetensors") == "i2v_480"


@pytest.mark.parametrize("steps", [6, 10, 20, 30, 39, 41, 49, 51, 64, 80])
@pytest.mark.parametrize("table_len", [80, 100])
def test_core_step_mapping_is_the_linear_map_rounded_down(steps, table_len):
    length = table_len // 2
    for i in range(steps):
        exact = np.interp(i, [0, steps - 1], [0, length - 1])
        mapped = core_step(i, steps, table_len)
        # the pack's float expression may land a hair below an integer the exact map hits
        assert mapped in {int(np.floor(exact + 1e-9)), int(np.floor(exact - 1e-9))}
        assert 0 <= mapped <= length - 1
    assert core_step(steps - 1, steps, table_len) == length - 1 or steps == length


def test_core_step_mapping_is_the_identity_at_the_tables_own_steps():
    assert [core_step(i, 50, 100) for i in range(50)] == list(range(50))
    assert [core_step(i, 40, 80) for i in range(40)] == list(range(40))
    assert core_step(0, 1, 100) == 0  # one step: the pack divides by zero; wfrun reads the first entry


def _drive_core(cache: CoreMagCache, steps: int, negative: bool = True) -> list[int]:
    """The core samplers' calls (positive then negative) through the wrapped predictor and the
    forward's protocol; returns the steps where the positive call skipped."""
    x, skipped = torch.ones(1, 3, 2), []

    def forward(step: int, which: str) -> None:
        assert cache.active(step)
        calc, pid = cache.decide(None, step, x, None, None)
        if calc:
            cache.after_blocks(pid, x.clone(), x * 2)
        else:
            cache.reuse(pid, step, x)
            if which == "cond":
                skipped.append(step)

    predict = cache.wrap(lambda x_, step, which: forward(step, which))
    for i in range(steps):
        predict(x, i, "cond")
        if negative:
            predict(x, i, "uncond")
    return skipped


@pytest.mark.parametrize("model_type,table", [("wan2.1_t2v_14B", R.WAN21_T2V_14B),
                                              ("wan2.1_i2v_480p_14B", R.WAN21_I2V_480P_14B),
                                              ("wan2.2_i2v_14B", R.WAN22_I2V_14B)])
@pytest.mark.parametrize("thresh,k,retention,start,end,steps", [
    (0.24, 4, 0.2, 0, -1, 20), (0.05, 2, 0.1, 0, -1, 8), (0.3, 6, 0.3, 5, 25, 30), (0.12, 3, 0.2, 0, -3, 50),
    (0.24, 4, 0.2, 0, -1, 40)])
@pytest.mark.parametrize("negative", [True, False])
def test_core_decisions_follow_the_rule(model_type, table, thresh, k, retention, start, end, steps, negative):
    settings = CoreMagCacheSettings(model_type, thresh, retention, k, start, end)
    cache = CoreMagCache(settings, torch.linspace(1, 0, steps + 1), negative)
    skipped = _drive_core(cache, steps, negative)
    assert skipped == ref_core(table, steps, thresh, k, retention, start, end, negative)
    if negative:  # decided together: the negative prompt skips exactly where the positive does
        assert cache.skipped_steps()["uncond"] == skipped


def test_core_joint_decision_skips_both_when_one_asks():
    # a table where the negative entry (position 0) keeps the ratio at 1 and the positive one drifts
    table = tuple([1.0, 1.0] + [1.0, 1.5] * 9)
    cache = CoreMagCache(CoreMagCacheSettings("wan2.1_t2v_14B", 0.1, 0.1, 3, 0, -1), torch.linspace(1, 0, 11), True)
    cache.table = np.asarray(table, dtype=np.float32)
    skipped = _drive_core(cache, 10)
    # from step 1 the negative state allows 3 skips in a row, then must run once; the positive never would
    assert skipped == [1, 2, 3, 5, 6, 7, 9]
    assert skipped == ref_core(table, 10, 0.1, 3, 0.1, 0, -1)


# --- the wrapper sampler on a tiny transformer ----------------------------------------------------

def _tiny(layers=2):
    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16,
                                 out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=layers,
                                 cross_attn_norm=True).eval()


def _request(model, **kw):
    g = torch.Generator().manual_seed(3)
    text = TextEmbeds(prompt_embeds=(torch.randn(7, 24, generator=g),),
                      negative_prompt_embeds=(torch.randn(5, 24, generator=g),))
    calls: list[int] = []
    base = dict(transformer=model, image_embeds=ImageEmbeds(num_frames=9, target_shape=(16, 3, 4, 4)),
                text_embeds=text, steps=8, cfg=5.0, shift=5.0, seed=1, scheduler="unipc", on_block=calls.append)
    base.update(kw)
    return SamplingRequest(**base), calls


@torch.no_grad()
def test_wrapper_sampler_zero_threshold_is_the_plain_run_and_a_high_one_skips_by_the_rule():
    model, ctx = _tiny(), ExecContext()
    plain, plain_calls = _request(model)
    plain_out = sample(plain)["samples"]
    assert len(plain_calls) == 8 * 2 * 2
    zero = node("WanVideoMagCache")(ctx, magcache_thresh=0.0, magcache_K=4, start_step=1, end_step=-1,
                                    cache_device="offload_device")[0]
    assert isinstance(zero, MagCacheArgs)
    req, calls = _request(model, options=SamplerOptions(teacache=zero))
    out = sample(req)
    torch.testing.assert_close(out["samples"], plain_out, rtol=0, atol=0)
    assert out["teacache_skipped"] == {0: [], 1: []} and len(calls) == len(plain_calls)

    high = node("WanVideoMagCache")(ctx, magcache_thresh=0.3, magcache_K=2, start_step=1, end_step=-1,
                                    cache_device="offload_device")[0]
    expected = ref_wrapper(R.WAN21_T2V_14B, 8, 0.3, 2, 1, -1)  # the request's model variant: 14B
    assert expected == [2, 3, 5, 6]
    req, calls = _request(model, options=SamplerOptions(teacache=high), teacache_variant="14B")
    out = sample(req)
    assert out["teacache_skipped"] == {0: expected, 1: expected}
    assert len(calls) == 2 * 2 * (8 - len(expected))  # blocks x predictions x computed steps
    assert torch.isfinite(out["samples"]).all() and not torch.equal(out["samples"], plain_out)


@torch.no_grad()
def test_wrapper_zero_threshold_from_step_0_skips_the_tables_leading_1_0_as_the_pack_does():
    # entry 1 of every table is 1.0: with start_step 0, step 1 reads it and |1 - 1| <= 0 skips
    args = node("WanVideoMagCache")(ExecContext(), magcache_thresh=0.0, magcache_K=4, start_step=0, end_step=-1,
                                    cache_device="offload_device")[0]
    req, calls = _request(_tiny(), steps=4, options=SamplerOptions(teacache=args), teacache_variant="1_3B")
    assert sample(req)["teacache_skipped"] == {0: [1], 1: [1]}
    assert ref_wrapper(R.WAN21_T2V_1_3B, 4, 0.0, 4, 0, -1) == [1]


def test_wrapper_sampler_reports_a_run_past_the_table():
    args = MagCacheArgs(magcache_thresh=0.02, magcache_K=4, start_step=1, end_step=-1)
    req, _ = _request(_tiny(layers=1), steps=101, options=SamplerOptions(teacache=args))
    with pytest.raises(SamplingError, match="covers"):
        sample(req)


def test_wrapper_node_checks_its_values():
    with pytest.raises(NodeInputError):
        node("WanVideoMagCache")(ExecContext(), magcache_thresh=-0.1, magcache_K=4, start_step=1, end_step=-1,
                                 cache_device="main_device")


# --- the core KSampler on the tiny checkpoint -------------------------------------------------------

STEPS = 8


@pytest.fixture(scope="module")
def core(tiny_models):
    return (*tiny_core(tiny_models), {"samples": torch.zeros(1, 16, 3, 4, 4)})


def _ksample(core, model, cfg=4.0):
    ctx, _, positive, negative, latent = core
    calls = []
    handle = model.transformer.blocks[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        (out,) = node("KSampler")(ctx, model=model, seed=3, steps=STEPS, cfg=cfg, sampler_name="euler",
                                   scheduler="simple", positive=positive, negative=negative, latent_image=latent,
                                   denoise=1.0)
    finally:
        handle.remove()
    return out["samples"], len(calls)


def _magcache(core, **kw):
    values = dict(model_type="wan2.1_t2v_14B", magcache_thresh=0.24, retention_ratio=0.2, magcache_K=4,
                  start_step=0, end_step=-1)
    values.update(kw)
    return node("MagCache")(core[0], model=core[1], **values)[0]


@torch.no_grad()
def test_core_zero_threshold_and_never_skipping_equal_the_plain_run(core):
    model = core[1]
    plain, plain_calls = _ksample(core, model)
    assert plain_calls == 2 * STEPS
    assert _magcache(core, magcache_thresh=0.0) is model  # the pack returns the MODEL untouched
    never = _magcache(core, magcache_K=0)  # no step may be skipped: the cache's own path, bit for bit
    assert never.magcache is not None and model.magcache is None and never.transformer is model.transformer
    out, calls = _ksample(core, never)
    assert calls == plain_calls
    torch.testing.assert_close(out, plain, rtol=0, atol=0)


@torch.no_grad()
@pytest.mark.parametrize("cfg", [4.0, 1.0])
def test_core_high_threshold_skips_the_steps_the_rule_predicts(core, cfg):
    plain, _ = _ksample(core, core[1], cfg)
    patched = _magcache(core, magcache_thresh=0.3, magcache_K=2)
    expected = ref_core(R.WAN21_T2V_14B, STEPS, 0.3, 2, 0.2, 0, -1, negative=cfg != 1.0)
    assert expected  # the setting skips something
    out, calls = _ksample(core, patched, cfg)
    prompts = 2 if cfg != 1.0 else 1
    assert calls == prompts * (STEPS - len(expected))
    assert torch.isfinite(out).all() and not torch.equal(out, plain)


def test_core_node_refuses_non_wan_types_and_other_inputs():
    net = torch.nn.Module()
    model = CoreModel(transformer=net, task="t2v", path=Path("m.safetensors"), dtype=torch.float32,
                      latent_channels=16, shift=8.0)
    ctx = ExecContext()
    with pytest.raises(NodeInputError, match="not a Wan model"):
        node("MagCache")(ctx, model=model, model_type="flux", magcache_thresh=0.24, retention_ratio=0.2,
                         magcache_K=4, start_step=0, end_step=-1)
    with pytest.raises(NodeInputError):
        node("MagCache")(ctx, model="nope", model_type="wan2.1_t2v_14B", magcache_thresh=0.24, retention_ratio=0.2,
                         magcache_K=4, start_step=0, end_step=-1)
