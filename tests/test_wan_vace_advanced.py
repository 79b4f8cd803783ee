"""WanVacePhantomSimpleV2 (drozbay/ComfyUI-WanVaceAdvanced) and what wfrun's sampler does with
its conditioning: Phantom subject frames after the video (``time_dim_concat``) and VACE
strengths per latent frame.

References are worked out from the pack's ``encode_vace_advanced`` / ``_process_incoming_latent``
by hand: the pixel videos it encodes are built here directly and put through the tiny VAE,
and the sampler's Phantom call is checked against the same model call on a latent that
already holds the (normalised) subject frames.
"""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.media.image import upscale_image
from wfrun.models.families import WAN21
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.model_input import WanPredictor
from wfrun.packs.wan_vace_advanced import versions
from wfrun.packs.wan_vace_advanced.latent_in import incoming
from wfrun.sampling.forward import _token_strengths

W = H = 32
OLD, NEW = "768449c93f51b927b1b84341e9ae9e1aee61931c", "c4e598db0153ffcca1d48051d1730228919c6a2d"


@pytest.fixture(scope="module")
def roots(tiny_models) -> ModelRoots:
    return ModelRoots.from_options(tiny_models)


def context(roots: ModelRoots, ver: str | None = None) -> ExecContext:
    saved = {"nodes": [{"id": 5, "type": "WanVacePhantomSimpleV2", "properties": {"ver": ver}}]} if ver else None
    return ExecContext(models=roots, workflow_json=saved, node_id="5")


