"""ComfyUI's NVFP4 / MXFP8 files kept packed (``models.comfy_quant_linear``): the same numbers
as the model dequantized at load, bit for bit (the reference: that model, loaded by the same
loader with ``packed=False``, whose weights ``test_models_comfy_quant`` checks against a
decoding of each byte by hand), in far less memory; the memory rule; LoRAs, block swap,
``--fast`` and ``torch.compile`` around the packed layers."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from wfrun.models import placement, residency
from wfrun.models.comfy_quant_linear import PackedLinear, has_packed, keep_packed
from wfrun.models.fp8 import Fp8Linear, use_fp8_matmuls
from wfrun.models.lora_files import merged, unmerge, with_delta
from wfrun.models.load import load_transformer
from wfrun.models.tiny import TinySpec, write_file

GIB = 2**30


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("packed")
    return {p: write_file(TinySpec("diffusion_models", f"wan2.1_t2v_1.3B_tiny_{p}.safetensors", "wan_transformer",
                                   "t2v", "comfyui", p), root) for p in ("nvfp4", "mxfp8")}


def inputs(model, dtype=torch.bfloat16):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, model.config.in_channels, 2, 8, 8, generator=g).to(dtype)
    text = torch.randn(1, 5, model.config.text_dim, generator=g).to(dtype)
    return x, torch.tensor([420.0]), text


def forward(model, dtype=torch.bfloat16):
    with torch.no_grad():
        return model(*inputs(model, dtype), return_dict=False)[0]


def packed_layers(model) -> dict[str, PackedLinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, PackedLinear)}


def nbytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


@pytest.mark.parametrize("precision, dtype", [("nvfp4", torch.bfloat16), ("mxfp8", torch.bfloat16),
                                              ("nvfp4", torch.float32)])
def test_packed_forward_is_bit_identical_to_the_model_dequantized_at_load(files, precision, dtype):
    packed = load_transformer(files[precision], dtype=dtype, packed=True)
    plain = load_transformer(files[precision], dtype=dtype, packed=False)
    layers = packed_layers(packed)
    assert len(layers) == 10 and not has_packed(plain)  # block 0's ten linears, as the file marks them
    stored = {"nvfp4": torch.uint8, "mxfp8": torch.float8_e4m3fn}[precision]
    for name, layer in layers.items():
        assert layer.weight.dtype == stored and layer.fmt.name == precision
        assert torch.equal(layer.dequantized_weight(dtype), plain.get_submodule(name).weight)
    assert nbytes(packed) < nbytes(plain)
    assert torch.equal(forward(packed, dtype), forward(plain, dtype))


def test_moving_the_model_keeps_the_packed_dtypes(files):
    model = load_transformer(files["nvfp4"], packed=True)
    before = forward(model)
    model.to(torch.float16).to(torch.bfloat16)  # a dtype round trip: only the bias and the rest follow
    layer = model.blocks[0].attn1.to_q
    assert (layer.weight.dtype, layer.weight_scale.dtype, layer.weight_scale_2.dtype) == (
        torch.uint8, torch.float8_e4m3fn, torch.float32)
    assert layer.bias.dtype == torch.bfloat16
    assert forward(model).shape == before.shape


# --- the rule -------------------------------------------------------------------------------


def test_the_rule_keeps_packed_under_a_small_budget_and_dequantizes_without(files, caplog):
    with caplog.at_level(logging.INFO, logger="wfrun.models.load"):
        with residency.gpu_budget(64 * 2**20):  # 64 MiB: the tiny model plus the 4 GiB margin does not fit
            small = load_transformer(files["mxfp8"])
        free = load_transformer(files["mxfp8"])  # no GPU here and no budget: nothing to fit
        with residency.gpu_budget(64 * GIB):
            roomy = load_transformer(files["mxfp8"])
    assert len(packed_layers(small)) == 10
    assert not has_packed(free) and not has_packed(roomy)
    lines = [r.getMessage() for r in caplog.records if "mxfp8 layers" in r.getMessage()]
    assert len(lines) == 3 and "kept packed" in lines[0] and "dequantized at load" in lines[1]
    assert torch.equal(forward(small), forward(free))


@pytest.fixture
def card(monkeypatch):
    """A CUDA card of ``state["total"]`` bytes with ``state["free"]`` free, this process
    holding ``state["reserved"]`` (the calls ``residency.free_memory`` makes)."""
    state = {}
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (state["free"], state["total"]))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: state["reserved"])
    return state


@pytest.mark.parametrize("total, free, reserved, budget, need, packed", [
    (32 * GIB, 31 * GIB, 0, None, 30 * GIB, True),      # a 32 GB card: 30 + 6.4 margin > 31
    (80 * GIB, 79 * GIB, 0, None, 30 * GIB, False),     # 30 + 16 <= 79
    (80 * GIB, 49 * GIB, 30 * GIB, None, 30 * GIB, False),  # another model of ours resident: it can go
    (80 * GIB, 30 * GIB, 0, None, 30 * GIB, True),      # another process holds 50 GiB
    (140 * GIB, 139 * GIB, 0, 24 * GIB, 20 * GIB, True),  # --gpu-memory 24: 20 + 4.8 margin > 24
    (140 * GIB, 139 * GIB, 0, 48 * GIB, 30 * GIB, False),  # --gpu-memory 48: 30 + 9.6 <= 48
])
def test_the_rule_on_a_card(card, total, free, reserved, budget, need, packed):
    card.update(total=total, free=free, reserved=reserved)
    room = min(free + reserved, budget if budget is not None else total)
    size = min(total, budget) if budget is not None else total
    margin = max(4 * GIB, 0.2 * size)
    assert (need + margin > room) == packed  # the rule as the docstring states it, by hand
    with residency.gpu_budget(budget):
        got, why = keep_packed(need, "cuda")
    assert got is packed and ("kept packed" if packed else "dequantized at load") in why


# --- what touches linears ---------------------------------------------------------------------


def write_lora(path):
    """A LoRA on three of block 0's packed layers (one a full ``diff``) and one plain layer of block 1."""
    g = torch.Generator().manual_seed(11)
    tensors = {}
    for layer, (rows, cols) in {"blocks.0.self_attn.q": (32, 32), "blocks.0.ffn.0": (64, 32),
                                "blocks.1.self_attn.k": (32, 32)}.items():
        tensors[f"diffusion_model.{layer}.lora_down.weight"] = torch.randn(4, cols, generator=g) * 0.1
        tensors[f"diffusion_model.{layer}.lora_up.weight"] = torch.randn(rows, 4, generator=g) * 0.1
        tensors[f"diffusion_model.{layer}.alpha"] = torch.tensor(2.0)
    tensors["diffusion_model.blocks.0.cross_attn.o.diff"] = torch.randn(32, 32, generator=g) * 0.01
    save_file(tensors, str(path))
    return path


