"""VideoHelperSuite's batch helpers (``videohelpersuite/image_latent_nodes.py``):
VHS_SelectEveryNthImage (every ``select_every_nth`` frame after skipping the first
``skip_first_images``, and how many that is), VHS_GetImageCount (the frame count) and
VHS_MergeImages (``images_A`` then ``images_B`` in one batch, and its frame count).

VHS_MergeImages resizes one batch to the other's size (``scale_method``, ``crop`` as
``comfy.utils.common_upscale``) when their widths or channel counts differ, as the pack
tests it: "match A" / "match B" pick the template; "match smaller" / "match larger" pick by
area, with the pack's quirk kept: when A is the larger, A is the template for both. Batches
that differ in height only are not resized by the pack, and cannot be joined: an error
names ``images_B``. ``bislerp`` is not implemented and is refused on ``scale_method``."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import UPSCALE_METHODS, common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

MERGE_STRATEGIES = ("match A", "match B", "match smaller", "match larger")


def _images(value: Any, name: str = "images") -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4:
        found = f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError(name, f"{name}: expected an IMAGE [frames, height, width, channels], found {found}",
                             f"connect an IMAGE output to '{name}'")
    return value


def _count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < low:
        raise NodeInputError(name, f"{name}: expected a whole number of at least {low}, found {value!r}")
    return int(value)


@executor("VHS_SelectEveryNthImage")
def select_every_nth_image(ctx: ExecContext, images: Any, select_every_nth: Any, skip_first_images: Any,
                           **_: Any) -> tuple:
    images = _images(images)
    chosen = images[_count(skip_first_images, "skip_first_images", 0)::_count(select_every_nth, "select_every_nth", 1)]
    return chosen, int(chosen.shape[0])


@executor("VHS_GetImageCount")
def get_image_count(ctx: ExecContext, images: Any, **_: Any) -> tuple:
    return (int(_images(images).shape[0]),)


@executor("VHS_MergeImages")
def merge_images(ctx: ExecContext, images_A: Any, images_B: Any, merge_strategy: Any, scale_method: Any,  # noqa: N803
                 crop: Any, **_: Any) -> tuple:
    a, b = _images(images_A, "images_A"), _images(images_B, "images_B")
    if merge_strategy not in MERGE_STRATEGIES:
        raise NodeInputError("merge_strategy", f"merge_strategy {merge_strategy!r} is not one of {', '.join(MERGE_STRATEGIES)}")
    if a.shape[3] != b.shape[3] or a.shape[2] != b.shape[2]:
        if scale_method not in UPSCALE_METHODS or scale_method == "lanczos":
            raise NodeInputError("scale_method", f"scale_method {scale_method!r} is not supported",
                                 "use nearest-exact, bilinear, area or bicubic")
        if crop not in ("disabled", "center"):
            raise NodeInputError("crop", f"crop {crop!r} is not disabled or center")
        a_template = True
        if merge_strategy == "match B":
            a_template = False
        elif merge_strategy in ("match smaller", "match larger") and a.shape[1] * a.shape[2] <= b.shape[1] * b.shape[2]:
            a_template = merge_strategy == "match smaller"
        if a_template:
            b = common_upscale(b.movedim(-1, 1), a.shape[2], a.shape[1], scale_method, crop).movedim(1, -1)
        else:
            a = common_upscale(a.movedim(-1, 1), b.shape[2], b.shape[1], scale_method, crop).movedim(1, -1)
    if a.shape[1:] != b.shape[1:]:
        raise NodeInputError("images_B", f"images_B: frames of {list(b.shape[1:])} cannot join frames of "
                             f"{list(a.shape[1:])} (the pack resizes only when the widths or channel counts differ)",
                             "resize one batch to the other's size first")
    merged = torch.cat((a, b.to(a.dtype)), dim=0)
    return merged, int(merged.shape[0])
