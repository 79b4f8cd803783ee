"""VideoHelperSuite's latent/mask batch nodes, index selection, Unbatch and batched VAE nodes,
against the pack's behaviour written out here: every node works on dimension 0 (a Wan
video latent's batch, not its frames), slices are Python's, the index syntax is VHS's
``convert_str_to_indexes`` restated with its arithmetic spelled out, and the batched VAE
nodes equal the plain VAEDecode / VAEEncode of each chunk, joined on dimension 0."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def numbered(n: int, *rest: int) -> torch.Tensor:
    """A batch whose entry k is filled with k, so a result's entries name their source."""
    return torch.arange(n, dtype=torch.float32).view(n, *([1] * len(rest))).expand(n, *rest).clone()


def ids(batch: torch.Tensor) -> list[int]:
    return [int(v) for v in batch.reshape(batch.shape[0], -1)[:, 0]] if batch.shape[0] else []


def refused(class_type: str, name: str, **inputs) -> NodeInputError:
    with pytest.raises(NodeInputError) as err:
        node(class_type)(CTX, **inputs)
    assert err.value.input_name == name, err.value
    return err.value


# ---------------------------------------------------------------------------- counts

def test_counts_read_dimension_zero_a_wan_video_latent_counts_one():
    assert node("VHS_GetMaskCount")(CTX, mask=torch.zeros(7, 4, 5)) == (7,)
    assert node("VHS_GetLatentCount")(CTX, latents={"samples": torch.zeros(3, 4, 8, 8)}) == (3,)
    # [B, C, T, H, W]: VHS counts B, not the 21 latent frames
    assert node("VHS_GetLatentCount")(CTX, latents={"samples": torch.zeros(1, 16, 21, 4, 4)}) == (1,)


def test_counts_refuse_what_is_not_a_mask_or_latent():
    refused("VHS_GetMaskCount", "mask", mask=torch.zeros(2, 4, 4, 3))
    refused("VHS_GetLatentCount", "latents", latents=torch.zeros(1, 4, 8, 8))
    refused("VHS_GetLatentCount", "latents", latents={"noise_mask": torch.zeros(1)})


# ---------------------------------------------------------------------------- every nth

@pytest.mark.parametrize("n, nth, skip", [(10, 3, 0), (10, 3, 2), (10, 1, 9), (10, 4, 10), (10, 2, 25), (5, 7, 1)])
def test_every_nth_takes_skip_then_every_nth(n, nth, skip):
    # entries skip, skip + nth, skip + 2·nth, ... while below n (none when skip >= n)
    want = []
    k = skip
    while k < n:
        want.append(k)
        k += nth
    mask, count = node("VHS_SelectEveryNthMask")(CTX, mask=numbered(n, 2, 3), select_every_nth=nth,
                                                  skip_first_masks=skip)
    assert ids(mask) == want and count == len(want) and mask.shape[1:] == (2, 3)
    latent, count = node("VHS_SelectEveryNthLatent")(CTX, latents={"samples": numbered(n, 4, 2, 2)},
                                                     select_every_nth=nth, skip_first_latents=skip)
    assert ids(latent["samples"]) == want and count == len(want)


def test_every_nth_latent_keeps_samples_only_and_picks_whole_videos():
    video = rand(3, 16, 5, 2, 2)
    latent, count = node("VHS_SelectEveryNthLatent")(
        CTX, latents={"samples": video, "noise_mask": torch.ones(3, 1, 5, 2, 2)}, select_every_nth=2)
    assert set(latent) == {"samples"} and count == 2
    assert torch.equal(latent["samples"], video[[0, 2]])  # frames (axis 2) untouched


def test_every_nth_defaults_are_every_entry():
    mask = rand(4, 2, 2)
    out, count = node("VHS_SelectEveryNthMask")(CTX, mask=mask)
    assert torch.equal(out, mask) and count == 4


@pytest.mark.parametrize("inputs, name", [
    ({"select_every_nth": 0}, "select_every_nth"),
    ({"skip_first_masks": -1}, "skip_first_masks"),
    ({"skip_first_masks": 1.5}, "skip_first_masks"),
    ({"mask": torch.zeros(4, 4)}, "mask"),
])
def test_every_nth_refuses_bad_inputs(inputs, name):
    refused("VHS_SelectEveryNthMask", name, **{"mask": torch.zeros(3, 2, 2), **inputs})


