"""ComfyUI's autoregressive video (Causal Forcing) through its core nodes: the causal model's
KV-cached forward (``comfy/ldm/wan/ar_model.py``), the ``ar_video`` loop
(``comfy/k_diffusion/sampling.py`` ``sample_ar_video``), the nodes of
``comfy_extras/nodes_ar_video.py`` and the causal-forcing I2V template end to end.

References: diffusers' own attention processor with a block-causal mask (what a KV cache
written frame by frame, RoPE from each block's first frame, must equal), wfrun's
bidirectional forward (a block with an empty cache), and ComfyUI's loop written out by hand
with its own RNG calls (``torch.manual_seed`` + ``torch.randn_like``)."""

from __future__ import annotations

import json
from pathlib import Path

import comfyui_workflow_templates_json
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from tests.node_helpers import node
from tests.tiny_transformer import tiny_wan
from wfrun.cli import main
from wfrun.media.video import iter_frames
from wfrun.models.detect import detect
from wfrun.models.families import transformer_family
from wfrun.models.paths import ModelRoots
from wfrun.models.standins import family_for
from wfrun.models.tiny import TinySpec, write_file
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.ar_video import ARVideoSampler
from wfrun.packs.comfy_core_models.types import CoreModel
from wfrun.packs.comfy_core_models.vae_nodes import encode_images
from wfrun.sampling.ar_video import ARCaches, KVCache, _CausalSelfAttn, causal_attention, causal_forward, \
    sample_ar_video
from wfrun.sampling.forward import rotary_embedding, transformer_forward

TEMPLATE = Path(comfyui_workflow_templates_json.__file__).parent / "templates" / "video_causal_forcing_i2v.json"
CTX = ExecContext()


# --- the causal forward ----------------------------------------------------------------


def _inputs(frames: int = 3, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 16, frames, 4, 4, generator=g), torch.randn(1, 512, 24, generator=g)


@torch.no_grad()
def test_a_block_with_an_empty_cache_is_the_bidirectional_forward():
    """ComfyUI's CausalWanModel has WanModel's weights: a first block holding the whole video
    attends to itself only, as the plain forward does."""
    model = tiny_wan(2)
    x, context = _inputs()
    t = torch.tensor([700.0])
    want, _ = transformer_forward(model, x, t, context)
    caches = ARCaches(2, 3 * 4)
    with causal_attention(model, caches):
        got = causal_forward(model, x, t, context, 0)
    torch.testing.assert_close(got, want)
    assert caches.end == 3 * 4  # the block's tokens (3 frames of 2x2 patches) are in the cache


class _Masked:
    """diffusers' own self-attention processor with a fixed attention mask."""

    def __init__(self, base, mask):
        self.base, self.mask = base, mask

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        return self.base(attn, hidden_states, encoder_hidden_states, self.mask, rotary_emb)


@torch.no_grad()
def test_frame_by_frame_is_the_block_causal_forward():
    """Frame 0 at RoPE position 0, then frame 1 at position 1 reading frame 0's cached keys:
    the whole two-frame forward with each frame seeing itself and the frames before it."""
    model = tiny_wan(2)
    x, context = _inputs(frames=2)
    t = torch.tensor([400.0])
    tokens = 4  # a frame of 2x2 patches
    frame = torch.arange(2 * tokens) // tokens
    mask = frame.view(-1, 1) >= frame.view(1, -1)
    saved = [b.attn1.processor for b in model.blocks]
    try:
        for b in model.blocks:
            b.attn1.processor = _Masked(b.attn1.processor, mask)
        want, _ = transformer_forward(model, x, t, context)
    finally:
        for b, p in zip(model.blocks, saved):
            b.attn1.processor = p
    caches = ARCaches(2, 2 * tokens)
    with causal_attention(model, caches):
        first = causal_forward(model, x[:, :, :1], t, context, 0)
        second = causal_forward(model, x[:, :, 1:], t, context, 1)
    torch.testing.assert_close(torch.cat([first, second], dim=2), want)
    with causal_attention(model, ARCaches(2, 2 * tokens)):
        causal_forward(model, x[:, :, :1], t, context, 0)
        elsewhere = causal_forward(model, x[:, :, 1:], t, context, 4)  # RoPE from frame 4: another result
    assert not torch.allclose(elsewhere, second, atol=1e-4)


