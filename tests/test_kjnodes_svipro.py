"""KJNodes' WanImageToVideoSVIPro: the conditioning it attaches and the LATENT it hands out,
against the node's behaviour written out here (anchor frames, then the previous clip's last
``motion_latent_count`` frames, then Wan 2.1's latent mean; a mask that is 0 on the first
latent frame only; an empty 16-channel latent of ``(length - 1) // 4 + 1`` frames), and a
two-clip continuation workflow of the SVI 2.0 Pro files' shape run with ``--smoke``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

SVI = "WanImageToVideoSVIPro"


def _wan21_mean() -> torch.Tensor:
    """Wan 2.1's per-channel latent mean as diffusers' AutoencoderKLWan defaults hold it."""
    from diffusers import AutoencoderKLWan

    mean = inspect.signature(AutoencoderKLWan.__init__).parameters["latents_mean"].default
    return torch.tensor(mean).view(1, 16, 1, 1, 1)


def _latent(frames: int, seed: int, h: int = 4, w: int = 6, channels: int = 16, batch: int = 1) -> dict:
    return {"samples": torch.randn(batch, channels, frames, h, w, generator=torch.Generator().manual_seed(seed))}


def _cond() -> list:
    return [[torch.zeros(1, 5, 8), {"pooled_output": None}]]


def _run(length: int, anchor: dict, prev: dict | None = None, count: int = 1) -> tuple:
    kwargs = {} if prev is None else {"prev_samples": prev}
    return node(SVI)(ExecContext(), positive=_cond(), negative=_cond(), length=length, anchor_samples=anchor,
                     motion_latent_count=count, **kwargs)


def _expected(anchor: torch.Tensor, motion: torch.Tensor | None, total: int) -> tuple[torch.Tensor, torch.Tensor]:
    given = [anchor] if motion is None else [anchor, motion]
    used = sum(g.shape[2] for g in given)
    concat = torch.cat(given + [_wan21_mean().expand(1, 16, total - used, *anchor.shape[-2:])], dim=2)
    mask = torch.ones(1, 1, total, *anchor.shape[-2:])
    mask[:, :, 0] = 0.0
    return concat, mask


def test_without_previous_samples_the_anchor_is_padded_with_the_latent_mean():
    anchor = _latent(1, 0)
    positive, negative, latent = _run(17, anchor)
    want_concat, want_mask = _expected(anchor["samples"], None, total=5)
    for cond in (positive, negative):
        opts = cond[0][1]
        assert opts["concat_latent_image"].shape == (1, 16, 5, 4, 6)
        assert torch.allclose(opts["concat_latent_image"], want_concat, atol=1e-6)
        assert torch.equal(opts["concat_mask"], want_mask)
        assert "pooled_output" in opts  # the entry's own keys stay
    assert latent["samples"].shape == (1, 16, 5, 4, 6) and latent["samples"].eq(0).all()
    assert latent["samples"].dtype == torch.float32


def test_previous_samples_give_their_last_frames_as_motion_latents_marked_to_be_made():
    anchor, prev = _latent(1, 1), _latent(5, 2)
    positive, negative, latent = _run(21, anchor, prev, count=2)
    want_concat, want_mask = _expected(anchor["samples"], prev["samples"][:, :, 3:5], total=6)
    opts = positive[0][1]
    assert torch.allclose(opts["concat_latent_image"], want_concat, atol=1e-6)
    # motion frames 1 and 2 are in the concat image, yet the mask gives only frame 0
    assert torch.equal(opts["concat_mask"], want_mask)
    assert torch.equal(negative[0][1]["concat_latent_image"], opts["concat_latent_image"])
    assert latent["samples"].shape == (1, 16, 6, 4, 6)


def test_motion_count_zero_ignores_prev_and_a_count_beyond_it_takes_all_of_it():
    anchor, prev = _latent(1, 3), _latent(2, 4)
    alone = _run(13, anchor)[0][0][1]["concat_latent_image"]
    assert torch.equal(_run(13, anchor, prev, count=0)[0][0][1]["concat_latent_image"], alone)
    got = _run(13, anchor, prev, count=7)[0][0][1]["concat_latent_image"]
    assert torch.allclose(got, _expected(anchor["samples"], prev["samples"], total=4)[0], atol=1e-6)


def test_the_inputs_are_left_as_they_were():
    anchor, prev = _latent(1, 5), _latent(3, 6)
    anchor_copy, prev_copy = anchor["samples"].clone(), prev["samples"].clone()
    cond = _cond()
    node(SVI)(ExecContext(), positive=cond, negative=cond, length=9, anchor_samples=anchor, motion_latent_count=1,
              prev_samples=prev)
    assert set(cond[0][1]) == {"pooled_output"}
    assert torch.equal(anchor["samples"], anchor_copy) and torch.equal(prev["samples"], prev_copy)


def test_the_sampler_sees_mask_channels_then_anchor_motion_and_zeros():
    """Through the core sampler's concat (ComfyUI ``WAN21.concat_cond``): 4 channels of
    ``1 - mask`` (1 on the first frame only), then the normalised latents, whose padding is 0."""
    from types import SimpleNamespace

    from diffusers import AutoencoderKLWan

    from wfrun.packs.comfy_core_models.model_input import concat_channels
    from wfrun.packs.comfy_core_models.types import CoreModel

    std = inspect.signature(AutoencoderKLWan.__init__).parameters["latents_std"].default
    std = torch.tensor(std).view(1, 16, 1, 1, 1)
    anchor, prev = _latent(1, 7), _latent(3, 8)
    opts = _run(17, anchor, prev, count=1)[0][0][1]
    model = CoreModel(transformer=SimpleNamespace(config=SimpleNamespace(in_channels=36)), task="i2v", path=Path("m"),
                      dtype=torch.float32, latent_channels=16, shift=5.0, image_to_video=True)
    got = concat_channels(model, opts, torch.zeros(1, 16, 5, 4, 6))
    assert got.shape == (1, 20, 5, 4, 6)  # the channels put after the noise's 16
    assert got[:, :4, 0].eq(1).all() and got[:, :4, 1:].eq(0).all()
    mean = _wan21_mean()
    assert torch.allclose(got[:, 4:, :1], (anchor["samples"] - mean) / std, atol=1e-5)
    assert torch.allclose(got[:, 4:, 1:2], (prev["samples"][:, :, -1:] - mean) / std, atol=1e-5)
    assert got[:, 4:, 2:].abs().max() < 1e-5


@pytest.mark.parametrize(("anchor", "prev", "count", "length", "input_name"), [
    (_latent(1, 0), _latent(4, 1), 3, 9, "length"),          # 1 + 3 frames in 3
    (_latent(1, 0, batch=2), None, 1, 9, "anchor_samples"),    # the pack's padding has batch 1
    (_latent(1, 0, channels=48), None, 1, 9, "anchor_samples"),  # Wan 2.2 5B latents
    (_latent(1, 0), _latent(2, 1, h=8), 1, 9, "prev_samples"),
    ({"samples": torch.zeros(1, 16, 4, 4)}, None, 1, 9, "anchor_samples"),
])
def test_what_the_pack_cannot_do_is_refused_by_input(anchor, prev, count, length, input_name):
    with pytest.raises(NodeInputError) as err:
        _run(length, anchor, prev, count)
    assert err.value.input_name == input_name


def test_the_saved_versions_have_the_spec_the_executor_takes(registry):
    spec = registry.get(SVI)
    names = [i.name for i in spec.signatures[-1].inputs]
    assert names == ["positive", "negative", "length", "anchor_samples", "motion_latent_count", "prev_samples"]
    assert spec.widget_defaults() == {"length": 81, "motion_latent_count": 1}


#: The SVI 2.0 Pro files' shape (039_torres2500_svi-pro): the start image encoded as the anchor,
#: a first clip without previous samples, then a continuation from the first clip's latents.
PROMPT = {
    "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
                                                 "weight_dtype": "default"}},
    "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
                                                 "type": "wan", "device": "default"}},
    "3": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}},
    "4": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 0], "text": "a woman talking"}},
    "5": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 0], "text": ""}},
    "6": {"class_type": "LoadImage", "inputs": {"image": "start.png"}},
    "7": {"class_type": "ImageScale", "inputs": {"image": ["6", 0], "upscale_method": "lanczos", "width": 48,
                                                 "height": 32, "crop": "disabled"}},
    "8": {"class_type": "VAEEncode", "inputs": {"pixels": ["7", 0], "vae": ["3", 0]}},
    "9": {"class_type": SVI, "inputs": {"positive": ["4", 0], "negative": ["5", 0], "length": 9,
                                        "anchor_samples": ["8", 0], "motion_latent_count": 1}},
    "10": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["9", 0], "negative": ["9", 1],
                                                "latent_image": ["9", 2], "seed": 1, "steps": 2, "cfg": 1.0,
                                                "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}},
    "11": {"class_type": SVI, "inputs": {"positive": ["4", 0], "negative": ["5", 0], "length": 9,
                                         "anchor_samples": ["8", 0], "prev_samples": ["10", 0],
                                         "motion_latent_count": 1}},
    "12": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["11", 0], "negative": ["11", 1],
                                                "latent_image": ["11", 2], "seed": 2, "steps": 2, "cfg": 1.0,
                                                "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}},
    "13": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["3", 0]}},
    "14": {"class_type": "VAEDecode", "inputs": {"samples": ["12", 0], "vae": ["3", 0]}},
    "15": {"class_type": "SaveImage", "inputs": {"images": ["13", 0], "filename_prefix": "first"}},
    "16": {"class_type": "SaveImage", "inputs": {"images": ["14", 0], "filename_prefix": "second"}},
}


def test_a_two_clip_svi_pro_workflow_runs_in_a_smoke_run(tmp_path_factory, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from wfrun.cli import main
    from wfrun.packs.comfy_core_models import model_input

    seen = []
    real = model_input.concat_channels
    monkeypatch.setattr(model_input, "concat_channels", lambda *a: seen.append(real(*a)) or seen[-1])

    path = tmp_path / "svi.json"
    path.write_text(json.dumps(PROMPT))
    cache = tmp_path_factory.mktemp("wfrun-cache")
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(cache)})
    assert result.exit_code == 0, result.output[-2000:]
    written = sorted(Path(p).name for p in json.loads(result.stdout)["written"])
    # 9 frames = 3 latent frames per clip, each decoded to 9 images of 48x32
    assert len([n for n in written if n.startswith("first")]) == 9
    assert len([n for n in written if n.startswith("second")]) == 9
    # the I2V stand-in got SVI's conditioning: 4 mask channels (1 on the anchor's frame) + 16
    assert seen and all(c.shape == (1, 20, 3, 4, 6) for c in seen)
    assert all(c[:, :4, 0].eq(1).all() and c[:, :4, 1:].eq(0).all() for c in seen)
