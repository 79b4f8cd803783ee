"""InSPyReNet (models/inspyrenet) and ComfyUI_essentials' background removal nodes.

The network is checked against the transparent-background library's own modules: a small
random config run by them (tests/data/inspyrenet/make_fixture.py, outside the project) saved
its weights, input and output. The nodes' pre- and post-processing is checked against the
library's steps written here with numpy and PIL as ``Remover.process`` and the pack's node do
them (8-bit levels, PIL bilinear resize to the base size, numpy's in-place normalisation,
bilinear corner-aligned resize back, 8-bit truncated alpha, RGBA out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open

from wfrun.models.inspyrenet import MODES, NotInSPyReNetError, build_inspyrenet
from wfrun.models.inspyrenet.files import FOLDER
from wfrun.models.inspyrenet.swin import relative_index
from wfrun.models.inspyrenet.tiny import TINY_BASE_SIZE, write_tiny_inspyrenet
from wfrun.models.paths import ModelRoots
from wfrun.models.upscale import read_release_state_dict
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.essentials import remove_background as rb

FIXTURE = Path(__file__).parent / "data" / "inspyrenet" / "fixture.safetensors"


@pytest.fixture(scope="module")
def reference():
    """(state dict as a released file holds it, input, output) of the library's run."""
    with safe_open(str(FIXTURE), "pt") as f:
        layout = json.loads(f.metadata()["layout"])
        flat = {name: f.get_tensor(name) for name in ("params", "stats")}
        index = f.get_tensor("relative_position_index")
        x, y = f.get_tensor("input"), f.get_tensor("output")
    state, pos = {}, {"params": 0, "stats": 0}
    for key, which, shape in layout:
        n = int(np.prod(shape))
        state[key] = flat[which][pos[which]:pos[which] + n].reshape(shape)
        pos[which] += n
        if key.endswith("running_var"):  # the counters the released files carry beside each BatchNorm
            state[key.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    for key in [k for k in state if k.endswith("attn.relative_position_bias_table")]:
        state[key.replace("relative_position_bias_table", "relative_position_index")] = index
    return state, x, y


def test_matches_the_library_network(reference):
    state, x, y = reference
    model = build_inspyrenet(state, (48, 64))
    assert model.backbone.cfg.depths == (2, 2, 2, 1) and model.backbone.cfg.window == 3
    with torch.no_grad():
        out = model(x)
    assert out.shape == y.shape == (1, 1, 48, 64)
    torch.testing.assert_close(out, y, atol=1e-5, rtol=0)


def test_relative_position_index_is_the_library_one(reference):
    state, _, _ = reference
    assert torch.equal(state["backbone.layers.0.blocks.0.attn.relative_position_index"], relative_index(3))


def test_loader_refuses_what_is_not_the_network(reference):
    state, _, _ = reference
    missing = {k: v for k, v in state.items() if k != "decoder.conv5.conv.weight"}
    with pytest.raises(NotInSPyReNetError, match="missing decoder.conv5.conv.weight"):
        build_inspyrenet(missing, (48, 64))
    with pytest.raises(NotInSPyReNetError, match="unknown tensor extra"):
        build_inspyrenet({**state, "extra": torch.zeros(1)}, (48, 64))
    wrong = dict(state, **{"attention0.conv_out4.conv.weight": torch.zeros(2, 8, 1, 1)})
    with pytest.raises(NotInSPyReNetError, match="has shape"):
        build_inspyrenet(wrong, (48, 64))
    with pytest.raises(NotInSPyReNetError, match="is missing"):
        build_inspyrenet({"model.weight": torch.zeros(1)}, (48, 64))


def _session(state, size=(32, 32)) -> rb.TransparentBGSession:
    model = build_inspyrenet(state, size)
    return rb.TransparentBGSession(model, "base", size, FIXTURE)


def _library_steps(model, frame: np.ndarray, base: tuple[int, int]) -> np.ndarray:
    """``Remover.process(ToPILImage()(frame))`` → ``ToTensor()`` of its RGBA, as [H, W, 4]."""
    levels = (frame * np.float32(255)).astype(np.uint8)  # torchvision: pic.mul(255).byte()
    img = Image.fromarray(levels, "RGB")
    arr = np.array(img.resize(list(base), Image.BILINEAR), dtype=np.float32)
    arr /= 255
    arr -= [0.485, 0.456, 0.406]
    arr /= [0.229, 0.224, 0.225]
    x = torch.from_numpy(arr.transpose((2, 0, 1))).float()[None]
    with torch.no_grad():
        pred = model(x)
    pred = F.interpolate(pred, img.size[::-1], mode="bilinear", align_corners=True).numpy().squeeze()
    rgba = np.dstack([levels, (pred * 255).astype(np.uint8)])
    return rgba.astype(np.float32) / 255


def test_remove_background_follows_the_library_steps(reference):
    state, _, _ = reference
    session = _session(state)
    frames = torch.rand(2, 20, 28, 3, generator=torch.Generator().manual_seed(1))
    rgba, mask = rb.image_remove_background(ExecContext(), session, frames)
    assert rgba.shape == (2, 20, 28, 4) and mask.shape == (2, 20, 28)
    for i in range(2):
        expected = _library_steps(session.model, frames[i].numpy(), (32, 32))
        np.testing.assert_array_equal(rgba[i].numpy(), expected)
    assert torch.equal(mask, rgba[..., 3])
    assert float(mask.max()) > 0.9 and float(mask.min()) < 0.1  # each frame normalised on its own


def test_normalisation_is_numpys_in_place_arithmetic():
    levels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    arr = levels.astype(np.float32)
    arr /= 255
    arr -= [0.485, 0.456, 0.406]
    arr /= [0.229, 0.224, 0.225]
    assert np.array_equal(rb.normalise(levels).permute(1, 2, 0).numpy(), arr)


def test_remove_background_refuses_other_inputs(reference):
    state, _, _ = reference
    session = _session(state)
    with pytest.raises(NodeInputError) as err:
        rb.image_remove_background(ExecContext(), session, torch.rand(1, 8, 8, 4))
    assert err.value.input_name == "image"
    with pytest.raises(NodeInputError) as err:
        rb.image_remove_background(ExecContext(), object(), torch.rand(1, 8, 8, 3))
    assert err.value.input_name == "rembg_session"


def test_session_reads_the_models_folder_then_the_library_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TRANSPARENT_BACKGROUND_FILE_PATH", str(home))
    models = tmp_path / "models"
    models.mkdir()
    ctx = ExecContext(models=ModelRoots((models,)))
    with pytest.raises(NodeInputError) as err:
        rb.transparent_bg_session(ctx, mode="fast", use_jit=True)
    assert err.value.input_name == "mode" and "ckpt_fast.pth" in str(err.value)
    assert "TransparentBGSession+" in str(err.value) and "releases/download" in err.value.hint

    write_tiny_inspyrenet(home / ".transparent-background" / "ckpt_fast.pth", seed=1)
    (session,) = rb.transparent_bg_session(ctx, mode="fast", use_jit=False)
    assert session.path == home / ".transparent-background" / "ckpt_fast.pth"
    assert session.base_size == TINY_BASE_SIZE  # a tiny file's own working size

    write_tiny_inspyrenet(models / FOLDER / "ckpt_fast.pth", seed=2)
    (session,) = rb.transparent_bg_session(ctx, mode="fast", use_jit=True)
    assert session.path == models / FOLDER / "ckpt_fast.pth"


def test_a_damaged_checkpoint_is_refused_on_the_node(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSPARENT_BACKGROUND_FILE_PATH", str(tmp_path / "home"))
    folder = tmp_path / "models" / FOLDER
    folder.mkdir(parents=True)
    torch.save({"weight": torch.zeros(2)}, folder / MODES["base"][0])
    with pytest.raises(NodeInputError, match="not an InSPyReNet"):
        rb.transparent_bg_session(ExecContext(models=ModelRoots((tmp_path / "models",))), mode="base", use_jit=True)


def test_tiny_checkpoint_reads_weights_only_and_runs(tmp_path):
    path = write_tiny_inspyrenet(tmp_path / "ckpt_base.pth")
    state = read_release_state_dict(path)  # .pth through torch.load(weights_only=True), no opt-in
    model = build_inspyrenet(state, MODES["base"][1])
    assert model.base_size == TINY_BASE_SIZE
    with torch.no_grad():
        out = model(torch.randn(1, 3, *TINY_BASE_SIZE))
    assert out.shape == (1, 1, *TINY_BASE_SIZE) and float(out.min()) == 0.0 and float(out.max()) > 0.99
