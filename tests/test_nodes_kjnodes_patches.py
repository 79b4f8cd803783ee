"""KJNodes' model patches on ComfyUI's MODEL: each returns a patched copy (the loaded
transformer shared, the input MODEL unchanged) carrying wfrun's run-time choice."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from node_helpers import node
from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.ksampler_nodes import compiled_for


def _model() -> CoreModel:
    net = nn.Module()
    net.blocks = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
    return CoreModel(transformer=net, task="t2v", path=Path("m.safetensors"), dtype=torch.float32,
                     latent_channels=16, shift=8.0)


def test_sage_attention_on_a_machine_without_it_keeps_sdpa_and_disabled_resets():
    model = _model()
    out, = node("PathchSageAttentionKJ")(ExecContext(device="cpu"), model=model, sage_attention="auto")
    assert out.attention == "native"  # no CUDA here: a notice, PyTorch's SDPA
    sage = dataclasses.replace(model, attention="sage")
    off, = node("PathchSageAttentionKJ")(ExecContext(device="cpu"), model=sage, sage_attention="disabled")
    assert off.attention == "native" and sage.attention == "sage" and off.transformer is sage.transformer


def test_torch_settings_and_compile_are_recorded_on_a_copy():
    model = _model()
    fp16, = node("ModelPatchTorchSettings")(ExecContext(), model=model, enable_fp16_accumulation=True)
    assert fp16.fp16_accumulation and not model.fp16_accumulation and fp16.transformer is model.transformer
    compiled, = node("TorchCompileModelWanVideoV2")(
        ExecContext(), model=fp16, backend="inductor", fullgraph=False, mode="default", dynamic=False,
        compile_transformer_blocks_only=True, dynamo_cache_size_limit=64, force_parameter_static_shapes=True)
    assert compiled.compile == {"backend": "inductor", "fullgraph": False, "mode": "default", "dynamic": False,
                                "blocks_only": True, "cache_size_limit": 64}
    assert compiled.fp16_accumulation and fp16.compile is None


def test_compile_runs_eagerly_on_the_cpu():
    model = dataclasses.replace(_model(), compile={"backend": "inductor", "fullgraph": False, "mode": "default",
                                                   "dynamic": False, "blocks_only": True, "cache_size_limit": 64})
    blocks = list(model.transformer.blocks)
    compiled_for(model, "cpu")
    assert list(model.transformer.blocks) == blocks  # nothing wrapped


def test_a_wrapper_model_is_refused_by_name():
    with pytest.raises(NodeInputError) as err:
        node("ModelPatchTorchSettings")(ExecContext(), model=object(), enable_fp16_accumulation=True)
    assert err.value.input_name == "model"


def test_core_torch_compile_model_compiles_the_whole_model_with_torch_s_other_settings():
    import torch._dynamo

    model = _model()
    (out,) = node("TorchCompileModel")(ExecContext(), model=model, backend="inductor")
    assert out.compile == {"backend": "inductor", "fullgraph": False, "mode": None, "dynamic": None,
                           "blocks_only": False, "cache_size_limit": torch._dynamo.config.cache_size_limit}
    assert model.compile is None and out.transformer is model.transformer
    blocks = list(out.transformer.blocks)
    compiled_for(out, "cpu")  # on the CPU: eager, nothing wrapped
    assert list(out.transformer.blocks) == blocks and not hasattr(out.transformer.forward, "_torchdynamo_orig_callable")
    with pytest.raises(NodeInputError) as err:
        node("TorchCompileModel")(ExecContext(), model=model, backend="tvm")
    assert err.value.input_name == "backend"
