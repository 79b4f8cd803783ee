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

The text is untrusted: at most :data:`wfrun.media.image.MAX_BASE64_CHARS` characters (the limit Easy-Use's
base64 loader has in wfrun), and the picture within Pillow's decompression-bomb limit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.media.image import BadBase64Image, open_base64_image


def decode_image(text: Any, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The pack's decode of ``text``: IMAGE [1, H, W, 3] and the alpha MASK [H, W] or None."""
    try:
        img = open_base64_image(text, name)
    except BadBase64Image as err:
        raise NodeInputError(name, str(err), err.hint) from None
    with img:
        alpha = np.asarray(img.getchannel("A")) if "A" in img.getbands() else None
        rgb = np.asarray(img.convert("RGB"))
    image = torch.from_numpy(rgb.astype(np.float32) / 255.0)[None]
    mask = None if alpha is None else torch.from_numpy(alpha.astype(np.float32) / 255.0)
    return image, mask


def _inline_image(inputs: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """For ``--smoke``: the ``image`` input is an inline picture (a stand-in when unreadable)."""
    return {"image": (inputs.get("image"), "image_base64")}


@executor("ETN_LoadImageBase64", input_files=_inline_image)
def load_image_base64(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    return decode_image(image, "image")
