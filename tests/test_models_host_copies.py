"""A model sent back to the host after GPU work returns to the host tensors it came from,
unless its weights changed on the device. The "device" here is PyTorch's meta device:
moves to it are real tensor moves (new tensors, new storage) with no GPU needed."""

from __future__ import annotations

import torch
from torch import nn

from wfrun.models import host_copies


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    model.register_buffer("table", torch.arange(3.0))
    return model


def test_unchanged_weights_return_to_their_host_tensors():
    model = _model()
    before = {name: t for name, t in list(model.named_parameters()) + list(model.named_buffers())}
    host_copies.onload(model, "meta")
    assert all(t.device.type == "meta" for t in model.parameters()) and model.table.device.type == "meta"
    assert host_copies.restore(model) == len(before)
    after = dict(list(model.named_parameters()) + list(model.named_buffers()))
    assert all(after[name] is before[name] for name in before)  # the same objects, nothing copied


def test_changed_weights_are_not_restored():
    model = _model()
    original_bias = model[0].bias
    host_copies.onload(model, "meta")
    with torch.no_grad():
        model[0].weight.add_(1)  # changed in place on the device: its version moves
    model[2].weight = nn.Parameter(torch.zeros(2, 4, device="meta"))  # replaced (a LoRA merged by swapping)
    restored = host_copies.restore(model)
    assert restored == 5  # the two biases, the LayerNorm's two, the buffer
    assert model[0].bias is original_bias
    assert model[0].weight.device.type == "meta" and model[2].weight.device.type == "meta"


def test_inside_inference_mode_changes_are_still_seen():
    """Jobs run under ``torch.inference_mode``; the device copies must still count versions."""
    model = _model()
    with torch.inference_mode():
        host_copies.onload(model, "meta")
        model[0].weight.mul_(2)
        assert host_copies.restore(model) == 6
    assert model[0].weight.device.type == "meta" and model[2].weight.device.type == "cpu"


def test_tied_weights_stay_tied():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    weight = shared.weight
    host_copies.onload(model, "meta")
    assert model[0].weight is model[2].weight and model[0].weight.device.type == "meta"
    host_copies.restore(model)
    assert model[0].weight is weight


def test_no_copy_is_kept_without_room_in_host_memory(monkeypatch):
    model = _model()
    monkeypatch.setattr(host_copies, "_available_host_bytes", lambda: 10 ** 12)
    assert host_copies.keep(model)
    monkeypatch.setattr(host_copies, "_available_host_bytes", lambda: 100)  # the model takes ~150 bytes
    assert not host_copies.keep(model)
    monkeypatch.setattr(host_copies, "_available_host_bytes", lambda: None)
    assert not host_copies.keep(model)


def test_tensor_subclasses_move_the_usual_way(monkeypatch):
    class Packed(torch.Tensor):  # like GGUF's quantized tensors
        pass

    model = _model()
    model[0]._parameters["weight"] = nn.Parameter(model[0].weight.data.as_subclass(Packed), requires_grad=False)
    monkeypatch.setattr(host_copies, "_available_host_bytes", lambda: 10 ** 12)
    assert not host_copies.keep(model)


def test_forget_drops_the_copies():
    model = _model()
    host_copies.onload(model, "meta")
    host_copies.forget(model)
    assert host_copies.restore(model) == 0
