"""rgthree's Power Lora Loader: its rows (queued ``lora_N`` dicts or saved widget values),
the pack's strength rules, and the LoRA patches it adds (the same as core LoraLoader's)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from node_helpers import node
from wfrun.formats.document import from_data
from wfrun.graph import build, check
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.nodes.saved import saved_version, saved_widgets
from wfrun.packs.rgthree.power_lora import row_strengths

PLL = "Power Lora Loader (rgthree)"
HEADER = {"type": "PowerLoraLoaderHeaderWidget"}


@pytest.fixture(scope="module")
def model_ctx(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    loras = Path(tiny_models) / "loras"
    loras.mkdir(exist_ok=True)
    q = model.transformer.blocks[0].attn1.to_q
    for name in ("a.safetensors", "b.safetensors"):
        save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.ones(2, q.weight.shape[1]),
                   "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.ones(q.weight.shape[0], 2)},
                  str(loras / name))
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.ones(2, q.weight.shape[1]),
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.ones(q.weight.shape[0], 2),
               "lora_te_encoder_block_0.lora_down.weight": torch.ones(2, 4),
               "lora_te_encoder_block_0.lora_up.weight": torch.ones(4, 2)}, str(loras / "te.safetensors"))
    return ctx, model


def row(lora, strength=1.0, on=True, two=None):
    return {"on": on, "lora": lora, "strength": strength, "strengthTwo": two}


def test_queued_rows_add_patches_in_order_and_skip_off_and_zero_rows(model_ctx):
    ctx, model = model_ctx
    weight = model.transformer.blocks[0].attn1.to_q.weight.clone()
    patched, clip = node(PLL)(ctx, model=model, lora_1=row("a.safetensors", 0.8), lora_2=row("b.safetensors", on=False),
                              lora_3=row("b.safetensors", 0.0), lora_4=row("b.safetensors", -0.5),
                              PowerLoraLoaderHeaderWidget=HEADER, **{"➕ Add Lora": ""})
    assert clip is None
    assert [(p.path.name, p.strength) for p in patched.loras] == [("a.safetensors", 0.8), ("b.safetensors", -0.5)]
    assert model.loras == () and torch.equal(model.transformer.blocks[0].attn1.to_q.weight, weight)


def test_strengths_follow_the_pack_rule():
    assert row_strengths(row("x", 0.7), has_clip=True) == (0.7, 0.7)  # strengthTwo null: CLIP takes strength
    assert row_strengths(row("x", 0.7, two=0.2), has_clip=True) == (0.7, 0.2)
    assert row_strengths(row("x", 0.7, two=0.2), has_clip=False) == (0.7, 0.0)  # no CLIP: its strength is 0
    with pytest.raises(NodeInputError):
        row_strengths(row("x", "1"), has_clip=True)


def test_rows_are_read_from_the_saved_widgets_of_a_ui_file(model_ctx):
    ctx, model = model_ctx
    saved = [{}, HEADER, row("b.safetensors", 0.3), row("a.safetensors", on=False), {}, ""]
    workflow = {"nodes": [{"id": 7, "type": "Note", "widgets_values": ["x"]},
                          {"id": 9, "type": PLL, "widgets_values": saved}]}
    ctx9 = ExecContext(models=ctx.models, node_id="9", workflow_json=workflow)
    (patched, _) = node(PLL)(ctx9, model=model, clip="the clip")
    assert [(p.path.name, p.strength) for p in patched.loras] == [("b.safetensors", 0.3)]


def test_saved_widgets_follow_the_node_id_into_subgraphs():
    inner = [{}, HEADER, row("a.safetensors"), {}, ""]
    workflow = {"nodes": [{"id": 3, "type": "sub-uuid"}],
                "definitions": {"subgraphs": [{"id": "sub-uuid", "nodes": [{"id": 5, "type": PLL, "widgets_values": inner}]}]}}
    assert saved_widgets(workflow, "3:5") == inner
    assert saved_widgets(workflow, "3:6") == [] and saved_widgets(workflow, "4") == [] and saved_widgets(["x"], "3") == []
    workflow["definitions"]["subgraphs"][0]["nodes"][0]["properties"] = {"ver": "694ae1f8"}
    assert saved_version(workflow, "3:5") == "694ae1f8" and saved_version(workflow, "3") is None


def test_a_lora_with_text_encoder_layers_needs_clip_strength_zero(model_ctx):
    ctx, model = model_ctx
    with pytest.raises(NodeInputError) as err:
        node(PLL)(ctx, model=model, clip="the clip", lora_1=row("te.safetensors", 1.0))
    assert "text-encoder" in str(err.value)
    (patched, _) = node(PLL)(ctx, model=model, clip="the clip", lora_1=row("te.safetensors", 1.0, two=0))
    assert [p.strength for p in patched.loras] == [1.0]


def test_an_on_row_without_a_file_name_is_a_clear_error(model_ctx):
    ctx, model = model_ctx
    with pytest.raises(NodeInputError):
        node(PLL)(ctx, model=model, lora_1=row(None))


def test_the_saved_rows_bind_without_a_widget_problem():
    """The rows, header and button are saved past the node's declared inputs; they are the
    pack's own widgets, not misplaced values (no widget-mismatch error)."""
    doc = {"last_node_id": 1, "last_link_id": 0, "version": 0.4, "links": [],
           "nodes": [{"id": 1, "type": PLL, "pos": [0, 0], "size": [300, 100], "mode": 0,
                      "inputs": [{"name": "model", "type": "MODEL", "link": None},
                                 {"name": "clip", "type": "CLIP", "link": None}],
                      "outputs": [{"name": "MODEL", "type": "MODEL", "links": []},
                                  {"name": "CLIP", "type": "CLIP", "links": []}],
                      "widgets_values": [{}, HEADER, row("a.safetensors"), {}, ""]}]}
    graph = build(from_data(doc, "w.json"))
    codes = [d.code for d in check(graph)]
    assert "widget-mismatch" not in codes, codes


def test_its_rows_that_are_on_are_read_ahead_and_released(model_ctx):
    """The prefetch hook reads the files of the rows the node will merge (on, model strength
    not 0, a file that exists), and its release drops them all."""
    from wfrun.models import lora_read
    from wfrun.packs.rgthree.power_lora import read_loras_ahead

    ctx, _ = model_ctx
    release = read_loras_ahead(ctx, {"lora_1": row("a.safetensors", 0.8), "lora_2": row("b.safetensors", on=False),
                                     "lora_3": row("te.safetensors", 0.0), "lora_4": row("missing.safetensors"),
                                     "PowerLoraLoaderHeaderWidget": HEADER})
    try:
        assert [Path(p).name for p in lora_read.held_files()] == ["a.safetensors"]
    finally:
        release()
    assert lora_read.held_files() == []