# ---------------------------------------------------------------------------- split

@pytest.mark.parametrize("index, a_ids", [(0, []), (2, [0, 1]), (5, [0, 1, 2, 3, 4]), (9, [0, 1, 2, 3, 4]),
                                          (-1, [0, 1, 2, 3]), (-2, [0, 1, 2]), (-9, [])])
def test_split_cuts_before_the_index_as_a_python_slice(index, a_ids):
    # 5 entries: a negative index i is 5 + i (floored at 0), one past the end is 5
    b_ids = [k for k in range(5) if k not in a_ids]
    a, a_n, b, b_n = node("VHS_SplitMasks")(CTX, mask=numbered(5, 2, 2), split_index=index)
    assert (ids(a), a_n, ids(b), b_n) == (a_ids, len(a_ids), b_ids, len(b_ids))
    la, la_n, lb, lb_n = node("VHS_SplitLatents")(
        CTX, latents={"samples": numbered(5, 4, 2, 2), "batch_index": [0, 1, 2, 3, 4]}, split_index=index)
    assert (ids(la["samples"]), la_n, ids(lb["samples"]), lb_n) == (a_ids, len(a_ids), b_ids, len(b_ids))
    assert set(la) == set(lb) == {"samples"}


def test_split_refuses_a_fractional_index():
    refused("VHS_SplitMasks", "split_index", mask=torch.zeros(2, 2, 2), split_index=1.5)
    refused("VHS_SplitLatents", "latents", latents={"samples": torch.zeros(2)}, split_index=1)


# ---------------------------------------------------------------------------- merge

def test_merge_of_equal_sizes_is_a_then_b():
    a, b = numbered(2, 3, 4), numbered(3, 3, 4) + 10
    merged, count = node("VHS_MergeMasks")(CTX, mask_A=a, mask_B=b, merge_strategy="match A",
                                           scale_method="bislerp", crop="disabled")
    assert ids(merged) == [0, 1, 10, 11, 12] and count == 5  # no resize, so bislerp is never used
    la, lb = {"samples": rand(1, 16, 3, 2, 2, seed=1)}, {"samples": rand(2, 16, 3, 2, 2, seed=2),
                                                         "noise_mask": torch.ones(2)}
    latent, count = node("VHS_MergeLatents")(CTX, latents_A=la, latents_B=lb, merge_strategy="match B",
                                             scale_method="area", crop="center")
    assert set(latent) == {"samples"} and count == 3
    assert torch.equal(latent["samples"], torch.cat([la["samples"], lb["samples"]]))


# A: 4x6 (area 24), B: 8x5 (area 40). The template per strategy, by the pack's rule:
# match A -> A; match B -> B; A's area <= B's, so match smaller -> A, match larger -> B.
@pytest.mark.parametrize("strategy, template", [("match A", "A"), ("match B", "B"), ("match smaller", "A"),
                                                ("match larger", "B")])
def test_merge_resizes_to_the_template_by_strategy(strategy, template):
    a, b = rand(2, 4, 6, seed=3), rand(1, 8, 5, seed=4)
    size = (4, 6) if template == "A" else (8, 5)
    want_a = a if template == "A" else F.interpolate(a.unsqueeze(1), size=size, mode="bilinear").squeeze(1)
    want_b = b if template == "B" else F.interpolate(b.unsqueeze(1), size=size, mode="bilinear").squeeze(1)
    merged, count = node("VHS_MergeMasks")(CTX, mask_A=a, mask_B=b, merge_strategy=strategy,
                                           scale_method="bilinear", crop="disabled")
    assert count == 3 and merged.shape == (3, *size)
    assert torch.allclose(merged, torch.cat([want_a, want_b]), atol=1e-6)
    la, lb = {"samples": rand(2, 4, 4, 6, seed=5)}, {"samples": rand(1, 4, 8, 5, seed=6)}
    latent, count = node("VHS_MergeLatents")(CTX, latents_A=la, latents_B=lb, merge_strategy=strategy,
                                             scale_method="nearest-exact", crop="disabled")
    want_la = la["samples"] if template == "A" else F.interpolate(la["samples"], size=size, mode="nearest-exact")
    want_lb = lb["samples"] if template == "B" else F.interpolate(lb["samples"], size=size, mode="nearest-exact")
    assert count == 3 and torch.equal(latent["samples"], torch.cat([want_la, want_lb]))


