"""Hooks of one sampling pass: attached on entry, gone on exit (also after an error), and the
module exactly as before; entries kept with the model (block streaming) survive a pass."""

from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel
from tiny_transformer import tiny_wan

from wfrun.models import module_hooks, placement
from wfrun.models.block_stream import BlockStreamer
from wfrun.models.families.wan_transformer import SamplerChannels, sampler_channels
from wfrun.sampling.conditioning import SLGArgs, TeaCacheArgs
from wfrun.sampling.forward import ForwardOptions, TeaCache, transformer_forward
from wfrun.sampling.hooks import PASS, PROBE, SLG, active_pass, sampling_pass


def tiny(layers: int = 3) -> WanTransformer3DModel:
    return tiny_wan(layers)


def inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randn(1, 16, 3, 4, 4, generator=g), torch.randn(1, 512, 24, generator=g)


def snapshot(model: torch.nn.Module) -> dict:
    """Every sub-module's instance attributes (by identity) and the state dict."""
    return {"vars": {name: {k: id(v) for k, v in vars(m).items()} for name, m in model.named_modules()},
            "state": {k: v.clone() for k, v in model.state_dict().items()}}


def assert_as_before(model: torch.nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert after["vars"] == before["vars"]
    assert after["state"].keys() == before["state"].keys()
    assert all(torch.equal(after["state"][k], v) for k, v in before["state"].items())
    assert not any(hasattr(m, "_diffusers_hook") for m in model.modules())
    assert active_pass(model) is None


class Switch:
    def __init__(self):
        self.calls = []

    def set(self, on: bool) -> None:
        self.calls.append(on)


@torch.no_grad()
def test_a_pass_attaches_its_hooks_and_leaves_the_module_as_it_was():
    model = tiny()
    x, ctx = inputs()
    before = snapshot(model)
    base, _ = transformer_forward(model, x, torch.tensor([500.0]), ctx)
    calls, switch = [], Switch()
    cache = TeaCache.create(TeaCacheArgs(rel_l1_thresh=0.0, start_step=0, use_coefficients=False), 2, "1_3B", "cpu")
    with sampling_pass(model, slg=SLGArgs(blocks=(0, 2), start_percent=0.0, end_percent=1.0), teacache=cache,
                       on_block=calls.append, control=switch) as state:
        assert active_pass(model) is state and state.teacache is cache
        assert module_hooks.find(model.blocks[0], SLG) is not None and module_hooks.find(model.blocks[1], SLG) is None
        assert all(module_hooks.find(b, PROBE) is not None for b in model.blocks)
        out, _ = transformer_forward(model, x, torch.tensor([500.0]), ctx, options=ForwardOptions(is_uncond=True))
        assert calls == [1] and state.call.is_uncond  # blocks 0 and 2 skipped, block 1 counted
        assert not torch.equal(out, base)
    assert switch.calls == [False]  # the control switch is left off
    assert_as_before(model, before)
    again, _ = transformer_forward(model, x, torch.tensor([500.0]), ctx, options=ForwardOptions(is_uncond=True))
    assert torch.equal(again, base)  # no skip, no probe after the pass


@torch.no_grad()
def test_a_hook_raising_mid_pass_still_detaches():
    model = tiny()
    x, ctx = inputs()
    before = snapshot(model)
    switch = Switch()

    def probe(index: int) -> None:
        if index == 1:
            raise RuntimeError("interrupted in block 1")

    with pytest.raises(RuntimeError, match="block 1"):
        with sampling_pass(model, slg=SLGArgs(blocks=(2,)), on_block=probe, control=switch):
            transformer_forward(model, x, torch.tensor([500.0]), ctx)
    assert switch.calls == [False]
    assert_as_before(model, before)


def test_a_pass_on_a_stand_in_attaches_nothing():
    class StandIn:
        pass

    stand_in = StandIn()
    with sampling_pass(stand_in, slg=SLGArgs(blocks=(0,)), on_block=print) as state:
        assert state is not None and active_pass(stand_in) is None
    assert vars(stand_in) == {}


@torch.no_grad()
def test_block_streaming_stays_across_passes_and_is_found_in_the_registry():
    model = tiny()
    x, ctx = inputs()
    base, _ = transformer_forward(model, x, torch.tensor([500.0]), ctx)
    placement.place_transformer(model, "cpu", "cpu", swap_blocks=2)
    streamer = placement.streamer(model)
    assert isinstance(streamer, BlockStreamer) and placement.is_hooked(model)
    assert streamer.modules == [model.blocks[0], model.blocks[1]]
    calls = []
    with sampling_pass(model, on_block=calls.append):
        out, _ = transformer_forward(model, x, torch.tensor([500.0]), ctx)
    assert calls == [0, 1, 2] and torch.equal(out, base)
    assert placement.streamer(model) is streamer and module_hooks.find(model, PASS) is None
    out, _ = transformer_forward(model, x, torch.tensor([500.0]), ctx)
    assert torch.equal(out, base)
    streamer.remove()
    module_hooks.detach(model, module_hooks.BLOCK_STREAM)
    assert not any(hasattr(m, "_diffusers_hook") for m in model.modules())
    assert not any("forward" in vars(m) for m in model.modules())


def test_module_hooks_find_on_anything():
    assert module_hooks.find(None, PASS) is None and module_hooks.find(object(), PASS) is None
    module_hooks.detach(torch.nn.Linear(2, 2), PASS)  # nothing attached: nothing to do


def test_sampler_channels_come_from_the_family_registry():
    assert sampler_channels(16) == SamplerChannels(latent=16, control=0, image=0)
    assert sampler_channels(36) == SamplerChannels(latent=16, control=0, image=20)  # 4 mask + 16 image latents
    assert sampler_channels(48) == SamplerChannels(latent=16, control=16, image=16)
    assert sampler_channels(32) is None and sampler_channels(7) is None


@torch.no_grad()
def test_attention_backend_holds_for_one_pass_and_the_output_stays():
    """The loader's attention choice is set for the pass and reset after it (the model is left
    as loaded, and so is diffusers' process-wide backend); the math backend gives the default
    backend's output."""
    torch.manual_seed(0)
    model = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16,
                                  out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=2).eval()
    x, ctx, t = torch.randn(1, 16, 2, 4, 4), torch.randn(1, 7, 24), torch.tensor([500.0])
    plain, _ = transformer_forward(model, x, t, ctx)

    def backends():
        return {b.attn1.processor._attention_backend for b in model.blocks}

    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    process_wide = _AttentionBackendRegistry.get_active_backend()[0]
    assert backends() == {None}
    with sampling_pass(model, attention="_native_math"):
        assert {getattr(b, "value", b) for b in backends()} == {"_native_math"}
        inside, _ = transformer_forward(model, x, t, ctx)
    assert backends() == {None}
    # diffusers also sets its process-wide backend; the next model must not inherit this one's
    assert _AttentionBackendRegistry.get_active_backend()[0] == process_wide
    torch.testing.assert_close(inside, plain, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_compiled_blocks_do_not_compile_again_as_slg_steps_through_its_window():
    """SLG decides outside compiled code: over a pass whose step percent runs through the
    window, cond and uncond alike, the compiled block graphs are the shared block's and the
    skipped block's own, each traced once (traced, SLG's reads became guards and the block
    compiled again at the second step and where the window opened and closed: six graphs).
    Dynamo on CPU with its eager backend: the same tracing and guards as on the GPU."""
    from torch._dynamo.utils import counters

    model = tiny(3)
    x, ctx = inputs()
    torch._dynamo.reset()
    counters.clear()
    model.compile_repeated_blocks(fullgraph=False, backend="eager")
    try:
        with sampling_pass(model, slg=SLGArgs(blocks=(1,), start_percent=0.2, end_percent=0.8)):
            for step in range(10):
                for uncond in (False, True):
                    options = ForwardOptions(step=step, step_percent=step / 10, is_uncond=uncond)
                    transformer_forward(model, x, torch.tensor([1000.0 - 100 * step]), ctx, options=options)
        assert counters["stats"]["unique_graphs"] == 2
    finally:
        torch._dynamo.reset()


@torch.no_grad()
def test_compiled_blocks_under_block_swap_never_trace_the_streamer():
    """Block swap with compiled blocks (``--fast`` or the packs' compile nodes next to
    WanVideoBlockSwap): each streamed block's hooks run inside its compiled forward. Traced,
    the streamer's ``.data`` swaps became ``set_`` calls in the block graph, which failed on
    CUDA ("Unhandled FakeTensor Device Propagation for aten.set_ ... cpu, cuda:0": found by the
    first ``--fast`` run of the tiny end-frame workflow on the H200). The streamer now runs
    outside compiled code: no graph holds a ``set_``, the output is the eager one's bits."""
    graphs: list[list[str]] = []

    def recording(gm, example_inputs):
        graphs.append([str(n.target) for n in gm.graph.nodes])
        return gm

    model = tiny(3)
    x, ctx = inputs()
    base, _ = transformer_forward(model, x, torch.tensor([500.0]), ctx)
    placement.place_transformer(model, "cpu", "cpu", swap_blocks=2)
    torch._dynamo.reset()
    model.compile_repeated_blocks(fullgraph=False, backend=recording)
    try:
        for _ in range(2):
            out, _ = transformer_forward(model, x, torch.tensor([500.0]), ctx)
            assert torch.equal(out, base)
        assert graphs and not any("set_" in target for graph in graphs for target in graph)
    finally:
        torch._dynamo.reset()
