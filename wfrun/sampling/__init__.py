"""The sampling core of the WanVideoWrapper pack, on diffusers' ``WanTransformer3DModel``.

- :mod:`.schedulers`: every ``scheduler`` option WanVideoSampler offered, with the pack's
  sigmas/timesteps and step functions;
- :mod:`.forward`: a block-by-block transformer forward with TeaCache, SLG,
  Enhance-A-Video, RIFLEx, I2V/Fun conditioning and multiple prompts over the video;
- :mod:`.context`: context-window schedules and fuse masks;
- :mod:`.guidance`: CFG, CFG-Zero*, FreSca, batched CFG and Phantom's guidance as small
  objects any sampler loop can use;
- :mod:`.hooks`: per-forward features (SLG, TeaCache state, block probes, the control
  LoRA's switch) as diffusers hooks attached to the transformer for one sampling pass;
- :mod:`.loop`: the denoising loop of WanVideoSampler, in phases (prepare, step, finish).
"""
