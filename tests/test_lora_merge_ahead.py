"""A LoRA merge made ahead of its pass (``lora_files.merge_ahead``, the LoRA nodes' ``ahead``
hook): the pass with the same LoRAs finds it made and merges nothing, the weights are the
formula's, a pass with other LoRAs undoes it first, a pass or an offload waits for a merge
still going on, and nothing is merged where it would not fit. The LoRA's factors come to the
layers' device in one copy of the file's buffer (``lora_read.moved``)."""

from __future__ import annotations

import threading

import pytest
import torch
from safetensors.torch import save_file
from test_lora_kept_merge import write_lora  # one rank-2 LoRA on block 0's q
from tiny_transformer import tiny_wan

from wfrun.models import lora_files, lora_read, placement
from wfrun.models.lora_files import merge_ahead, merge_lock, merged, unmerge


@pytest.fixture
def model():
    model = tiny_wan(2)
    yield model
    unmerge(model)


@pytest.fixture
def room(monkeypatch):
    """The merge ahead allowed on the CPU (on a real run: CUDA weights with memory to spare)."""
    monkeypatch.setattr(lora_files, "_room_for", lambda transformer, loras: True)


def test_a_merge_made_ahead_is_the_one_the_pass_uses(model, tmp_path, room):
    layer = model.blocks[0].attn1.to_q
    original, base = layer.weight, layer.weight.detach().clone()
    down, up = write_lora(tmp_path / "a.safetensors", 1, alpha=1.0)
    loras = [(tmp_path / "a.safetensors", 0.5)]
    assert merge_ahead(model, loras) == 1
    made = layer.weight
    torch.testing.assert_close(made, base + 0.5 * (1.0 / 2) * (up @ down), rtol=0, atol=1e-6)
    assert merge_ahead(model, loras) == 1 and layer.weight is made  # asked again: nothing new
    with merged(model, loras, keep=True) as count:
        assert count == 1 and layer.weight is made  # the pass merged nothing
    with merged(model, loras, keep=False):
        assert layer.weight is made
    assert layer.weight is original  # a pass that does not keep it undoes it after


def test_a_pass_with_other_loras_undoes_the_merge_made_ahead(model, tmp_path, room):
    layer = model.blocks[0].attn1.to_q
    original, base = layer.weight, layer.weight.detach().clone()
    write_lora(tmp_path / "a.safetensors", 1)
    down, up = write_lora(tmp_path / "b.safetensors", 2)
    merge_ahead(model, [(tmp_path / "a.safetensors", 1.0)])
    with merged(model, [(tmp_path / "b.safetensors", 1.0)], keep=True):
        torch.testing.assert_close(layer.weight, base + 0.5 * (up @ down), rtol=0, atol=1e-6)  # b alone
    with merged(model, [], keep=True):
        assert layer.weight is original
    assert merge_ahead(model, []) is None and layer.weight is original


def test_no_merge_ahead_where_the_weights_are_not_on_a_gpu(model, tmp_path):
    layer = model.blocks[0].attn1.to_q
    original = layer.weight
    write_lora(tmp_path / "a.safetensors", 1)
    assert merge_ahead(model, [(tmp_path / "a.safetensors", 1.0)]) is None
    assert layer.weight is original and model not in lora_files._KEPT


def test_a_merge_ahead_needs_a_quarter_of_the_card_left_after_it():
    gib = 2**30
    card = {"cuda:0": (40 * gib, 80 * gib), "cuda:1": (30 * gib, 80 * gib)}
    assert lora_files.fits_with_a_quarter_spare({"cuda:0": 20 * gib}, card.__getitem__)  # 20 GiB left of 80
    assert not lora_files.fits_with_a_quarter_spare({"cuda:0": 21 * gib}, card.__getitem__)  # 19 GiB left
    assert not lora_files.fits_with_a_quarter_spare({"cuda:0": gib, "cuda:1": 11 * gib}, card.__getitem__)
    assert not lora_files.fits_with_a_quarter_spare({}, card.__getitem__)  # nothing of the model changes


