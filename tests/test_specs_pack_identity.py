"""Two packs that name a node the same: each saved node is read with its own pack's spec and
runs its own executor, by the pack identity the frontend saved (``properties.cnr_id`` /
``aux_id``); without one, the registry's first pack keeps the name, as before.

The real case: ComfyUI core's compatibility ``wanBlockSwap`` (one ``model`` input) and
orssorbit/ComfyUI-wanBlockswap's node of that name (``blocks_to_swap`` and three switches).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from specs_for_tests import inp, node, out, workflow
from wfrun.engine.executors import executor_info, get_executor, pack_executor_types
from wfrun.formats.document import from_data
from wfrun.graph import build, check
from wfrun.models import module_hooks, placement
from wfrun.models.handles import BlockSwap, CoreModel
from wfrun.nodes.executor import ExecContext
from wfrun.specs.registry import Registry
from wfrun.specs.spec import PackSpecs

CORE = {"cnr_id": "comfy-core", "ver": "0.3.40", "Node name for S&R": "wanBlockSwap"}
ORSSORBIT = {"cnr_id": "wanblockswap", "ver": "5fa2ec0fa55879fe43a33e762fff91fc2c553a67",
             "Node name for S&R": "wanBlockSwap", "aux_id": "orssorbit/ComfyUI-wanBlockswap"}


def _pack(name: str, cnr_id: str, repo: str, inputs: list[dict]) -> PackSpecs:
    sig = {"first_commit": "a" * 40, "date": "2025-01-01", "inputs": inputs, "outputs": [{"type": "MODEL"}]}
    return PackSpecs.model_validate({"pack": name, "cnr_id": cnr_id, "source": {"repo": repo},
                                     "nodes": {"Same": {"class_type": "Same", "pack": name, "signatures": [sig]}}})


def two_packs() -> Registry:
    model = {"name": "model", "type": "MODEL", "section": "required"}
    knob = {"name": "knob", "type": "INT", "section": "required", "default": 3}
    return Registry([_pack("first-pack", "first-pack", "alice/First-Pack", [model]),
                     _pack("second-pack", "second", "bob/ComfyUI-Second", [model, knob])])


def test_the_saved_pack_identity_picks_the_spec():
    reg = two_packs()
    assert reg.get("Same").pack == "first-pack"  # no identity: the first pack, as before
    assert reg.get("Same", {}).pack == "first-pack"
    assert reg.get("Same", {"cnr_id": "second"}).pack == "second-pack"
    assert reg.get("Same", {"cnr_id": "SECOND-PACK"}).pack == "second-pack"  # the pack name, any case
    assert reg.get("Same", {"aux_id": "bob/ComfyUI-Second"}).pack == "second-pack"
    assert reg.get("Same", {"aux_id": "someone/comfyui-second"}).pack == "second-pack"  # a fork
    assert reg.get("Same", {"cnr_id": "first-pack"}).pack == "first-pack"
    assert reg.get("Same", {"cnr_id": "unknown-pack"}).pack == "first-pack"
    assert reg.get("Same", {"Node name for S&R": "Same"}).pack == "first-pack"  # the type again: no pack
    assert [s.pack for s in reg.specs_of("Same")] == ["first-pack", "second-pack"]
    assert reg.is_default(reg.get("Same")) and not reg.is_default(reg.get("Same", {"cnr_id": "second"}))


def _file() -> dict:
    """Both packs' wanBlockSwap in one file, each saved as its pack saves it."""
    loader = node(1, "UNETLoader", ["wan.safetensors", "default"], outputs=[out("MODEL", "MODEL", [1, 2])])
    core = node(2, "wanBlockSwap", [], inputs=[inp("model", "MODEL", 1)], outputs=[out("MODEL", "MODEL")],
                properties=CORE)
    pack = node(3, "wanBlockSwap", [20, False, True, False], inputs=[inp("model", "MODEL", 2)],
                outputs=[out("MODEL", "MODEL")], properties=ORSSORBIT)
    return workflow([loader, core, pack], [[1, 1, 0, 2, 0, "MODEL"], [2, 1, 0, 3, 0, "MODEL"]])


def test_each_file_node_is_validated_against_its_own_pack(registry):
    graph = build(from_data(_file(), "two.json"), registry)
    core, pack = graph.node("2"), graph.node("3")
    assert core.spec.pack == "comfy-core" and pack.spec.pack == "wanblockswap"
    assert core.inputs.keys() == {"model"}
    assert {k: v for k, v in pack.inputs.items() if k != "model"} == {
        "blocks_to_swap": 20, "offload_img_emb": False, "offload_txt_emb": True, "use_non_blocking": False}
    problems = [d for d in [*graph.problems, *check(graph)] if d.node_id in ("2", "3")]
    assert not problems, problems