@pytest.mark.parametrize("precision", ["nvfp4", "mxfp8"])
def test_a_lora_on_packed_layers_is_added_per_call_and_matches_the_merge(files, tmp_path, precision):
    lora = [(write_lora(tmp_path / "lora.safetensors"), 0.7)]
    packed = load_transformer(files[precision], packed=True)
    plain = load_transformer(files[precision], packed=False)
    assert packed.config.ffn_dim == 64
    base = forward(packed)
    stored = {n: m.weight for n, m in packed_layers(packed).items()}
    with merged(packed, lora) as count, merged(plain, lora) as plain_count:
        assert count == plain_count == 4
        q = packed.blocks[0].attn1.to_q
        assert len(q.patches) == 1 and q.weight is stored["blocks.0.attn1.to_q"]  # the bytes stay packed
        for name in ("blocks.0.attn1.to_q", "blocks.0.ffn.net.0.proj", "blocks.0.attn2.to_out.0"):
            assert torch.equal(packed.get_submodule(name).dequantized_weight(torch.bfloat16),
                               plain.get_submodule(name).weight)
        with_lora = forward(packed)
        assert torch.equal(with_lora, forward(plain)) and not torch.equal(with_lora, base)
    assert all(m.patches == () for m in packed_layers(packed).values())
    assert torch.equal(forward(packed), base)
    with merged(packed, lora, keep=True):  # a kept merge costs only the patches: it may stay
        pass
    assert len(packed.blocks[0].attn1.to_q.patches) == 1
    assert unmerge(packed) and packed.blocks[0].attn1.to_q.patches == ()


