"""princepainter's two packs: ComfyUI-PainterI2VforKJ (the wrapper's image-to-video encode
with more motion in the conditioning latents, :mod:`.nodes`) and ComfyUI-PainterI2V (the
same motion step on ComfyUI's WanImageToVideo, :mod:`.core_node`)."""
