"""The output size of ComfyUI-Upscaler-Tensorrt's ``UpscalerTensorrt`` (its
``get_final_resolutions``), a pure function kept apart so it is tested on its own."""

from __future__ import annotations

#: The side range of the engines the pack builds (its optimisation profile): it refuses
#: images outside it before running anything.
MIN_SIDE, MAX_SIDE = 256, 1280
#: The pack's engines are built for 4x networks: it allocates a 4x output whatever the model.
SCALE = 4
#: Fixed targets, landscape (width, height); turned upright for a portrait input.
FIXED = {"HD": (1280, 720), "FHD": (1920, 1080), "2k": (2560, 1440), "4k": (3840, 2160)}


def final_size(width: int, height: int, resize_to: str, resize_width: int, resize_height: int) -> tuple[int, int]:
    """(width, height) of the output for an input of ``width`` x ``height``.

    - ``custom``: the two size widgets as they are (no aspect handling);
    - ``none``: the network's 4x size;
    - ``HD``/``FHD``/``2k``/``4k``: that landscape size, swapped for a portrait input;
    - ``<f>x``: the input size times ``f`` (so ``4x`` is the network's own size);
    - a square input takes the height for the width too (``HD`` of a square: 720x720);
    - fractions are cut off (``1.5x`` of 333: 499), as the pack's ``int()`` does.

    Raises ``ValueError`` for a choice the pack does not offer."""
    if resize_to == "custom":
        return int(resize_width), int(resize_height)
    if resize_to in FIXED:
        final_w, final_h = FIXED[resize_to]
    elif resize_to == "none":
        final_w, final_h = width * SCALE, height * SCALE
    else:
        factor = float(resize_to.removesuffix("x")) if resize_to.endswith("x") else None
        if factor is None or factor <= 0:
            raise ValueError(f"unknown resize_to {resize_to!r}")
        final_w, final_h = width * factor, height * factor
    if width == height:
        final_w = final_h
    elif width < height and resize_to in FIXED:
        final_w, final_h = final_h, final_w
    return int(final_w), int(final_h)
