"""WanVideoDiffusionForcingSampler (wfrun.sampling.diffusion_forcing, packs/wanvideo/diffusion_forcing.py).

The reference for the model call is diffusers' own ``SkyReelsV2Transformer3DModel`` (its
diffusion-forcing forward: a ``[B, frames]`` timestep and the fps embedding), holding the
same tiny weights as the Wan transformer wfrun loads; the step is worked out by hand
(Euler, one step: ``x - v``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from run_helpers import CORPUS_WAN
from wfrun.cli import main
from wfrun.models.load import load_transformer
from wfrun.models.tiny import TinySpec, write_file
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.diffusion_forcing import wanvideo_diffusion_forcing_sampler
from wfrun.packs.wanvideo.types import WanVideoModel
from wfrun.sampling.conditioning import ImageEmbeds, TextEmbeds
from wfrun.sampling.diffusion_forcing import (DiffusionForcingRequest, fps_index, frame_scheduler_name, sample,
                                              sample_info)
from wfrun.sampling.loop import SamplingError, SamplingRequest

DF_EXAMPLE = CORPUS_WAN / "2025-06-13_ad43eed_wanvideo_skyreels_diffusion_forcing_extension_example_01.json"


@pytest.fixture(scope="module")
def df_model(tmp_path_factory):
    spec = TinySpec("diffusion_models", "Wan2_1-SkyReels-V2-DF-1_3B-540P_tiny_fp32.safetensors", "wan_transformer",
                    "t2v-fps", "original", "fp32")
    path = write_file(spec, tmp_path_factory.mktemp("df"))
    return path, load_transformer(path, dtype=torch.float32).eval()


def skyreels_reference(model):
    """diffusers' SkyReels-V2 transformer with the same weights (its fps MLP is a FeedForward)."""
    from diffusers import SkyReelsV2Transformer3DModel

    c = model.config
    ref = SkyReelsV2Transformer3DModel(
        patch_size=tuple(c.patch_size), num_attention_heads=c.num_attention_heads,
        attention_head_dim=c.attention_head_dim, in_channels=c.in_channels, out_channels=c.out_channels,
        text_dim=c.text_dim, freq_dim=c.freq_dim, ffn_dim=c.ffn_dim, num_layers=c.num_layers,
        cross_attn_norm=c.cross_attn_norm, qk_norm=c.qk_norm, eps=c.eps, inject_sample_info=True).eval()
    names = {"fps_projection.0.": "fps_projection.net.0.proj.", "fps_projection.2.": "fps_projection.net.2."}
    state = {}
    for key, value in model.state_dict().items():
        for old, new in names.items():
            if key.startswith(old):
                key = new + key[len(old):]
        state[key] = value
    ref.load_state_dict(state, strict=True)
    return ref


def _request(model, text, frames, **kw) -> SamplingRequest:
    emb = ImageEmbeds(num_frames=(frames - 1) * 4 + 1, target_shape=(16, frames, 4, 6))
    return SamplingRequest(transformer=model, image_embeds=emb, text_embeds=text, steps=kw.pop("steps", 1),
                           cfg=1.0, shift=5.0, seed=kw.pop("seed", 7), scheduler=kw.pop("scheduler", "euler"), **kw)


def _text(model, tokens=5):
    g = torch.Generator().manual_seed(3)
    return TextEmbeds(prompt_embeds=(torch.randn(tokens, model.config.text_dim, generator=g),),
                      negative_prompt_embeds=(torch.randn(tokens, model.config.text_dim, generator=g),))


