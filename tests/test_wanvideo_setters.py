"""The wrapper's 2025-08+ model setters and CFG schedule: WanVideoSetLoRAs merges its LoRAs
for the sampling pass only (inside: the weights a loader merge gives; after: the model as
loaded), WanVideoSetBlockSwap sets the swap on a copy, CreateCFGScheduleFloatList against
the pack's rule written out by hand, and a WanVideoSampler step range refused by name."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from node_helpers import node
from wfrun.models.lora_files import lora_paths, merged
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import BlockSwapArgs


@pytest.fixture(scope="module")
def ctx(tiny_models):
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def lora_file(ctx, tiny_models):
    """A LoRA on block 0's self-attention q of the tiny 1.3B T2V."""
    base = node("WanVideoModelLoader")(ctx, model="Wan2_1-T2V-1_3B_tiny_bf16.safetensors", base_precision="fp32")[0]
    out_f, in_f = base.transformer.blocks[0].attn1.to_q.weight.shape
    g = torch.Generator().manual_seed(3)
    (tiny_models / "loras").mkdir(exist_ok=True)
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.randn(4, in_f, generator=g),
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.randn(out_f, 4, generator=g),
               "diffusion_model.blocks.0.self_attn.q.alpha": torch.tensor(4.0)},
              str(tiny_models / "loras" / "set_lora.safetensors"))
    return "set_lora.safetensors"


def test_set_loras_merge_for_the_pass_equals_the_loader_merge(ctx, lora_file):
    name = "Wan2_1-T2V-1_3B_tiny_bf16.safetensors"
    base = node("WanVideoModelLoader")(ctx, model=name, base_precision="fp32")[0]
    layer = base.transformer.blocks[0].attn1.to_q
    chain = node("WanVideoLoraSelect")(ctx, lora=lora_file, strength=0.7)[0]
    loaded = node("WanVideoModelLoader")(ctx, model=name, base_precision="fp32", lora=chain)[0]
    before = layer.weight.detach().clone()
    (patched,) = node("WanVideoSetLoRAs")(ctx, model=base, lora=chain)
    assert patched.pass_loras == tuple(chain) and base.pass_loras == () and patched.transformer is base.transformer
    torch.testing.assert_close(layer.weight, before)  # nothing merged by the node itself
    with merged(patched.transformer, lora_paths(patched.pass_loras)):  # what the sampler does around its pass
        torch.testing.assert_close(patched.transformer.blocks[0].attn1.to_q.weight,
                                   loaded.transformer.blocks[0].attn1.to_q.weight)
    torch.testing.assert_close(layer.weight, before)


def test_set_block_swap_sets_it_on_a_copy(ctx):
    base = node("WanVideoModelLoader")(ctx, model="Wan2_1-T2V-1_3B_tiny_bf16.safetensors", base_precision="fp32")[0]
    args = BlockSwapArgs(blocks_to_swap=1)
    (swapped,) = node("WanVideoSetBlockSwap")(ctx, model=base, block_swap_args=args)
    assert swapped.block_swap == args and base.block_swap is None
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSetBlockSwap")(ctx, model="not a model", block_swap_args=args)
    assert err.value.input_name == "model"


def _pack_rule(steps, start, end, interpolation, start_percent, end_percent):
    """The pack's CreateCFGScheduleFloatList.process, written out independently."""
    values = []
    first, last = min(int(steps * start_percent), steps - 1), min(int(steps * end_percent), steps - 1)
    for i in range(steps):
        if first <= i <= last:
            t = 0 if last == first else (i - first) / (last - first)
            f = {"linear": t, "ease_in": t ** 2, "ease_out": 1 - (1 - t) ** 2}[interpolation]
            values.append(round(start + f * (end - start), 2))
        else:
            values.append(1.0)
    if start_percent > 0:
        values[0] = 1.0
    return values


