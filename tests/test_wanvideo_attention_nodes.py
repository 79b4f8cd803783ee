"""WanVideoSetAttentionModeOverride and WanVideoSetRadialAttention: the override's backend
reaches exactly the blocks and steps it names (seen by each self-attention processor as it
runs), the output is the same attention computed by another kernel, the module is left as
it was; through WanVideoSampler the model's override reaches the sampling pass. Radial
attention asks for a radial loader mode, as the pack, and runs dense with a warning."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

from node_helpers import node
from test_sampling_loop import load, t2v_embeds, text, tiny_files  # noqa: F401 (fixture)
from tiny_transformer import tiny_wan
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.attention import AttentionOverride
from wfrun.sampling.forward import ForwardOptions, transformer_forward
from wfrun.sampling.hooks import sampling_pass

MATH = "_native_math"  # a diffusers backend that runs on the CPU, apart from the default


def _recorder(model):
    seen = []
    for index, block in enumerate(model.blocks):
        block.attn1.register_forward_pre_hook(
            lambda module, args, index=index: seen.append((index, module.processor._attention_backend)))
    return seen


@torch.no_grad()
def test_override_reaches_the_named_blocks_and_steps_only():
    model = tiny_wan(3)
    g = torch.Generator().manual_seed(1)
    x, context = torch.randn(1, 16, 3, 4, 4, generator=g), torch.randn(1, 512, 24, generator=g)
    plain = [transformer_forward(model, x, torch.tensor([500.0]), context, options=ForwardOptions(step=i))[0]
             for i in range(3)]
    seen = _recorder(model)
    with sampling_pass(model, attention_override=AttentionOverride(MATH, start_step=1, end_step=2, blocks=(1,))):
        out = [transformer_forward(model, x, torch.tensor([500.0]), context, options=ForwardOptions(step=i))[0]
               for i in range(3)]
    expected = [(b, MATH if (step, b) == (1, 1) else None) for step in range(3) for b in range(3)]
    assert seen == expected
    for a, b in zip(out, plain):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert all(block.attn1.processor._attention_backend is None for block in model.blocks)


def test_override_node_takes_a_block_list(tiny_files):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    (blocks,) = node("WanVideoBlockList")(ExecContext(), blocks="0-1")
    (out,) = node("WanVideoSetAttentionModeOverride")(ExecContext(), model=model, attention_mode="sdpa",
                                                      start_step=2, end_step=5, blocks=blocks)
    assert out.attention_override == AttentionOverride("native", 2, 5, (0, 1), False)
    assert model.attention_override is None and out.transformer is model.transformer


@torch.no_grad()
def test_the_sampler_runs_the_models_override(tiny_files):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    seen = _recorder(model.transformer)
    overridden = dataclasses.replace(model, attention_override=AttentionOverride(MATH, 0, 1, (0,)))
    node("WanVideoSampler")(ExecContext(), model=overridden, image_embeds=t2v_embeds(), text_embeds=text(dim=32),
                            steps=2, cfg=1.0, shift=5.0, seed=0, scheduler="euler")
    assert [b for b, backend in seen if backend == MATH] == [0]
    assert len(seen) == 2 * len(model.transformer.blocks)


def test_radial_attention_needs_a_radial_loader_mode_and_runs_dense(tiny_files, caplog):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSetRadialAttention")(ExecContext(), model=model)
    assert err.value.input_name == "model" and "radial" in (err.value.hint or "")
    radial = dataclasses.replace(model, attention_mode="radial_sage_attention")
    with caplog.at_level(logging.WARNING):
        (out,) = node("WanVideoSetRadialAttention")(ExecContext(), model=radial)
    assert out is radial
    assert [r.message for r in caplog.records if "dense" in r.message and "radial" in r.message]