@torch.no_grad()
def test_cached_attention_is_block_causal_attention():
    """Frame 0 written, then frame 1 attending to the cache: diffusers' processor over both
    frames with a mask letting each frame see itself and the frames before it."""
    model = tiny_wan(1)
    attn = model.blocks[0].attn1
    g = torch.Generator().manual_seed(5)
    tokens = 6  # one frame of 2x3 patches
    hidden = torch.randn(1, 2 * tokens, 32, generator=g)
    cos, sin = rotary_embedding(model, 2, 4, 6)
    frame = torch.arange(2 * tokens) // tokens
    mask = frame.view(-1, 1) >= frame.view(1, -1)  # True: may attend
    want = attn(hidden, None, mask, (cos, sin))

    cache = KVCache(2 * tokens)
    proc = _CausalSelfAttn(attn.processor, cache)
    first = proc(attn, hidden[:, :tokens], rotary_emb=(cos[:, :tokens], sin[:, :tokens]))
    # a noisy pass of frame 1 written and taken back, as the sampler does between steps
    proc(attn, torch.randn(1, tokens, 32, generator=g), rotary_emb=(cos[:, tokens:], sin[:, tokens:]))
    cache.end -= tokens
    second = proc(attn, hidden[:, tokens:], rotary_emb=(cos[:, tokens:], sin[:, tokens:]))
    torch.testing.assert_close(first, want[:, :tokens])
    torch.testing.assert_close(second, want[:, tokens:])
    assert cache.end == 2 * tokens


def test_a_cache_refuses_writes_outside_it():
    cache = KVCache(4)
    cache.write(torch.zeros(1, 4, 2, 8), torch.zeros(1, 4, 2, 8))
    with pytest.raises(ValueError, match="outside"):
        cache.write(torch.zeros(1, 1, 2, 8), torch.zeros(1, 1, 2, 8))


# --- the loop ------------------------------------------------------------------------


class _Recorder:
    """A stand-in model: x0 = 0.5 x + 0.1 (start + 1); each call writes its block's tokens
    into the one cache (as the transformer's blocks do) and records what it saw."""

    def __init__(self, caches: ARCaches, frame_tokens: int):
        self.caches, self.frame_tokens, self.calls = caches, frame_tokens, []

    def __call__(self, x, sigma, start):
        self.calls.append((round(float(sigma), 4), start, self.caches.end, x.shape[2]))
        self.caches.layers[0].end += x.shape[2] * self.frame_tokens
        return 0.5 * x.float() + 0.1 * (start + 1)


def test_loop_follows_comfyui_written_out():
    L, seed = 4, 1234
    sigmas = torch.tensor([1.0, 0.6, 0.0])
    x = torch.randn(1, 2, 3, 2, 2, generator=torch.Generator().manual_seed(9))
    initial = torch.full((1, 2, 1, 2, 2), 0.25)
    caches = ARCaches(1, 3 * L)
    model = _Recorder(caches, L)
    out = sample_ar_video(model, x, sigmas, caches, seed=seed, num_frame_per_block=1, frame_tokens=L,
                          initial_latent=initial)
    # the start image's clean call, then per block two steps (the first taken back) and a clean call
    assert model.calls == [(0.0, 0, 0, 1),
                           (1.0, 1, L, 1), (0.6, 1, L, 1), (0.0, 1, L, 1),
                           (1.0, 2, 2 * L, 1), (0.6, 2, 2 * L, 1), (0.0, 2, 2 * L, 1)]
    assert caches.end == 3 * L

    def f(v, start):
        return 0.5 * v + 0.1 * (start + 1)

    want = torch.zeros_like(x)
    want[:, :, :1] = initial
    for block, start in enumerate((1, 2)):
        d0 = f(x[:, :, start:start + 1], start)
        torch.manual_seed(seed + block * 1000 + 0)  # ComfyUI's own calls
        noise = torch.randn_like(d0)
        want[:, :, start:start + 1] = f(0.4 * d0 + 0.6 * noise, start)
    torch.testing.assert_close(out, want)


def test_chunkwise_blocks_and_text_to_video():
    """Three frames a block over five frames from noise: blocks of 3 and 2, the cache full."""
    L = 2
    caches = ARCaches(1, 5 * L)
    model = _Recorder(caches, L)
    x = torch.randn(2, 2, 5, 1, 2, generator=torch.Generator().manual_seed(1))
    sample_ar_video(model, x, torch.tensor([1.0, 0.0]), caches, seed=0, num_frame_per_block=3, frame_tokens=L)
    assert model.calls == [(1.0, 0, 0, 3), (0.0, 0, 0, 3), (1.0, 3, 3 * L, 2), (0.0, 3, 3 * L, 2)]
    assert caches.end == 5 * L


# --- the whole sampler ----------------------------------------------------------------


