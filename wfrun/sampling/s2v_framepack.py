"""The wrapper's S2V framepack loop (WanVideoAddS2VEmbeds with ``enable_framepack``;
``nodes.py`` 2025-08-28, ``nodes_sampler.py`` later): a long talking video made window by
window, each conditioned on the frames before it through the model's frame packer.

With ``frame_window_size`` W video frames a window (:func:`~.s2v_wrapper.framepack_plan`):
``W - 7`` motion frames (73 for 80) and their ``(W - 4) // 4`` latents; each window samples
``(2W - 4) // 4 - motion latents`` latent frames (20 for 80); there are as many windows as
the audio bucket holds (``N // W``). The pack's choices this reproduces:

- one noise draw ``[16, latents, H/8, W/8]`` from the sampler's generator (after its first
  draw of the embeds' shape), used as the start of *every* window;
- the motion frames start as zeros (mid grey in the VAE's -1..1), are encoded by the embeds'
  VAE before each window, and after it become the last motion frames of the frames so far;
- each window rebuilds the schedule and runs every step with step 0's cfg and step index
  (the loop sits inside the sampler's step 0), so pose and SLG windows read step 0;
- the model call (:func:`~.s2v_wrapper.framepack_inputs`): the window's audio behind its
  first step repeated once per motion frame, the motion frames' latent count of encoded
  audio frames dropped; the motion latents through the frame packer; the reference; the
  window's pose latents padded with -1; the uncond call with silent audio;
- each window's latents are decoded behind the motion latents and the last W frames kept
  (the first window also drops its first 3); the windows' frames in order are the result, the
  pack's LATENT with ``video`` ``[N, H, W, 3]`` in -1..1 (WanVideoDecode maps it to 0..1).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from wfrun.sampling import loop
from wfrun.sampling.hooks import sampling_pass
from wfrun.sampling.s2v_wrapper import framepack_inputs, framepack_plan

#: Frames the first window drops from the front of its decoded frames.
FIRST_WINDOW_DROP = 3


def sample_framepack(req: loop.SamplingRequest, encode: Callable[[torch.Tensor], torch.Tensor],
                     decode: Callable[[torch.Tensor], torch.Tensor]) -> dict:
    """The loop (module docs); ``encode`` video ``[3, T, H, W]`` in -1..1 → normalised latents,
    ``decode`` the reverse."""
    p = loop.prepare(req)
    s2v = req.image_embeds.s2v
    plan = framepack_plan(int(s2v.frame_window_size), int(s2v.audio.shape[-1]))
    _c, _t, lat_h, lat_w = p.latent.shape
    device = torch.device(req.device)
    noise = torch.randn(16, plan.latents, lat_h, lat_w, dtype=torch.float32, generator=p.generator,
                        device=torch.device("cpu"))
    frames_so_far = torch.zeros(3, plan.motion_frames, lat_h * 8, lat_w * 8)
    out: list[torch.Tensor] = []
    cfg = p.cfg[0]
    state: list[Any] = [None, None, None]
    bar = req.progress.steps(plan.repeats * len(p.timesteps), "WanVideoSampler (S2V framepack)") \
        if req.progress is not None else None
    try:
        with sampling_pass(req.transformer, slg=req.options.slg, on_block=req.on_block, attention=req.attention):
            for r in range(plan.repeats):
                motion = encode(frames_so_far).float()[None]
                inputs = framepack_inputs(s2v, plan, r, motion, 0, 0.0, device, req.dtype)
                _steps, _cfg, schedule, _ = loop._steps_and_cfg(req)
                latent = noise.to(device)
                for t in schedule.timesteps:
                    req.check_interrupt()
                    v = loop.predict(p, latent, cfg, p.text.positive, torch.tensor([float(t)]), 0, None, None, state,
                                     False, s2v_call=inputs)
                    latent = schedule.stepper.step(v.unsqueeze(0).to(device), t.reshape(1).to(device),
                                                   latent.unsqueeze(0), generator=p.generator).squeeze(0).float()
                    if bar is not None:
                        bar.update(1)
                video = decode(torch.cat([motion[0].to(latent), latent], dim=1)).float().cpu()[:, -plan.window:]
                if r == 0:
                    video = video[:, FIRST_WINDOW_DROP:]
                out.append(video)
                overlap = min(plan.motion_frames, video.shape[1])
                frames_so_far = torch.cat([frames_so_far[:, overlap:], video[:, -overlap:]], dim=1)
    finally:
        if bar is not None:
            bar.close()
    return {"video": torch.cat(out, dim=1).permute(1, 2, 3, 0).contiguous()}
