"""The wrapper's model loader on ComfyUI's NVFP4 files (``models.comfy_quant_linear``): a
LoRA selected on the loader is added to a packed layer at each call, with the numbers of
its merge into the same layer dequantized at load, and the layer stays packed (it was
refused: the packed bytes' shape was taken for the weight's); block swap keeps the block
linears packed (they cross to the GPU as stored)."""

from __future__ import annotations

import torch
from safetensors.torch import save_file

from wfrun.models.comfy_quant_linear import PackedLinear, has_packed
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny import TinySpec, write_file
from node_helpers import node
from wfrun.nodes.executor import ExecContext

MODEL = "wan2.1_t2v_1.3B_tiny_nvfp4.safetensors"


def write_lora(path):
    g = torch.Generator().manual_seed(5)
    tensors = {}
    for layer, (rows, cols) in {"blocks.0.self_attn.q": (32, 32), "blocks.0.ffn.0": (64, 32)}.items():
        tensors[f"diffusion_model.{layer}.lora_down.weight"] = torch.randn(4, cols, generator=g) * 0.1
        tensors[f"diffusion_model.{layer}.lora_up.weight"] = torch.randn(rows, 4, generator=g) * 0.1
        tensors[f"diffusion_model.{layer}.alpha"] = torch.tensor(2.0)
    save_file(tensors, str(path))


def forward(model):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, model.config.in_channels, 2, 8, 8, generator=g).to(torch.bfloat16)
    text = torch.randn(1, 5, model.config.text_dim, generator=g).to(torch.bfloat16)
    with torch.no_grad():
        return model(x, torch.tensor([420.0]), text, return_dict=False)[0]


def test_a_loader_lora_on_a_packed_nvfp4_model_merges_like_the_dequantized_one(tmp_path, monkeypatch):
    from wfrun.models import load as load_module

    write_file(TinySpec("diffusion_models", MODEL, "wan_transformer", "t2v", "comfyui", "nvfp4"), tmp_path)
    (tmp_path / "loras").mkdir()
    write_lora(tmp_path / "loras" / "tiny_lora.safetensors")
    ctx = ExecContext(models=ModelRoots.from_options(str(tmp_path)), device="cpu", offload_device="cpu")
    loras = node("WanVideoLoraSelect")(ctx, lora="tiny_lora.safetensors", strength=0.8)[0]

    real = load_module.load_transformer

    def load(packed):  # the memory rule forced either way (no GPU here)
        monkeypatch.setattr(load_module, "load_transformer", lambda *a, **k: real(*a, **{**k, "packed": packed}))
        return node("WanVideoModelLoader")(ctx, model=MODEL, base_precision="bf16", quantization="disabled",
                                           load_device="offload_device", attention_mode="sdpa",
                                           lora=loras)[0].transformer

    packed, plain = load(True), load(False)
    assert has_packed(packed) and not has_packed(plain)
    q = packed.blocks[0].attn1.to_q
    assert isinstance(q, PackedLinear) and q.weight.dtype == torch.uint8 and len(q.patches) == 1  # still packed
    assert torch.equal(q.dequantized_weight(torch.bfloat16), plain.blocks[0].attn1.to_q.weight)  # = the merge
    assert packed.blocks[0].attn1.to_k.patches == ()  # a layer the LoRA leaves alone
    assert torch.equal(forward(packed), forward(plain))


def test_block_swap_loads_the_block_linears_packed(tmp_path):
    write_file(TinySpec("diffusion_models", MODEL, "wan_transformer", "t2v", "comfyui", "nvfp4"), tmp_path)
    ctx = ExecContext(models=ModelRoots.from_options(str(tmp_path)), device="cpu", offload_device="cpu")
    swap = node("WanVideoBlockSwap")(ctx, blocks_to_swap=1, offload_img_emb=False, offload_txt_emb=False,
                                     use_non_blocking=False, vace_blocks_to_swap=0)[0]
    args = dict(model=MODEL, base_precision="bf16", quantization="disabled", load_device="offload_device",
                attention_mode="sdpa")
    swapped = node("WanVideoModelLoader")(ctx, block_swap_args=swap, **args)[0].transformer
    plain = node("WanVideoModelLoader")(ctx, **args)[0].transformer
    assert has_packed(swapped) and not has_packed(plain)  # no GPU and no budget: dequantized at load
    assert torch.equal(forward(swapped), forward(plain))


def test_lora_factors_on_a_packed_layer_go_where_the_layer_goes(tmp_path):
    """A model loaded into host memory is sampled on the GPU, and block swap moves blocks: the
    factors move with their layer, so no call copies them from host memory (on the CPU here:
    the meta device stands for the GPU), in their own dtype."""
    write_file(TinySpec("diffusion_models", MODEL, "wan_transformer", "t2v", "comfyui", "nvfp4"), tmp_path)
    (tmp_path / "loras").mkdir()
    write_lora(tmp_path / "loras" / "tiny_lora.safetensors")
    ctx = ExecContext(models=ModelRoots.from_options(str(tmp_path)), device="cpu", offload_device="cpu")
    loras = node("WanVideoLoraSelect")(ctx, lora="tiny_lora.safetensors", strength=0.8)[0]
    swap = node("WanVideoBlockSwap")(ctx, blocks_to_swap=1, offload_img_emb=False, offload_txt_emb=False,
                                     use_non_blocking=False, vace_blocks_to_swap=0)[0]
    model = node("WanVideoModelLoader")(ctx, model=MODEL, base_precision="bf16", quantization="disabled",
                                        load_device="offload_device", attention_mode="sdpa", lora=loras,
                                        block_swap_args=swap)[0].transformer
    patch = model.blocks[0].attn1.to_q.patches[0]
    dtypes = {k: v.dtype for k, v in patch.parts.items() if k != "alpha"}
    model.to(torch.float16)
    model.to("meta")
    assert {k: (v.device.type, v.dtype) for k, v in patch.parts.items() if k != "alpha"} == \
        {k: ("meta", d) for k, d in dtypes.items()}