def test_merge_keeps_the_packs_quirk_when_a_is_the_larger():
    # A 8x8 (64) is larger than B 4x4 (16): A_size <= B_size is false, so the pack keeps A as
    # the template for both "match smaller" and "match larger"
    a, b = rand(1, 8, 8, seed=7), rand(1, 4, 4, seed=8)
    up_b = F.interpolate(b.unsqueeze(1), size=(8, 8), mode="bicubic").squeeze(1)
    for strategy in ("match smaller", "match larger"):
        merged, _ = node("VHS_MergeMasks")(CTX, mask_A=a, mask_B=b, merge_strategy=strategy,
                                           scale_method="bicubic", crop="disabled")
        assert torch.allclose(merged, torch.cat([a, up_b]), atol=1e-6)


def test_merge_crops_to_the_templates_aspect_first():
    # B 4x8 to A's 4x4 with crop "center": B's middle 4 columns (2..5), then no resample
    a, b = rand(1, 4, 4, seed=9), rand(1, 4, 8, seed=10)
    merged, _ = node("VHS_MergeMasks")(CTX, mask_A=a, mask_B=b, merge_strategy="match A",
                                       scale_method="nearest-exact", crop="center")
    assert torch.equal(merged[1], b[0, :, 2:6])


@pytest.mark.parametrize("inputs, name", [
    ({"scale_method": "bislerp"}, "scale_method"),
    ({"merge_strategy": "match middle"}, "merge_strategy"),
    ({"crop": "top"}, "crop"),
    ({"latents_B": {"samples": torch.zeros(1, 8, 4, 4)}}, "latents_B"),  # channels differ, no resize can join
    ({"latents_A": {"samples": torch.zeros(1, 16, 3, 4, 4)},
      "latents_B": {"samples": torch.zeros(1, 16, 5, 4, 4)}}, "latents_B"),  # video latents of other lengths
    ({"latents_A": {"samples": torch.zeros(1, 16, 3, 4, 4)},
      "latents_B": {"samples": torch.zeros(1, 16, 3, 4, 6)}}, "latents_B"),  # VHS resizes 4-D latents only
])
def test_merge_latents_refuses_bad_inputs(inputs, name):
    base = {"latents_A": {"samples": torch.zeros(1, 4, 4, 4)}, "latents_B": {"samples": torch.zeros(1, 4, 6, 6)},
            "merge_strategy": "match A", "scale_method": "area", "crop": "disabled"}
    refused("VHS_MergeLatents", name, **{**base, **inputs})


# ---------------------------------------------------------------------------- repeat

def test_repeat_puts_whole_copies_end_to_end():
    # 3 entries twice: 0 1 2 0 1 2 (whole copies, not each entry twice)
    images, count = node("VHS_DuplicateImages")(CTX, images=numbered(3, 2, 2, 3), multiply_by=2)
    assert ids(images) == [0, 1, 2, 0, 1, 2] and count == 6 and images.shape[1:] == (2, 2, 3)
    masks, count = node("VHS_DuplicateMasks")(CTX, mask=numbered(2, 2, 2), multiply_by=3)
    assert ids(masks) == [0, 1, 0, 1, 0, 1] and count == 6
    once, count = node("VHS_DuplicateMasks")(CTX, mask=numbered(2, 2, 2))  # default 1
    assert ids(once) == [0, 1] and count == 2


def test_repeat_latents_repeats_every_tensor_of_the_batchs_length():
    samples, noise_mask = numbered(2, 16, 3, 2, 2), numbered(2, 1, 3, 2, 2) + 5
    latent = {"samples": samples, "noise_mask": noise_mask, "other": torch.zeros(7), "batch_index": [4, 5]}
    out, count = node("VHS_DuplicateLatents")(CTX, latents=latent, multiply_by=2)
    assert count == 4
    assert ids(out["samples"]) == [0, 1, 0, 1] and ids(out["noise_mask"]) == [5, 6, 5, 6]
    assert out["other"].shape == (7,) and out["batch_index"] == [4, 5]
    assert latent["samples"] is samples and latent["samples"].shape[0] == 2  # the input is not changed


