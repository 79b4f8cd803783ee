"""MiniMax-Remover (models.no_text, sampling.remover, packs/wanvideo/remover.py): detection of
the file without text, a forward against MiniMax-Remover's model written out here from its
formulas on the file's own weights (original Wan names), the sampler's input channels worked
out by hand, and the embeds node's and sampler's refusals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from wfrun.models import tiny
from wfrun.models.detect import identify
from wfrun.models.families import conditioning_by_channels, task_from_name, transformer_family
from wfrun.models.header import TensorInfo
from wfrun.models.load import load_transformer
from wfrun.models.no_text import has_text, placeholder_context
from wfrun.nodes.executor import ExecContext, NodeInputError
from node_helpers import node
from wfrun.packs.wanvideo.types import ContextOptions, ImageEmbeds, TextEmbeds, WanVideoModel
from wfrun.sampling.forward import transformer_forward
from wfrun.sampling.nag import NAGParams, NAGTextEmbeds

wanvideo_minimax_remover_embeds = node("WanVideoMiniMaxRemoverEmbeds")
wanvideo_sampler = node("WanVideoSampler")
NAME = "Wan2_1-MiniMaxRemover_1_3B_tiny_fp32.safetensors"
SPEC = tiny.TinySpec("diffusion_models", NAME, "wan_transformer", "minimax-remover", "original", "fp32")


@pytest.fixture(scope="module")
def remover_file(tmp_path_factory):
    return tiny.write_file(SPEC, tmp_path_factory.mktemp("minimax"))


@pytest.fixture(scope="module")
def remover(remover_file):
    return load_transformer(remover_file, dtype=torch.float32).eval()


def _header(sd: dict) -> dict:
    return {k: TensorInfo("F32", tuple(v.shape)) for k, v in sd.items()}


# --- the file and its family ------------------------------------------------------------


def test_the_real_file_layout_is_found_as_minimax_remover():
    """Kijai's file (the wrapper's ``no_cross_attn`` WanModel): Wan 2.1 1.3B names with no
    text embedding, no cross-attention and no norm3, 48 input channels."""
    sd = tiny.transformer_weights("minimax-remover", 0, dims=tiny.TRANSFORMER_1_3B, meta=True)
    assert not any(k.startswith("text_embedding") or ".cross_attn." in k or ".norm3." in k for k in sd)
    assert sd["patch_embedding.weight"].shape == (1536, 48, 1, 2, 2)
    info = identify(Path("Wan2_1-MiniMaxRemover_1_3B_fp16.safetensors"), _header(sd))
    assert (info.kind, info.task, info.variant) == ("wan_transformer", "minimax-remover", "minimax-remover-1.3B")
    assert info.config["num_heads"] == 12 and info.config["num_layers"] == 30 and info.config["text_dim"] is None
    assert task_from_name("WanVideo/Wan2_1-MiniMaxRemover_1_3B_fp16.safetensors") == "minimax-remover"
    # the 48-wide Fun Control family is still the one the channels alone name
    assert conditioning_by_channels(48) == "control" and transformer_family("minimax-remover").in_channels == 48


def test_loaded_model_has_no_text_parts(remover):
    assert not has_text(remover) and remover.config.in_channels == 48
    names = [n for n, _ in remover.named_parameters()]
    assert not any("attn2" in n or "text_embedder" in n or ".norm2." in n for n in names)


# --- the forward against MiniMax-Remover's formulas ------------------------------------------


def _rope(length: int, dim: int) -> torch.Tensor:
    freqs = torch.outer(torch.arange(length, dtype=torch.float64),
                        1.0 / torch.pow(10000, torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    return torch.polar(torch.ones_like(freqs), freqs)


def _apply_rope(x: torch.Tensor, grid: tuple[int, int, int], head_dim: int) -> torch.Tensor:
    """Wan's 3-axis RoPE: pairs of a head's channels as complex numbers, the first part turned
    by the frame, the next two by the row and the column."""
    f, h, w = grid
    axes = [head_dim - 4 * (head_dim // 6), 2 * (head_dim // 6), 2 * (head_dim // 6)]
    tf, th, tw = (_rope(64, a) for a in axes)
    turn = torch.cat([tf[:f].view(f, 1, 1, -1).expand(f, h, w, -1), th[:h].view(1, h, 1, -1).expand(f, h, w, -1),
                      tw[:w].view(1, 1, w, -1).expand(f, h, w, -1)], dim=-1).reshape(f * h * w, 1, -1)
    xc = torch.view_as_complex(x.double().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * turn).flatten(-2).float()


def _rms(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * weight


def _ln(x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


def _reference(sd: dict, x: torch.Tensor, t: float, heads: int) -> torch.Tensor:
    """MiniMax-Remover written out: patches, the time embedding, blocks of self-attention and
    feed-forward (no cross-attention), the head; on one video ``[48, F, H, W]``."""
    lin = lambda name, v: F.linear(v, sd[f"{name}.weight"], sd[f"{name}.bias"])  # noqa: E731
    dim = sd["patch_embedding.weight"].shape[0]
    head_dim = dim // heads
    tokens = F.conv3d(x[None], sd["patch_embedding.weight"], sd["patch_embedding.bias"], stride=(1, 2, 2))
    grid = tuple(tokens.shape[2:])
    h = tokens.flatten(2).transpose(1, 2)[0]  # [L, dim]
    freq = sd["time_embedding.0.weight"].shape[1]
    half = freq // 2
    angle = t * torch.pow(10000, -torch.arange(half, dtype=torch.float64) / half)
    sinus = torch.cat([torch.cos(angle), torch.sin(angle)]).float()
    e = lin("time_embedding.2", F.silu(lin("time_embedding.0", sinus)))
    e0 = lin("time_projection.1", F.silu(e)).view(6, dim)
    layers = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    for i in range(layers):
        b = f"blocks.{i}"
        shift, scale, gate, c_shift, c_scale, c_gate = (sd[f"{b}.modulation"][0] + e0)
        a = _ln(h) * (1 + scale) + shift
        q = _rms(lin(f"{b}.self_attn.q", a), sd[f"{b}.self_attn.norm_q.weight"]).view(-1, heads, head_dim)
        k = _rms(lin(f"{b}.self_attn.k", a), sd[f"{b}.self_attn.norm_k.weight"]).view(-1, heads, head_dim)
        v = lin(f"{b}.self_attn.v", a).view(-1, heads, head_dim)
        q, k = _apply_rope(q, grid, head_dim), _apply_rope(k, grid, head_dim)
        weights = torch.softmax(torch.einsum("qnd,knd->nqk", q, k) / math.sqrt(head_dim), dim=-1)
        attn = torch.einsum("nqk,knd->qnd", weights, v).reshape(-1, dim)
        h = h + lin(f"{b}.self_attn.o", attn) * gate
        y = lin(f"{b}.ffn.2", F.gelu(lin(f"{b}.ffn.0", _ln(h) * (1 + c_scale) + c_shift), approximate="tanh"))
        h = h + y * c_gate
    shift, scale = sd["head.modulation"][0] + e
    out = lin("head.head", _ln(h) * (1 + scale) + shift)  # [L, 4 * C]
    f, gh, gw = grid
    c = out.shape[1] // 4
    return torch.einsum("fhwpqc->cfhpwq", out.view(f, gh, gw, 2, 2, c)).reshape(c, f, gh * 2, gw * 2)


@torch.no_grad()
def test_forward_is_minimax_remover_block_by_block(remover):
    sd = tiny.master_weights(SPEC)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(48, 2, 4, 6, generator=g)
    ours, _ = transformer_forward(remover, x[None], torch.tensor([700.0]), placeholder_context(1, "cpu", torch.float32))
    ref = _reference(sd, x, 700.0, tiny.TRANSFORMER["heads"])
    torch.testing.assert_close(ours[0], ref, rtol=2e-4, atol=2e-4)


# --- the embeds node ---------------------------------------------------------------------


def _latent(frames=3, h=4, w=6, seed=0, channels=16):
    return {"samples": torch.randn(1, channels, frames, h, w, generator=torch.Generator().manual_seed(seed))}


def test_embeds_keep_the_latents_and_the_text_to_video_shape():
    video, mask = _latent(seed=1), _latent(seed=2)
    (emb,) = wanvideo_minimax_remover_embeds(ExecContext(), width=48, height=32, num_frames=9, latents=video,
                                             mask_latents=mask)
    assert emb.target_shape == (16, 3, 4, 6) and emb.num_frames == 9 and emb.image_embeds is None
    assert torch.equal(emb.remover.latents, video["samples"][0])
    assert torch.equal(emb.remover.mask_latents, mask["samples"][0])


@pytest.mark.parametrize("inputs, name, words", [
    (dict(num_frames=13), "num_frames", "4 latent frames"),
    (dict(width=64), "width", "8 latent pixels"),
    (dict(mask_latents=_latent(frames=1)), "mask_latents", "mask latents of (16, 1, 4, 6)"),
    (dict(latents={"samples": torch.zeros(2, 16, 3, 4, 6)}), "latents", "shape (2, 16, 3, 4, 6)"),
    (dict(latents=_latent(channels=48)), "latents", "48 channels"),
    (dict(latents=torch.zeros(3)), "latents", "expected a LATENT"),
])
def test_embeds_refuse_what_the_pack_fails_on(inputs, name, words):
    args = dict(width=48, height=32, num_frames=9, latents=_latent(), mask_latents=_latent(seed=5)) | inputs
    with pytest.raises(NodeInputError) as err:
        wanvideo_minimax_remover_embeds(ExecContext(), **args)
    assert err.value.input_name == name and words in str(err.value)


# --- the sampler ---------------------------------------------------------------------------


def _model(transformer, path="Wan2_1-MiniMaxRemover_1_3B_fp16.safetensors"):
    return WanVideoModel(transformer=transformer, model_type="no_cross_attn", path=Path(path),
                         base_dtype=torch.float32)


def _embeds():
    (emb,) = wanvideo_minimax_remover_embeds(ExecContext(), width=48, height=32, num_frames=9,
                                             latents=_latent(seed=1), mask_latents=_latent(seed=2))
    return emb


COMMON = dict(steps=2, shift=5.0, seed=7, scheduler="euler", riflex_freq_index=0, force_offload=False)


@torch.no_grad()
def test_sampler_feeds_noise_video_and_mask_latents_in_that_order(remover):
    emb = _embeds()
    seen = []
    handle = remover.patch_embedding.register_forward_pre_hook(lambda m, a: seen.append(a[0].clone()))
    try:
        latent, _ = wanvideo_sampler(ExecContext(), model=_model(remover), image_embeds=emb, cfg=1.0, **COMMON)
    finally:
        handle.remove()
    assert len(seen) == 2 and all(s.shape == (1, 48, 3, 4, 6) for s in seen)  # one call a step at cfg 1
    noise = torch.randn(16, 3, 4, 6, generator=torch.Generator().manual_seed(7))  # the text-to-video draw
    torch.testing.assert_close(seen[0][0, :16], noise)
    for call in seen:
        assert torch.equal(call[0, 16:32], emb.remover.latents) and torch.equal(call[0, 32:], emb.remover.mask_latents)
    assert latent["samples"].shape == (1, 16, 3, 4, 6) and torch.isfinite(latent["samples"]).all()


@torch.no_grad()
def test_prompts_and_cfg_change_nothing_without_text(remover):
    """No text embedding: the pack samples without text embeds, ignores them when given, and
    cfg mixes two equal predictions."""
    emb = _embeds()
    plain, _ = wanvideo_sampler(ExecContext(), model=_model(remover), image_embeds=emb, cfg=1.0, **COMMON)
    text = TextEmbeds(prompt_embeds=(torch.randn(5, 32), torch.randn(3, 32)),
                      negative_prompt_embeds=(torch.randn(4, 32),))
    prompted, _ = wanvideo_sampler(ExecContext(), model=_model(remover), image_embeds=emb, text_embeds=text, cfg=1.0,
                                   **COMMON)
    guided, _ = wanvideo_sampler(ExecContext(), model=_model(remover), image_embeds=emb, text_embeds=text, cfg=4.0,
                                 **COMMON)
    nag = NAGTextEmbeds(text.prompt_embeds[:1], text.negative_prompt_embeds, nag_prompt_embeds=(torch.randn(4, 32),),
                        nag=NAGParams(11.0, 2.5, 0.25))
    with_nag, _ = wanvideo_sampler(ExecContext(), model=_model(remover), image_embeds=emb, text_embeds=nag, cfg=1.0,
                                   **COMMON)
    assert torch.equal(plain["samples"], prompted["samples"]) and torch.equal(plain["samples"], with_nag["samples"])
    torch.testing.assert_close(guided["samples"], plain["samples"])


def test_sampler_refuses_mismatched_models_and_windows(remover, tiny_models):
    t2v = load_transformer(tiny_models / "diffusion_models" / "Wan2_1-T2V-1_3B_tiny_bf16.safetensors",
                           dtype=torch.float32)
    text = TextEmbeds(prompt_embeds=(torch.randn(5, 32),), negative_prompt_embeds=())
    empty = ImageEmbeds(num_frames=9, target_shape=(16, 3, 4, 6))
    cases = [
        (_model(t2v, "Wan2_1-T2V-1_3B.safetensors"), _embeds(), {}, "image_embeds", "need a MiniMax-Remover model"),
        (_model(remover), empty, {}, "image_embeds", "needs WanVideoMiniMaxRemoverEmbeds"),
        (_model(remover), _embeds(), {"context_options": ContextOptions(context_frames=5)}, "context_options",
         "context windows"),
    ]
    for model, emb, extra, name, words in cases:
        with pytest.raises(NodeInputError) as err:
            wanvideo_sampler(ExecContext(), model=model, image_embeds=emb, text_embeds=text, cfg=1.0, **COMMON,
                             **extra)
        assert err.value.input_name == name and words in str(err.value) and err.value.hint


def test_core_model_loaders_refuse_it():
    """ComfyUI's own Wan model always builds the text embedding and cross-attention."""
    from wfrun.nodes.models import runnable_family

    with pytest.raises(NodeInputError) as err:
        runnable_family(Path(NAME), "minimax-remover", "unet_name")
    assert err.value.input_name == "unet_name" and "WanVideoModelLoader" in err.value.hint
    assert runnable_family(Path("t2v.safetensors"), "t2v", "unet_name").task == "t2v"
