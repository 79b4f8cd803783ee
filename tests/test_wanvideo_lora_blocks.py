"""WanVideoLoraBlockEdit: the pack's ``filter_state_dict_by_blocks`` rule, checked on a merge
against the LoRA formula ``W + strength * alpha / rank * up @ down`` worked here by hand,
layer by layer: a selected block's layers merge unless ``layer_filter`` names them, other
blocks stay as loaded, and a selection of no block filters nothing (as the pack)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext
from wfrun.packs.wanvideo.types import SelectedBlocks

MODEL = "Wan2_1-T2V-1_3B_tiny_bf16.safetensors"
LAYERS = {"blocks.0.self_attn.q": ("attn1", "to_q"), "blocks.0.cross_attn.k": ("attn2", "to_k"),
          "blocks.1.self_attn.q": ("attn1", "to_q")}


@pytest.fixture(scope="module")
def setup(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    base = node("WanVideoModelLoader")(ctx, model=MODEL, base_precision="fp32")[0]
    g = torch.Generator().manual_seed(11)
    tensors, deltas = {}, {}
    for name, (attn, proj) in LAYERS.items():
        block = int(name.split(".")[1])
        out_f, in_f = getattr(getattr(base.transformer.blocks[block], attn), proj).weight.shape
        down, up = torch.randn(2, in_f, generator=g), torch.randn(out_f, 2, generator=g)
        tensors[f"diffusion_model.{name}.lora_down.weight"] = down
        tensors[f"diffusion_model.{name}.lora_up.weight"] = up
        tensors[f"diffusion_model.{name}.alpha"] = torch.tensor(1.0)
        deltas[name] = 0.8 * (1.0 / 2) * (up @ down)
    (tiny_models / "loras").mkdir(exist_ok=True)
    save_file(tensors, str(tiny_models / "loras" / "blocks_lora.safetensors"))
    return ctx, base, deltas


def _weight(model, name):
    attn, proj = LAYERS[name]
    return getattr(getattr(model.transformer.blocks[int(name.split(".")[1])], attn), proj).weight.float()


def _merged(ctx, selection):
    chain = node("WanVideoLoraSelect")(ctx, lora="blocks_lora.safetensors", strength=0.8, blocks=selection)[0]
    return node("WanVideoModelLoader")(ctx, model=MODEL, base_precision="fp32", lora=chain)[0]


def test_block_edit_output_follows_the_toggles():
    toggles = {f"blocks.{i}.": i in (0, 5) for i in range(40)}
    (sel,) = node("WanVideoLoraBlockEdit")(ExecContext(), layer_filter=" cross_attn, ,ffn", **toggles)
    assert sel == SelectedBlocks(frozenset({"blocks.0", "blocks.5"}), ("cross_attn", "ffn"))
    assert sel.keeps("head.head") and sel.keeps("blocks.5.ffn.0") is False and not sel.keeps("vace_blocks.0.x")


def test_merge_keeps_the_selected_blocks_minus_the_filter(setup):
    ctx, base, deltas = setup
    toggles = {f"blocks.{i}.": i == 0 for i in range(40)}
    (sel,) = node("WanVideoLoraBlockEdit")(ctx, layer_filter="cross_attn", **toggles)
    merged = _merged(ctx, sel)
    torch.testing.assert_close(_weight(merged, "blocks.0.self_attn.q"),
                               _weight(base, "blocks.0.self_attn.q") + deltas["blocks.0.self_attn.q"])
    for name in ("blocks.0.cross_attn.k", "blocks.1.self_attn.q"):
        torch.testing.assert_close(_weight(merged, name), _weight(base, name))


def test_no_block_selected_filters_nothing(setup):
    ctx, base, deltas = setup
    (sel,) = node("WanVideoLoraBlockEdit")(ctx, layer_filter="cross_attn", **{f"blocks.{i}.": False for i in range(40)})
    merged = _merged(ctx, sel)
    for name, delta in deltas.items():
        torch.testing.assert_close(_weight(merged, name), _weight(base, name) + delta)
