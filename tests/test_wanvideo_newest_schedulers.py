"""The wrapper's scheduler options of 2025-12 on (longcat_distill_euler, er_sde, vibt_unipc;
rcm refused) and its custom sigmas as given from 2025-12-04 (merge faf9c59), against the
pack's formulas worked out here on plain numbers; which way a saved node takes its sigmas
(``properties.ver``, else its signature's dates); and a UI workflow in the newest layout
(WanVideoSchedulerv2 -> WanVideoSamplerv2 with extra args) run end to end on tiny models."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.sampler import settle_sigmas_era
from wfrun.packs.wanvideo.sigmas_era import sigmas_as_given
from wfrun.sampling.schedulers import SchedulerError, build_schedule, normalize_name

LIGHTNING = [1.0, 0.9375, 0.8333333, 0.625, 0.0]
ROOT = Path(__file__).resolve().parents[1]


def shifted(s: float, shift: float) -> float:
    return shift * s / (1 + (shift - 1) * s)


# --- new options ------------------------------------------------------------------------

def test_longcat_distill_euler_picks_from_the_fifty_distilled_timesteps():
    # 4 steps: floor(linspace(0, 50, 5))[:-1] = 0, 12, 25, 37 of 1000, 980, ..., 20
    picked = [1.0, 0.76, 0.5, 0.26]
    sched = build_schedule("longcat_distill_euler", 4, 3.0)
    want = [shifted(s, 3.0) for s in picked] + [0.0]
    assert sched.stepper.sigmas.tolist() == pytest.approx(want, rel=1e-6)
    assert sched.timesteps.tolist() == pytest.approx([w * 1000 for w in want[:-1]], rel=1e-5)
    x, v = torch.ones(1, 1, 1, 1, 1), torch.full((1, 1, 1, 1, 1), 0.5)
    out = sched.stepper.step(v, sched.timesteps[0].reshape(1), x)
    assert float(out) == pytest.approx(1.0 + 0.5 * (want[1] - want[0]), rel=1e-6)  # plain Euler


def test_er_sde_schedule_and_three_steps_by_the_papers_rule():
    steps, shift = 4, 2.0
    full = torch.linspace(1.0, 0.003 / 1.002, 1000)
    picked = [float(full[round(i * 250)]) for i in range(4)] + [0.0]
    want = [shifted(s, shift) for s in picked]
    sched = build_schedule("er_sde", steps, shift)
    assert sched.stepper.sigmas.tolist() == pytest.approx(want, rel=1e-6)
    assert sched.timesteps.tolist() == pytest.approx([w * 1000 for w in want[:-1]], rel=1e-5)

    def f(x):  # the noise scaler
        return x * (math.exp(x ** 0.3) + 10.0)

    g = torch.Generator().manual_seed(7)
    ref = torch.Generator().manual_seed(7)
    x = torch.full((1, 1, 1, 1, 1), 0.8)
    vs = [0.3, -0.2, 0.4, 0.1]
    xr, old_x0, old_d = 0.8, None, None
    for i, t in enumerate(sched.timesteps):
        x = sched.stepper.step(torch.full_like(x, vs[i]), t.reshape(1), x, generator=g)
        s, n = want[i], want[i + 1]
        x0 = xr - s * vs[i]
        if n == 0:
            xr = x0
        else:
            r = f(n) / f(s)
            new = r * xr + (1 - r) * x0
            if old_x0 is not None:
                pos = [n + k * (s - n) / 200 for k in range(200)]
                h = (s - n) / 200
                i1 = sum(1 / f(p) for p in pos) * h
                d = (x0 - old_x0) / (s - want[i - 1])
                new += ((n - s) + i1 * f(n)) * d
                if old_d is not None:
                    iu = sum((p - s) / f(p) for p in pos) * h
                    u = (d - old_d) / ((s - want[i - 2]) / 2)
                    new += ((n - s) ** 2 / 2 + iu * f(n)) * u
                old_d = d
            noise = float(torch.randn(1, 1, 1, 1, 1, generator=ref))
            new += noise * math.sqrt(max(n * n - s * s * r * r, 0.0))
            xr = new
        old_x0 = x0
        assert float(x) == pytest.approx(xr, rel=2e-3, abs=2e-4), i


def test_vibt_unipc_bridge_step():
    sched = build_schedule("vibt_unipc", 4, 3.0)
    # diffusers' UniPC flow schedule: 1 - linspace(1, 1/1000, 5)[:-1] shifted, times 1000, as int64
    assert sched.timesteps.tolist() == [999, 900, 750, 500]
    g, ref = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    x = torch.zeros(1, 1, 1, 1, 2)
    v = torch.ones(1, 1, 1, 1, 2)
    out = sched.stepper.step(v, sched.timesteps[1].reshape(1), x, generator=g)
    delta, cur = (750 - 900) / 1000, 901 / 1000
    eta = math.sqrt(-delta * (cur + delta) / cur)
    want = delta * 1.0 + eta * torch.randn(x.shape, generator=ref)
    torch.testing.assert_close(out, want)
    last = sched.stepper.step(v, sched.timesteps[-1].reshape(1), x, generator=g)  # into -1: no noise
    torch.testing.assert_close(last, torch.full_like(x, -501 / 1000))


def test_rcm_is_refused_by_name():
    with pytest.raises(SchedulerError, match="rCM"):
        normalize_name("rcm")


def test_enhance_hf_tail_by_hand():
    """unipc, 10 steps, shift 1: timesteps 999, 899, ..., 99 (the pack's flow schedule); above
    half of 999 stay (999 ... 599); then max(3, min(15, 2)) = 3 values from 499.5 towards 0:
    499.5, 333, 166.5."""
    plain = build_schedule("unipc", 10, 1.0)
    top = float(plain.timesteps.max())
    kept = [float(t) for t in plain.timesteps if float(t) > top / 2]
    tail = [top / 2 * (1 - k / 3) for k in range(3)]
    sched = build_schedule("unipc", 10, 1.0, enhance_hf=True)
    assert sched.timesteps.tolist() == pytest.approx(kept + tail, rel=1e-6)
    assert sched.stepper.sigmas.tolist() == pytest.approx([t / 1000 for t in kept + tail] + [0.0], rel=1e-6)
    assert sched.steps == len(kept) + 3
    x = torch.ones(1, 1, 1, 1, 1)
    for t in sched.timesteps:  # the scheduler walks the new schedule to its end
        x = sched.stepper.step(torch.zeros_like(x), t.reshape(1), x)
    assert torch.isfinite(x).all()
    ranged = build_schedule("euler", 10, 3.0, enhance_hf=True, step_range=(2, -1))
    full = build_schedule("euler", 10, 3.0, enhance_hf=True)
    assert ranged.timesteps.tolist() == pytest.approx(full.timesteps[2:].tolist())  # cut after the tail


def test_a_step_range_outside_the_schedule_is_refused_as_the_pack_does():
    for rng in ((4, -1), (9, -1)):
        with pytest.raises(SchedulerError) as err:
            build_schedule("unipc", 4, 5.0, step_range=rng)
        assert err.value.input_name == "start_step"
    assert len(build_schedule("unipc", 4, 5.0, step_range=(3, 4)).timesteps) == 1  # the last step alone
    assert len(build_schedule("unipc", 4, 5.0, step_range=(0, 9)).timesteps) == 4  # as the pack ran it to 2026-05


# --- custom sigmas as given (2025-12-04 on) ---------------------------------------------------

@pytest.mark.parametrize("name", ["euler", "lcm", "deis", "res_multistep", "er_sde", "flowmatch_pusa", "unipc"])
def test_sigmas_are_taken_unshifted_from_2025_12_04(name):
    sched = build_schedule(name, 30, 5.0, sigmas=LIGHTNING, sigmas_as_given=True)
    assert sched.stepper.sigmas.tolist() == pytest.approx(LIGHTNING, rel=1e-6)
    assert sched.timesteps.tolist() == [1000, 937, 833, 625]  # int64(sigma * 1000), the final 0 dropped
    assert sched.steps == 4


def test_an_euler_step_on_given_sigmas_and_the_older_shifted_way():
    new = build_schedule("euler", 4, 5.0, sigmas=LIGHTNING, sigmas_as_given=True)
    x, v = torch.ones(1, 1, 1, 1, 1), torch.full((1, 1, 1, 1, 1), 0.5)
    out = new.stepper.step(v, new.timesteps[0].reshape(1), x)
    assert float(out) == pytest.approx(1.0 + 0.5 * (0.9375 - 1.0), rel=1e-6)
    old = build_schedule("euler", 4, 5.0, sigmas=LIGHTNING)  # up to 2025-12-03: diffusers shifts them
    assert old.stepper.sigmas[1].item() == pytest.approx(shifted(0.9375, 5.0), rel=1e-6)


def test_schedulers_that_take_only_the_count_or_refuse_sigmas():
    sched = build_schedule("longcat_distill_euler", 30, 1.0, sigmas=LIGHTNING, sigmas_as_given=True)
    assert len(sched.timesteps) == 4  # steps = len(sigmas) - 1, the distilled schedule itself
    assert sched.stepper.sigmas[1].item() == pytest.approx(0.76)
    for name in ("flowmatch_causvid", "flowmatch_distill"):
        with pytest.raises(SchedulerError) as err:
            build_schedule(name, 4, 5.0, sigmas=LIGHTNING, sigmas_as_given=True)
        assert err.value.input_name == "sigmas"


# --- which way a saved node takes them ------------------------------------------------------

def _ctx(ver=None, date=None):
    props = {"cnr_id": "comfyui-wanvideowrapper"}
    if ver:
        props["ver"] = ver
    workflow = {"nodes": [{"id": 27, "type": "WanVideoSampler", "properties": props}]}
    return ExecContext(node_id="27", saved_date=date, workflow_json=workflow)


@pytest.mark.parametrize("ver, date, want", [
    ("088128b224242e110d3906c6750e9a3a348a659b", "2025-12-23", True),   # 2026-05-24
    ("faf9c5927de0f32734628487063af28983e6313e", "2025-12-02", True),   # the merge, 2025-12-04
    ("4e2bf0f1fab5d78b9fccb0368b187f8eb0869a11", "2025-12-02", False),  # 2025-12-04, before the merge
    ("425035d810f8a9bff8642820d89d79ff5cd4119d", "2025-10-30", True),   # the PR's own commit
    (None, "2025-12-23", True),
    (None, "2025-10-30", False),  # that layout was replaced on 2025-12-02
    (None, "2025-12-02", None),   # in the pack from 2025-12-02 to 2025-12-23: either way
    (None, None, True),           # an API prompt: the newest
])
def test_the_saved_version_decides(ver, date, want):
    assert sigmas_as_given(_ctx(ver, date), "WanVideoSampler") is want


def test_an_undecided_node_runs_where_both_ways_agree_and_is_refused_where_they_differ():
    assert settle_sigmas_era("unipc", 4, 5.0, torch.tensor(LIGHTNING), 1536, {}) is True
    assert settle_sigmas_era("dpm++", 4, 5.0, torch.tensor(LIGHTNING), 1536, {}) is True
    for shift in (5.0, 1.0):  # at shift 1 too: the older way kept timesteps 937.5, 833.33; the newer truncates
        with pytest.raises(NodeInputError) as err:
            settle_sigmas_era("euler", 4, shift, torch.tensor(LIGHTNING), 1536, {})
        assert err.value.input_name == "sigmas"


# --- a workflow in the newest layout ---------------------------------------------------------

def newest_layout_workflow(scheduler: str) -> dict:
    """wan_t2v_tiny with its sampler replaced by the v2 trio as the pack saves them now:
    WanVideoSchedulerv2 (scheduler, steps, shift, start_step, end_step, enhance_hf),
    WanVideoSamplerExtraArgs (riflex_freq_index, rope_function), WanVideoSamplerv2 (cfg,
    seed, its control widget, force_offload, add_noise_to_samples)."""
    wf = copy.deepcopy(json.loads((ROOT / "workflows" / "wan_t2v_tiny.json").read_text()))
    ver = {"cnr_id": "comfyui-wanvideowrapper", "ver": "088128b224242e110d3906c6750e9a3a348a659b"}
    wf["nodes"] = [n for n in wf["nodes"] if n["id"] != 27]
    wf["links"] = [lk for lk in wf["links"] if lk[3] != 27 and lk[1] != 27]
    wf["nodes"] += [
        {"id": 60, "type": "WanVideoSchedulerv2", "pos": [900, -400], "size": [300, 200], "flags": {}, "order": 5,
         "mode": 0, "inputs": [{"name": "sigmas", "shape": 7, "type": "SIGMAS", "link": None}],
         "outputs": [{"name": "scheduler", "type": "WANVIDEOSCHEDULER", "links": [60]}],
         "properties": {**ver, "Node name for S&R": "WanVideoSchedulerv2"},
         "widgets_values": [scheduler, 8, 5.0, 0, -1, scheduler == "vibt_unipc"]},  # enhance_hf on one
        {"id": 61, "type": "WanVideoSamplerExtraArgs", "pos": [900, -100], "size": [300, 200], "flags": {},
         "order": 6, "mode": 0,
         "inputs": [{"name": "feta_args", "shape": 7, "type": "FETAARGS", "link": 57},
                    {"name": "cache_args", "shape": 7, "type": "CACHEARGS", "link": 56}],
         "outputs": [{"name": "extra_args", "type": "WANVIDSAMPLEREXTRAARGS", "links": [61]}],
         "properties": {**ver, "Node name for S&R": "WanVideoSamplerExtraArgs"},
         "widgets_values": [0, "comfy"]},
        {"id": 27, "type": "WanVideoSamplerv2", "pos": [1315, -400], "size": [315, 300], "flags": {}, "order": 21,
         "mode": 0,
         "inputs": [{"name": "model", "type": "WANVIDEOMODEL", "link": 29},
                    {"name": "image_embeds", "type": "WANVIDIMAGE_EMBEDS", "link": 42},
                    {"name": "scheduler", "type": "WANVIDEOSCHEDULER", "link": 60},
                    {"name": "text_embeds", "shape": 7, "type": "WANVIDEOTEXTEMBEDS", "link": 30},
                    {"name": "samples", "shape": 7, "type": "LATENT", "link": None},
                    {"name": "extra_args", "shape": 7, "type": "WANVIDSAMPLEREXTRAARGS", "link": 61}],
         "outputs": [{"name": "samples", "type": "LATENT", "links": [33]},
                     {"name": "denoised_samples", "type": "LATENT", "links": None}],
         "properties": {**ver, "Node name for S&R": "WanVideoSamplerv2"},
         "widgets_values": [6.0, 42, "fixed", True, False]},
    ]
    wf["links"] += [[29, 22, 0, 27, 0, "WANVIDEOMODEL"], [42, 37, 0, 27, 1, "WANVIDIMAGE_EMBEDS"],
                    [60, 60, 0, 27, 2, "WANVIDEOSCHEDULER"], [30, 16, 0, 27, 3, "WANVIDEOTEXTEMBEDS"],
                    [61, 61, 0, 27, 5, "WANVIDSAMPLEREXTRAARGS"], [57, 55, 0, 61, 0, "FETAARGS"],
                    [56, 52, 0, 61, 1, "CACHEARGS"], [33, 27, 0, 28, 1, "LATENT"]]
    wf["last_link_id"], wf["last_node_id"] = 61, 61
    return wf


def test_the_newest_layout_binds_by_name():
    from wfrun.formats.document import from_data
    from wfrun.graph.build import build
    from wfrun.specs.registry import default_registry

    graph = build(from_data(newest_layout_workflow("er_sde"), "w.json"), default_registry())
    sched, sampler, extra = graph.node("60"), graph.node("27"), graph.node("61")
    assert (sched.inputs["scheduler"], sched.inputs["steps"], sched.inputs["shift"], sched.inputs["end_step"],
            sched.inputs["enhance_hf"]) == ("er_sde", 8, 5.0, -1, False)
    assert (sampler.inputs["cfg"], sampler.inputs["seed"], sampler.inputs["force_offload"],
            sampler.inputs["add_noise_to_samples"]) == (6.0, 42, True, False)
    assert (extra.inputs["riflex_freq_index"], extra.inputs["rope_function"]) == (0, "comfy")


@pytest.mark.parametrize("scheduler", ["er_sde", "vibt_unipc"])
def test_the_newest_layout_runs_on_tiny_models(tmp_path, scheduler):
    from click.testing import CliRunner

    from wfrun.cli import main

    path = tmp_path / "newest.json"
    path.write_text(json.dumps(newest_layout_workflow(scheduler)))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--tiny-models", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "out").glob("*.mp4"))


# --- DummyComfyWanModelObject -> BasicScheduler -> the wrapper's sampler ----------------------

def test_the_dummy_model_gives_basic_scheduler_its_shift():
    from node_helpers import node

    ctx = ExecContext()
    (model,) = node("DummyComfyWanModelObject")(ctx, shift=5.0)
    (sigmas,) = node("BasicScheduler")(ctx, model=model, scheduler="simple", steps=4, denoise=1.0)
    # ComfyUI's flow table s(t/1000), t = 1..1000, picked at -(1 + int(x * 250)): t = 1000, 750, 500, 250
    want = [shifted(t, 5.0) for t in (1.0, 0.75, 0.5, 0.25)] + [0.0]
    assert sigmas.tolist() == pytest.approx(want, rel=1e-5)
    with pytest.raises(NodeInputError) as err:
        model.transformer.config  # noqa: B018 (a sampler's first use of it)
    assert err.value.input_name == "model"


def test_dummy_model_sigmas_drive_the_wrapper_sampler_end_to_end(tmp_path):
    from click.testing import CliRunner

    from wfrun.cli import main

    wf = copy.deepcopy(json.loads((ROOT / "workflows" / "wan_t2v_tiny.json").read_text()))
    ver = {"cnr_id": "comfyui-wanvideowrapper", "ver": "088128b224242e110d3906c6750e9a3a348a659b"}
    sampler = next(n for n in wf["nodes"] if n["id"] == 27)
    sampler["widgets_values"][6] = "euler"
    sampler["inputs"].append({"name": "sigmas", "shape": 7, "type": "SIGMAS", "link": 71})
    wf["nodes"] += [
        {"id": 70, "type": "DummyComfyWanModelObject", "pos": [600, 300], "size": [300, 60], "flags": {}, "order": 1,
         "mode": 0, "inputs": [], "outputs": [{"name": "model", "type": "MODEL", "links": [70]}],
         "properties": {**ver, "Node name for S&R": "DummyComfyWanModelObject"}, "widgets_values": [5.0]},
        {"id": 71, "type": "BasicScheduler", "pos": [950, 300], "size": [300, 110], "flags": {}, "order": 2,
         "mode": 0, "inputs": [{"name": "model", "type": "MODEL", "link": 70}],
         "outputs": [{"name": "SIGMAS", "type": "SIGMAS", "links": [71]}],
         "properties": {"cnr_id": "comfy-core", "ver": "0.3.60", "Node name for S&R": "BasicScheduler"},
         "widgets_values": ["simple", 4, 1.0]},
    ]
    wf["links"] += [[70, 70, 0, 71, 0, "MODEL"], [71, 71, 0, 27, len(sampler["inputs"]) - 1, "SIGMAS"]]
    wf["last_link_id"], wf["last_node_id"] = 71, 71
    path = tmp_path / "dummy.json"
    path.write_text(json.dumps(wf))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--tiny-models", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "out").glob("*.mp4"))
