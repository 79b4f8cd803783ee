"""ComfyUI-PainterI2VforKJ (princepainter/ComfyUI-PainterI2VforKJ): the wrapper's
image-to-video encode with more motion in the conditioning latents."""
