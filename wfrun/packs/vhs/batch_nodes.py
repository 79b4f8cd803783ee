"""VideoHelperSuite's batch utilities for images, latents and masks, its index selection,
Unbatch and its batched VAE nodes (``videohelpersuite/image_latent_nodes.py``, ``utils.py``,
``nodes.py``, ``batched_nodes.py``): one implementation of each operation for every kind.

Every node here works on dimension 0 of its value, which VHS calls frames: a MASK's frames,
an IMAGE's frames, and a LATENT's ``samples`` batch. For a Wan video latent
``[B, C, T, H, W]`` that is the batch ``B`` (usually 1), not the latent frames ``T``, exactly
as in the pack: VHS_GetLatentCount of one Wan video says 1, VHS_SelectEveryNthLatent and
VHS_SplitLatents pick whole videos, VHS_VAEDecodeBatched's ``per_batch`` counts videos.

* VHS_GetImageCount / VHS_GetLatentCount / VHS_GetMaskCount: the size of dimension 0.
* VHS_SelectEveryNthImage / Latent / Mask: entries ``skip, skip + n, skip + 2n, …``
  and how many (a skip past the end gives an empty batch, as the pack's slice does).
* VHS_SplitImages / Latents / Masks: the entries before ``split_index`` and the rest, with
  their counts; the index is a Python slice bound (negative counts from the end; past an
  end gives an empty half). The split and every-nth LATENTs hold ``samples`` only: the pack
  drops every other key (``noise_mask``, ``batch_index``).
* VHS_MergeImages / Latents / Masks: A's entries then B's, and the count. When the heights or
  widths differ (for images, as the pack tests them: the widths or the channel counts; images
  that differ in height only are not resized and cannot be joined), one is resized to the other (``scale_method``, ``crop`` as
  ``comfy.utils.common_upscale``; masks as one-channel images): "match A" / "match B" pick
  the template; "match smaller" / "match larger" pick by area, with the pack's quirk kept:
  when A is the larger, A is the template for both. The merged LATENT holds ``samples``
  only. A 4-D latent's size is read from its last two axes; the pack reads axes 2 and 3 of
  a 5-D video latent too (frames and height), so video latents of different shapes end in
  a failed join there: here they are refused on ``latents_B``, as are latents or masks that
  still differ after the resize (channels). ``bislerp`` is not implemented and is refused
  on ``scale_method``.
* VHS_DuplicateImages / Latents / Masks: the batch repeated ``multiply_by`` times, end to
  end (``abc`` twice is ``abcabc``). For latents, every tensor in the LATENT whose length
  is the batch's (``noise_mask`` of the same batch) is repeated alike; others are kept.
* VHS_SelectImages / Latents / Masks: ``indexes`` is comma-separated entries, each a whole
  number (negative counts from the end) or a range ``start:end[:step]`` (Python's, end
  excluded, the step applied after the range is cut: ``0:5:-1`` is 4, 3, 2, 1, 0; blank
  start, end and step are 0, the count, 1). Ranges are cut to the batch and never fail. A
  single index past either end fails on ``indexes`` when ``err_if_missing`` is on. With it
  off the pack passes the index on to torch unchanged: an index past the end still fails,
  and a negative one below ``-count`` is only shifted once by the count, so ``-20`` of 16
  frames selects frame 12 (``-4``) and ``-40`` fails; kept so here. Nothing selected
  fails on ``indexes`` when ``err_if_empty`` is on, else gives an empty batch. For latents,
  every tensor whose length is the batch's is selected alike; other keys are kept.
* VHS_Unbatch: joins a list of batches (an ``INPUT_IS_LIST`` node: the engine hands it
  the list, ``wfrun.engine.lists``): tensors end to end, LATENT-like dicts by their
  ``samples`` (and audio ``waveform``) with ``batch_index`` dropped, anything else by
  ``+``. A plain value is a list of one: unchanged (a dict less its ``batch_index``).
* VHS_VAEDecodeBatched: decodes ``per_batch`` latent batch entries at a time with the
  core VAEDecode node (called through the executor registry) and joins the frames. Where wfrun
  differs: the pack returns ComfyUI's ``vae.decode`` output as it comes, a 5-D
  ``[B, T, H, W, 3]`` for a video VAE (which no IMAGE node reads); wfrun flattens it to
  ``[B·T, H, W, 3]`` frames as VAEDecode does. A video latent is one entry, so it is decoded
  whole, exactly as VAEDecode decodes it.
* VHS_VAEEncodeBatched: encodes ``per_batch`` frames at a time, each chunk as VAEEncode
  encodes a clip (cropped to the VAE's grid, alpha dropped; each chunk is a video of its
  own, its first frame a key frame), and joins the latents on the batch axis: ``k`` chunks
  make a LATENT of ``k`` videos. Chunks of different latent lengths (the last one shorter)
  cannot be joined; the pack fails there, wfrun refuses on ``per_batch``.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from wfrun.media.image import UPSCALE_METHODS, common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor

MERGE_STRATEGIES = ("match A", "match B", "match smaller", "match larger")

# --------------------------------------------------------------------------- values


def _found(value: Any) -> str:
    return f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__


def _images(value: Any, name: str = "images") -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4:
        raise NodeInputError(name, f"{name}: expected an IMAGE [frames, height, width, channels], found "
                             f"{_found(value)}", f"connect an IMAGE output to '{name}'")
    return value


def _count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < low:
        raise NodeInputError(name, f"{name}: expected a whole number of at least {low}, found {value!r}"[:200])
    return int(value)


def _mask(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 3:
        raise NodeInputError(name, f"{name}: expected a MASK [frames, height, width], found {_found(value)}",
                             f"connect a MASK output to '{name}'")
    return value


def _latent(value: Any, name: str) -> dict:
    samples = value.get("samples") if isinstance(value, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim not in (4, 5):
        found = f"samples of shape {list(samples.shape)}" if isinstance(samples, torch.Tensor) else _found(value)
        raise NodeInputError(name, f"{name}: expected a LATENT with samples [batch, channels, (frames,) height, "
                             f"width], found {found}", f"connect a LATENT output to '{name}'")
    return value


def _whole(value: Any, name: str) -> int:
    """A whole number of either sign (a slice bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}"[:200])
    return int(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise NodeInputError(name, f"{name}: expected true or false, found {value!r}"[:200])
    return value


def _batch_keys(latent: dict) -> list[str]:
    """The LATENT's tensors that run along its batch (same length as ``samples``), as the
    pack's select and repeat pick them."""
    n = len(latent["samples"])
    return [k for k, v in latent.items() if isinstance(v, torch.Tensor) and v.ndim > 0 and len(v) == n]


# --------------------------------------------------------------------------- counts


@executor("VHS_GetImageCount")
def get_image_count(ctx: ExecContext, images: Any, **_: Any) -> tuple:
    return (int(_images(images).shape[0]),)


@executor("VHS_GetLatentCount")
def get_latent_count(ctx: ExecContext, latents: Any, **_: Any) -> tuple:
    return (int(_latent(latents, "latents")["samples"].shape[0]),)


@executor("VHS_GetMaskCount")
def get_mask_count(ctx: ExecContext, mask: Any, **_: Any) -> tuple:
    return (int(_mask(mask, "mask").shape[0]),)


# --------------------------------------------------------------------------- every nth, split


def every_nth(batch: torch.Tensor, select_every_nth: Any, skip_first: Any, skip_name: str) -> torch.Tensor:
    """Entries ``skip, skip + n, …`` of dimension 0 (VHS's every-nth nodes, all kinds)."""
    return batch[_count(skip_first, skip_name, 0)::_count(select_every_nth, "select_every_nth", 1)]


@executor("VHS_SelectEveryNthImage")
def select_every_nth_image(ctx: ExecContext, images: Any, select_every_nth: Any, skip_first_images: Any,
                           **_: Any) -> tuple:
    chosen = every_nth(_images(images), select_every_nth, skip_first_images, "skip_first_images")
    return chosen, int(chosen.shape[0])


@executor("VHS_SelectEveryNthLatent")
def select_every_nth_latent(ctx: ExecContext, latents: Any, select_every_nth: Any, skip_first_latents: Any,
                            **_: Any) -> tuple:
    chosen = every_nth(_latent(latents, "latents")["samples"], select_every_nth, skip_first_latents,
                       "skip_first_latents")
    return {"samples": chosen}, int(chosen.shape[0])


@executor("VHS_SelectEveryNthMask")
def select_every_nth_mask(ctx: ExecContext, mask: Any, select_every_nth: Any, skip_first_masks: Any,
                          **_: Any) -> tuple:
    chosen = every_nth(_mask(mask, "mask"), select_every_nth, skip_first_masks, "skip_first_masks")
    return chosen, int(chosen.shape[0])


def split_at(batch: torch.Tensor, split_index: Any) -> tuple[torch.Tensor, torch.Tensor]:
    at = _whole(split_index, "split_index")
    return batch[:at], batch[at:]


@executor("VHS_SplitImages")
def split_images(ctx: ExecContext, images: Any, split_index: Any, **_: Any) -> tuple:
    a, b = split_at(_images(images), split_index)
    return a, int(a.shape[0]), b, int(b.shape[0])


@executor("VHS_SplitLatents")
def split_latents(ctx: ExecContext, latents: Any, split_index: Any, **_: Any) -> tuple:
    a, b = split_at(_latent(latents, "latents")["samples"], split_index)
    return {"samples": a}, int(a.shape[0]), {"samples": b}, int(b.shape[0])


@executor("VHS_SplitMasks")
def split_masks(ctx: ExecContext, mask: Any, split_index: Any, **_: Any) -> tuple:
    a, b = split_at(_mask(mask, "mask"), split_index)
    return a, int(a.shape[0]), b, int(b.shape[0])


# --------------------------------------------------------------------------- merge


def _a_is_template(merge_strategy: str, a_area: int, b_area: int) -> bool:
    if merge_strategy == "match B":
        return False
    if merge_strategy in ("match smaller", "match larger") and a_area <= b_area:
        return merge_strategy == "match smaller"
    return True  # "match A", and either area rule when A is the larger (the pack's quirk)


def _merge(a: torch.Tensor, b: torch.Tensor, merge_strategy: Any, scale_method: Any, crop: Any,
           b_name: str, resize: bool | None = None) -> torch.Tensor:
    """``a`` then ``b`` along dimension 0, ``[N, C, H, W]`` each, one resized to the other's
    height and width first when ``resize`` (default: when those differ)."""
    if merge_strategy not in MERGE_STRATEGIES:
        raise NodeInputError("merge_strategy", f"merge_strategy {merge_strategy!r} is not one of "
                             f"{', '.join(MERGE_STRATEGIES)}"[:300])
    if a.shape[-2:] != b.shape[-2:] if resize is None else resize:
        if scale_method not in UPSCALE_METHODS or scale_method in ("lanczos", "nearest"):
            raise NodeInputError("scale_method", f"scale_method {scale_method!r} is not supported"[:200],
                                 "use nearest-exact, bilinear, area or bicubic")
        if crop not in ("disabled", "center"):
            raise NodeInputError("crop", f"crop {crop!r} is not disabled or center"[:200])
        if _a_is_template(merge_strategy, a.shape[-2] * a.shape[-1], b.shape[-2] * b.shape[-1]):
            b = common_upscale(b, a.shape[-1], a.shape[-2], scale_method, crop)
        else:
            a = common_upscale(a, b.shape[-1], b.shape[-2], scale_method, crop)
    if a.shape[1:] != b.shape[1:]:
        raise NodeInputError(b_name, f"{b_name}: entries of {list(b.shape[1:])} cannot join entries of "
                             f"{list(a.shape[1:])}", "give both inputs the same channels")
    return torch.cat((a, b.to(a.dtype)), dim=0)


@executor("VHS_MergeImages")
def merge_images(ctx: ExecContext, images_A: Any, images_B: Any, merge_strategy: Any, scale_method: Any,  # noqa: N803
                 crop: Any, **_: Any) -> tuple:
    a, b = _images(images_A, "images_A"), _images(images_B, "images_B")
    # the pack resizes when the widths or the channel counts differ, not the heights
    resize = a.shape[2] != b.shape[2] or a.shape[3] != b.shape[3]
    merged = _merge(a.movedim(-1, 1), b.movedim(-1, 1), merge_strategy, scale_method, crop, "images_B",
                    resize).movedim(1, -1)
    return merged, int(merged.shape[0])


@executor("VHS_MergeLatents")
def merge_latents(ctx: ExecContext, latents_A: Any, latents_B: Any, merge_strategy: Any,  # noqa: N803
                  scale_method: Any, crop: Any, **_: Any) -> tuple:
    a = _latent(latents_A, "latents_A")["samples"]
    b = _latent(latents_B, "latents_B")["samples"]
    if (a.ndim == 5 or b.ndim == 5) and a.shape[1:] != b.shape[1:]:
        raise NodeInputError("latents_B", f"latents_B: a latent of {list(b.shape[1:])} per entry cannot join one of "
                             f"{list(a.shape[1:])}; VHS resizes only 4-D image latents, and video latents must "
                             "match in channels, frames, height and width", "merge latents of the same shape")
    merged = _merge(a, b, merge_strategy, scale_method, crop, "latents_B")
    return {"samples": merged}, int(merged.shape[0])


@executor("VHS_MergeMasks")
def merge_masks(ctx: ExecContext, mask_A: Any, mask_B: Any, merge_strategy: Any, scale_method: Any,  # noqa: N803
                crop: Any, **_: Any) -> tuple:
    a, b = _mask(mask_A, "mask_A"), _mask(mask_B, "mask_B")
    merged = _merge(a.unsqueeze(1), b.unsqueeze(1), merge_strategy, scale_method, crop, "mask_B").squeeze(1)
    return merged, int(merged.shape[0])


# --------------------------------------------------------------------------- repeat


def _repeat(batch: torch.Tensor, times: int) -> torch.Tensor:
    return torch.cat([batch] * times, dim=0)


@executor("VHS_DuplicateImages")
def duplicate_images(ctx: ExecContext, images: Any, multiply_by: Any, **_: Any) -> tuple:
    out = _repeat(_images(images), _count(multiply_by, "multiply_by", 1))
    return out, int(out.shape[0])


@executor("VHS_DuplicateMasks")
def duplicate_masks(ctx: ExecContext, mask: Any, multiply_by: Any, **_: Any) -> tuple:
    out = _repeat(_mask(mask, "mask"), _count(multiply_by, "multiply_by", 1))
    return out, int(out.shape[0])


@executor("VHS_DuplicateLatents")
def duplicate_latents(ctx: ExecContext, latents: Any, multiply_by: Any, **_: Any) -> tuple:
    latents = dict(_latent(latents, "latents"))
    times = _count(multiply_by, "multiply_by", 1)
    for key in _batch_keys(latents):
        latents[key] = _repeat(latents[key], times)
    return latents, int(latents["samples"].shape[0])


# --------------------------------------------------------------------------- select by indexes


def _index_int(text: str, indexes: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise NodeInputError("indexes", f"indexes {indexes!r}: {text!r} is not a whole number"[:300],
                             "write whole numbers and start:end:step ranges, separated by commas") from None


def parse_indexes(indexes: Any, count: int, err_if_missing: bool) -> list[int]:
    """The positions VHS's select nodes read from ``indexes`` for a batch of ``count``
    (see the module's notes; indexes may still be outside the batch when
    ``err_if_missing`` is off, as the pack hands them to torch)."""
    if not isinstance(indexes, str):
        raise NodeInputError("indexes", f"indexes: expected text, found {type(indexes).__name__}")
    if not indexes:
        return []
    chosen: list[int] = []
    for group in (g.strip() for g in indexes.split(",")):
        if ":" in group:
            parts = [p.strip() for p in group.split(":", 2)]
            start = _index_int(parts[0], indexes) if parts[0] else 0
            end = _index_int(parts[1], indexes) if parts[1] else count
            step = _index_int(parts[2], indexes) if len(parts) > 2 and parts[2] else 1
            if step == 0:
                raise NodeInputError("indexes", f"indexes {indexes!r}: the range {group!r} has a step of 0"[:300])
            if count > 0:
                chosen.extend(list(range(count))[start:end][::step])
            else:
                chosen.extend(range(start, end, step))
            continue
        i = _index_int(group, indexes)
        if count > 0 and i >= count and err_if_missing:
            raise NodeInputError("indexes", f"indexes {indexes!r}: index {i} is past the {count} item(s)"[:300],
                                 "use an index below the count, or turn err_if_missing off to allow it")
        if i < 0:
            if count == 0:
                raise NodeInputError("indexes", f"indexes {indexes!r}: negative index {i} of an empty batch"[:300])
            if count + i < 0 and err_if_missing:
                raise NodeInputError("indexes", f"indexes {indexes!r}: index {i} is before the first of "
                                     f"{count} item(s)"[:300], "use an index from -count to count - 1")
            i += count
        chosen.append(i)
    return chosen


def _select(batch: torch.Tensor, positions: list[int], indexes: str) -> torch.Tensor:
    n = int(batch.shape[0])
    bad = [i for i in positions if not -n <= i < n]
    if bad:
        raise NodeInputError("indexes", f"indexes {indexes!r}: position {bad[0]} is outside the {n} item(s) "
                             "(VHS fails here even with err_if_missing off)"[:300],
                             "select indexes inside the batch")
    return batch[torch.tensor(positions, dtype=torch.long)] if positions else batch[:0]


def select_from(batch: torch.Tensor, indexes: Any, err_if_missing: Any, err_if_empty: Any) -> torch.Tensor:
    positions = _positions(len(batch), indexes, err_if_missing, err_if_empty)
    return _select(batch, positions, indexes)


def _positions(count: int, indexes: Any, err_if_missing: Any, err_if_empty: Any) -> list[int]:
    missing = _flag(err_if_missing, "err_if_missing")
    empty = _flag(err_if_empty, "err_if_empty")
    positions = parse_indexes(indexes, count, missing)
    if empty and not positions:
        raise NodeInputError("indexes", f"indexes {indexes!r} select nothing of {count} item(s)"[:300],
                             "select at least one index, or turn err_if_empty off")
    return positions


@executor("VHS_SelectImages")
def select_images(ctx: ExecContext, image: Any, indexes: Any, err_if_missing: Any, err_if_empty: Any,
                  **_: Any) -> tuple:
    return (select_from(_images(image, "image"), indexes, err_if_missing, err_if_empty),)


@executor("VHS_SelectMasks")
def select_masks(ctx: ExecContext, mask: Any, indexes: Any, err_if_missing: Any, err_if_empty: Any,
                 **_: Any) -> tuple:
    return (select_from(_mask(mask, "mask"), indexes, err_if_missing, err_if_empty),)


@executor("VHS_SelectLatents")
def select_latents(ctx: ExecContext, latent: Any, indexes: Any, err_if_missing: Any, err_if_empty: Any,
                   **_: Any) -> tuple:
    latent = dict(_latent(latent, "latent"))
    positions = _positions(len(latent["samples"]), indexes, err_if_missing, err_if_empty)
    for key in _batch_keys(latent):
        latent[key] = _select(latent[key], positions, indexes)
    return (latent,)


# --------------------------------------------------------------------------- unbatch


@executor("VHS_Unbatch")
def unbatch(ctx: ExecContext, batched: Any, **_: Any) -> tuple:
    if not isinstance(batched, list):  # the engine hands a list node lists only
        raise NodeInputError("batched", f"batched: expected the engine's list of values, found {_found(batched)}")
    items = batched
    if not items:
        raise NodeInputError("batched", "batched: the list is empty", "connect a node that gives values")
    first = items[0]
    try:
        if isinstance(first, torch.Tensor):
            return (torch.cat(items),)
        if isinstance(first, dict):
            out = dict(first)
            for key in ("samples", "waveform"):
                if key in out:
                    out[key] = torch.cat([item[key] for item in items])
            out.pop("batch_index", None)
            return (out,)
        return (functools.reduce(lambda x, y: x + y, items),)
    except (TypeError, RuntimeError, KeyError) as err:
        raise NodeInputError("batched", f"batched: the items cannot be joined ({err})"[:300],
                             "join values of one kind and matching shapes") from None


# --------------------------------------------------------------------------- batched VAE


def _core(class_type: str) -> Any:
    """ComfyUI's own VAE node, through the registry (packs do not import each other)."""
    return builtin_executor(class_type, "vae")


@executor("VHS_VAEDecodeBatched", oom_hint="lower per_batch, or use VAEDecodeTiled")
def vae_decode_batched(ctx: ExecContext, samples: Any, vae: Any, per_batch: Any, **_: Any) -> tuple:
    latents = _latent(samples, "samples")["samples"]
    step = _count(per_batch, "per_batch", 1)
    if latents.shape[0] == 0:
        raise NodeInputError("samples", "samples: the LATENT holds no entries")
    decode = _core("VAEDecode")
    frames = [decode(ctx, samples={"samples": latents[i:i + step]}, vae=vae)[0]
              for i in range(0, latents.shape[0], step)]
    return (torch.cat(frames, dim=0),)


@executor("VHS_VAEEncodeBatched", oom_hint="lower per_batch")
def vae_encode_batched(ctx: ExecContext, pixels: Any, vae: Any, per_batch: Any, **_: Any) -> tuple:
    pixels = _images(pixels, "pixels")
    step = _count(per_batch, "per_batch", 1)
    if pixels.shape[0] == 0:
        raise NodeInputError("pixels", "pixels: the IMAGE holds no frames")
    encode = _core("VAEEncode")
    chunks = [encode(ctx, pixels=pixels[i:i + step], vae=vae)[0]["samples"] for i in range(0, pixels.shape[0], step)]
    lengths = sorted({int(c.shape[2]) for c in chunks})
    if len(lengths) > 1:
        raise NodeInputError("per_batch", f"per_batch {step}: {pixels.shape[0]} frames make chunks of "
                             f"{', '.join(map(str, lengths))} latent frames, which cannot be joined in one batch "
                             "(VHS fails here too)",
                             f"use a per_batch of at least {pixels.shape[0]}, or one whose chunks all make "
                             f"{lengths[-1]} latent frames")
    return ({"samples": torch.cat(chunks, dim=0)},)
