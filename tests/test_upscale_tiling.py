"""ComfyUI's tiled upscale (tiles of 512 with 32 of overlap, halved on out-of-memory) on a
small convolutional 2x upscaler, against the same network run on the whole image; and the
loader's message when the optional `spandrel` package is missing and the architecture is not
one wfrun runs natively. The spandrel-backed loading itself is tested by
``tests_upscale_extra/`` (the ``upscale`` extra)."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from wfrun.models.tiny_upscale import save_weights, tiny_esrgan_state_dict
from wfrun.models.upscale import UpscaleModel, UpscaleModelError, load_upscale_model, tile_positions, upscale_tiled


class _Descriptor:
    """What the tiling needs of spandrel's descriptor: a scale, a call, a device move."""

    def __init__(self):
        torch.manual_seed(0)
        self.model = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2), nn.Conv2d(3, 3, 3, padding=1))
        self.scale = 2

    def __call__(self, x):
        with torch.no_grad():
            return self.model(x)

    def to(self, device):
        self.model.to(device)
        return self


def test_tiles_cover_each_side_and_end_at_the_edge():
    for size in (100, 512, 513, 1300):
        tiles = tile_positions(size, 512, 32)
        covered = set()
        for start, length in tiles:
            assert 0 <= start and start + length <= size
            covered.update(range(start, start + length))
        assert covered == set(range(size))


def test_tiled_upscale_matches_the_whole_image_away_from_tile_seams():
    model = UpscaleModel(_Descriptor(), path=None)
    image = torch.rand(1, 40, 56, 3, generator=torch.Generator().manual_seed(1))
    whole = model(image.movedim(-1, 1)).clamp(0, 1).movedim(1, -1)
    tiled = upscale_tiled(model, image, "cpu", tile=24, overlap=8, min_tile=8)
    assert tiled.shape == (1, 80, 112, 3) and tiled.min() >= 0 and tiled.max() <= 1
    # a 3x3-3x3 network sees 2 pixels past a tile: with 8 of overlap, blending keeps the error small
    assert (tiled - whole).abs().mean() < 2e-2
    untiled = upscale_tiled(model, image, "cpu", tile=64, overlap=8)  # one tile: exactly the whole image
    torch.testing.assert_close(untiled, whole)


def test_out_of_memory_halves_the_tile(monkeypatch):
    model = UpscaleModel(_Descriptor(), path=None)
    calls = []
    real = model.descriptor.model

    def flaky(x):
        calls.append(x.shape[-1])
        if x.shape[-1] > 16:
            raise torch.OutOfMemoryError("simulated")
        with torch.no_grad():
            return real(x)

    monkeypatch.setattr(model.descriptor, "__call__", flaky, raising=False)
    monkeypatch.setattr(UpscaleModel, "__call__", lambda self, x: flaky(x))
    out = upscale_tiled(model, torch.rand(1, 30, 30, 3), "cpu", tile=32, overlap=4, min_tile=8)
    assert out.shape == (1, 60, 60, 3) and max(calls) == 30 and min(calls) <= 16


def test_without_spandrel_the_loader_says_what_to_install(tmp_path, monkeypatch):
    """ESRGAN loads natively on a base install (tests/test_upscale_native.py); another
    architecture (a SwinIR key here) names the extra that covers it."""
    path = tmp_path / "4x-Tiny.safetensors"
    save_weights({"layers.0.residual_group.blocks.0.norm1.weight": torch.ones(4)}, path)
    monkeypatch.setitem(sys.modules, "spandrel", None)  # as on a base install
    with pytest.raises(UpscaleModelError, match=r"4x-Tiny\.safetensors: .*wfrun\[upscale\]"):
        load_upscale_model(path)
    save_weights(tiny_esrgan_state_dict(), path)
    assert load_upscale_model(path).scale == 4