def test_repeat_refuses_zero_copies():
    refused("VHS_DuplicateImages", "multiply_by", images=torch.zeros(1, 2, 2, 3), multiply_by=0)
    refused("VHS_DuplicateImages", "images", images=torch.zeros(1, 2, 2), multiply_by=2)


# ---------------------------------------------------------------------------- select by indexes

# 16 items, idxs 0..15. Each case written out by hand from the pack's rules.
SIXTEEN = [
    ("0", [0]),
    ("-1", [15]),                        # 16 + (-1)
    ("0, 1, 13", [0, 1, 13]),
    ("0:5, 13", [0, 1, 2, 3, 4, 13]),
    ("0:-1", list(range(15))),           # range cut [0:-1] of 0..15 drops the last
    ("0:5:-1", [4, 3, 2, 1, 0]),         # [0:5] = 0..4, then [::-1]
    ("0:5:2", [0, 2, 4]),
    ("::-1", list(range(15, -1, -1))),   # the whole range reversed
    ("14:100", [14, 15]),                # ranges are cut to the batch
    ("-3:", [13, 14, 15]),               # start 16 - 3, end blank = 16
    (":3, 3", [0, 1, 2, 3]),
    ("2, 2, 0", [2, 2, 0]),              # repeats and order are kept
    ("1:10:3", [1, 4, 7]),
    ("20:30", []),                       # a range past the end is empty
]


@pytest.mark.parametrize("indexes, want", SIXTEEN)
def test_select_reads_the_index_syntax(indexes, want):
    if not want:
        refused("VHS_SelectMasks", "indexes", mask=numbered(16, 1, 1), indexes=indexes)
        out, = node("VHS_SelectMasks")(CTX, mask=numbered(16, 1, 1), indexes=indexes, err_if_empty=False)
        assert out.shape == (0, 1, 1)
        return
    out, = node("VHS_SelectImages")(CTX, image=numbered(16, 2, 2, 3), indexes=indexes)
    assert ids(out) == want and out.shape[1:] == (2, 2, 3)
    out, = node("VHS_SelectMasks")(CTX, mask=numbered(16, 2, 2), indexes=indexes)
    assert ids(out) == want


def test_select_default_is_the_first_item():
    out, = node("VHS_SelectMasks")(CTX, mask=numbered(4, 1, 1))
    assert ids(out) == [0]


def test_select_missing_indexes_with_and_without_err_if_missing():
    mask = numbered(16, 1, 1)
    refused("VHS_SelectMasks", "indexes", mask=mask, indexes="16")     # 16 > 15
    refused("VHS_SelectMasks", "indexes", mask=mask, indexes="-17")    # 16 - 17 = -1 < 0
    # err_if_missing off: the pack shifts -20 once, to 16 - 20 = -4, and torch reads -4 as
    # 16 - 4 = 12; -40 becomes -24, still outside, and 16 stays 16: both fail in the pack too
    out, = node("VHS_SelectMasks")(CTX, mask=mask, indexes="-20, 3", err_if_missing=False)
    assert ids(out) == [12, 3]
    for indexes in ("-40", "16", "0, 99"):
        refused("VHS_SelectMasks", "indexes", mask=mask, indexes=indexes, err_if_missing=False)


@pytest.mark.parametrize("indexes", ["", "a", "1.5", "0,", "1:2:0", "1:2:3:4"])
def test_select_refuses_what_the_pack_cannot_read(indexes):
    refused("VHS_SelectMasks", "indexes", mask=numbered(4, 1, 1), indexes=indexes)


def test_select_refuses_non_boolean_flags_and_non_text_indexes():
    refused("VHS_SelectMasks", "err_if_missing", mask=numbered(4, 1, 1), err_if_missing="yes")
    refused("VHS_SelectMasks", "err_if_empty", mask=numbered(4, 1, 1), err_if_empty=1)
    refused("VHS_SelectMasks", "indexes", mask=numbered(4, 1, 1), indexes=3)


