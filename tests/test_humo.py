"""HuMo (ByteDance's human-centric Wan 2.1 model): detection and loading of its transformer
from tiny files in the released key layout, and its forward.

The forward's reference is written here from ComfyUI's ``HumoWanModel`` (``AudioProjModel``,
``WanAttentionBlockAudio``, ``AudioCrossAttentionWrapper``, ``WanT2VCrossAttentionGather``)
on the file's own tensors in the original key names, with no wfrun or diffusers module:
Wan blocks token by token (the shared helpers of ``test_wan_s2v``), the audio windows
projected frame by frame, and each latent frame's tokens attending to its own audio tokens
after the text cross-attention."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from test_wan_s2v import D, attend, lin, ln, patch_tokens, rms, rotate, time_embedding
from wfrun.models.detect import identify
from wfrun.models.families import task_from_name
from wfrun.models.header import TensorInfo
from wfrun.models.humo_parts import is_humo
from wfrun.models.load import load_transformer
from wfrun.models.tiny import HUMO, TRANSFORMER, TRANSFORMER_14B, TinySpec, transformer_weights, write_file
from wfrun.sampling.humo import HuMoInputs, humo_forward

LAYERS = TRANSFORMER["layers"]


# ---------------------------------------------------------------------------- detection and loading

def test_the_humo_checkpoint_is_told_by_its_audio_projection():
    sd = transformer_weights("humo-17b", 0, TRANSFORMER_14B, meta=True)
    header = {f"model.diffusion_model.{k}": TensorInfo("F8_E4M3", tuple(v.shape)) for k, v in sd.items()}
    info = identify(Path("some_model.safetensors"), header)  # by its parts, not its name
    assert info.kind == "wan_transformer" and info.task == "humo-17b" and not info.notes
    c = info.config
    assert (c["dim"], c["num_layers"], c["in_dim"]) == (5120, 40, 16)
    # ComfyUI's AudioProjModel(seq_len=8, blocks=5, channels=1280, intermediate_dim=512, output_dim=1536, 16 tokens)
    assert (c["humo_audio_in"], c["humo_hidden"], c["humo_tokens"], c["humo_width"]) == (8 * 5 * 1280, 512, 16, 1536)
    assert sd["blocks.39.audio_cross_attn_wrapper.audio_cross_attn.k.weight"].shape == (5120, 1536)
    assert task_from_name("humo_17B_fp8_e4m3fn.safetensors") == "humo-17b"
    t2v = {k: TensorInfo("BF16", tuple(v.shape)) for k, v in transformer_weights("t2v", 0, TRANSFORMER_14B,
                                                                                  meta=True).items()}
    assert identify(Path("wan2.1_t2v_14B.safetensors"), t2v).task == "t2v"


def test_the_audio_projection_alone_decides():
    """ComfyUI's detection tests ``audio_proj.audio_proj_glob_1.layer.bias`` only."""
    sd = transformer_weights("humo-17b", 0, TRANSFORMER_14B, meta=True)
    header = {k: TensorInfo("BF16", tuple(v.shape)) for k, v in sd.items() if not k.startswith("blocks.")
              or "audio_cross_attn_wrapper" not in k}
    info = identify(Path("x.safetensors"), header)
    assert info.task == "humo-17b"  # the projection alone decides, as ComfyUI's detection does


@pytest.fixture(scope="module")
def humo_file(tmp_path_factory) -> Path:
    spec = TinySpec("diffusion_models", "humo_17B_tiny_fp32.safetensors", "wan_transformer", "humo-17b",
                    "comfyui", "fp32")
    return write_file(spec, tmp_path_factory.mktemp("humo"))


@pytest.fixture(scope="module")
def model(humo_file):
    return load_transformer(humo_file, dtype=torch.float32)


@pytest.fixture(scope="module")
def sd(humo_file):
    return {k.removeprefix("model.diffusion_model."): v.float() for k, v in load_file(str(humo_file)).items()}


