"""KJNodes' batch reordering nodes (``nodes/image_nodes.py``, ``nodes/nodes.py``):
ReverseImageBatch, GetImagesFromBatchIndexed, InsertImagesToBatchIndexed,
GetLatentsFromBatchIndexed, InsertLatentToIndexed, ShuffleImageBatch and CrossFadeImages.

- InsertImagesToBatchIndexed, "replace": the i-th new image goes to the i-th index (extra
  indexes or images are left over, as the pack's ``zip``); "insert" (2025-04 on): a new
  batch one frame longer per index, the k-th index taking ``images_to_insert[k mod n]``
  where the walk over output positions meets it (indexes in increasing order, as the pack
  expects); an empty ``indexes`` hands the batch on.
- GetLatentsFromBatchIndexed picks along the batch ("BCHW", the first signature's only
  layout), the second ("BTCHW") or the third ("BCTHW") dimension.
- InsertLatentToIndexed replaces the frame at ``index`` (a Wan latent's third dimension;
  an image latent's batch) by the whole source; ``index`` must be inside the *source*'s
  frame count, as the pack checks it.
- ShuffleImageBatch: ``torch.randperm`` of a CPU generator seeded ``seed`` (the pack seeds
  torch's global generator; the permutation is the same).
- CrossFadeImages: images_1 up to ``transition_start_index``, then ``transitioning_frames``
  blends ``(1 - a) x1 + a x2`` of images_1 from that index with images_2 from its start, ``a``
  running ``linspace(start_level, end_level)`` through the easing curve, then the rest of
  images_2; the count is cut to what both batches hold.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.checked import image as as_image, indexes as as_indexes, latent as as_latent


@executor("ReverseImageBatch")
def reverse_image_batch(ctx: ExecContext, images: Any, **_: Any) -> tuple:
    return (torch.flip(as_image(images, "images"), [0]),)


@executor("GetImagesFromBatchIndexed")
def get_images_from_batch_indexed(ctx: ExecContext, images: Any, indexes: Any, **_: Any) -> tuple:
    images = as_image(images, "images")
    return (images[as_indexes(indexes, "indexes", images.shape[0])],)


@executor("InsertImagesToBatchIndexed")
def insert_images_to_batch_indexed(ctx: ExecContext, original_images: Any, images_to_insert: Any, indexes: Any,
                                   mode: Any = "replace", **_: Any) -> tuple:
    original = as_image(original_images, "original_images")
    new = as_image(images_to_insert, "images_to_insert")
    if indexes == "":
        return (original,)
    if new.shape[1:] != original.shape[1:]:
        raise NodeInputError("images_to_insert", f"images of {list(new.shape[1:])} cannot go into a batch of "
                             f"{list(original.shape[1:])}", "resize them to the batch's size first")
    if mode == "replace":
        out = original.clone()
        for index, picture in zip(as_indexes(indexes, "indexes", original.shape[0]), new):
            out[index] = picture
        return (out,)
    if mode != "insert":
        raise NodeInputError("mode", f"mode: unknown option {mode!r}", "use replace or insert")
    try:
        where = [int(part.strip()) for part in str(indexes).split(",")]
    except ValueError:
        raise NodeInputError("indexes", f"indexes: expected whole numbers separated by commas, found {indexes!r}"
                             ) from None
    total = original.shape[0] + len(where)
    if where != sorted(where) or len(set(where)) != len(where) or where[0] < 0 or where[-1] >= total:
        raise NodeInputError("indexes", f"insert positions {where} must rise and lie within the new batch of {total}",
                             "list increasing positions from 0")
    frames, taken = [], 0
    for i in range(total):
        if taken < len(where) and i == where[taken]:
            frames.append(new[taken % new.shape[0]])
            taken += 1
        else:
            frames.append(original[i - taken])
    return (torch.stack(frames, dim=0),)


@executor("GetLatentsFromBatchIndexed")
def get_latents_from_batch_indexed(ctx: ExecContext, latents: Any, indexes: Any, latent_format: Any,
                                   **_: Any) -> tuple:
    samples = as_latent(latents, "latents")
    axis = {"BCHW": 0, "BTCHW": 1, "BCTHW": 2}.get(latent_format)
    if axis is None:
        raise NodeInputError("latent_format", f"latent_format: unknown option {latent_format!r}",
                             "use BCHW, BTCHW or BCTHW")
    picked = as_indexes(indexes, "indexes", samples.shape[axis])
    return ({**latents, "samples": samples.index_select(axis, torch.tensor(picked, dtype=torch.long,
                                                                          device=samples.device))},)


@executor("InsertLatentToIndexed")
def insert_latent_to_indexed(ctx: ExecContext, source: Any, destination: Any, index: Any, **_: Any) -> tuple:
    target = as_latent(destination, "destination")
    piece = as_latent(source, "source").to(target)
    count = piece.shape[0] if piece.ndim == 4 else piece.shape[2]
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise NodeInputError("index", f"index {index!r} is outside the source's {count} latent frame(s) "
                             "(the pack checks it against the source)", f"use 0 to {count - 1}")
    if piece.ndim != target.ndim:
        raise NodeInputError("source", "source and destination latents have different layouts",
                             "connect two image latents or two video latents")
    axis = 0 if piece.ndim == 4 else 2
    joined = torch.cat([target.narrow(axis, 0, index), piece,
                        target.narrow(axis, index + 1, max(0, target.shape[axis] - index - 1))], dim=axis)
    return ({"samples": joined},)


@executor("ShuffleImageBatch")
def shuffle_image_batch(ctx: ExecContext, images: Any, seed: Any, **_: Any) -> tuple:
    images = as_image(images, "images")
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    return (images[torch.randperm(images.shape[0], generator=generator)],)


def _ease_in(t: float) -> float:
    return t * t


def _ease_out(t: float) -> float:
    return 1 - (1 - t) * (1 - t)


def _bounce(t: float) -> float:
    return _ease_out(t * 2) * 0.5 if t < 0.5 else _ease_in((t - 0.5) * 2) * 0.5 + 0.5


#: The pack's easing curves, by name.
EASING: dict[str, Callable[[float], float]] = {
    "linear": lambda t: t,
    "ease_in": _ease_in,
    "ease_out": _ease_out,
    "ease_in_out": lambda t: 3 * t * t - 2 * t * t * t,
    "bounce": _bounce,
    "elastic": lambda t: math.sin(13 * math.pi / 2 * t) * math.pow(2, 10 * (t - 1)),
    "glitchy": lambda t: t + 0.1 * math.sin(40 * t),
    "exponential_ease_out": lambda t: 1 - (1 - t) ** 4,
}


@executor("CrossFadeImages")
def cross_fade_images(ctx: ExecContext, images_1: Any, images_2: Any, interpolation: Any,
                      transition_start_index: Any, transitioning_frames: Any, start_level: Any, end_level: Any,
                      **_: Any) -> tuple:
    first, second = as_image(images_1, "images_1"), as_image(images_2, "images_2")
    ease = EASING.get(interpolation)
    if ease is None:
        raise NodeInputError("interpolation", f"interpolation: unknown curve {interpolation!r}",
                             f"use one of {', '.join(EASING)}")
    if first.shape[1:] != second.shape[1:]:
        raise NodeInputError("images_2", f"images_2 {list(second.shape[1:])} do not match images_1 "
                             f"{list(first.shape[1:])}", "resize one batch to the other first")
    start = int(transition_start_index)
    if start < 0:
        start += first.shape[0]
        if start < 0:
            raise NodeInputError("transition_start_index", "the transition starts before images_1's first frame")
    count = min(int(transitioning_frames), first.shape[0] - start, second.shape[0])
    if count <= 0:  # the pack stacks an empty list and fails
        raise NodeInputError("transitioning_frames", f"no frame to blend ({transitioning_frames} transitioning "
                             f"frames from index {start} of {first.shape[0]})", "use at least one transitioning frame")
    alphas = torch.linspace(float(start_level), float(end_level), count)
    blends = [(1 - ease(float(alphas[i]))) * first[start + i] + ease(float(alphas[i])) * second[i]
              for i in range(count)]
    parts = [first[:start], torch.stack(blends), second[count:]]
    return (torch.cat(parts, dim=0),)
