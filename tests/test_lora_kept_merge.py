"""A LoRA merge kept between passes, as ComfyUI keeps patched weights: the next pass with the
same LoRAs merges nothing, another LoRA set (or none) undoes it first, a failed pass or a
model sent back to the host (placement.offload) gets the original weights back."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers import WanTransformer3DModel
from tiny_transformer import tiny_wan
from safetensors.torch import save_file

from wfrun.models import lora_files, placement
from wfrun.models.lora_files import merged, unmerge


def tiny() -> WanTransformer3DModel:
    return tiny_wan(2)


def write_lora(path, seed: int, alpha: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    down, up = torch.randn(2, 32, generator=g), torch.randn(32, 2, generator=g)
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": down,
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": up,
               "diffusion_model.blocks.0.self_attn.q.alpha": torch.tensor(alpha)}, str(path))
    return down, up


@pytest.fixture
def model():
    model = tiny()
    yield model
    unmerge(model)


def test_the_same_loras_merge_once_and_the_weight_is_the_formula(model, tmp_path):
    layer = model.blocks[0].attn1.to_q
    original = layer.weight
    base = original.detach().clone()
    down, up = write_lora(tmp_path / "a.safetensors", 1)
    with merged(model, [(tmp_path / "a.safetensors", 0.5)], keep=True) as count:
        assert count == 1
        first = layer.weight
    # W + strength * alpha / rank * up @ down
    torch.testing.assert_close(layer.weight, base + 0.5 * (1.0 / 2) * (up @ down), rtol=0, atol=1e-6)
    with merged(model, [(tmp_path / "a.safetensors", 0.5)], keep=True) as count:
        assert count == 1 and layer.weight is first  # nothing merged again
    assert layer.weight is first
    assert unmerge(model) and layer.weight is original and not unmerge(model)


def test_other_loras_or_none_undo_the_kept_merge_first(model, tmp_path):
    layer = model.blocks[0].attn1.to_q
    original, base = layer.weight, layer.weight.detach().clone()
    write_lora(tmp_path / "a.safetensors", 1)
    down, up = write_lora(tmp_path / "b.safetensors", 2)
    with merged(model, [(tmp_path / "a.safetensors", 1.0)], keep=True):
        pass
    with merged(model, [(tmp_path / "b.safetensors", 1.0)], keep=True):
        torch.testing.assert_close(layer.weight, base + 0.5 * (up @ down), rtol=0, atol=1e-6)  # not a + b
    with merged(model, [(tmp_path / "b.safetensors", 2.0)], keep=True):  # another strength is another merge
        torch.testing.assert_close(layer.weight, base + 1.0 * (up @ down), rtol=0, atol=1e-6)
    with merged(model, [], keep=True) as count:
        assert count == 0 and layer.weight is original
    assert layer.weight is original


def test_a_file_changed_on_disk_is_merged_again(model, tmp_path):
    layer = model.blocks[0].attn1.to_q
    base = layer.weight.detach().clone()
    path = tmp_path / "a.safetensors"
    write_lora(path, 1)
    with merged(model, [(path, 1.0)], keep=True):
        pass
    down, up = write_lora(path, 3, alpha=2.0)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with merged(model, [(path, 1.0)], keep=True):
        torch.testing.assert_close(layer.weight, base + 1.0 * (up @ down), rtol=0, atol=1e-6)


def test_a_failed_pass_or_keep_false_restores(model, tmp_path):
    layer = model.blocks[0].attn1.to_q
    original = layer.weight
    write_lora(tmp_path / "a.safetensors", 1)
    with pytest.raises(RuntimeError):
        with merged(model, [(tmp_path / "a.safetensors", 1.0)], keep=True):
            raise RuntimeError("interrupted")
    assert layer.weight is original and not unmerge(model)
    with merged(model, [(tmp_path / "a.safetensors", 1.0)], keep=True):
        pass
    with pytest.raises(RuntimeError):  # a failure in a pass that reused the kept merge
        with merged(model, [(tmp_path / "a.safetensors", 1.0)], keep=True):
            raise RuntimeError("interrupted")
    assert layer.weight is original and not unmerge(model)
    with merged(model, [(tmp_path / "a.safetensors", 1.0)]):
        assert layer.weight is not original
    assert layer.weight is original and not unmerge(model)


def test_sending_the_model_back_puts_the_original_weights_back(model, tmp_path):
    layer = model.blocks[0].attn1.to_q
    original = layer.weight
    write_lora(tmp_path / "a.safetensors", 1)
    with merged(model, [(tmp_path / "a.safetensors", 1.0)], keep=True):
        pass
    assert layer.weight is not original
    placement.offload(model, "cpu")
    assert layer.weight is original and model not in lora_files._KEPT
