"""WanVideoSVIProEmbeds, WanVideoEncodeLatentBatch and WanVideoLoraSelectByName (SVI 2.0 Pro
long video on the wrapper), against references written from the nodes' documented behaviour."""

from __future__ import annotations

import logging

import pytest
import torch

from node_helpers import node
from wfrun.models.families.wan_vae import vae_family
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import ImageEmbeds, LoraSpec


def latent(t: int, c: int = 16, h: int = 6, w: int = 10, seed: int = 0) -> dict:
    return {"samples": torch.randn(1, c, t, h, w, generator=torch.Generator().manual_seed(seed))}


def reference_embeds(anchor: torch.Tensor, prev: torch.Tensor | None, num_frames: int, motion: int) -> torch.Tensor:
    """The node's documented result, built frame by frame: latent frame 0 the anchor (mask 1),
    then the previous clip's last ``motion`` latents, then zeros; mask 0 after frame 0."""
    c, _t, h, w = anchor.shape
    total = (num_frames - 1) // 4 + 1
    frames = [anchor[:, i] for i in range(anchor.shape[1])]
    if prev is not None and motion > 0:
        frames += [prev[:, i] for i in range(max(0, prev.shape[1] - motion), prev.shape[1])]
    frames += [torch.zeros(c, h, w)] * (total - len(frames))
    out = torch.zeros(4 + c, total, h, w)
    for i, frame in enumerate(frames):
        out[4:, i] = frame
        out[:4, i] = 1.0 if i == 0 else 0.0
    return out


@pytest.mark.parametrize("motion", [0, 1, 2, 5])
def test_svi_pro_embeds_match_the_documented_layout(motion):
    anchor, prev = latent(1, seed=1), latent(21, seed=2)
    embeds, = node("WanVideoSVIProEmbeds")(ExecContext(), anchor_samples=anchor, num_frames=81, prev_samples=prev,
                                          motion_latent_count=motion)
    assert isinstance(embeds, ImageEmbeds)
    expected = reference_embeds(anchor["samples"][0], prev["samples"][0], 81, motion)
    assert embeds.image_embeds.shape == (20, 21, 6, 10)
    assert torch.equal(embeds.image_embeds, expected)
    assert (embeds.num_frames, embeds.lat_h, embeds.lat_w) == (81, 6, 10)


def test_svi_pro_first_clip_without_previous_samples():
    anchor = latent(1, seed=3)
    embeds, = node("WanVideoSVIProEmbeds")(ExecContext(), anchor_samples=anchor, num_frames=33)
    assert torch.equal(embeds.image_embeds, reference_embeds(anchor["samples"][0], None, 33, 1))
    assert embeds.image_embeds[4:, 1:].abs().sum() == 0  # zeros, not a grey-frame latent


def test_svi_pro_motion_longer_than_previous_clip_takes_all_of_it():
    anchor, prev = latent(1, seed=4), latent(2, seed=5)
    embeds, = node("WanVideoSVIProEmbeds")(ExecContext(), anchor_samples=anchor, num_frames=21, prev_samples=prev,
                                          motion_latent_count=4)
    assert torch.equal(embeds.image_embeds, reference_embeds(anchor["samples"][0], prev["samples"][0], 21, 4))


def test_svi_pro_refuses_what_the_clip_cannot_hold():
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSVIProEmbeds")(ExecContext(), anchor_samples=latent(1), num_frames=5, prev_samples=latent(9),
                                     motion_latent_count=3)
    assert err.value.input_name == "num_frames"
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSVIProEmbeds")(ExecContext(), anchor_samples=latent(1), num_frames=80)
    assert err.value.input_name == "num_frames" and "4n+1" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSVIProEmbeds")(ExecContext(), anchor_samples=latent(1), num_frames=81,
                                     prev_samples=latent(3, h=8), motion_latent_count=1)
    assert err.value.input_name == "prev_samples"


# --- WanVideoEncodeLatentBatch -----------------------------------------------------------

@pytest.fixture(scope="module")
def ctx(tiny_models):
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.mark.parametrize("vae_name,family", [("Wan2_1_VAE_tiny_fp32.safetensors", ""),
                                             ("wan2.2_vae_tiny.safetensors", "wan2.2")])
