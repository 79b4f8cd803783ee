"""Executors of gregtee2's ComfyUI_VideoChunkTools (MIT): long videos made of chunks that
overlap by one frame, each conditioned on the previous chunk's last frame.

``plan.py`` holds the pack's frame arithmetic, ``frames.py`` its IMAGE/LATENT utilities,
``text_chain.py`` ChainTextEmbeds and ``chunked_sampler.py`` WanChunkedI2VSampler, which
runs the wrapper's encode, sample and decode executors through the executor registry
(packs never import each other; the pack itself looks the wrapper's classes up in ComfyUI's
registry the same way).
"""

from . import chunked_sampler, frames, text_chain  # noqa: F401