def test_a_lora_merged_for_good_dequantizes_that_layer(files):
    """The wrapper's load-time merge (``add_delta`` → ``with_delta``) on a packed layer."""
    packed = load_transformer(files["mxfp8"], packed=True)
    plain = load_transformer(files["mxfp8"], packed=False)
    delta = torch.randn(32, 32, generator=torch.Generator().manual_seed(2)) * 0.01
    for model in (packed, plain):
        layer = model.blocks[0].attn1.to_k
        layer.weight = with_delta(layer, "weight", delta)
    layer = packed.blocks[0].attn1.to_k
    assert layer.weight.dtype == torch.bfloat16 and layer.weight.shape == (32, 32)
    assert torch.equal(layer.weight, plain.blocks[0].attn1.to_k.weight)
    assert torch.equal(forward(packed), forward(plain))


def test_block_swap_streams_the_packed_tensors(files):
    model = load_transformer(files["nvfp4"], packed=True)
    base = forward(model)
    placement.place_transformer(model, "cpu", "cpu", swap_blocks=2)
    streamer = placement.streamer(model)
    streamed = {t.dtype for tensors in streamer.tensors for t in tensors}
    assert {torch.uint8, torch.float8_e4m3fn} <= streamed  # the packed weight and its block scales
    assert torch.equal(forward(model), base)
    streamer.remove()


def test_fast_fp8_matmuls_leave_packed_layers_packed(files):
    model = load_transformer(files["nvfp4"], packed=True)
    count = use_fp8_matmuls(model)
    assert len(packed_layers(model)) == 10
    # block 1's ten plain linears become fp8 ones; block 0's packed ones keep their own path
    assert count == 10  # block 1's ten plain linears; block 0's packed ones keep their own path
    assert isinstance(model.blocks[1].attn1.to_q, Fp8Linear) and model.blocks[1].attn1.to_q.fast
    assert isinstance(model.blocks[0].attn1.to_q, PackedLinear)


@pytest.mark.parametrize("precision", ["nvfp4", "mxfp8"])
def test_the_dequantizing_forward_traces_as_one_graph(files, precision):
    model = load_transformer(files[precision], packed=True)
    layer = model.blocks[0].ffn.net[0].proj
    explained = torch._dynamo.explain(layer)(torch.randn(3, 32, dtype=torch.bfloat16))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)


# --- a whole run ------------------------------------------------------------------------------


def test_a_run_under_a_small_gpu_budget_samples_from_the_packed_layers(tiny_models, tmp_path, caplog):
    """ComfyUI's Wan 2.1 template on an NVFP4 file with ``--gpu-memory 1``: the tiny model plus
    the 4 GiB margin does not fit 1 GiB, so its block linears stay packed, and the run's video
    is the one the model dequantized at load gives (the same run without the budget)."""
    import json
    from pathlib import Path

    from click.testing import CliRunner
    from run_helpers import nvfp4_t2v_template
    from wfrun.cli import main
    from wfrun.media.video import iter_frames

    models, workflow, sets = nvfp4_t2v_template(tiny_models, tmp_path)
    frames = {}
    for budget in (["--gpu-memory", "1"], []):
        out = tmp_path / f"out{len(budget)}"
        with caplog.at_level(logging.INFO, logger="wfrun.models.load"):
            caplog.clear()
            result = CliRunner().invoke(main, ["run", str(workflow), "--models", str(models), "-o", str(out),
                                               "--device", "cpu", "--format", "json", *budget,
                                               *[a for s in sets for a in ("--set", s)]])
        assert result.exit_code == 0, result.output
        said = [r.getMessage() for r in caplog.records if "nvfp4 layers" in r.getMessage()]
        assert len(said) == 1 and ("kept packed" if budget else "dequantized at load") in said[0], said
        written = [Path(p) for p in json.loads(result.stdout)["written"] if p.endswith(".mp4")]
        frames[bool(budget)] = [f for p in written for f in iter_frames(p)]
    assert len(frames[True]) == 5 and all(np.array_equal(a, b) for a, b in zip(frames[True], frames[False]))