def test_select_latents_selects_every_tensor_of_the_batchs_length():
    latent = {"samples": numbered(4, 16, 3, 2, 2), "noise_mask": numbered(4, 1, 3, 2, 2) + 10,
              "other": torch.zeros(2), "batch_index": [0, 1, 2, 3]}
    out, = node("VHS_SelectLatents")(CTX, latent=latent, indexes="3, 0:2")
    assert ids(out["samples"]) == [3, 0, 1] and ids(out["noise_mask"]) == [13, 10, 11]
    assert out["other"].shape == (2,) and out["batch_index"] == [0, 1, 2, 3]
    assert latent["samples"].shape[0] == 4
    # one Wan video [1, C, T, H, W]: index 0 is the whole video, index 1 is missing
    video = {"samples": rand(1, 16, 5, 2, 2)}
    assert torch.equal(node("VHS_SelectLatents")(CTX, latent=video)[0]["samples"], video["samples"])
    refused("VHS_SelectLatents", "indexes", latent=video, indexes="1")


# ---------------------------------------------------------------------------- unbatch

def test_unbatch_of_one_value_is_that_value_and_a_list_is_joined():
    # an INPUT_IS_LIST node: the engine hands it a list (a plain value as a list of one)
    image = rand(2, 3, 3, 3)
    assert torch.equal(node("VHS_Unbatch")(CTX, batched=[image])[0], image)
    latent = {"samples": rand(1, 4, 2, 2), "batch_index": [3], "noise_mask": torch.ones(1)}
    out, = node("VHS_Unbatch")(CTX, batched=[latent])
    assert set(out) == {"samples", "noise_mask"} and torch.equal(out["samples"], latent["samples"])
    assert "batch_index" in latent
    joined, = node("VHS_Unbatch")(CTX, batched=[image, image[:1]])
    assert torch.equal(joined, torch.cat([image, image[:1]]))
    audio = [{"waveform": torch.zeros(1, 2, 5), "sample_rate": 44100},
             {"waveform": torch.ones(1, 2, 5), "sample_rate": 44100}]
    out, = node("VHS_Unbatch")(CTX, batched=audio)
    assert out["waveform"].shape == (2, 2, 5) and out["sample_rate"] == 44100
    assert node("VHS_Unbatch")(CTX, batched=[[1, 2], [3]]) == ([1, 2, 3],)
    assert node("VHS_Unbatch")(CTX, batched=[[1, 2]]) == ([1, 2],)  # one value that is a Python list
    assert node("VHS_Unbatch")(CTX, batched=["a", "b"]) == ("ab",)


def test_unbatch_refuses_what_cannot_be_joined():
    refused("VHS_Unbatch", "batched", batched=[])
    refused("VHS_Unbatch", "batched", batched=rand(1, 2, 2, 3))  # not the engine's list
    refused("VHS_Unbatch", "batched", batched=[rand(1, 2, 2, 3), rand(1, 4, 4, 3)])


# ---------------------------------------------------------------------------- batched VAE

@pytest.fixture(scope="module")
def vae_ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def vae(vae_ctx):
    return node("VAELoader")(vae_ctx, vae_name="wan_2.1_vae_tiny.safetensors")[0]


def test_decode_batched_is_vaedecode_of_each_chunk_joined(vae_ctx, vae):
    samples = rand(3, 16, 2, 4, 4, seed=11) * 2 - 1
    whole, = node("VAEDecode")(vae_ctx, samples={"samples": samples}, vae=vae)
    assert whole.shape == (3 * 5, 32, 32, 3)  # 2 latent frames -> 5 frames, per video
    by_one, = node("VHS_VAEDecodeBatched")(vae_ctx, samples={"samples": samples}, vae=vae, per_batch=1)
    by_two, = node("VHS_VAEDecodeBatched")(vae_ctx, samples={"samples": samples}, vae=vae, per_batch=2)
    by_default, = node("VHS_VAEDecodeBatched")(vae_ctx, samples={"samples": samples}, vae=vae)  # 16
    per_video = torch.cat([node("VAEDecode")(vae_ctx, samples={"samples": samples[k:k + 1]}, vae=vae)[0]
                           for k in range(3)])
    for out in (by_one, by_two, by_default):
        assert out.shape == whole.shape
        assert torch.allclose(out, per_video, atol=1e-5)
        assert torch.allclose(out, whole, atol=1e-4)