@pytest.fixture(scope="module")
def vae(roots):
    (v,) = node("VAELoader")(ExecContext(models=roots), vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def encode(roots, vae, pixels):
    (latent,) = node("VAEEncode")(ExecContext(models=roots), pixels=pixels, vae=vae)
    return latent["samples"]


def cond():
    return [[torch.zeros(1, 4, 8), {}]]


def run(ctx, vae, **inputs):
    base = dict(model="MODEL", positive=cond(), negative=cond(), vae=vae, width=W, height=H, length=5, batch_size=2)
    return node("WanVacePhantomSimpleV2")(ctx, **{**base, **inputs})


@torch.no_grad()
def test_vace_and_phantom_conditioning_follow_the_pack(roots, vae):
    g = torch.Generator().manual_seed(1)
    control = torch.rand(5, H, W, 3, generator=g)
    masks = (torch.rand(5, H, W, generator=g) > 0.5).float()
    reference = torch.rand(1, H, W, 3, generator=g)
    subjects = torch.rand(2, H, W, 3, generator=g)  # the output size, yet lanczos (8-bit, Pillow) from 185817f
    model, pos, neg, neg_img, latent, trim = run(context(roots, NEW), vae, control_video=control, control_masks=masks,
                                                  vace_reference=reference, phantom_images=subjects,
                                                  vace_strength=0.7, vace_ref_strength=0.3)
    assert model == "MODEL" and trim == 1
    # the pack's VACE video: length + 4 per subject frames; past the control video 0 with mask 1
    video = torch.cat([control, torch.zeros(8, H, W, 3)])
    mask = torch.cat([masks.unsqueeze(-1), torch.ones(8, H, W, 1)])
    inactive = encode(roots, vae, (video - 0.5) * (1 - mask) + 0.5)
    reactive = encode(roots, vae, (video - 0.5) * mask + 0.5)
    ref = encode(roots, vae, reference)
    ref = torch.cat([ref, WAN21.process_out(torch.zeros_like(ref))], dim=1)
    want = torch.cat([ref, torch.cat([inactive, reactive], dim=1)], dim=2)
    options = pos[0][1]
    assert len(options["vace_frames"]) == 1
    torch.testing.assert_close(options["vace_frames"][0], want)
    # mask folded 8x8 into 64 channels; 13 frames → 4 latent frames by nearest-exact, frame i taking
    # floor((i + 0.5) · 13 / 4): 1, 4, 8, 11
    folded = options["vace_mask"][0]
    assert folded.shape == (1, 64, 5, H // 8, W // 8)
    assert torch.equal(folded[:, :, 0], torch.zeros_like(folded[:, :, 0]))
    for latent_frame, pixel_frame in zip(range(1, 5), (1, 4, 8, 11)):
        for dy in range(8):
            for dx in range(8):
                torch.testing.assert_close(folded[0, dy * 8 + dx, latent_frame], mask[pixel_frame, dy::8, dx::8, 0])
    # one strength per latent frame: the reference's, the video's, and 0 on the two subject frames
    assert options["vace_strength"] == [[[0.3, 0.7, 0.7, 0.0, 0.0]] * 2]
    # subjects: one latent frame each; the negative for the subject-free pass gets the latent mean
    fitted = upscale_image(subjects, W, H, "lanczos", "center")
    each = torch.cat([encode(roots, vae, fitted[i:i + 1]) for i in range(2)], dim=2)
    torch.testing.assert_close(options["time_dim_concat"], each)
    torch.testing.assert_close(neg[0][1]["time_dim_concat"], each)
    mean = torch.tensor(WAN21.mean).view(1, 16, 1, 1, 1).expand_as(each)
    torch.testing.assert_close(neg_img[0][1]["time_dim_concat"], mean)
    assert neg_img[0][1]["vace_frames"][0] is neg[0][1]["vace_frames"][0]
    # the latent: the reference frame in front, the subjects not
    assert latent["samples"].shape == (2, 16, 3, H // 8, W // 8) and not latent["samples"].any()


@torch.no_grad()
def test_without_subjects_and_reference_it_is_plain_vace(roots, vae):
    _, pos, neg, neg_img, latent, trim = run(context(roots), vae, vace_strength=1.5, vace_ref_strength=1.0)
    grey = encode(roots, vae, torch.full((5, H, W, 3), 0.5))
    torch.testing.assert_close(pos[0][1]["vace_frames"][0], torch.cat([grey, grey], dim=1))
    assert torch.equal(pos[0][1]["vace_mask"][0], torch.ones(1, 64, 2, H // 8, W // 8))
    assert pos[0][1]["vace_strength"] == [[[1.5, 1.5]] * 2] and "time_dim_concat" not in pos[0][1]
    assert neg_img is neg and trim == 0 and latent["samples"].shape == (2, 16, 2, H // 8, W // 8)


@torch.no_grad()
def test_subject_images_are_resized_as_the_saved_release_did(roots, vae):
    subjects = torch.rand(1, 48, 40, 3, generator=torch.Generator().manual_seed(3))
    for ver, method in ((OLD, "bilinear"), (NEW, "lanczos")):
        _, pos, *_ = run(context(roots, ver), vae, phantom_images=subjects)
        want = encode(roots, vae, upscale_image(subjects, W, H, method, "center"))
        torch.testing.assert_close(pos[0][1]["time_dim_concat"], want)


def test_a_control_video_longer_than_the_vace_video_is_refused(roots, vae):
    with pytest.raises(NodeInputError, match="9 frames where the VACE video has 5") as err:
        run(context(roots), vae, control_video=torch.rand(9, H, W, 3))
    assert err.value.input_name == "control_video"


def test_versions_place_a_saved_release():
    assert not versions.has(OLD, versions.LANCZOS) and versions.has(NEW, versions.LANCZOS)
    assert versions.has("1.2.0", versions.LANCZOS) and not versions.has("1.1.3", versions.LANCZOS)
    assert not versions.has("6ef83b82d3a8", versions.LANCZOS)  # the commit just before
    assert versions.has(None, versions.NOISE_MASK) and versions.has("unknown", versions.NOISE_MASK)


def test_latent_in_is_lined_up_with_the_reference_frame():
    own = {"samples": torch.zeros(1, 16, 3, 4, 4)}  # length 5 with a reference: 1 + 2 frames
    x = torch.randn(1, 16, 3, 4, 4)
    out = incoming({"samples": x, "state": {"deep": x.clone()}}, own, W, H, 5, True, True)
    assert torch.equal(out["samples"][:, :, 0], torch.zeros(1, 16, 4, 4))  # its reference frame zeroed
    assert torch.equal(out["samples"][:, :, 1:], x[:, :, 1:])
    assert torch.equal(out["state"]["deep"], out["samples"])  # nested latents alike
    y, mask = torch.randn(1, 16, 2, 4, 4), torch.rand(8, 1, 4, 4)
    out = incoming({"samples": y, "noise_mask": mask}, own, W, H, 5, True, True)
    assert torch.equal(out["samples"], torch.cat([torch.zeros(1, 16, 1, 4, 4), y], dim=2))
    # 8 mask frames over 2 latent frames: 4 frames of ones in front for the new one
    assert torch.equal(out["noise_mask"], torch.cat([torch.ones(4, 1, 4, 4), mask]))
    assert incoming({"samples": y, "noise_mask": mask}, own, W, H, 5, True, False)["noise_mask"] is mask
    plain = {"samples": torch.zeros(1, 16, 2, 4, 4)}
    assert torch.equal(incoming({"samples": x}, plain, W, H, 5, False, True)["samples"], x[:, :, 1:])
    with pytest.raises(NodeInputError, match="5 latent frames where length 5 makes 2"):
        incoming({"samples": torch.zeros(1, 16, 5, 4, 4)}, plain, W, H, 5, False, True)


def test_latent_in_sets_the_size_from_the_release_that_reads_it(roots, vae):
    latent_in = {"samples": torch.zeros(1, 16, 2, 2, 3)}  # 24x16 pixels
    *_, latent, _ = run(context(roots, NEW), vae, latent_in=latent_in, batch_size=1)
    assert latent["samples"].shape == (1, 16, 2, 2, 3)
    with pytest.raises(NodeInputError, match="2x3 for 32x32"):  # the first release kept 32x32 and refuses it
        run(context(roots, OLD), vae, latent_in=latent_in, batch_size=1)


def test_per_frame_strengths_become_per_token_weights():
    got = _token_strengths(torch.tensor([1.0, 2.0, 3.0]), 3, 4, 12, 14, False)
    assert torch.equal(got.view(-1), torch.tensor([1.0] * 4 + [2.0] * 4 + [3.0] * 4 + [0.0, 0.0]))
    got = _token_strengths(torch.tensor([1.0, 2.0]), 2, 2, 4, 6, True)
    assert torch.equal(got.view(-1), torch.tensor([0.0, 0.0, 1.0, 1.0, 2.0, 2.0]))
    assert _token_strengths(0.5, 3, 4, 12, 12, False) == 0.5


@pytest.fixture(scope="module")
def vace_model(roots):
    (model,) = node("UNETLoader")(ExecContext(models=roots), unet_name="wan2.1_vace_1.3B_tiny_fp16.safetensors",
                                  weight_dtype="default")
    return model


@torch.no_grad()
def test_subject_frames_follow_the_video_for_the_model_call(vace_model):
    """ComfyUI's WanModel: the normalised subjects are joined after the latent's frames, the
    output cut back: the same as calling the model on a latent that already holds them."""
    g = torch.Generator().manual_seed(5)
    T, P = 3, 2
    text = torch.randn(1, 512, vace_model.transformer.config.text_dim, generator=g)
    frames, masks = torch.randn(1, 32, T + P, 4, 4, generator=g), torch.rand(1, 64, T + P, 4, 4, generator=g)
    subjects = torch.randn(1, 16, P, 4, 4, generator=g)
    vace = {"vace_frames": [frames], "vace_mask": [masks], "vace_strength": [[[0.5, 0.9, 0.9, 0.0, 0.0]]]}
    with_subjects = [[text, {**vace, "time_dim_concat": subjects}]]
    x = torch.randn(1, 16, T, 4, 4, generator=g)
    t = torch.tensor([500.0])
    got = WanPredictor(vace_model, with_subjects, with_subjects, "cpu")(x, t, "cond")
    assert got.shape == x.shape
    joined = torch.cat([x, WAN21.process_in(subjects)], dim=2)
    plain = [[text, dict(vace)]]
    want = WanPredictor(vace_model, plain, plain, "cpu")(joined, t, "cond")[:, :, :T]
    torch.testing.assert_close(got, want)


@torch.no_grad()
def test_per_frame_vace_strengths_reach_the_model(vace_model):
    g = torch.Generator().manual_seed(6)
    T = 3
    text = torch.randn(1, 512, vace_model.transformer.config.text_dim, generator=g)
    frames, masks = torch.randn(1, 32, T, 4, 4, generator=g), torch.rand(1, 64, T, 4, 4, generator=g)
    x, t = torch.randn(1, 16, T, 4, 4, generator=g), torch.tensor([500.0])

    def predict(strength):
        c = [[text, {"vace_frames": [frames], "vace_mask": [masks], "vace_strength": [strength]}]]
        return WanPredictor(vace_model, c, c, "cpu")(x, t, "cond")

    uniform = predict(0.6)
    torch.testing.assert_close(predict([[0.6, 0.6, 0.6]]), uniform, rtol=0, atol=0)
    # the weights of one frame at a time: frame 2's own strength changes the result
    mixed = predict([[0.6, 0.6, 1.4]])
    assert not torch.allclose(mixed, uniform) and not torch.allclose(mixed, predict(1.4))
    with pytest.raises(NodeInputError, match="per-frame VACE strengths"):
        predict([[0.6, 0.6]])


def test_vace_advanced_model_patch_hands_the_model_on():
    model = object()
    assert node("VaceAdvancedModelPatch")(ExecContext(), model=model)[0] is model


def to_latent(mask, **inputs):
    return node("WanMaskToLatentSpace")(ExecContext(), mask=mask, **inputs)[0]


def test_mask_to_latent_space_worked_by_hand():
    mask = torch.zeros(9, 16, 16)
    mask[2, 3, 12] = 1.0  # frame 2 (latent frame 1), in the 8x8 cell of row 0, column 1
    cell = torch.zeros(3, 2, 2)
    cell[1, 0, 1] = 1.0
    assert torch.equal(to_latent(mask), cell)  # max / max: any coverage counts
    assert not to_latent(mask, spatial_method="min").any()
    assert torch.allclose(to_latent(mask, spatial_method="mean", temporal_method="mean"), cell / 64 / 4)
    # first frame alone, then frames 1-4 and 5-8: "first" takes frame 1, "last" frame 4
    assert not to_latent(mask, temporal_method="first").any() and not to_latent(mask, temporal_method="last").any()
    mask[4, 3, 12] = 0.5
    assert to_latent(mask, temporal_method="last")[1, 0, 1] == 0.5
    # without the special first frame: groups 0-3, 4-7 and 8 (repeated), ceil(9/4) = 3 frames
    got = to_latent(mask, first_frame_special=False)
    assert got.shape == (3, 2, 2) and got[0, 0, 1] == 1.0 and got[1, 0, 1] == 0.5 and got[2].sum() == 0
    assert to_latent(mask, target_width=4, target_height=4).shape == (3, 4, 4)


def test_mask_to_latent_space_grows_and_shrinks_first():
    dot = torch.zeros(1, 16, 16)
    dot[0, 5, 5] = 1.0
    full = dict(spatial_method="nearest", target_width=16, target_height=16)  # one latent cell per pixel
    grown = to_latent(dot, expand_spatial=1, **full)
    want = dot.clone()
    for y, x in ((4, 5), (6, 5), (5, 4), (5, 6)):
        want[0, y, x] = 1.0
    assert torch.equal(grown, want)
    block = torch.zeros(1, 16, 16)
    block[0, 4:7, 4:7] = 1.0
    assert torch.equal(to_latent(block, expand_spatial=-1, **full), dot)
    frames = torch.zeros(5, 16, 16)
    frames[2] = 1.0  # frame 0 alone, then frames 1-4 taking the last
    assert not to_latent(frames, temporal_method="last", **full).any()
    assert to_latent(frames, temporal_method="last", expand_temporal=2, **full).all()
