"""princepainter's Wan packs: ComfyUI-PainterI2VforKJ (the wrapper's image-to-video encode
with more motion in the conditioning latents, :mod:`.nodes`), ComfyUI-PainterI2V (the
same motion step on ComfyUI's WanImageToVideo, :mod:`.core_node`),
ComfyUI-PainterI2Vadvanced (that node with a colour guard and an unmoved pair of
conditionings for Wan 2.2's low-noise model, :mod:`.advanced`) and Comfyui-PainterFLF2V
(ComfyUI's WanFirstLastFrameToVideo with a high-frequency motion boost, :mod:`.flf2v`) and
ComfyUI-PainterLongVideo (the next chunk of a long video from the previous one's last
frames, :mod:`.long_video`)."""
