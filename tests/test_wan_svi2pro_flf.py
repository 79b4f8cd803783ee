"""Well-Made's ComfyUI-Wan-SVI2Pro-FLF: WanImageToVideoSVIProFLF against the node's behaviour
written out here (anchor frames, the previous clip's last motion frames, Wan 2.1's latent mean
up to (length - 1) // 4 + 1 frames, cut to the clip when longer; the end latent's last frames
written over the last ones and locked in the mask with the first), and WanCutLastSlot's
formula; both layouts of the pack (end_samples required, then optional) are in its specs."""

from __future__ import annotations

import inspect
import logging

import pytest
import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.specs.registry import default_registry

FLF = "WanImageToVideoSVIProFLF"


def _wan21_mean() -> torch.Tensor:
    """Wan 2.1's per-channel latent mean as diffusers' AutoencoderKLWan defaults hold it."""
    from diffusers import AutoencoderKLWan

    mean = inspect.signature(AutoencoderKLWan.__init__).parameters["latents_mean"].default
    return torch.tensor(mean).view(1, 16, 1, 1, 1)


def _latent(frames: int, seed: int, batch: int = 1, h: int = 4, w: int = 6) -> dict:
    return {"samples": torch.randn(batch, 16, frames, h, w, generator=torch.Generator().manual_seed(seed))}


def _cond() -> list:
    return [[torch.zeros(1, 5, 8), {"pooled_output": None}]]


def _run(length: int, anchor: dict, prev: dict, count: int = 1, end: dict | None = None) -> tuple:
    extra = {} if end is None else {"end_samples": end}
    return node(FLF)(ExecContext(), positive=_cond(), negative=_cond(), length=length, prev_samples=prev,
                     anchor_samples=anchor, motion_latent_count=count, **extra)


def test_anchor_motion_mean_and_a_locked_end():
    anchor, prev, end = _latent(1, 0), _latent(5, 1), _latent(1, 2)
    positive, negative, latent = _run(21, anchor, prev, count=2, end=end)  # 6 latent frames
    want = torch.cat([anchor["samples"], prev["samples"][:, :, -2:], _wan21_mean().expand(1, 16, 2, 4, 6),
                      end["samples"]], dim=2)
    mask = torch.ones(1, 1, 6, 4, 6)
    mask[:, :, 0] = mask[:, :, 5] = 0.0
    for cond in (positive, negative):
        values = cond[0][1]
        torch.testing.assert_close(values["concat_latent_image"], want, atol=1e-6, rtol=0)
        assert torch.equal(values["concat_mask"], mask)
    assert latent["samples"].shape == (1, 16, 6, 4, 6) and latent["samples"].dtype == torch.float32
    assert not latent["samples"].any()


def test_without_an_end_it_is_kjnodes_svi_pro():
    anchor, prev = _latent(1, 3), _latent(4, 4)
    flf = _run(17, anchor, prev, count=1)
    kj = node("WanImageToVideoSVIPro")(ExecContext(), positive=_cond(), negative=_cond(), length=17,
                                       anchor_samples=anchor, prev_samples=prev, motion_latent_count=1)
    for key in ("concat_latent_image", "concat_mask"):
        assert torch.equal(flf[0][0][1][key], kj[0][0][1][key])


def test_frames_past_the_clip_are_cut_and_a_long_end_locks_at_most_the_clip():
    anchor, prev, end = _latent(2, 5), _latent(6, 6), _latent(9, 7)
    (positive, _, _) = _run(9, anchor, prev, count=4)  # 3 latent frames: anchor 2 + motion 4 cut to 3
    values = positive[0][1]
    torch.testing.assert_close(values["concat_latent_image"],
                               torch.cat([anchor["samples"], prev["samples"][:, :, 2:3]], dim=2), atol=0, rtol=0)
    (positive, _, _) = _run(9, anchor, prev, count=4, end=end)
    values = positive[0][1]
    assert torch.equal(values["concat_latent_image"], end["samples"][:, :, -3:])
    assert not values["concat_mask"].any()


def test_one_end_serves_a_batch_and_a_mismatched_end_is_skipped_with_a_warning(caplog):
    anchor, prev, end = _latent(1, 8, batch=2), _latent(3, 9, batch=2), _latent(1, 10)
    (positive, _, latent) = _run(13, anchor, prev, count=1, end=end)
    values = positive[0][1]
    assert values["concat_latent_image"].shape == (2, 16, 4, 4, 6) and latent["samples"].shape[0] == 2
    assert torch.equal(values["concat_latent_image"][:, :, -1:], end["samples"].expand(2, -1, -1, -1, -1))
    small_end = _latent(1, 11, h=2)
    with caplog.at_level(logging.WARNING):
        (positive, _, _) = _run(13, _latent(1, 8), _latent(3, 9), count=1, end=small_end)
    assert "not locked" in caplog.text
    mask = positive[0][1]["concat_mask"]
    assert mask[0, 0, 0].eq(0).all() and mask[0, 0, 1:].eq(1).all()


def test_bad_latents_are_named():
    with pytest.raises(NodeInputError) as err:
        _run(13, {"samples": torch.zeros(1, 48, 1, 4, 6)}, _latent(3, 1))
    assert err.value.input_name == "anchor_samples"
    with pytest.raises(NodeInputError) as err:
        _run(13, _latent(1, 0), _latent(3, 1), end={"samples": torch.zeros(3, 3)})
    assert err.value.input_name == "end_samples"


@pytest.mark.parametrize("frames, cut, left", [(5, 2, 3), (5, 10, 1), (2, 1, 1)])
def test_cut_last_slot_follows_the_packs_formula(frames, cut, left):
    latent = {**_latent(frames, 12), "batch_index": [0]}
    (out,) = node("WanCutLastSlot")(ExecContext(), latents=latent, slots_to_cut=cut)
    assert torch.equal(out["samples"], latent["samples"][:, :, :left]) and out["batch_index"] == [0]


def test_cutting_a_one_frame_latent_is_refused():
    with pytest.raises(NodeInputError, match="none can be cut"):
        node("WanCutLastSlot")(ExecContext(), latents=_latent(1, 13), slots_to_cut=1)


def test_both_layouts_of_the_pack_are_known():
    spec = default_registry().get(FLF)
    layouts = [[(i.name, i.section) for i in s.inputs] for s in spec.signatures]
    assert ("end_samples", "required") in layouts[0] and ("end_samples", "optional") in layouts[-1]
    assert spec.pack == "ComfyUI-Wan-SVI2Pro-FLF"
