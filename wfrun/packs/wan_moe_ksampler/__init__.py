"""ComfyUI-WanMoeKSampler (stduhpf/ComfyUI-WanMoeKSampler): KSamplers for Wan 2.2's two
experts that hand over from the high-noise to the low-noise model at a boundary timestep."""
