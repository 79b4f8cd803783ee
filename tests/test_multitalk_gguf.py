"""GGUF MultiTalk/InfiniteTalk patches (Kijai's ``Wan2_1-InfiniteTalk_{Single,Multi}_Q8.gguf``):
read in their real tensor names and dequantized on load, checked against the ``gguf``
package's own dequantizer on the bytes written; their tiny stand-ins; and the pack's rule
that a GGUF patch needs a GGUF main model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.models.multitalk import is_multitalk, load_multitalk, tiny_state_dict, write_tiny_gguf
from wfrun.models.paths import ModelRoots
from wfrun.models.standins import family_for, write_standins
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import MultiTalkModel


def _reference(path):
    """Every tensor of ``path`` as the gguf package reads and dequantizes it (numpy)."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    out = {}
    for t in reader.tensors:
        values = gguf.quants.dequantize(t.data, t.tensor_type)
        out[t.name] = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).reshape(
            [int(d) for d in reversed(t.shape)])
    return out


def test_a_gguf_patch_loads_in_its_real_names_with_the_values_its_blocks_hold(tmp_path):
    path = write_tiny_gguf(tmp_path / "Wan2_1-InfiniteTalk_Single_Q8.gguf", seed=3)
    reference = _reference(path)
    assert set(reference) == set(tiny_state_dict(seed=3))  # ComfyUI's (and the safetensors files') names
    import gguf
    kinds = {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(path)).tensors}
    assert kinds["blocks.0.audio_cross_attn.q_linear.weight"] == "Q8_0"  # quantized matrices are read
    patch = load_multitalk(path)
    assert (patch.spec.dim, patch.spec.blocks, patch.spec.heads) == (32, 2, 2)
    state = patch.module.state_dict()
    for name, want in reference.items():
        assert state[name].shape == want.shape, name
        torch.testing.assert_close(state[name].float(), want, rtol=1e-3, atol=1e-3, msg=name)


def test_the_stand_in_for_a_gguf_release_is_a_gguf_patch(tmp_path, tiny_models):
    standin = family_for("MultiTalkModelLoader", "model", "diffusion_models", "Wan2_1-InfiniteTalk_Multi_Q8.gguf")
    assert (standin.family.kind, standin.family.precision) == ("multitalk", "gguf-q8_0")
    root = write_standins([standin], tiny_models, tmp_path)
    written = root / "diffusion_models" / "Wan2_1-InfiniteTalk_Multi_Q8.gguf"
    assert written.read_bytes()[:4] == b"GGUF"
    assert is_multitalk(_reference(written))
    ctx = ExecContext(models=ModelRoots.from_options(str(root)), device="cpu", offload_device="cpu")
    (model,) = node("MultiTalkModelLoader")(ctx, model="Wan2_1-InfiniteTalk_Multi_Q8.gguf")
    assert model.model_type == "InfiniteTalk" and model.path == written


def test_a_gguf_patch_beside_a_safetensors_model_is_refused_as_the_pack_does(tmp_path):
    models = tmp_path / "models"
    (models / "diffusion_models").mkdir(parents=True)
    (models / "diffusion_models" / "wan2.1_i2v_480p_14B_bf16.safetensors").write_bytes(b"")
    patch = write_tiny_gguf(models / "diffusion_models" / "Wan2_1-InfiniteTalk_Single_Q8.gguf")
    ctx = ExecContext(models=ModelRoots.from_options(str(models)), device="cpu", offload_device="cpu")
    with pytest.raises(NodeInputError, match="GGUF main model") as err:
        node("WanVideoModelLoader")(ctx, model="wan2.1_i2v_480p_14B_bf16.safetensors", base_precision="bf16",
                                    quantization="disabled", load_device="main_device", attention_mode="sdpa",
                                    multitalk_model=MultiTalkModel(path=patch, model_type="InfiniteTalk"))
    assert err.value.input_name == "multitalk_model"
