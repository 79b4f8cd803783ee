"""AddLabel: a strip of text added above/below/beside each image, or drawn over it.

Faithful to KJNodes' ``AddLabel.addlabel`` (word wrap to ``width - 2*text_x``, one line per
``font_size`` pixels, ``height`` -1 sizing the strip to the text, left/right rotating the
strip as the pack does), except for the font file:

* The pack ships ``FreeMono.ttf``, ``FreeMonoBoldOblique.otf`` and ``TTNorms-Black.otf`` in its
  ``fonts`` folder; wfrun does not bundle them. The named font is looked up in a
  ``kjnodes_fonts`` folder of the models roots (``<models>/kjnodes_fonts/FreeMono.ttf``, or an
  ``extra_model_paths.yaml`` entry); when it is not there, Pillow's own scalable default font
  (``ImageFont.load_default(size=...)``, Pillow >= 10.1) is used at the same size, so labels
  have the same layout but a different typeface.
* A single ``caption`` string labels every image (the pack expects one caption per image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.media.image import MediaPathError, resolve_inside
from wfrun.packs.kjnodes.colors import string_to_color


def find_font(ctx: ExecContext, name: str) -> Path | None:
    """The font file ``name`` in a ``kjnodes_fonts`` folder of the models roots, if any."""
    roots = ctx.models
    folders = roots.folders("kjnodes_fonts") if roots is not None and hasattr(roots, "folders") else []
    for folder in folders:
        try:
            path = resolve_inside(folder, name, "font")
        except MediaPathError:
            continue
        if path.is_file():
            return path
    return None


def load_font(ctx: ExecContext, name: str, size: int) -> Any:
    from PIL import ImageFont

    path = find_font(ctx, str(name)) if name else None
    if path is not None:
        try:
            return ImageFont.truetype(str(path), size)
        except OSError as err:
            raise NodeInputError("font", f"cannot read font {path}: {err}") from None
    return ImageFont.load_default(size=size)


def wrap_lines(text: str, font: Any, max_width: int) -> list[str]:
    lines: list[str] = []
    for text_line in text.split("\n"):
        if text_line.strip() == "":
            lines.append("")
            continue
        current: list[str] = []
        for word in text_line.split():
            candidate = " ".join(current + [word])
            if font.getbbox(candidate)[2] <= max_width:
                current.append(word)
            else:
                lines.append(" ".join(current))
                current = [word]
        if current:
            lines.append(" ".join(current))
    return lines


@executor("AddLabel")
def add_label(ctx: ExecContext, image: torch.Tensor, text_x: int, text_y: int, height: int, font_size: int,
              font_color: str, label_color: str, text: str, direction: str, font: str = "",
              font_path: str = "", caption: Any = "", **_: Any) -> tuple:
    from PIL import Image, ImageDraw

    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, channels]")
    if font_size < 1:
        raise NodeInputError("font_size", f"font_size is {font_size}", "use 1 or more")
    batch, width, channels = image.shape[0], image.shape[2], image.shape[3]
    mode = "RGBA" if channels == 4 else "RGB"
    fg, bg = string_to_color(font_color), string_to_color(label_color)
    fg_t, bg_t = tuple(fg[:3]), tuple(bg[:3])
    if mode == "RGBA":
        fg_t += (fg[3] if len(fg) > 3 else 255,)
        bg_t += (bg[3] if len(bg) > 3 else 255,)
    name = font or Path(str(font_path).replace("\\", "/")).name
    pil_font = load_font(ctx, name, font_size)

    def render(frame: torch.Tensor, label: str) -> torch.Tensor:
        lines = wrap_lines(label, pil_font, width - 2 * text_x)
        if direction == "overlay":
            canvas = Image.fromarray((frame.cpu().numpy() * 255).astype(np.uint8))
        else:
            strip_h = (text_y + len(lines) * font_size) + 8 if height == -1 else height
            canvas = Image.new(mode, (width, strip_h), bg_t)
        draw = ImageDraw.Draw(canvas)
        y = text_y
        for line in lines:
            try:
                draw.text((text_x, y), line, font=pil_font, fill=fg_t, features=["-liga"])
            except Exception:  # no libraqm: draw without the ligature switch, as the pack does
                draw.text((text_x, y), line, font=pil_font, fill=fg_t)
            y += font_size
        return torch.from_numpy(np.array(canvas).astype(np.float32) / 255.0).unsqueeze(0)

    if caption is None or caption == "" or caption == []:
        labels = [text] * batch
    elif isinstance(caption, str):
        labels = [caption] * batch
    else:
        labels = [str(c) for c in caption]
        if len(labels) != batch:
            raise NodeInputError("caption", f"{len(labels)} captions for {batch} images",
                                 "give one caption per image, or a single caption")
    strips = torch.cat([render(frame, label) for frame, label in zip(image, labels)], dim=0)
    image = image.cpu().float()
    if direction == "down":
        return (torch.cat((image, strips), dim=1),)
    if direction == "up":
        return (torch.cat((strips, image), dim=1),)
    if direction in ("left", "right"):
        strips = torch.rot90(strips, 3, (2, 3)).permute(0, 3, 1, 2)
        try:
            joined = torch.cat((strips, image) if direction == "left" else (image, strips), dim=2)
        except RuntimeError as err:
            raise NodeInputError("direction", f"cannot join the label {direction} of the image: {err}",
                                 "the pack's left/right labels only fit square images; use up or down") from None
        return (joined,)
    return (strips,)