def test_every_tensor_of_the_file_lands_in_the_model(model, sd):
    assert is_humo(model) and model.config.num_layers == LAYERS
    torch.testing.assert_close(model.audio_proj.audio_proj_glob_3.layer.weight, sd["audio_proj.audio_proj_glob_3.layer.weight"])
    torch.testing.assert_close(model.audio_proj.audio_proj_glob_norm.layer.bias,
                               sd["audio_proj.audio_proj_glob_norm.layer.bias"])
    for i in range(LAYERS):
        part = model.blocks[i].audio_cross_attn_wrapper
        b = f"blocks.{i}.audio_cross_attn_wrapper"
        torch.testing.assert_close(part.audio_cross_attn.k.weight, sd[f"{b}.audio_cross_attn.k.weight"])
        torch.testing.assert_close(part.audio_cross_attn.norm_q.weight, sd[f"{b}.audio_cross_attn.norm_q.weight"])
        torch.testing.assert_close(part.norm1_audio.weight, sd[f"{b}.norm1_audio.weight"])


def test_the_fp8_release_layout_loads(tmp_path):
    spec = TinySpec("diffusion_models", "humo_17B_tiny_fp8_e4m3fn.safetensors", "wan_transformer", "humo-17b",
                    "comfyui", "fp8_e4m3fn", rest="bf16")
    m = load_transformer(write_file(spec, tmp_path), dtype=torch.float32)
    assert is_humo(m) and len(m.blocks) == LAYERS


# ---------------------------------------------------------------------------- the reference forward

def project_audio(sd, windows):
    """``[F, 8, 5, C]`` → ``[F, tokens, width]``: ComfyUI's ``AudioProjModel`` frame by frame."""
    p = "audio_proj.audio_proj_glob_"
    out = []
    for window in windows:
        h = torch.relu(lin(sd, f"{p}1.layer", window.reshape(-1)))
        h = torch.relu(lin(sd, f"{p}2.layer", h))
        h = lin(sd, f"{p}3.layer", h).reshape(HUMO["tokens"], HUMO["width"])
        out.append(F.layer_norm(h, (HUMO["width"],), sd[f"{p}norm.layer.weight"], sd[f"{p}norm.layer.bias"], eps=1e-5))
    return torch.stack(out)


def audio_term(sd, b, x, audio, scale):
    """``x`` plus each latent frame's tokens attending to that frame's audio tokens."""
    w = f"{b}.audio_cross_attn_wrapper"
    per = x.shape[0] // audio.shape[0]
    x = x.clone()
    for f in range(audio.shape[0]):
        rows = slice(f * per, (f + 1) * per)
        h = F.layer_norm(x[rows], (D,), sd[f"{w}.norm1_audio.weight"], sd[f"{w}.norm1_audio.bias"], eps=1e-6)
        q = rms(lin(sd, f"{w}.audio_cross_attn.q", h), sd[f"{w}.audio_cross_attn.norm_q.weight"])
        k = rms(lin(sd, f"{w}.audio_cross_attn.k", audio[f]), sd[f"{w}.audio_cross_attn.norm_k.weight"])
        v = lin(sd, f"{w}.audio_cross_attn.v", audio[f])
        x[rows] = x[rows] + scale * lin(sd, f"{w}.audio_cross_attn.o", attend(q, k, v))
    return x


def humo_block(sd, b, x, ctx, e0, positions, audio, scale):
    m = sd[f"{b}.modulation"][0] + e0
    h = ln(x) * (1 + m[:, 1]) + m[:, 0]
    q = rotate(rms(lin(sd, f"{b}.self_attn.q", h), sd[f"{b}.self_attn.norm_q.weight"]), positions)
    k = rotate(rms(lin(sd, f"{b}.self_attn.k", h), sd[f"{b}.self_attn.norm_k.weight"]), positions)
    x = x + lin(sd, f"{b}.self_attn.o", attend(q, k, lin(sd, f"{b}.self_attn.v", h))) * m[:, 2]
    h = F.layer_norm(x, (D,), sd[f"{b}.norm3.weight"], sd[f"{b}.norm3.bias"], eps=1e-6)
    q = rms(lin(sd, f"{b}.cross_attn.q", h), sd[f"{b}.cross_attn.norm_q.weight"])
    k = rms(lin(sd, f"{b}.cross_attn.k", ctx), sd[f"{b}.cross_attn.norm_k.weight"])
    x = x + lin(sd, f"{b}.cross_attn.o", attend(q, k, lin(sd, f"{b}.cross_attn.v", ctx)))
    if audio is not None:
        x = audio_term(sd, b, x, audio, scale)
    h = ln(x) * (1 + m[:, 4]) + m[:, 3]
    return x + lin(sd, f"{b}.ffn.2", F.gelu(lin(sd, f"{b}.ffn.0", h), approximate="tanh")) * m[:, 5]