def test_without_an_identity_the_first_pack_keeps_the_name(registry):
    data = _file()
    for n in data["nodes"]:
        n.pop("properties", None)
    graph = build(from_data(data, "old.json"), registry)
    assert graph.node("2").spec.pack == graph.node("3").spec.pack == "comfy-core"
    assert any(d.node_id == "3" for d in [*graph.problems, *check(graph)])  # 4 values for a node with none


def test_each_pack_node_runs_its_own_executor(registry):
    core = registry.get("wanBlockSwap", CORE)
    pack = registry.get("wanBlockSwap", ORSSORBIT)
    assert executor_info("wanBlockSwap", core).fn is get_executor("wanBlockSwap")
    assert executor_info("wanBlockSwap", pack).fn is not get_executor("wanBlockSwap")
    assert ("wanblockswap", "wanBlockSwap") in pack_executor_types()
    # a namesake with no executor of its own is not run by the default pack's executor
    kj = registry.get("CFGZeroStar", {"cnr_id": "comfyui-kjnodes"})
    assert kj.pack == "comfyui-kjnodes"
    assert executor_info("CFGZeroStar", kj) is None
    assert executor_info("CFGZeroStar", registry.get("CFGZeroStar")) is not None


@pytest.mark.parametrize("pack,class_type", pack_executor_types())
def test_pack_executors_take_their_defaults_from_their_spec(pack, class_type, registry):
    import inspect

    spec = next(s for s in registry.specs_of(class_type) if s.pack == pack)
    params = inspect.signature(executor_info(class_type, spec).fn).parameters
    defaults = spec.widget_defaults()
    assert not [n for n, p in params.items() if n in defaults and p.default is not inspect.Parameter.empty]


def _tiny_transformer(layers: int = 4):
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16,
                                 out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=layers,
                                 cross_attn_norm=True).eval()


def _model(transformer) -> CoreModel:
    return CoreModel(transformer=transformer, task="t2v", path=Path("m.safetensors"), dtype=torch.float32,
                     latent_channels=16, shift=8.0)


def test_the_pack_node_swaps_one_block_more_than_asked_capped_at_the_model(registry):
    spec = registry.get("wanBlockSwap", ORSSORBIT)
    run = executor_info("wanBlockSwap", spec).fn
    model = _model(_tiny_transformer(layers=4))
    defaults = spec.widget_defaults()
    (swapped,) = run(ExecContext(), model=model, **{**defaults, "blocks_to_swap": 2, "offload_txt_emb": True})
    # the pack sends blocks b <= blocks_to_swap to the offload device: 0, 1 and 2
    assert swapped.block_swap == BlockSwap(blocks=3, offload_img_emb=False, offload_txt_emb=True, non_blocking=False)
    assert swapped.transformer is model.transformer and model.block_swap is None
    assert dataclasses.replace(swapped, block_swap=None) == model
    (every,) = run(ExecContext(), model=model, **{**defaults, "blocks_to_swap": 20})
    assert every.block_swap.blocks == 4


@torch.no_grad()
def test_a_swapped_pass_streams_the_blocks_and_leaves_nothing_behind():
    from wfrun.sampling.forward import transformer_forward

    net = _tiny_transformer(layers=3)
    g = torch.Generator().manual_seed(1)
    x, text = torch.randn(1, 16, 3, 4, 4, generator=g), torch.randn(1, 512, 24, generator=g)
    base, _ = transformer_forward(net, x, torch.tensor([500.0]), text)
    swap = BlockSwap(blocks=2, offload_txt_emb=True)
    with placement.swapped(net, "cpu", "cpu", swap) as on:
        assert on
        streamer = placement.streamer(net)
        assert streamer.modules == [net.condition_embedder.text_embedder, net.blocks[0], net.blocks[1]]
        out, _ = transformer_forward(net, x, torch.tensor([500.0]), text)
        with placement.swapped(net, "cpu", "cpu", swap) as again:
            assert not again  # already streaming: left as it is
    assert torch.equal(out, base)
    assert not placement.is_hooked(net) and module_hooks.find(net, module_hooks.BLOCK_STREAM) is None
    assert not any(hasattr(m, "_diffusers_hook") for m in net.modules())
    with placement.swapped(net, "cpu", "cpu", None) as none:
        assert not none


def test_a_core_namesake_saved_under_the_old_pack_id_is_read_as_core(registry):
    # Since 2025-11-17 ComfyUI's widget-less wanBlockSwap takes the name in every install;
    # the frontend then saves no widget values but keeps the pack's cnr_id (pubcol 001).
    data = _file()
    data["nodes"][2]["widgets_values"] = []
    graph = build(from_data(data, "nop.json"), registry)
    assert graph.node("3").spec.pack == "comfy-core"
    assert not [d for d in [*graph.problems, *check(graph)] if d.node_id == "3"]
    # values that fit neither keep the named pack's spec (reported against it)
    data["nodes"][2]["widgets_values"] = [20, False]
    assert build(from_data(data, "short.json"), registry).node("3").spec.pack == "wanblockswap"