@pytest.mark.parametrize("steps,start,end,interp,sp,ep", [
    (10, 6.0, 1.0, "linear", 0.0, 1.0), (8, 5.0, 3.0, "ease_in", 0.25, 0.75), (6, 2.0, 7.0, "ease_out", 0.5, 0.5),
    (30, 5.0, 5.0, "linear", 0.0, 0.4)])
def test_cfg_schedule_is_the_packs(ctx, steps, start, end, interp, sp, ep):
    (got,) = node("CreateCFGScheduleFloatList")(ctx, steps=steps, cfg_scale_start=start, cfg_scale_end=end,
                                                interpolation=interp, start_percent=sp, end_percent=ep)
    assert got == _pack_rule(steps, start, end, interp, sp, ep)
    assert node("CreateCFGScheduleFloatList")(ctx, steps=4, cfg_scale_start=6.0, cfg_scale_end=2.0,
                                              interpolation="linear", start_percent=0.0,
                                              end_percent=1.0)[0] == [6.0, 4.67, 3.33, 2.0]


def test_the_wrapper_loader_reads_gguf_and_keeps_its_loras_for_the_pass(ctx, tiny_models, lora_file):
    from wfrun.models.tiny_gguf import write_wan_gguf

    path = tiny_models / "diffusion_models" / "wan2.1-t2v-1.3b-tiny-Q8_0.gguf"
    write_wan_gguf(path, "t2v", "Q8_0", seed=1)
    chain = node("WanVideoLoraSelect")(ctx, lora=lora_file, strength=1.0)[0]
    model = node("WanVideoModelLoader")(ctx, model=path.name, base_precision="fp32", lora=chain)[0]
    assert model.model_type == "t2v"
    kinds = {type(m).__name__ for m in model.transformer.modules()}
    assert "GGUFLinear" in kinds  # quantized weights stay quantized
    assert chain and model.loras == () and model.pass_loras == tuple(chain)  # merged per pass, not into Q8_0


def test_lora_select_multi_chains_its_slots_after_prev_lora_as_the_pack(ctx, lora_file):
    single = node("WanVideoLoraSelect")(ctx, lora=lora_file, strength=0.5)[0]
    (chain,) = node("WanVideoLoraSelectMulti")(ctx, prev_lora=single, lora_0=lora_file, strength_0=0.123456,
                                               lora_1="none", strength_1=1.0, lora_2=lora_file, strength_2=0.0,
                                               lora_3=lora_file, strength_3=-1.0)
    # slot 0 rounded to 4 decimals, 'none' and strength 0 left out, then slot 3
    assert [round(s.strength, 6) for s in chain] == [0.5, 0.1235, -1.0]
    assert all(s.path.name == lora_file for s in chain)
    assert node("WanVideoLoraSelectMulti")(ctx)[0] is None  # nothing chosen: no LoRA, as the pack
    # the chain merges like single selections: the same weights as two WanVideoLoraSelect nodes
    from wfrun.packs.wanvideo.lora import apply_loras

    a = node("WanVideoModelLoader")(ctx, model="Wan2_1-T2V-1_3B_tiny_bf16.safetensors", base_precision="fp32")[0]
    b = node("WanVideoModelLoader")(ctx, model="Wan2_1-T2V-1_3B_tiny_bf16.safetensors", base_precision="fp32")[0]
    apply_loras(a.transformer, chain)
    two = node("WanVideoLoraSelect")(ctx, lora=lora_file, strength=0.1235, prev_lora=single)[0]
    apply_loras(b.transformer, node("WanVideoLoraSelect")(ctx, lora=lora_file, strength=-1.0, prev_lora=two)[0])
    torch.testing.assert_close(a.transformer.blocks[0].attn1.to_q.weight, b.transformer.blocks[0].attn1.to_q.weight)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoLoraSelectMulti")(ctx, lora_0=lora_file, strength_0=[1.0, 0.5])
    assert err.value.input_name == "strength_0"
