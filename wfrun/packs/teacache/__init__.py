"""ComfyUI-TeaCache (welltop-cn/ComfyUI-TeaCache, registry id ``teacache``): a step cache
for ComfyUI's own models; wfrun runs its Wan 2.1 entries."""
