"""The engine's promises through ``wfrun run``'s own path, on the demo and the tiny models:
a re-run with a changed seed re-encodes no text, and large values are dropped after last use."""

from __future__ import annotations

import gc
import json
import weakref
from dataclasses import replace
from pathlib import Path

import pytest

from wfrun.jobs.run import RunOptions, execute, prepare
from wfrun.engine.run import OutputCache
from wfrun.engine.executors import load_packs
from wfrun.nodes import executor as executors

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "workflows" / "wan_t2v_tiny.json"
SMALL = ["37.num_frames=5", "37.width=64", "37.height=64", "27.steps=2"]


def node_ids(cls: str) -> list[str]:
    return [str(n["id"]) for n in json.loads(DEMO.read_text())["nodes"] if n["type"] == cls]


@pytest.fixture
def spy(monkeypatch):
    """Wrap executors to record calls (and a weak reference to each first output)."""
    load_packs()
    calls: list[str] = []
    outputs: dict[str, weakref.ref] = {}
    table = dict(executors._EXECUTORS)

    def wrap(cls, fn):
        def wrapped(ctx, **inputs):
            calls.append(cls)
            result = fn(ctx, **inputs)
            try:
                outputs[cls] = weakref.ref(result[0])
            except (TypeError, IndexError):
                pass
            return result
        return wrapped

    for cls, info in list(table.items()):
        table[cls] = replace(info, fn=wrap(cls, info.fn))
    monkeypatch.setattr(executors, "_EXECUTORS", table)
    return calls, outputs, table


def test_changed_seed_reuses_text_encoding_and_models(tiny_models, tmp_path, spy):
    calls, _, _ = spy
    cache = OutputCache()
    first = RunOptions(models_dir=str(tiny_models), output_dir=tmp_path, device="cpu", overrides=SMALL, seed=1)
    report1 = execute(prepare(DEMO, first), first, cache=cache)
    assert calls.count("WanVideoTextEncode") == 1 and calls.count("WanVideoSampler") == 1
    calls.clear()

    second = RunOptions(models_dir=str(tiny_models), output_dir=tmp_path, device="cpu", overrides=SMALL, seed=2)
    report2 = execute(prepare(DEMO, second), second, cache=cache)
    assert "WanVideoTextEncode" not in calls and "LoadWanVideoT5TextEncoder" not in calls
    assert "WanVideoModelLoader" not in calls
    assert calls.count("WanVideoSampler") == 1 and calls.count("WanVideoDecode") == 1
    assert set(node_ids("WanVideoTextEncode")) <= set(report2.result.cached)
    assert set(node_ids("WanVideoSampler")) <= set(report2.result.executed)
    # a changed seed gives a different video, written beside the first, not over it
    videos = [p for p in (*report1.result.written, *report2.result.written) if p.suffix == ".mp4"]
    assert len(set(videos)) == 2 and all(p.is_file() for p in videos)


def test_text_encoder_is_released_before_sampling(tiny_models, tmp_path, spy):
    calls, outputs, table = spy
    alive_at_sampling: list[bool] = []
    sample = table["WanVideoSampler"].fn

    def checking_sampler(ctx, **inputs):
        gc.collect()
        ref = outputs.get("LoadWanVideoT5TextEncoder")
        alive_at_sampling.append(ref is not None and ref() is not None)
        return sample(ctx, **inputs)

    table["WanVideoSampler"] = replace(table["WanVideoSampler"], fn=checking_sampler)
    options = RunOptions(models_dir=str(tiny_models), output_dir=tmp_path, device="cpu", overrides=SMALL)
    prepared = prepare(DEMO, options)
    report = execute(prepared, options)
    assert "LoadWanVideoT5TextEncoder" in outputs and alive_at_sampling == [False]
    # freeing bounds what is held at once well below the number of values made
    producing = [n for n in prepared.plan.order if prepared.graph.node(n).class_type != "VHS_VideoCombine"]
    assert 0 < report.result.peak_live_values < len(producing)
