"""KJNodes' batch, mask, channel and value utilities against independent references:
numpy for indexing, blends and ramps, torch's global-seed draws for the seeded nodes (the
pack's way of seeding), hand-worked fade schedules and log-linear schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def frames(n, h=4, w=6):
    """Frame i is flat at level i / 10."""
    return (torch.arange(n, dtype=torch.float32) / 10).view(n, 1, 1, 1).expand(n, h, w, 3).contiguous()


def levels(images):
    return [round(float(f[0, 0, 0]) * 10, 4) for f in images]


@pytest.fixture
def global_rng():
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


# --- batches -------------------------------------------------------------------------------

def test_reverse_and_pick_by_index():
    images = torch.rand(5, 3, 4, 3)
    assert np.array_equal(node("ReverseImageBatch")(CTX, images=images)[0].numpy(), images.numpy()[::-1])
    (picked,) = node("GetImagesFromBatchIndexed")(CTX, images=images, indexes="4, 0, -1")
    assert np.array_equal(picked.numpy(), np.take(images.numpy(), [4, 0, -1], axis=0))
    with pytest.raises(NodeInputError):
        node("GetImagesFromBatchIndexed")(CTX, images=images, indexes="5")


def test_insert_images_replace_and_insert():
    base, new = frames(4), frames(12)[10:]  # levels 0..3 and 10, 11
    assert levels(node("InsertImagesToBatchIndexed")(CTX, original_images=base, images_to_insert=new,
                                                     indexes="1, 3", mode="replace")[0]) == [0, 10, 2, 11]
    assert levels(node("InsertImagesToBatchIndexed")(CTX, original_images=base, images_to_insert=new[:1],
                                                     indexes="0, 2, 5", mode="insert")[0]) == [10, 0, 10, 1, 2, 10, 3]
    assert node("InsertImagesToBatchIndexed")(CTX, original_images=base, images_to_insert=new, indexes="",
                                              mode="insert")[0] is base


def test_latents_by_index_and_insert():
    samples = torch.rand(1, 16, 5, 2, 3)
    (picked,) = node("GetLatentsFromBatchIndexed")(CTX, latents={"samples": samples}, indexes="3, 1",
                                                   latent_format="BCTHW")
    assert np.array_equal(picked["samples"].numpy(), np.take(samples.numpy(), [3, 1], axis=2))
    source = {"samples": torch.full((1, 16, 2, 2, 3), 7.0)}
    (joined,) = node("InsertLatentToIndexed")(CTX, source=source, destination={"samples": samples}, index=1)
    out = joined["samples"]
    assert out.shape[2] == 6 and torch.equal(out[:, :, :1], samples[:, :, :1])
    assert torch.equal(out[:, :, 1:3], source["samples"]) and torch.equal(out[:, :, 3:], samples[:, :, 2:])
    with pytest.raises(NodeInputError):  # the pack checks the index against the source's 2 frames
        node("InsertLatentToIndexed")(CTX, source=source, destination={"samples": samples}, index=3)


def test_shuffle_is_the_packs_global_seed_permutation(global_rng):
    images = frames(9)
    (out,) = node("ShuffleImageBatch")(CTX, images=images, seed=42)
    torch.manual_seed(42)
    assert torch.equal(out, images[torch.randperm(9)])


@pytest.mark.parametrize("curve,fn", [("linear", lambda t: t), ("ease_in", lambda t: t * t),
                                      ("exponential_ease_out", lambda t: 1 - (1 - t) ** 4)])
def test_cross_fade_layout_and_blend(curve, fn):
    a, b = torch.rand(5, 3, 4, 3), torch.rand(4, 3, 4, 3)
    (out,) = node("CrossFadeImages")(CTX, images_1=a, images_2=b, interpolation=curve, transition_start_index=-3,
                                     transitioning_frames=3, start_level=0.0, end_level=1.0)
    alphas = [fn(t) for t in np.linspace(0.0, 1.0, 3)]
    ref = [a[i].numpy() for i in range(2)]
    ref += [(1 - al) * a[2 + i].numpy() + al * b[i].numpy() for i, al in enumerate(alphas)]
    ref += [b[3].numpy()]
    np.testing.assert_allclose(out.numpy(), np.stack(ref), rtol=1e-6, atol=1e-6)


# --- masks ---------------------------------------------------------------------------------

def test_resize_mask_sizes_and_nearest_halving():
    masks = torch.rand(2, 8, 12)
    out, w, h = node("ResizeMask")(CTX, mask=masks, width=6, height=4, keep_proportions=False,
                                   upscale_method="nearest-exact", crop="disabled")
    assert (w, h) == (6, 4) and torch.equal(out, masks[:, 1::2, 1::2])
    _, w, h = node("ResizeMask")(CTX, mask=masks, width=100, height=0, keep_proportions=True,
                                 upscale_method="bilinear", crop="disabled")
    assert (w, h) == (12, 8)  # the smaller ratio: height 0 means the mask's own 8


def test_remap_round_colour_and_gradient():
    masks = torch.rand(2, 3, 4) * 0.5
    (out,) = node("RemapMaskRange")(CTX, mask=masks, min=0.2, max=0.9)
    np.testing.assert_allclose(out.numpy(), np.clip(masks.numpy() / masks.numpy().max() * 0.7 + 0.2, 0, 1),
                               rtol=1e-6)
    assert torch.equal(node("RoundMask")(CTX, mask=masks)[0], torch.round(masks))
    images = torch.rand(2, 5, 5, 3)
    (near,) = node("ColorToMask")(CTX, images=images, invert=False, red=128, green=64, blue=200, threshold=90,
                                  per_batch=1)
    dist = np.linalg.norm(images.numpy() * 255 - np.array([128, 64, 200]), axis=-1)
    assert np.array_equal(near.numpy(), (dist <= 90).astype(np.float32))
    (ramp,) = node("CreateGradientMask")(CTX, invert=False, frames=3, width=5, height=2)
    ref = np.stack([np.tile(np.linspace(1, 0, 5) - i / 3, (2, 1)) for i in range(3)])
    np.testing.assert_allclose(ramp.numpy(), ref, rtol=1e-6, atol=1e-7)


def test_fade_mask_advanced_by_hand():
    (fade,) = node("CreateFadeMaskAdvanced")(CTX, points_string="0:(0.0),\n7:(1.0),\n15:(0.0)\n", invert=False,
                                             frames=16, width=2, height=2, interpolation="linear")
    values = fade[:, 0, 0].tolist()
    assert values[0] == 0 and values[7] == 1 and values[15] == 0
    assert math.isclose(values[3], 3 / 7, rel_tol=1e-6) and math.isclose(values[11], 0.5, rel_tol=1e-6)
    (held,) = node("CreateFadeMaskAdvanced")(CTX, points_string="2:(0.5), 5:(1.0)", invert=True, frames=8,
                                             width=1, height=1, interpolation="none")
    assert [round(v, 4) for v in held[:, 0, 0].tolist()] == [0.5, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0]


def test_float_to_mask_batch_multi_and_size():
    (flat,) = node("FloatToMask")(CTX, input_values=[[0.1, 0.2], [0.3]], width=3, height=2)
    assert flat.shape == (3, 2, 3) and torch.allclose(flat[:, 0, 0], torch.tensor([0.1, 0.2, 0.3]))
    a, b = torch.rand(2, 4, 4), torch.rand(1, 4, 4)
    (joined,) = node("MaskBatchMulti")(CTX, inputcount=3, mask_1=a, mask_2=b, mask_3=a)
    assert torch.equal(joined, torch.cat([a, b, a]))
    assert node("GetMaskSizeAndCount")(CTX, mask=torch.zeros(3, 4, 5))[1:] == (5, 4, 3)


# --- channels and values -------------------------------------------------------------------

def test_channels_split_merge_and_ranges():
    image = torch.rand(2, 3, 4, 3)
    red, green, blue, alpha = node("SplitImageChannels")(CTX, image=image)
    assert torch.equal(red[..., 2], image[..., 0]) and torch.equal(blue[..., 0], image[..., 2])
    assert alpha.shape == (2, 3, 4) and alpha.sum() == 0
    (merged,) = node("MergeImageChannels")(CTX, red=red, green=green, blue=blue, alpha=torch.ones(2, 3, 4))
    assert torch.equal(merged[..., :3], image) and torch.equal(merged[..., 3], torch.ones(2, 3, 4))
    torch.testing.assert_close(node("ImageNormalize_Neg1_To_1")(CTX, images=image)[0], image * 2 - 1)
    (remapped,) = node("RemapImageRange")(CTX, image=image, min=-0.5, max=2.0, clamp=False)
    torch.testing.assert_close(remapped, -0.5 + image * 2.5)


def test_noise_augmentation_is_the_packs_global_seed_draw(global_rng):
    image = torch.rand(2, 3, 4, 3)
    image[0, 0, 0, 0] = -1.0
    (out,) = node("ImageNoiseAugmentation")(CTX, image=image, noise_aug_strength=0.3, seed=7)
    torch.manual_seed(7)
    noise = torch.randn_like(image) * 0.3
    noise[0, 0, 0, 0] = 0.0
    torch.testing.assert_close(out, image + noise)


def test_strings_and_sigmas():
    assert node("StringToFloatList")(CTX, string="1, 2.5,-3") == ([1.0, 2.5, -3.0],)
    assert node("SomethingToString")(CTX, input=[1, "a"], prefix="<", suffix=">") == ("<1, a>",)
    assert node("SomethingToString")(CTX, input=3.5, prefix="", suffix="") == ("3.5",)
    assert node("JoinStringMulti")(CTX, inputcount=3, string_1="a", string_2="", string_3="c", delimiter="-",
                                   return_list=False) == ("a-c",)
    assert node("JoinStringMulti")(CTX, inputcount=2, string_1="a", string_2="b", delimiter="-",
                                   return_list=True) == (["a", "b"],)
    (same,) = node("CustomSigmas")(CTX, sigmas_string="1.0, 0.5, 0.1", interpolate_to_steps=2)
    assert same.tolist() == pytest.approx([1.0, 0.5, 0.0])
    (more,) = node("CustomSigmas")(CTX, sigmas_string="1.0, 0.5, 0.1", interpolate_to_steps=4)
    logs = np.log([0.1, 0.5, 1.0])  # ascending, as the pack reverses them
    ref = np.exp(np.interp([0, 0.25, 0.5, 0.75, 1.0], [0, 0.5, 1.0], logs))[::-1]
    assert more[:-1].tolist() == pytest.approx(ref[:-1].tolist(), rel=1e-6) and more[-1] == 0
    (sig,) = node("FloatToSigmas")(CTX, float_list=[3.0, 1.0, 0.0])
    assert node("SigmasToFloat")(CTX, sigmas=sig) == ([3.0, 1.0, 0.0],)


def test_inject_noise_to_latent(global_rng):
    samples, extra = torch.rand(1, 16, 3, 2, 2), torch.rand(1, 16, 3, 2, 2)
    (out,) = node("InjectNoiseToLatent")(CTX, latents={"samples": samples}, noise={"samples": extra}, strength=0.5,
                                         normalize=False, average=False, mix_randn_amount=0.1, seed=3)
    torch.manual_seed(3)
    torch.testing.assert_close(out["samples"], samples + 0.5 * extra + 0.1 * torch.randn(samples.shape))
    (avg,) = node("InjectNoiseToLatent")(CTX, latents={"samples": samples}, noise={"samples": extra}, strength=0.5,
                                         normalize=True, average=True, mix_randn_amount=0.0, seed=3)
    ref = (samples + extra) / 2
    torch.testing.assert_close(avg["samples"], ref / ref.std())


def test_pass_throughs_hand_on_what_they_get():
    pos, neg, latent = [[torch.zeros(1), {}]], [[torch.ones(1), {}]], {"samples": torch.zeros(1, 4, 2, 2)}
    assert node("CondPassThrough")(CTX, positive=pos, negative=neg) == (pos, neg)
    assert node("CondPassThrough")(CTX) == (None, None)
    assert node("DummyLatentOut")(CTX, latent=latent)[0] is latent


def test_offset_mask_shifts_and_rolls_like_numpy():
    masks = torch.rand(2, 5, 7)
    (moved,) = node("OffsetMask")(CTX, mask=masks, x=2, y=-1, angle=0, duplication_factor=1, roll=False,
                                  incremental=False, padding_mode="empty")
    ref = np.zeros((2, 5, 7), np.float32)
    ref[:, 0:4, 2:7] = masks.numpy()[:, 0:4, 0:5]  # right by 2; the pack's negative y only blanks the bottom row
    assert np.array_equal(moved.numpy(), ref)
    (rolled,) = node("OffsetMask")(CTX, mask=masks, x=3, y=1, angle=0, duplication_factor=2, roll=True,
                                   incremental=True, padding_mode="empty")
    assert rolled.shape[0] == 4
    for i, frame in enumerate(rolled):  # mask i shifted by (i + 1) steps, capped at side - 1
        dx, dy = min(3 * (i + 1), 6), min(i + 1, 4)
        assert np.array_equal(frame.numpy(), np.roll(np.roll(masks.numpy()[i % 2], dx, axis=1), dy, axis=0))
    (still,) = node("OffsetMask")(CTX, mask=masks, x=2, y=2, angle=0, duplication_factor=1, roll=False,
                                  incremental=False, padding_mode="border")
    assert torch.equal(still, masks)  # the pack's "border" matches no branch of its code
    with pytest.raises(NodeInputError):
        node("OffsetMask")(CTX, mask=masks, x=0, y=0, angle=30, duplication_factor=1, roll=False,
                           incremental=False, padding_mode="empty")