def test_a_pass_and_an_offload_wait_for_a_merge_still_going_on(model, tmp_path, room):
    """A worker holds the model's merge lock (a merge ahead in progress): the pass's merge
    and the offload start only once it lets go."""
    write_lora(tmp_path / "a.safetensors", 1)
    loras = [(tmp_path / "a.safetensors", 1.0)]
    holding, let_go = threading.Event(), threading.Event()
    events: list[str] = []

    def worker():
        with merge_lock(model):
            holding.set()
            let_go.wait(timeout=10)
            events.append("worker done")
            merge_ahead(model, loras)

    def sampler():
        with merged(model, loras, keep=True) as count:
            events.append(f"pass merged {count}")

    t = threading.Thread(target=worker)
    t.start()
    assert holding.wait(timeout=10)
    s = threading.Thread(target=sampler)
    s.start()
    s.join(timeout=0.3)
    assert s.is_alive() and events == []  # waiting for the lock
    let_go.set()
    t.join(timeout=10)
    s.join(timeout=10)
    assert events == ["worker done", "pass merged 1"]
    original = lora_files._KEPT[model][1]
    layer = model.blocks[0].attn1.to_q
    placement.offload(model, "cpu")
    assert model not in lora_files._KEPT and all(getattr(m, n) is p for m, n, p in original.values())
    assert layer.weight is not None


def test_tensors_sharing_a_buffer_move_in_one_copy_with_their_offsets_kept(tmp_path):
    path = tmp_path / "mixed.safetensors"
    g = torch.Generator().manual_seed(5)
    tensors = {"a": torch.randn(3, 4, generator=g), "b": torch.arange(7, dtype=torch.int16),
               "c": torch.randn(2, 2, generator=g).to(torch.bfloat16), "d": torch.tensor(2.5)}
    save_file(tensors, str(path))
    read = lora_read.read_all(path)
    shared = {n for n, t in read.items() if t.untyped_storage().data_ptr() == read["a"].untyped_storage().data_ptr()}
    assert len(shared) >= 2  # the one-piece read: views of one buffer
    copies = lora_read._one_copy({n: read[n] for n in shared}, torch.device("cpu"))
    for name in shared:
        assert torch.equal(copies[name], tensors[name]) and copies[name].dtype == tensors[name].dtype
        assert copies[name].untyped_storage().data_ptr() != read[name].untyped_storage().data_ptr()
    assert len({c.untyped_storage().data_ptr() for c in copies.values()}) == 1  # one copy for all
    assert lora_read.moved(read, torch.device("cpu")) == read  # on the CPU nothing moves


def test_the_wan22_templates_loras_are_merged_on_a_worker_and_the_video_is_the_same(tmp_path, monkeypatch):
    """ComfyUI's Wan 2.2 14B I2V template with its 4-step LoRAs switched on, tiny models, loads
    in the background as on a GPU: both experts' LoRAs are merged on the ahead worker, the two
    samplers merge nothing, and the video is the one a run that merges in the passes writes."""
    import comfyui_workflow_templates_json
    import numpy as np
    from pathlib import Path

    from wfrun.jobs import run as jobs_run
    from wfrun.media.video import iter_frames

    path = Path(comfyui_workflow_templates_json.__file__).parent / "templates" / "video_wan2_2_14B_i2v.json"
    monkeypatch.setattr(jobs_run, "loads_can_overlap", lambda p, device: True)
    merges: list[str] = []
    merge_all = lora_files._merge_all
    monkeypatch.setattr(lora_files, "_merge_all", lambda t, loras, originals: merges.append(
        threading.current_thread().name) or merge_all(t, loras, originals))

    def video(name: str, ahead: bool) -> np.ndarray:
        monkeypatch.setattr(lora_files, "_room_for", lambda transformer, loras: ahead)
        options = jobs_run.RunOptions(smoke=True, device="cpu", output_dir=tmp_path / name,
                                      overrides=["129:131.value=true"])
        report = jobs_run.execute(jobs_run.prepare(path, options), options)
        (mp4,) = [w for w in report.result.written if str(w).endswith(".mp4")]
        return np.stack(list(iter_frames(mp4)))

    ahead = video("ahead", True)
    assert len(merges) == 2 and all(name.startswith("wfrun-ahead") for name in merges)  # one per expert
    merges.clear()
    in_pass = video("in_pass", False)
    assert merges == [threading.current_thread().name] * 2
    assert ahead.shape == in_pass.shape and np.array_equal(ahead, in_pass)