def test_first_step_is_one_diffusion_forcing_forward_with_per_frame_timesteps(df_model):
    """Prefix frames enter noised at ``addnoise_condition`` with that timestep, new frames at
    t = 1000, the fps (24: id 1) embedding added; one Euler step from sigma 1 to 0 is ``x - v``
    on the new frames, and the prefix comes out as given."""
    _, model = df_model
    text = _text(model)
    frames, n, seed, level = 4, 2, 7, 50
    prefix = torch.randn(16, n, 4, 6, generator=torch.Generator().manual_seed(11))
    out = sample(DiffusionForcingRequest(base=_request(model, text, frames, seed=seed), prefix=prefix,
                                         addnoise_condition=level, fps_id=fps_index(24.0)))["samples"][0]

    # by hand: the pack's noise draw, the prefix in front, the noised copy the model sees
    latent = torch.randn(16, frames, 4, 6, generator=torch.Generator().manual_seed(seed))
    latent[:, :n] = prefix
    seen = latent.clone()
    fresh = torch.randn(16, n, 4, 6, generator=torch.Generator().manual_seed(seed + 1))
    seen[:, :n] = prefix * (1 - level / 1000) + fresh * (level / 1000)
    timestep = torch.tensor([[level] * n + [1000] * (frames - n)])
    context = torch.cat([text.prompt_embeds[0], torch.zeros(512 - 5, model.config.text_dim)])[None]
    with torch.no_grad():
        v = skyreels_reference(model)(seen[None], timestep, context, enable_diffusion_forcing=True, fps=[1],
                                      return_dict=False)[0][0]
    assert torch.equal(out[:, :n], prefix)
    torch.testing.assert_close(out[:, n:], latent[:, n:] - v[:, n:], rtol=1e-4, atol=1e-5)


