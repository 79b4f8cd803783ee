"""KJNodes' newer model patches for ComfyUI's MODEL: WanChunkFeedForward (the blocks'
feed-forward in pieces along the tokens), TorchCompileModelAdvanced, ModelMemoryUsageFactorOverride
and WanVideoMemoryEfficientSageAttentionPatch.

The chunked feed-forward's reference is the whole one: the feed-forward works on each token
alone (KJNodes' ``wan_ffn_chunked_forward`` splits ``x`` along dim 1 when it is longer than the
threshold and concatenates the pieces), so the core KSampler's result must not change while the
feed-forward's hidden layer sees only a piece of the tokens at a time."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from node_helpers import node, tiny_core
from tiny_transformer import tiny_wan
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.forward import transformer_forward
from wfrun.sampling.hooks import sampling_pass


def _token_counts(transformer, calls: list[int]):
    """Record the token count each block's feed-forward input layer sees."""
    return [block.ffn.net[0].register_forward_pre_hook(lambda m, args: calls.append(args[0].shape[1]))
            for block in transformer.blocks]


@torch.no_grad()
def test_a_chunked_feed_forward_sees_pieces_and_gives_the_whole_one_s_output():
    model = tiny_wan(2)
    g = torch.Generator().manual_seed(3)
    x, ctx = torch.randn(1, 16, 3, 4, 4, generator=g), torch.randn(1, 512, 24, generator=g)
    tokens = 3 * 2 * 2  # 3 latent frames of 4x4 in 2x2 patches
    whole, _ = transformer_forward(model, x, torch.tensor([700.0]), ctx)
    for chunks, threshold, seen in ((3, 4, [4, 4, 4]), (5, 4, [3, 3, 3, 3]), (3, tokens, [tokens])):
        calls: list[int] = []
        handles = _token_counts(model, calls)
        try:
            with sampling_pass(model, ffn_chunks=(chunks, threshold)):
                out, _ = transformer_forward(model, x, torch.tensor([700.0]), ctx)
        finally:
            for h in handles:
                h.remove()
        assert calls == seen * len(model.blocks), (chunks, threshold)
        torch.testing.assert_close(out, whole, rtol=1e-6, atol=1e-6)
    calls = []
    handles = _token_counts(model, calls)
    transformer_forward(model, x, torch.tensor([700.0]), ctx)  # the pass took its hooks off
    for h in handles:
        h.remove()
    assert calls == [tokens] * len(model.blocks)


@pytest.fixture(scope="module")
def core(tiny_models):
    return (*tiny_core(tiny_models), {"samples": torch.zeros(1, 16, 2, 4, 4)})


@torch.no_grad()
def test_wan_chunk_feed_forward_through_the_core_ksampler(core):
    ctx, model, positive, negative, latent = core
    inputs = dict(seed=2, steps=2, cfg=3.0, sampler_name="euler", scheduler="simple", positive=positive,
                  negative=negative, latent_image=latent, denoise=1.0)
    (plain,) = node("KSampler")(ctx, model=model, **inputs)
    (chunked_model,) = node("WanChunkFeedForward")(ctx, model=model, chunks=2, dim_threshold=4096)
    assert chunked_model.ffn_chunks == (2, 4096) and model.ffn_chunks is None
    assert chunked_model.transformer is model.transformer
    # the tiny latent has 8 tokens: a threshold below them (the UI's minimum is 1024) makes it chunk
    small = dataclasses.replace(chunked_model, ffn_chunks=(2, 4))
    calls: list[int] = []
    handles = _token_counts(model.transformer, calls)
    try:
        (chunked,) = node("KSampler")(ctx, model=small, **inputs)
    finally:
        for h in handles:
            h.remove()
    assert calls and set(calls) == {4}
    torch.testing.assert_close(chunked["samples"], plain["samples"], rtol=1e-5, atol=1e-5)
    (same,) = node("WanChunkFeedForward")(ctx, model=model, chunks=1, dim_threshold=4096)
    assert same is model
    with pytest.raises(NodeInputError) as err:
        node("WanChunkFeedForward")(ctx, model=model, chunks=0, dim_threshold=4096)
    assert err.value.input_name == "chunks"


def test_torch_compile_model_advanced_records_the_pack_s_settings(core):
    ctx, model, *_ = core
    base = dict(backend="inductor", fullgraph=False, mode="default", compile_transformer_blocks_only=True,
                dynamo_cache_size_limit=64, debug_compile_keys=False)
    for dynamic, chosen in (("auto", None), ("true", True), ("false", False), (True, True)):  # True: 2025-11-27
        (out,) = node("TorchCompileModelAdvanced")(ctx, model=model, dynamic=dynamic, **base)
        assert out.compile == {"backend": "inductor", "fullgraph": False, "mode": "default", "dynamic": chosen,
                               "blocks_only": True, "cache_size_limit": 64}
        assert model.compile is None
    with pytest.raises(NodeInputError) as err:
        node("TorchCompileModelAdvanced")(ctx, model=model, dynamic="sometimes", **base)
    assert err.value.input_name == "dynamic"


def test_memory_factor_hands_the_model_on_and_sage_falls_back_without_a_gpu(core):
    ctx, model, *_ = core
    assert node("ModelMemoryUsageFactorOverride")(ctx, model=model, memory_usage_factor=2.5) == (model,)
    (out,) = node("WanVideoMemoryEfficientSageAttentionPatch")(ExecContext(device="cpu"), model=model)
    assert out.attention == "native"  # no CUDA or sageattention here: a notice, PyTorch's SDPA
    with pytest.raises(NodeInputError) as err:
        node("WanVideoMemoryEfficientSageAttentionPatch")(ctx, model=object())
    assert err.value.input_name == "model"