def reference(sd, x, t, text, audio=None, ref=None, scale=1.0):
    """ComfyUI's HuMo forward for batch 1, written out token by token."""
    _, _, frames, h, w = x.shape
    hh, ww = h // 2, w // 2
    tokens = patch_tokens(sd, "patch_embedding", x, (1, 2, 2))
    positions = [(f, i, j) for f in range(frames) for i in range(hh) for j in range(ww)]
    video = len(positions)
    ref_frames = 0
    if ref is not None:
        ref_frames = ref.shape[2]
        tokens = torch.cat([tokens, patch_tokens(sd, "patch_embedding", ref, (1, 2, 2))])
        positions += [(frames + a, i, j) for a in range(ref_frames) for i in range(hh) for j in range(ww)]
    e, e0 = time_embedding(sd, torch.tensor([t] * len(positions)))
    ctx = lin(sd, "text_embedding.2", F.gelu(lin(sd, "text_embedding.0", text[0]), approximate="tanh"))
    tok = None
    if audio is not None:
        windows = torch.cat([audio[0], audio.new_zeros(ref_frames, *audio.shape[2:])])
        tok = project_audio(sd, windows)
    for i in range(LAYERS):
        tokens = humo_block(sd, f"blocks.{i}", tokens, ctx, e0, positions, tok, scale)
    mod = sd["head.modulation"][0] + e[:, None]
    out = lin(sd, "head.head", ln(tokens) * (1 + mod[:, 1]) + mod[:, 0])[:video]
    out = out.view(frames, hh, ww, 1, 2, 2, 16)
    return torch.einsum("fhwpqrc->cfphqwr", out).reshape(1, 16, frames, h, w)


def humo_case(seed=0, frames=3, size=8):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(x=r(1, 16, frames, size, size), text=r(1, 6, TRANSFORMER["text_dim"]),
                audio=r(1, frames, 8, 5, HUMO["audio_dim"]), ref=r(1, 16, 1, size, size))


@pytest.mark.parametrize("parts,scale", [(("audio", "ref"), 1.0), (("audio",), 1.0), (("ref",), 1.0), ((), 1.0),
                                         (("audio", "ref"), 2.5)])
def test_the_forward_matches_comfyuis_formulas(model, sd, parts, scale):
    c = humo_case()
    given = {k: c[k] for k in parts}
    with torch.no_grad():
        got = humo_forward(model, c["x"], torch.tensor([700.0]), c["text"],
                           HuMoInputs(audio=given.get("audio"), reference=given.get("ref"), audio_scale=scale))
        want = reference(sd, c["x"], 700.0, c["text"], scale=scale, **given)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)
    assert not any(hasattr(b.attn2, "_diffusers_hook") or hasattr(b.norm2, "_diffusers_hook") for b in model.blocks)


def test_the_audio_changes_the_output_and_its_scale_matters(model):
    c = humo_case(seed=3)
    with torch.no_grad():
        base = humo_forward(model, c["x"], torch.tensor([500.0]), c["text"], HuMoInputs(reference=c["ref"]))
        one = humo_forward(model, c["x"], torch.tensor([500.0]), c["text"], HuMoInputs(c["audio"], c["ref"]))
        zero = humo_forward(model, c["x"], torch.tensor([500.0]), c["text"], HuMoInputs(c["audio"], c["ref"], 0.0))
    assert (one - base).abs().max() > 1e-3
    torch.testing.assert_close(zero, base)