def test_the_fps_embedding_changes_the_prediction_and_16_fps_is_its_first_vector(df_model):
    _, model = df_model
    assert (fps_index(16.0), fps_index(16.001), fps_index(24.0), fps_index(15.99)) == (0, 0, 1, 1)
    x = torch.randn(1, 16, 2, 4, 6, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([500.0])
    ctx = torch.randn(1, 512, model.config.text_dim, generator=torch.Generator().manual_seed(1))
    ref = skyreels_reference(model)
    with torch.no_grad():
        plain = model(x, t, ctx, return_dict=False)[0]
        for fps_id in (0, 1):
            with sample_info(model, fps_id):
                ours = model(x, t, ctx, return_dict=False)[0]
            theirs = ref(x, t, ctx, fps=[fps_id], return_dict=False)[0]
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
            assert not torch.allclose(ours, plain)
        assert torch.equal(model(x, t, ctx, return_dict=False)[0], plain)  # the hook is gone afterwards


def test_synchronous_run_steps_each_new_frame_once_per_step_and_keeps_the_prefix(df_model):
    """Three steps of UniPC: three model calls (one per row); the prefix frame is untouched."""
    _, model = df_model
    calls = []
    base = _request(model, _text(model), 3, steps=3, scheduler="unipc", on_block=lambda i: calls.append(i))
    prefix = torch.randn(16, 1, 4, 6, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = sample(DiffusionForcingRequest(base=base, prefix=prefix, addnoise_condition=0, fps_id=1))["samples"][0]
    assert len(calls) == 3 * model.config.num_layers
    assert torch.equal(out[:, :1], prefix)
    assert torch.isfinite(out).all()


def test_euler_beta_frames_step_on_plain_euler_sigmas():
    """The pack builds the per-frame schedulers of euler/beta without the beta schedule."""
    assert frame_scheduler_name("euler/beta") == "euler"
    assert frame_scheduler_name("lcm/beta") == "lcm" + "/beta"
    assert frame_scheduler_name("unipc/beta") == "unipc/beta"


def test_a_prefix_as_long_as_the_video_is_refused(df_model):
    _, model = df_model
    with pytest.raises(SamplingError, match="nothing is left") as err:
        sample(DiffusionForcingRequest(base=_request(model, _text(model), 2), prefix=torch.zeros(16, 2, 4, 6)))
    assert err.value.input_name == "prefix_samples"
    with pytest.raises(SamplingError, match="do not fit"):
        sample(DiffusionForcingRequest(base=_request(model, _text(model), 3), prefix=torch.zeros(16, 1, 8, 6)))


def test_the_node_refuses_denoise_below_one_before_sampling(df_model):
    path, model = df_model
    wan = WanVideoModel(transformer=model, model_type="t2v", path=Path(path), base_dtype=torch.float32)
    emb = ImageEmbeds(num_frames=9, target_shape=(16, 3, 4, 6))
    with pytest.raises(NodeInputError) as err:
        wanvideo_diffusion_forcing_sampler(ExecContext(), wan, _text(model), emb, addnoise_condition=10, fps=24.0,
                                           steps=2, cfg=1.0, shift=5.0, seed=0, force_offload=False,
                                           scheduler="unipc", denoise_strength=0.5, rope_function="comfy")
    assert err.value.input_name == "denoise_strength"


def test_smoke_leaves_the_continued_video_longer_than_its_prefix(tmp_path):
    """--smoke caps frame counts at 9, but the embeds sizing a continued video at 17, so the
    capped 9-frame overlap still leaves new frames."""
    result = CliRunner().invoke(main, ["run", str(DF_EXAMPLE), "--smoke", "--dry-run", "-o", str(tmp_path / "o"),
                                       "--format", "json"], env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    changes = "\n".join(json.loads(result.stdout)["overrides"])
    for node, was in (("82", 53), ("124", 97), ("152", 97)):
        assert f"node {node} 'WanVideo Empty Embeds': num_frames = 17 (--smoke, was {was})" in changes
    assert "node 127 'INT Constant': value = 9 (--smoke, was 17" in changes


def test_without_a_prefix_euler_diffusion_forcing_is_the_plain_sampler(df_model):
    """No prefix, no fps: every frame shares each timestep and Euler keeps no history, so one
    scheduler per frame steps as one over the video. At shift 1 and 4 steps the timesteps
    (1000, 667, 334, 1) are whole, so the pack's integer cast changes nothing: the result is
    WanVideoSampler's."""
    from wfrun.sampling.loop import sample as plain_sample

    _, model = df_model
    base = _request(model, _text(model), 3, steps=4, scheduler="euler", seed=4)
    base.shift = 1.0
    with torch.no_grad():
        df = sample(DiffusionForcingRequest(base=base))["samples"]
        plain = plain_sample(base)["samples"]
    torch.testing.assert_close(df, plain, rtol=1e-5, atol=1e-5)


def test_unipc_frames_step_on_views_of_the_video_as_the_pack(df_model):
    """The pack (and SkyReels-V2) pass each frame to its scheduler as a view of the latents and
    write the result back into it, so the sample UniPC keeps from its first step for the
    corrector of its second is overwritten with the second step's input. A UniPC run of DF
    without a prefix therefore differs from the plain sampler from its second step on, and
    equals a per-frame run that lets its schedulers keep a view of the updated frames."""
    from wfrun.sampling.loop import sample as plain_sample
    from wfrun.sampling.schedulers import build_schedule

    _, model = df_model
    base = _request(model, _text(model), 3, steps=3, scheduler="unipc", seed=4)
    with torch.no_grad():
        df = sample(DiffusionForcingRequest(base=base))["samples"][0]
        plain = plain_sample(base)["samples"][0]
    assert not torch.allclose(df, plain, atol=1e-3)

    # the aliasing alone: the same velocities stepped per frame on views, and on copies
    schedule = build_schedule("unipc", 3, 5.0, steps_divided=True)
    g = torch.Generator().manual_seed(0)
    start = torch.randn(16, 3, 4, 6, generator=g)
    velocities = [torch.randn(16, 3, 4, 6, generator=g) for _ in schedule.timesteps]
    viewed, copied = start.clone(), start.clone()
    on_views = [build_schedule("unipc", 3, 5.0, steps_divided=True).stepper for _ in range(3)]
    on_copies = [build_schedule("unipc", 3, 5.0, steps_divided=True).stepper for _ in range(3)]
    for t, v in zip(schedule.timesteps, velocities):
        for f in range(3):
            viewed[:, f] = on_views[f].step(v[:, f], t.float(), viewed[:, f])
            copied[:, f] = on_copies[f].step(v[:, f], t.float(), copied[:, f].clone())
    whole = schedule.stepper
    x = start[None]
    for t, v in zip(schedule.timesteps, velocities):
        x = whole.step(v[None], t.reshape(1), x)
    torch.testing.assert_close(copied, x[0])  # per frame on copies is the whole-video step
    assert not torch.allclose(viewed, copied, atol=1e-3)  # on views it is not
