"""ComfyUI-WanMoEScheduler (cmeka/ComfyUI-WanMoEScheduler): the shift that puts Wan 2.2's
expert boundary exactly after a chosen number of high-noise steps."""
