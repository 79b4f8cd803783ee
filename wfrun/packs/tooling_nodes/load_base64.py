"""``ETN_LoadImageBase64`` (``nodes.py``): an image sent inline as base64 text.

As the pack (since 2025-03-01, 93e1932) decodes it: ``base64.b64decode`` of the text (not
validated: characters outside the alphabet are dropped), Pillow opens the bytes, the first
frame converted to RGB is the IMAGE [1, H, W, 3], and the alpha channel (where the picture
has an ``A`` band) is the MASK [H, W], *not* inverted; a picture without alpha gives no mask
(``None``), as the pack returns. No EXIF rotation.

The pack calls ``_strip_prefix(image, "data:image/png;base64,")`` but drops its result, so a
``data:`` URL is decoded with its header and fails to open; wfrun refuses it up front with
that reason. Older versions of the pack (until 2025-03-01) inverted the mask and gave a 64x64
zero mask without alpha; a file does not record which version it ran, so the current
behaviour is the one run.

The text is untrusted: at most :data:`MAX_BASE64_CHARS` characters (the limit Easy-Use's
base64 loader has in wfrun), and the picture within Pillow's decompression-bomb limit.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.media.image import MAX_BASE64_CHARS


def decode_image(text: Any, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The pack's decode of ``text``: IMAGE [1, H, W, 3] and the alpha MASK [H, W] or None."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(text, str):
        raise NodeInputError(name, f"{name}: expected base64 text, found {type(text).__name__}")
    if len(text) > MAX_BASE64_CHARS:
        raise NodeInputError(name, f"{name} is {len(text):,} characters, over wfrun's limit of "
                             f"{MAX_BASE64_CHARS:,}", "load a large image from a file with LoadImage")
    if not text.strip():
        raise NodeInputError(name, f"{name} is empty: this node expects the base64 text of an image, "
                             "which the tool that sends the workflow fills in",
                             f"set '{name}' to an image encoded as base64 (e.g. with --set)")
    if text.lstrip().startswith("data:"):
        raise NodeInputError(name, f"{name} starts with a data: URL header, which the pack leaves in and "
                             "cannot decode", "remove the text up to and including the comma")
    try:
        raw = base64.b64decode(text)
    except (binascii.Error, ValueError) as err:
        raise NodeInputError(name, f"{name} is not valid base64 ({err})") from None
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            alpha = np.asarray(img.getchannel("A")) if "A" in img.getbands() else None
            rgb = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise NodeInputError(name, f"{name} does not hold an image that can be read ({err})",
                             "give a PNG, JPEG or WebP file encoded as base64") from None
    image = torch.from_numpy(rgb.astype(np.float32) / 255.0)[None]
    mask = None if alpha is None else torch.from_numpy(alpha.astype(np.float32) / 255.0)
    return image, mask


def _inline_image(inputs: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """For ``--smoke``: the ``image`` input is an inline picture (a stand-in when unreadable)."""
    return {"image": (inputs.get("image"), "image_base64")}


@executor("ETN_LoadImageBase64", input_files=_inline_image)
def load_image_base64(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    return decode_image(image, "image")
