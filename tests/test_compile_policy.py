"""`--compile auto`: a sampling pass compiles the transformer's blocks before its second
forward when the forwards left, at the first one's measured time, save more than compiling
costs (models.compile.compile_pays); never under `off`, at once under `on`, never with a
step cache, and nowhere but on one CUDA device."""

from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel
from tiny_transformer import tiny_wan

from wfrun.models import compile as compiling
from wfrun.models import module_hooks
from wfrun.sampling.forward import TeaCache, transformer_forward
from wfrun.sampling.conditioning import TeaCacheArgs
from wfrun.sampling.hooks import COMPILE, CompileWhenItPays, _only_device, sampling_pass


def tiny() -> WanTransformer3DModel:
    return tiny_wan(2)


def forward(model: WanTransformer3DModel) -> None:
    g = torch.Generator().manual_seed(1)
    transformer_forward(model, torch.randn(1, 16, 3, 4, 4, generator=g), torch.tensor([500.0]),
                        torch.randn(1, 512, 24, generator=g))


def test_compiling_pays_when_the_forwards_left_save_more_than_it_costs():
    saving, cost = compiling.COMPILE_SAVING, compiling.COMPILE_COST_S
    # the 14B I2V end-frame job: 20 steps at CFG (40 forwards) of about 3.6 s each
    assert compiling.compile_pays(39, 3.6) == (39 * saving * 3.6 > cost) is True
    # a 4-step CFG-1 job of a step-distill LoRA on the same model
    assert compiling.compile_pays(3, 3.35) is False
    # exactly break-even does not compile; a little more does
    forward_s = cost / (10 * saving)
    assert not compiling.compile_pays(10, forward_s * 0.999)
    assert compiling.compile_pays(10, forward_s * 1.001)


class Clock:
    def __init__(self, *times: float):
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


@pytest.mark.parametrize("planned, forward_s, compiles", [(40, 3.6, True), (4, 3.35, False), (40, 0.05, False)])
@torch.no_grad()
def test_the_hook_decides_on_the_first_forward_and_compiles_before_the_second(planned, forward_s, compiles):
    model = tiny()
    compiled_at: list[int] = []
    hook = CompileWhenItPays(model, planned, "auto", clock=Clock(100.0, 100.0 + forward_s), sync=lambda: None,
                             compile_now=lambda module: compiled_at.append(hook.calls) or True)
    module_hooks.attach(model.patch_embedding, COMPILE, hook)
    try:
        for _ in range(3):
            forward(model)
    finally:
        module_hooks.detach(model.patch_embedding, COMPILE)
    assert compiled_at == ([2] if compiles else [])
    assert hook.calls == 3 and hook.decided


@torch.no_grad()
def test_compile_on_compiles_before_the_first_forward():
    model = tiny()
    compiled_at: list[int] = []
    hook = CompileWhenItPays(model, 2, "on", clock=Clock(), sync=lambda: None,
                             compile_now=lambda module: compiled_at.append(hook.calls) or True)
    module_hooks.attach(model.patch_embedding, COMPILE, hook)
    try:
        forward(model)
        forward(model)
    finally:
        module_hooks.detach(model.patch_embedding, COMPILE)
    assert compiled_at == [1]


@pytest.mark.parametrize("policy, forwards, step_cache, attached", [
    ("auto", 40, False, True), ("on", 40, False, True), ("off", 40, False, False),
    ("auto", None, False, False), ("auto", 40, True, False)])
def test_a_pass_weighs_compiling_only_when_asked_and_without_a_step_cache(policy, forwards, step_cache, attached):
    model = tiny()
    cache = TeaCache.create(TeaCacheArgs(rel_l1_thresh=0.1, start_step=0, use_coefficients=False), 2, "1_3B",
                            "cpu") if step_cache else None
    with compiling.compile_policy(policy):
        with sampling_pass(model, teacache=cache, forwards=forwards):
            found = module_hooks.find(model.patch_embedding, COMPILE)
            assert (found is not None) == attached
            if attached:
                assert found.planned == forwards and found.policy == policy and found.transformer is model
    assert module_hooks.find(model.patch_embedding, COMPILE) is None


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="auto, on, off"):
        with compiling.compile_policy("sometimes"):
            pass


@torch.no_grad()
def test_on_the_cpu_or_split_over_devices_nothing_compiles():
    model = tiny()
    assert _only_device(model) == torch.device("cpu")
    assert compiling.compile_blocks(model, "cpu") is False and not compiling.is_compiled(model)
    hook = CompileWhenItPays(model, 2, "on", sync=lambda: None)  # the real compile step
    module_hooks.attach(model.patch_embedding, COMPILE, hook)
    try:
        forward(model)
    finally:
        module_hooks.detach(model.patch_embedding, COMPILE)
    assert hook.decided and not compiling.is_compiled(model)
    model.blocks[0].to("meta")
    assert _only_device(model) is None


def test_the_run_command_takes_the_policy_and_reports_its_timeline(tmp_path):
    """`--compile on` on the CPU runs the workflow as it is (nothing compiles off CUDA); the
    report places preparing, the first node and the report on one clock; an unknown policy
    is a usage error."""
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from wfrun.cli import main

    path = Path(__file__).resolve().parents[1] / "workflows" / "wan_t2v_tiny.json"
    result = CliRunner().invoke(main, ["run", str(path), "--tiny-models", "--device", "cpu", "--format", "json",
                                       "-o", str(tmp_path / "out"), "--compile", "on"],
                                env={"WFRUN_CACHE": str(tmp_path / "c")})
    assert result.exit_code == 0, result.output[-2000:]
    report = json.loads(result.stdout)
    timeline = report["timeline"]
    assert 0 < timeline["prepared"] <= timeline["executing"] <= timeline["reported"]
    assert timeline["reported"] - timeline["executing"] >= report["seconds"] - 0.01
    # each node's start on the same clock: after the run began, its end before the report
    started, seconds = report["node_started"], report["node_seconds"]
    assert set(started) == set(report["executed"]) == set(seconds)
    assert all(timeline["executing"] - 0.01 <= started[n] <= started[n] + seconds[n] <= timeline["reported"] + 0.01
               for n in started)
    assert report["written"]
    refused = CliRunner().invoke(main, ["run", str(path), "--tiny-models", "--compile", "sometimes"])
    assert refused.exit_code == 2 and "sometimes" in refused.output
