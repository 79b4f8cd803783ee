"""ComfyUI-WanVideoStartEndFrames (raindrop313, 2025-03): start- and end-frame
image-to-video on a fork of Kijai's WanVideoWrapper, whose nodes carry a ``_2frames``
suffix. Loaders and the sampler are the wrapper's (called through the executor registry:
packs never import each other); the fork's own conditioning and decode live here."""

from wfrun.packs.wan_start_end_frames import decode, encode, loaders, sampler  # noqa: F401