def test_encode_batched_encodes_each_chunk_as_its_own_video(vae_ctx, vae):
    pixels = rand(10, 32, 32, 3, seed=12)
    # per_batch 5: frames 0-4 and 5-9, two videos of (5 - 1) // 4 + 1 = 2 latent frames each
    out, = node("VHS_VAEEncodeBatched")(vae_ctx, pixels=pixels, vae=vae, per_batch=5)
    first, = node("VAEEncode")(vae_ctx, pixels=pixels[:5], vae=vae)
    second, = node("VAEEncode")(vae_ctx, pixels=pixels[5:], vae=vae)
    assert out["samples"].shape == (2, 16, 2, 4, 4)
    assert torch.allclose(out["samples"], torch.cat([first["samples"], second["samples"]]), atol=1e-5)
    # per_batch at least the frame count: one chunk, the plain VAEEncode (16 by default)
    whole, = node("VHS_VAEEncodeBatched")(vae_ctx, pixels=pixels[:9], vae=vae)
    plain, = node("VAEEncode")(vae_ctx, pixels=pixels[:9], vae=vae)
    assert torch.allclose(whole["samples"], plain["samples"], atol=1e-6)


def test_encode_batched_crops_and_drops_alpha_as_vaeencode(vae_ctx, vae):
    pixels = rand(2, 36, 34, 4, seed=13)
    out, = node("VHS_VAEEncodeBatched")(vae_ctx, pixels=pixels, vae=vae, per_batch=1)
    # 36x34 -> centre 32x32: rows 2..33, columns 1..32; alpha dropped
    one, = node("VAEEncode")(vae_ctx, pixels=pixels[:1, 2:34, 1:33, :3], vae=vae)
    two, = node("VAEEncode")(vae_ctx, pixels=pixels[1:, 2:34, 1:33, :3], vae=vae)
    assert torch.allclose(out["samples"], torch.cat([one["samples"], two["samples"]]), atol=1e-5)


def test_batched_vae_nodes_refuse_bad_inputs(vae_ctx, vae):
    # 9 frames by 4: chunks of 4, 4, 1 frames -> 1, 1, 1 latent frames: joinable; by 5: 5 and
    # 4 frames -> 2 and 1 latent frames, which the pack's join fails on
    out, = node("VHS_VAEEncodeBatched")(vae_ctx, pixels=rand(9, 16, 16, 3), vae=vae, per_batch=4)
    assert out["samples"].shape == (3, 16, 1, 2, 2)
    with pytest.raises(NodeInputError) as err:
        node("VHS_VAEEncodeBatched")(vae_ctx, pixels=rand(9, 16, 16, 3), vae=vae, per_batch=5)
    assert err.value.input_name == "per_batch"
    cases = [("VHS_VAEEncodeBatched", "per_batch", {"pixels": rand(2, 16, 16, 3), "per_batch": 0}),
             ("VHS_VAEEncodeBatched", "vae", {"pixels": rand(2, 16, 16, 3), "vae": "vae.safetensors"}),
             ("VHS_VAEEncodeBatched", "pixels", {"pixels": rand(2, 4, 4, 3)}),
             ("VHS_VAEDecodeBatched", "samples", {"samples": {"samples": rand(1, 8, 2, 4, 4)}}),
             ("VHS_VAEDecodeBatched", "samples", {"samples": {"samples": rand(1, 16, 4, 4)}}),
             ("VHS_VAEDecodeBatched", "per_batch", {"samples": {"samples": rand(1, 16, 1, 4, 4)}, "per_batch": -1})]
    for class_type, name, inputs in cases:
        with pytest.raises(NodeInputError) as err:
            node(class_type)(vae_ctx, **{"vae": vae, **inputs})
        assert err.value.input_name == name, (class_type, inputs, err.value)