def test_encode_latent_batch_shapes_follow_the_vae(ctx, vae_name, family):
    vae, = node("WanVideoVAELoader")(ctx, model_name=vae_name, precision="fp32")
    fam = vae_family(family)
    images = torch.rand(3, 64, 96, 3, generator=torch.Generator().manual_seed(0))
    out, = node("WanVideoEncodeLatentBatch")(ctx, vae=vae, images=images)
    _ft, sh, sw = fam.stride
    assert out["samples"].shape == (3, fam.latent_channels, 1, 64 // sh, 96 // sw)
    # each image is encoded alone: the same as WanVideoEncode of that one frame
    one, = node("WanVideoEncode")(ctx, vae=vae, image=images[1:2])
    assert torch.allclose(out["samples"][1], one["samples"][0], atol=1e-5)


def test_encode_latent_batch_resizes_to_16_and_drops_alpha(ctx):
    vae, = node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")
    images = torch.rand(2, 70, 100, 4, generator=torch.Generator().manual_seed(1))
    out, = node("WanVideoEncodeLatentBatch")(ctx, vae=vae, images=images)
    assert out["samples"].shape == (2, 16, 1, 64 // 8, 96 // 8)


def test_encode_then_svi_embeds_chain(ctx):
    vae, = node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")
    anchor, = node("WanVideoEncodeLatentBatch")(ctx, vae=vae, images=torch.rand(1, 32, 48, 3))
    embeds, = node("WanVideoSVIProEmbeds")(ctx, anchor_samples=anchor, num_frames=17)
    assert embeds.image_embeds.shape == (20, 5, 4, 6)
    assert torch.equal(embeds.image_embeds[4:, 0], anchor["samples"][0, :, 0])


# --- WanVideoLoraSelectByName ------------------------------------------------------------

@pytest.fixture()
def lora_ctx(tmp_path):
    names = ["wan22/SVI_high_noise_v2.safetensors", "wan22/SVI_low_noise_v2.safetensors", "a_style.safetensors",
             "notes.txt"]
    for name in names:
        path = tmp_path / "loras" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return ExecContext(models=ModelRoots.from_options(tmp_path)), tmp_path / "loras"


def test_lora_by_name_takes_the_last_sorted_match(lora_ctx):
    ctx, folder = lora_ctx
    chain, = node("WanVideoLoraSelectByName")(ctx, lora_name="high_noise", strength=0.81234)
    assert chain == (LoraSpec(path=folder / "wan22/SVI_high_noise_v2.safetensors", strength=0.8123),)
    # "noise" is in both: the pack keeps the last name of ComfyUI's sorted list
    chain, = node("WanVideoLoraSelectByName")(ctx, lora_name="noise", strength=1.0, prev_lora=chain)
    assert [spec.path.name for spec in chain] == ["SVI_high_noise_v2.safetensors", "SVI_low_noise_v2.safetensors"]


def test_lora_by_name_empty_name_matches_every_file_as_the_pack(lora_ctx, caplog):
    ctx, folder = lora_ctx
    expected = sorted(["wan22/SVI_high_noise_v2.safetensors", "wan22/SVI_low_noise_v2.safetensors",
                       "a_style.safetensors"])[-1]
    with caplog.at_level(logging.WARNING):
        chain, = node("WanVideoLoraSelectByName")(ctx, lora_name="", strength=1.0)
    assert chain == (LoraSpec(path=folder / expected, strength=1.0),)
    assert "empty lora_name" in caplog.text


def test_lora_by_name_zero_strength_and_missing_files(lora_ctx, tmp_path_factory):
    ctx, _folder = lora_ctx
    prev = (LoraSpec(path=_folder / "a_style.safetensors"),)
    assert node("WanVideoLoraSelectByName")(ctx, lora_name="nothing", strength=0.0, prev_lora=prev) == (prev,)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoLoraSelectByName")(ctx, lora_name="nothing", strength=1.0)
    assert err.value.input_name == "lora_name" and "nothing" in str(err.value)
    empty = ExecContext(models=ModelRoots.from_options(tmp_path_factory.mktemp("no-loras")))
    assert node("WanVideoLoraSelectByName")(empty, lora_name="", strength=1.0, prev_lora=prev) == (prev,)
    with pytest.raises(NodeInputError):
        node("WanVideoLoraSelectByName")(ctx, lora_name="high", strength=[1.0, 0.5])