def _block_causal_v(model, clean: list, block: torch.Tensor, sigma: float, context: torch.Tensor) -> torch.Tensor:
    """The flow prediction for ``block`` after the clean frames, by the whole-sequence forward:
    each frame seeing itself and the frames before it, the clean frames at timestep 0."""
    seq = torch.cat(clean + [block], dim=2)
    frames, tokens = seq.shape[2], seq.shape[3] * seq.shape[4] // 4
    frame = torch.arange(frames * tokens) // tokens
    mask = frame.view(-1, 1) >= frame.view(1, -1)
    t = torch.tensor([[0.0] * (frames - 1) + [sigma * 1000.0]])
    saved = [b.attn1.processor for b in model.blocks]
    try:
        for b in model.blocks:
            b.attn1.processor = _Masked(b.attn1.processor, mask)
        out, _ = transformer_forward(model, seq, t, context)
    finally:
        for b, p in zip(model.blocks, saved):
            b.attn1.processor = p
    return out[:, :, -1:]


@pytest.mark.parametrize("image", [False, True], ids=["t2v", "i2v"])
@torch.no_grad()
def test_sampler_custom_advanced_runs_comfyui_loop(tmp_path, image):
    """SamplerCustomAdvanced with SamplerARVideo against ComfyUI's loop written out: noise from
    the seed on the CPU, x0 = x - sigma·v at timestep sigma·1000, re-noising with
    ``torch.manual_seed(seed + block·1000 + step)``, the start image normalised in front."""
    from wfrun.packs.comfy_core_models.latent_format import latent_format

    transformer = tiny_wan(2)
    g = torch.Generator().manual_seed(11)
    text = torch.randn(1, 7, 24, generator=g)
    raw = torch.randn(1, 16, 1, 4, 4, generator=g)
    model = CoreModel(transformer=transformer, task="t2v-causal", path=tmp_path / "m.safetensors",
                      dtype=torch.float32, latent_channels=16, shift=5.0)
    if image:
        model = model.patched(ar_initial_latent=raw)
    seed, sigmas = 77, [1.0, 0.7, 0.0]
    (guider,) = node("CFGGuider")(CTX, model=model, positive=[[text, {"pooled_output": None}]],
                                  negative=[[torch.zeros(1, 7, 24), {"pooled_output": None}]], cfg=1.0)
    out, denoised = node("SamplerCustomAdvanced")(CTX, noise=node("RandomNoise")(CTX, noise_seed=seed)[0],
                                                  guider=guider, sampler=ARVideoSampler(1),
                                                  sigmas=torch.tensor(sigmas),
                                                  latent_image={"samples": torch.zeros(1, 16, 3, 4, 4)})

    fmt = latent_format(16)
    x = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(seed))  # sigma 1: the noise itself
    clean = [fmt.process_in(raw)] if image else []
    for block, start in enumerate(range(len(clean), 3)):
        noisy = x[:, :, start:start + 1]
        for i in range(len(sigmas) - 1):
            x0 = noisy - sigmas[i] * _block_causal_v(transformer, clean, noisy, sigmas[i], text)
            if sigmas[i + 1] == 0:
                noisy = x0
            else:
                torch.manual_seed(seed + block * 1000 + i)
                noisy = (1 - sigmas[i + 1]) * x0 + sigmas[i + 1] * torch.randn_like(x0)
        clean.append(noisy)
    want = fmt.process_out(torch.cat(clean, dim=2))
    torch.testing.assert_close(out["samples"], want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(denoised["samples"], want[:, :, -1:], atol=1e-4, rtol=1e-4)  # the last block's x0
    if image:
        torch.testing.assert_close(out["samples"][:, :, :1], raw, atol=1e-5, rtol=1e-5)


# --- the nodes -----------------------------------------------------------------------


def test_empty_latent_and_sampler_nodes():
    (latent,) = node("EmptyARVideoLatent")(CTX, width=832, height=480, length=81, batch_size=2)
    assert latent["samples"].shape == (2, 16, 21, 60, 104) and not latent["samples"].any()
    assert node("SamplerARVideo")(CTX, num_frame_per_block=3) == (ARVideoSampler(3),)
    with pytest.raises(NodeInputError) as err:
        node("SamplerARVideo")(CTX, num_frame_per_block=0)
    assert err.value.input_name == "num_frame_per_block"


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


def test_i2v_node_encodes_the_first_image_resized(ctx, tmp_path):
    """``common_upscale(image[:1], w, h, "bilinear", "center")`` written out: the centre crop
    to the new aspect, then bilinear interpolation; its raw latents ride on the MODEL."""
    (vae,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    model = CoreModel(transformer=None, task="t2v-causal", path=tmp_path / "m.safetensors", dtype=torch.float32,
                      latent_channels=16, shift=5.0)
    images = torch.rand(2, 24, 40, 3, generator=torch.Generator().manual_seed(2))
    patched, latent = node("ARVideoI2V")(ctx, model=model, vae=vae, start_image=images, width=32, height=32,
                                         length=9, batch_size=1)
    crop = images[:1, :, 8:32]  # 40 wide to the 1:1 aspect: round((40 - 24) / 2) = 8 off each side
    resized = F.interpolate(crop.movedim(-1, 1), size=(32, 32), mode="bilinear").movedim(1, -1)
    torch.testing.assert_close(patched.ar_initial_latent, encode_images(ctx, vae, resized))
    assert patched.ar_initial_latent.shape == (1, 16, 1, 4, 4) and model.ar_initial_latent is None
    assert latent["samples"].shape == (1, 16, 3, 4, 4)


def _causal(tmp_path, cfg_task="t2v-causal") -> CoreModel:
    return CoreModel(transformer=None, task=cfg_task, path=tmp_path / "m.safetensors", dtype=torch.float32,
                     latent_channels=16, shift=5.0)


def _advanced(model, cfg=1.0, sigmas=(1.0, 0.5, 0.0), positive=None):
    (guider,) = node("CFGGuider")(CTX, model=model, positive=positive or [[torch.zeros(1, 4, 24), {}]],
                                  negative=[[torch.zeros(1, 4, 24), {}]], cfg=cfg)
    return node("SamplerCustomAdvanced")(CTX, noise=node("RandomNoise")(CTX, noise_seed=1)[0], guider=guider,
                                         sampler=ARVideoSampler(1), sigmas=torch.tensor(sigmas),
                                         latent_image={"samples": torch.zeros(1, 16, 2, 2, 2)})


def test_what_comfyui_cannot_run_is_refused(tmp_path):
    with pytest.raises(NodeInputError) as err:  # ComfyUI: no init_kv_caches on a plain Wan model
        _advanced(_causal(tmp_path, "t2v"))
    assert err.value.input_name == "sampler" and "Causal-WAN" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        _advanced(_causal(tmp_path), cfg=3.0)
    assert err.value.input_name == "cfg"
    with pytest.raises(NodeInputError) as err:
        _advanced(_causal(tmp_path), sigmas=(1.0, 0.5))
    assert err.value.input_name == "sigmas"
    with pytest.raises(NodeInputError) as err:
        _advanced(_causal(tmp_path), positive=[[torch.zeros(1, 4, 24), {}], [torch.zeros(1, 4, 24), {}]])
    assert err.value.input_name == "positive"
    with pytest.raises(NodeInputError) as err:
        _advanced(_causal(tmp_path).patched(riflex=(4, 21)))
    assert err.value.input_name == "model" and "RIFLEx" in str(err.value)


# --- the family ----------------------------------------------------------------------


def test_causal_family_is_told_by_the_metadata_mark(tmp_path):
    standin = family_for("UNETLoader", "unet_name", "diffusion_models", "causal_forcing-framewise.safetensors")
    f = standin.family
    assert (f.task, f.layout) == ("t2v-causal", "comfyui")
    path = write_file(TinySpec("diffusion_models", standin.name, f.kind, f.task, f.layout, f.precision, f.rest),
                      tmp_path)
    assert detect(path).task == "t2v-causal"
    same_weights = write_file(TinySpec("diffusion_models", "wan2.1_t2v_1.3B_tiny_bf16.safetensors", f.kind, "t2v",
                                       "comfyui", "bf16"), tmp_path)
    assert detect(same_weights).task == "t2v"  # the same shapes without the mark: plain T2V
    family = transformer_family("t2v-causal")
    assert CoreModel.of_family(None, family, path, torch.float32, 8.0).shift == 5.0  # WAN21_CausalAR_T2V
    assert CoreModel.of_family(None, transformer_family("t2v"), path, torch.float32, 8.0).shift == 8.0


# --- the template --------------------------------------------------------------------


def test_causal_forcing_template_runs_end_to_end(tmp_path):
    result = CliRunner().invoke(main, ["run", str(TEMPLATE), "--smoke", "--tiny-models", "-o", str(tmp_path / "out"),
                                       "--device", "cpu", "--format", "json"],
                                env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    videos = [Path(p) for p in json.loads(result.stdout)["written"] if p.endswith(".mp4")]
    assert len(videos) == 1 and len(list(iter_frames(videos[0]))) == 9  # the smoke's 9 frames: 1 + 2 blocks
