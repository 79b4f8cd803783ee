"""The wrapper's MultiTalkModelLoader with a GGUF patch (Kijai's
``Wan2_1-InfiniteTalk_Single_Q8.gguf``, the wrapper's InfiniteTalk examples from 2025-09):
the dequantized weights against the gguf library's own reference dequantizer, the pack's
pairing rule (a GGUF patch wants a GGUF main model), ComfyUI's ModelPatchLoader still
refusing GGUF, and the stand-in the smoke run writes for such a name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.models.header import CheckpointError
from wfrun.models.multitalk import load_multitalk, tiny_state_dict, write_tiny_gguf
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError

NAME = "Wan2_1-InfiniteTalk_Single_Q8.gguf"


def reference(tensor: torch.Tensor, qtype: str) -> np.ndarray:
    """The gguf library's numpy quantize → dequantize round trip (its reference code)."""
    import gguf

    kind = gguf.GGMLQuantizationType[qtype]
    array = tensor.float().numpy()
    return gguf.quants.dequantize(gguf.quants.quantize(array, kind), kind)


def test_gguf_patch_dequantizes_as_the_gguf_reference(tmp_path):
    path = write_tiny_gguf(tmp_path / NAME, "Q8_0", seed=4, dim=64, audio_dim=32)
    patch = load_multitalk(path, gguf=True)
    state = patch.module.state_dict()
    original = tiny_state_dict(seed=4, dim=64, audio_dim=32)
    assert set(state) == set(original)
    quantized = 0
    for key, value in original.items():
        got = state[key].float()
        assert got.shape == value.shape, key
        if value.ndim == 2 and value.shape[-1] % 32 == 0:  # a Q8_0 matrix (rows of whole blocks)
            quantized += 1
            # diffusers multiplies the fp16 scale by the int8 values in fp16: one fp16 rounding
            np.testing.assert_allclose(got.numpy(), reference(value, "Q8_0"), rtol=1e-3, atol=1e-4)
            assert not torch.equal(got, value.float())  # it really was quantized
        else:  # vectors in F32, rows too short for a block in F16: stored as they are
            np.testing.assert_allclose(got.numpy(), value.to(state[key].dtype).float().numpy(), rtol=0, atol=0)
    assert quantized >= 6  # q/kv/proj of both blocks at least
    assert patch.spec.dim == 64 and patch.spec.heads == 2 and patch.spec.blocks == 2


def test_core_patch_loader_still_refuses_gguf(tmp_path):
    path = write_tiny_gguf(tmp_path / NAME, "Q8_0", seed=1)
    with pytest.raises(CheckpointError, match="GGUF"):
        load_multitalk(path)


@pytest.fixture
def roots(tmp_path):
    from wfrun.models.tiny import ensure_tiny_models

    models = tmp_path / "models"
    write_tiny_gguf(models / "diffusion_models" / NAME, "Q8_0", seed=2)
    return ensure_tiny_models(), models


def test_loader_takes_the_gguf_and_the_pack_pairs_it_with_a_gguf_model(roots):
    tiny_root, models = roots
    ctx = ExecContext(models=ModelRoots((tiny_root, models)), device="cpu", offload_device="cpu")
    (multitalk,) = node("MultiTalkModelLoader")(ctx, model=NAME)
    assert multitalk.model_type == "InfiniteTalk" and multitalk.path.suffix == ".gguf"
    name = next(p.relative_to(tiny_root / "diffusion_models").as_posix()
                for p in (tiny_root / "diffusion_models").rglob("*.safetensors") if "i2v" in p.name.lower())
    with pytest.raises(NodeInputError, match="main model has to be a GGUF") as err:
        node("WanVideoModelLoader")(ctx, model=name, base_precision="bf16", quantization="disabled",
                                    load_device="main_device", attention_mode="sdpa", multitalk_model=multitalk)
    assert err.value.input_name == "multitalk_model"


def test_loader_with_a_gguf_main_model_attaches_the_dequantized_patch(tmp_path):
    from wfrun.models.tiny_gguf import write_wan_gguf

    models = tmp_path / "models"
    write_wan_gguf(models / "diffusion_models" / "wan2.1-i2v-14b-480p-Q8_0.gguf", "i2v", "Q8_0", seed=3)
    write_tiny_gguf(models / "diffusion_models" / NAME, "Q8_0", seed=2)
    ctx = ExecContext(models=ModelRoots((models,)), device="cpu", offload_device="cpu")
    (multitalk,) = node("MultiTalkModelLoader")(ctx, model=NAME)
    (model,) = node("WanVideoModelLoader")(ctx, model="wan2.1-i2v-14b-480p-Q8_0.gguf", base_precision="fp32",
                                           quantization="disabled", load_device="main_device",
                                           attention_mode="sdpa", multitalk_model=multitalk)
    q = model.multitalk.module.state_dict()["blocks.0.audio_cross_attn.q_linear.weight"]
    expected = reference(tiny_state_dict(seed=2)["blocks.0.audio_cross_attn.q_linear.weight"], "Q8_0")
    assert q.dtype == torch.float32
    np.testing.assert_allclose(q.numpy(), expected, rtol=1e-3, atol=1e-4)


def test_smoke_standin_for_a_gguf_patch_name(tmp_path):
    from wfrun.models.standins import family_for, write_standins

    standin = family_for("MultiTalkModelLoader", "model", "unet_gguf,diffusion_models",
                         "WanVideo\\InfiniteTalk\\" + NAME)
    assert standin.family.kind == "multitalk" and standin.family.precision == "gguf-q8_0"
    root = write_standins([standin], tmp_path / "tiny", cache=tmp_path / "cache")
    written = root / standin.relpath
    assert written.read_bytes()[:4] == b"GGUF"
    assert load_multitalk(written, gguf=True).spec.blocks == 2
