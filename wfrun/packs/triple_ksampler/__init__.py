"""ComfyUI-TripleKSampler (VraethrDalkr/ComfyUI-TripleKSampler): Wan 2.2 sampling in three
stages (a base high-noise model, then Lightning high- and low-noise models) over aligned
schedules: its KSampler nodes (``ksampler``, ``legacy``: TripleKSamplerWan22Lightning*,
SimpleTripleKSamplerWan22Lightning, SwitchStrategy*) and its WanVideoWrapper nodes
(``wv_sampler``: TripleWVSampler*)."""
