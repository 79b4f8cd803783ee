"""KJNodes' colour strings: ``"255, 0, 0"``, ``"1.0, 0.5, 0"``, ``"#ff8800"``, ``"#ff880080"``,
``"red"``, a single grey value; anything unreadable is black, values clipped to 0..255."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def string_to_color(text: str) -> list[int]:
    color = [0, 0, 0]
    text = str(text)
    stripped = text.lstrip("#")
    if "," in text:
        try:
            values = [float(part.strip()) for part in text.split(",")]
            color = [int(v * 255) for v in values] if all(0 <= v <= 1 for v in values) else [int(v) for v in values]
        except ValueError:
            log.warning("invalid colour %r; using black", text)
    elif text.startswith("#") or (stripped.isalnum() and not stripped.replace(".", "", 1).isdigit()):
        if len(stripped) in (6, 8) and all(c in "0123456789abcdefABCDEF" for c in stripped):
            color = [int(stripped[i:i + 2], 16) for i in range(0, len(stripped), 2)]
        else:
            from PIL import ImageColor

            try:
                color = list(ImageColor.getrgb(text))
            except ValueError:
                log.warning("invalid colour name or hex %r; using black", text)
    else:
        try:
            value = float(text.strip())
            value = int(value * 255) if 0 <= value <= 1 else int(value)
            color = [value, value, value]
        except ValueError:
            log.warning("invalid colour %r; using black", text)
    return [min(255, max(0, int(c))) for c in color]
