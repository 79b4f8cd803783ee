"""The sampling core of the WanVideoWrapper pack, on diffusers' ``WanTransformer3DModel``.

- :mod:`.schedulers`: every ``scheduler`` option WanVideoSampler offered, with the pack's
  sigmas/timesteps and step functions;
- :mod:`.forward`: a block-by-block transformer forward with TeaCache, SLG,
  Enhance-A-Video, RIFLEx, I2V/Fun conditioning and multiple prompts over the video;
- :mod:`.context`: context-window schedules and fuse masks;
- :mod:`.loop`: the denoising loop of WanVideoSampler.
"""
