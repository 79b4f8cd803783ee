"""Wan 2.2 S2V through ComfyUI's core nodes: detection and loading of the S2V transformer, its
forward, WanSoundImageToVideo(Extend) and the template.

The forward's reference is written here from ComfyUI's ``WanModel_S2V`` (and the official
``model_s2v.py`` it follows) on the file's own tensors in the original key names, with no
wfrun or diffusers module: Wan blocks, RoPE as complex rotations of each token's (frame,
row, column), per-head softmax attention, the causal audio convs, the per-frame AdaIN and
audio attention, the frame packer's patch convolutions. Token timesteps are written by what
they mean (video tokens their frame's, reference and motion tokens 0), not by ComfyUI's
repeat rule, which is checked on its own. The node's tensors are worked out by hand."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from safetensors.torch import load_file

from node_helpers import node
from wfrun.models.detect import identify
from wfrun.models.families import task_from_name
from wfrun.models.header import TensorInfo
from wfrun.models.load import load_transformer
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny import S2V, TRANSFORMER, TRANSFORMER_14B, TinySpec, transformer_weights, write_file
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.comfy_core_models.vae_nodes import encode_images
from wfrun.sampling.s2v import S2VInputs, rope_tables, s2v_forward, spread

D, HEADS = TRANSFORMER["dim"], TRANSFORMER["heads"]
INJECT = (0, 4, 8, 12, 16, 20, 24, 27, 30, 33, 36, 39)  # ComfyUI's audio_inject_layers


# ---------------------------------------------------------------------------- detection and loading

def test_the_s2v_checkpoint_is_told_by_its_audio_encoder():
    sd = transformer_weights("s2v-14b", 0, TRANSFORMER_14B, meta=True)
    header = {f"model.diffusion_model.{k}": TensorInfo("F8_E4M3", tuple(v.shape)) for k, v in sd.items()}
    info = identify(Path("some_model.safetensors"), header)  # by its parts, not its name
    assert info.kind == "wan_transformer" and info.task == "s2v-14b" and not info.notes
    c = info.config
    assert (c["dim"], c["num_layers"], c["in_dim"]) == (5120, 40, 16)
    assert (c["s2v_audio_dim"], c["s2v_audio_layers"], c["s2v_audio_tokens"]) == (1024, 25, 4)
    assert (c["s2v_injectors"], c["s2v_cond_dim"]) == (12, 16)
    assert task_from_name("wan2.2_s2v_14B_fp8_scaled.safetensors") == "s2v-14b"
    t2v = {k: TensorInfo("BF16", tuple(v.shape)) for k, v in transformer_weights("t2v", 0, TRANSFORMER_14B,
                                                                                  meta=True).items()}
    assert identify(Path("wan2.2_t2v_14B.safetensors"), t2v).task != "s2v-14b"


@pytest.fixture(scope="module")
def s2v_file(tmp_path_factory) -> Path:
    spec = TinySpec("diffusion_models", "wan2.2_s2v_14B_tiny_fp32.safetensors", "wan_transformer", "s2v-14b",
                    "comfyui", "fp32")
    return write_file(spec, tmp_path_factory.mktemp("s2v"))


@pytest.fixture(scope="module")
def model(s2v_file):
    return load_transformer(s2v_file, dtype=torch.float32)


@pytest.fixture(scope="module")
def sd(s2v_file):
    return {k.removeprefix("model.diffusion_model."): v.float() for k, v in load_file(str(s2v_file)).items()}


def test_the_fp8_scaled_release_layout_loads(tmp_path):
    spec = TinySpec("diffusion_models", "wan2.2_s2v_14B_tiny_fp8_scaled.safetensors", "wan_transformer", "s2v-14b",
                    "comfyui", "fp8_e4m3fn_scaled", rest="fp16")
    path = write_file(spec, tmp_path)
    m = load_transformer(path, dtype=torch.float32)
    assert m.config.num_layers == S2V["layers"] and len(m.audio_injector.injector) == 12
    assert m.audio_injector.after_block == {b: n for n, b in enumerate(INJECT)}
    stored = load_file(str(path))
    torch.testing.assert_close(m.frame_packer.proj_4x.weight, stored["model.diffusion_model.frame_packer.proj_4x.weight"].float())
    torch.testing.assert_close(m.casual_audio_encoder.weights,
                               stored["model.diffusion_model.casual_audio_encoder.weights"].float())


# ---------------------------------------------------------------------------- the reference forward

def ln(x, eps=1e-6):
    return F.layer_norm(x, x.shape[-1:], eps=eps)


def rms(x, w, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def lin(sd, name, x):
    return x @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]


def attend(q, k, v, heads=HEADS):
    d = q.shape[-1] // heads
    outs = []
    for h in range(heads):
        s = slice(h * d, (h + 1) * d)
        outs.append(torch.softmax(q[:, s] @ k[:, s].T / math.sqrt(d), dim=-1) @ v[:, s])
    return torch.cat(outs, dim=-1)


def rotate(x, positions):
    """Each head's channel pairs turned by position x frequency, axes (frame, row, column)
    taking ``d - 4 (d // 6)``, ``2 (d // 6)``, ``2 (d // 6)`` channels."""
    d = x.shape[-1] // HEADS
    axes = (d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6))
    rows = []
    for pos in positions:
        angles = []
        for p, n in zip(pos, axes):
            angles += [p * 10000.0 ** (-2 * i / n) for i in range(n // 2)]
        rows.append(angles)
    turn = torch.polar(torch.ones(len(rows), d // 2, dtype=torch.float64), torch.tensor(rows, dtype=torch.float64))
    xc = torch.view_as_complex(x.double().reshape(len(rows), HEADS, d // 2, 2).contiguous())
    return torch.view_as_real(xc * turn[:, None]).reshape(x.shape).float()


def nag_mix(pos, neg, scale, tau, alpha):
    """KJNodes' ``normalized_attention_guidance`` on two attention outputs [L, D] (written out
    from the pack: L1 norms per token, rescale where the ratio exceeds tau, then blend)."""
    guided = pos * scale - neg * (scale - 1)
    n_pos = pos.abs().sum(-1, keepdim=True)
    n_guided = guided.abs().sum(-1, keepdim=True)
    guided = torch.where(n_guided / n_pos > tau, guided * (n_pos * tau) / (n_guided + 1e-7), guided)
    return guided * alpha + pos * (1 - alpha)


def block(sd, b, x, ctx, e0, positions, nag=None):
    m = sd[f"{b}.modulation"][0] + e0  # [L, 6, D]
    h = ln(x) * (1 + m[:, 1]) + m[:, 0]
    q = rotate(rms(lin(sd, f"{b}.self_attn.q", h), sd[f"{b}.self_attn.norm_q.weight"]), positions)
    k = rotate(rms(lin(sd, f"{b}.self_attn.k", h), sd[f"{b}.self_attn.norm_k.weight"]), positions)
    x = x + lin(sd, f"{b}.self_attn.o", attend(q, k, lin(sd, f"{b}.self_attn.v", h))) * m[:, 2]
    h = F.layer_norm(x, (D,), sd[f"{b}.norm3.weight"], sd[f"{b}.norm3.bias"], eps=1e-6)
    q = rms(lin(sd, f"{b}.cross_attn.q", h), sd[f"{b}.cross_attn.norm_q.weight"])
    k = rms(lin(sd, f"{b}.cross_attn.k", ctx), sd[f"{b}.cross_attn.norm_k.weight"])
    out = attend(q, k, lin(sd, f"{b}.cross_attn.v", ctx))
    if nag is not None:  # (the NAG prompt through the text embedding, scale, tau, alpha)
        neg_ctx, scale, tau, alpha = nag
        k_neg = rms(lin(sd, f"{b}.cross_attn.k", neg_ctx), sd[f"{b}.cross_attn.norm_k.weight"])
        out = nag_mix(out, attend(q, k_neg, lin(sd, f"{b}.cross_attn.v", neg_ctx)), scale, tau, alpha)
    x = x + lin(sd, f"{b}.cross_attn.o", out)
    h = ln(x) * (1 + m[:, 4]) + m[:, 3]
    return x + lin(sd, f"{b}.ffn.2", F.gelu(lin(sd, f"{b}.ffn.0", h), approximate="tanh")) * m[:, 5]


def time_embedding(sd, t):
    half = TRANSFORMER["freq"] // 2
    arg = t[:, None].double() * 10000.0 ** (-torch.arange(half, dtype=torch.float64) / half)
    e = lin(sd, "time_embedding.2", F.silu(lin(sd, "time_embedding.0", torch.cat([arg.cos(), arg.sin()], 1).float())))
    return e, lin(sd, "time_projection.1", F.silu(e)).view(-1, 6, D)


def causal(sd, name, x, stride=1):
    return F.conv1d(F.pad(x, (2, 0), mode="replicate"), sd[f"{name}.weight"], sd[f"{name}.bias"], stride=stride)


def audio_tokens(sd, audio):
    """(global [F, D], local [F, tokens + 1, D]) of ``audio`` [1, layers, C, T]."""
    e = "casual_audio_encoder"
    w = F.silu(sd[f"{e}.weights"])
    feat = (audio * w / w.sum(dim=1, keepdim=True)).sum(dim=1)

    def down(y):  # [1, c, T] after the first conv → [T/4, D]
        y = F.silu(ln(y[0].T)).T[None]
        y = F.silu(ln(causal(sd, f"{e}.encoder.conv2.conv", y, 2)[0].T)).T[None]
        return F.silu(ln(causal(sd, f"{e}.encoder.conv3.conv", y, 2)[0].T))

    local = causal(sd, f"{e}.encoder.conv1_local.conv", feat)
    q = D // 4
    per_token = [down(local[:, j * q:(j + 1) * q]) for j in range(S2V["tokens"])]
    pad = sd[f"{e}.encoder.padding_tokens"].reshape(1, D)
    local = torch.stack([torch.cat([tok[f:f + 1] for tok in per_token] + [pad]) for f in range(per_token[0].shape[0])])
    glob = lin(sd, f"{e}.encoder.final_linear", down(causal(sd, f"{e}.encoder.conv1_global.conv", feat)))
    return glob, local


def inject(sd, n, x, glob, local, per_frame, audio_scale=1.0):
    x = x.clone()
    for f in range(local.shape[0]):
        rows = slice(f * per_frame, (f + 1) * per_frame)
        shift, scale = lin(sd, f"audio_injector.injector_adain_layers.{n}.linear", F.silu(glob[f])).chunk(2)
        h = ln(x[rows], 1e-5) * (1 + scale) + shift
        b = f"audio_injector.injector.{n}"
        q = rms(lin(sd, f"{b}.q", h), sd[f"{b}.norm_q.weight"])
        k = rms(lin(sd, f"{b}.k", local[f] * audio_scale), sd[f"{b}.norm_k.weight"])
        x[rows] = x[rows] + lin(sd, f"{b}.o", attend(q, k, lin(sd, f"{b}.v", local[f] * audio_scale)))
    return x


def patch_tokens(sd, name, x, kernel):
    return F.conv3d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], stride=kernel)[0].flatten(1).T


def spaced(count, steps):
    """``steps`` positions from 0 to ``count - 1`` evenly (one: 0)."""
    return [0.0] if steps == 1 else [i * (count - 1) / (steps - 1) for i in range(steps)]


def reference(sd, x, t, text, audio=None, ref=None, control=None, motion=None, audio_scale=1.0,
              video_kind_on_ref=False, audio_skip=0, nag=None):
    """ComfyUI's S2V forward for batch 1, written out token by token (with the wrapper's
    ``audio_scale`` on the local audio tokens and its video token vector on the reference)."""
    _, _, frames, h, w = x.shape
    hh, ww = h // 2, w // 2
    tokens = patch_tokens(sd, "patch_embedding", x, (1, 2, 2))
    if control is not None:
        tokens = tokens + patch_tokens(sd, "cond_encoder", control, (1, 2, 2))
    kinds = sd["trainable_cond_mask.weight"]
    tokens = tokens + kinds[0]
    positions = [(f, i, j) for f in range(frames) for i in range(hh) for j in range(ww)]
    times = [t] * len(positions)
    video = len(positions)
    if ref is not None:
        ref_kind = kinds[1] + kinds[0] if video_kind_on_ref else kinds[1]
        tokens = torch.cat([tokens, patch_tokens(sd, "patch_embedding", ref, (1, 2, 2)) + ref_kind])
        positions += [(max(30, frames + 9), i, j) for i in range(hh) for j in range(ww)]
        times += [0.0] * hh * ww
    if motion is not None:
        m = torch.cat([motion.new_zeros(1, 16, 19 - motion.shape[2], h, w), motion], dim=2)
        for name, kernel, part, first in (("proj", (1, 2, 2), m[:, :, 18:], -1), ("proj_2x", (2, 4, 4), m[:, :, 16:18], -3),
                                          ("proj_4x", (4, 8, 8), m[:, :, :16], -19)):
            tokens = torch.cat([tokens, patch_tokens(sd, f"frame_packer.{name}", part, kernel) + kinds[2]])
            gf, gh, gw = 16 // kernel[0] if first == -19 else 1, h // kernel[1], w // kernel[2]
            positions += [(first + a, r, c) for a in range(gf) for r in spaced(hh, gh) for c in spaced(ww, gw)]
            times += [0.0] * gf * gh * gw
    e, e0 = time_embedding(sd, torch.tensor(times))
    embed = lambda txt: lin(sd, "text_embedding.2", F.gelu(lin(sd, "text_embedding.0", txt), approximate="tanh"))  # noqa: E731
    ctx = embed(text[0])
    if nag is not None:  # (NAG prompt [1, L, text_dim], scale, tau, alpha)
        nag = (embed(nag[0][0]), *nag[1:])
    audio_out = None
    if audio is not None:  # the first ``audio_skip`` encoded frames dropped (the wrapper's framepack)
        glob, local = audio_tokens(sd, audio[..., :(frames + audio_skip) * 4])
        audio_out = (glob[audio_skip:], local[audio_skip:])
    for i in range(S2V["layers"]):
        tokens = block(sd, f"blocks.{i}", tokens, ctx, e0, positions, nag)
        if audio_out is not None and i in INJECT:
            tokens = inject(sd, INJECT.index(i), tokens, *audio_out, hh * ww, audio_scale)
    mod = sd["head.modulation"][0] + e[:, None]
    out = lin(sd, "head.head", ln(tokens) * (1 + mod[:, 1]) + mod[:, 0])[:video]
    out = out.view(frames, hh, ww, 1, 2, 2, 16)
    return torch.einsum("fhwpqrc->cfphqwr", out).reshape(1, 16, frames, h, w)


def s2v_case(seed=0, frames=3, size=8, motion_frames=7):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(x=r(1, 16, frames, size, size), text=r(1, 6, TRANSFORMER["text_dim"]),
                audio=r(1, S2V["audio_layers"], S2V["audio_dim"], frames * 4 + 5), ref=r(1, 16, 1, size, size),
                control=r(1, 16, frames, size, size), motion=r(1, 16, motion_frames, size, size))


@pytest.mark.parametrize("parts", [("audio", "ref", "control", "motion"), ("audio", "ref", "control"), ("control",)])
def test_the_forward_matches_comfyuis_formulas(model, sd, parts):
    c = s2v_case()
    given = {k: c[k] for k in parts}
    with torch.no_grad():
        got = s2v_forward(model, c["x"], torch.tensor([700.0]), c["text"],
                          S2VInputs(audio=given.get("audio"), reference=given.get("ref"), control=given.get("control"),
                                    motion=given.get("motion")))
        want = reference(sd, c["x"], 700.0, c["text"], **given)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)


def test_motion_longer_than_19_frames_keeps_the_last_19(model, sd):
    c = s2v_case(seed=1, motion_frames=23)
    with torch.no_grad():
        got = s2v_forward(model, c["x"], torch.tensor([300.0]), c["text"], S2VInputs(motion=c["motion"]))
        want = reference(sd, c["x"], 300.0, c["text"], motion=c["motion"][:, :, -19:])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)


def test_a_long_chunk_puts_the_reference_nine_frames_after_it(model, sd):
    """Past 21 latent frames the reference's RoPE frame is ``frames + 9``, not 30."""
    c = s2v_case(seed=3, frames=23, size=4)
    with torch.no_grad():
        got = s2v_forward(model, c["x"], torch.tensor([900.0]), c["text"],
                          S2VInputs(audio=c["audio"], reference=c["ref"], control=c["control"]))
        want = reference(sd, c["x"], 900.0, c["text"], audio=c["audio"], ref=c["ref"], control=c["control"])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)


def test_the_audio_changes_only_through_the_injectors(model):
    """Silence and sound differ; with the injectors' output projections zeroed they agree."""
    c = s2v_case(seed=2)
    inputs = lambda audio: S2VInputs(audio=audio, control=c["control"])  # noqa: E731
    with torch.no_grad():
        loud = s2v_forward(model, c["x"], torch.tensor([500.0]), c["text"], inputs(c["audio"]))
        quiet = s2v_forward(model, c["x"], torch.tensor([500.0]), c["text"], inputs(c["audio"] * 0))
        assert (loud - quiet).abs().max() > 1e-3
        saved = [(inj.o.weight.clone(), inj.o.bias.clone()) for inj in model.audio_injector.injector]
        try:
            for inj in model.audio_injector.injector:
                inj.o.weight.zero_()
                inj.o.bias.zero_()
            a = s2v_forward(model, c["x"], torch.tensor([500.0]), c["text"], inputs(c["audio"]))
            b = s2v_forward(model, c["x"], torch.tensor([500.0]), c["text"], inputs(c["audio"] * 0))
        finally:
            for inj, (w, bias) in zip(model.audio_injector.injector, saved):
                inj.o.weight.copy_(w)
                inj.o.bias.copy_(bias)
    torch.testing.assert_close(a, b)


def test_the_core_sampler_hands_the_model_normalised_latents(model):
    """ComfyUI's WAN22_S2V: the audio as given, the last reference latent, the control video
    and the motion latents through the latent format's process_in."""
    from wfrun.models.handles import CoreModel
    from wfrun.packs.comfy_core_models.model_input import WanPredictor, conditioning_entries

    c = s2v_case(seed=4)
    raw = latent_format(16).process_out
    options = {"audio_embed": c["audio"], "reference_latents": [torch.zeros_like(c["ref"]), raw(c["ref"])],
               "control_video": raw(c["control"]), "reference_motion": raw(c["motion"])}
    cond = [[c["text"], options]]
    core = CoreModel(transformer=model, task="s2v-14b", path=Path("s2v.safetensors"), dtype=torch.float32,
                     latent_channels=16, shift=8.0)
    with torch.no_grad():
        got = WanPredictor(core, cond, cond, "cpu")(c["x"], torch.tensor([700.0]), "cond")
        want = s2v_forward(model, c["x"], torch.tensor([700.0]), c["text"],
                           S2VInputs(audio=c["audio"], reference=c["ref"], control=c["control"], motion=c["motion"]))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)
    with pytest.raises(NodeInputError, match="audio"):  # another model would lose the audio: refused
        conditioning_entries(cond, "positive")


def test_nag_guides_the_text_cross_attention_of_every_block(model, sd):
    """KJNodes' WanVideoNAG patches every block's cross_attn whatever the Wan model: on S2V
    the text attention is guided; the audio injectors stay as they are."""
    from wfrun.sampling.forward import ForwardOptions
    from wfrun.sampling.nag import NAGContext, NAGParams

    c = s2v_case(seed=5)
    neg = torch.randn(1, 5, TRANSFORMER["text_dim"], generator=torch.Generator().manual_seed(9))
    inputs = S2VInputs(audio=c["audio"], reference=c["ref"], control=c["control"])
    with torch.no_grad():
        got = s2v_forward(model, c["x"], torch.tensor([600.0]), c["text"], inputs,
                          ForwardOptions(nag=NAGContext(neg, NAGParams(3.0, 1.5, 0.5))))
        plain = s2v_forward(model, c["x"], torch.tensor([600.0]), c["text"], inputs)
        want = reference(sd, c["x"], 600.0, c["text"], audio=c["audio"], ref=c["ref"], control=c["control"],
                         nag=(neg, 3.0, 1.5, 0.5))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)
    assert (got - plain).abs().max() > 1e-3
    assert all(type(b.attn2.processor).__name__ != "NAGCrossAttnProcessor" for b in model.blocks)  # put back


def test_the_core_sampler_guides_only_the_positive_pass_with_nag(model):
    """WanVideoNAG on the core S2V model (MushroomFleet's S2V workflow): the cond pass is
    guided by the NAG prompt, the uncond pass is not (as wfrun does for every core model)."""
    from wfrun.models.handles import CoreModel
    from wfrun.packs.comfy_core_models.model_input import WanPredictor
    from wfrun.sampling.forward import ForwardOptions
    from wfrun.sampling.nag import NAGContext, NAGGuidance, NAGParams

    c = s2v_case(seed=6)
    neg = torch.randn(1, 4, TRANSFORMER["text_dim"], generator=torch.Generator().manual_seed(3))
    options = {"audio_embed": c["audio"], "control_video": latent_format(16).process_out(c["control"])}
    cond = [[c["text"], options]]
    params = NAGParams(2.0, 2.5, 0.25)
    core = CoreModel(transformer=model, task="s2v-14b", path=Path("s2v.safetensors"), dtype=torch.float32,
                     latent_channels=16, shift=8.0)
    inputs = S2VInputs(audio=c["audio"], control=c["control"])
    with torch.no_grad():
        predictor = WanPredictor(core, cond, cond, "cpu", nag=NAGGuidance(neg, params))
        got_cond = predictor(c["x"], torch.tensor([700.0]), "cond")
        got_uncond = predictor(c["x"], torch.tensor([700.0]), "uncond")
        want_cond = s2v_forward(model, c["x"], torch.tensor([700.0]), c["text"], inputs,
                                ForwardOptions(nag=NAGContext(neg, params)))
        want_uncond = s2v_forward(model, c["x"], torch.tensor([700.0]), c["text"], inputs)
    torch.testing.assert_close(got_cond, want_cond, rtol=1e-5, atol=3e-5)
    torch.testing.assert_close(got_uncond, want_uncond, rtol=1e-5, atol=3e-5)


def test_rope_tables_agree_with_diffusers_on_the_video_grid(model):
    pos = torch.tensor([(f, i, j) for f in range(3) for i in range(4) for j in range(5)], dtype=torch.float64)
    cos, sin = rope_tables(model.config.attention_head_dim, pos)
    want_cos, want_sin = model.rope(torch.zeros(1, 16, 3, 8, 10))
    torch.testing.assert_close(cos, want_cos)
    torch.testing.assert_close(sin, want_sin)


def test_timesteps_spread_as_comfyuis_repeat_rule():
    values = torch.tensor([[1.0, 2.0, 3.0]])
    assert spread(values, 6).tolist() == [[1, 1, 2, 2, 3, 3]]
    # 7 tokens over 3 entries: 3 each (7 // 3 + 1), cut to 7
    assert spread(values, 7).tolist() == [[1, 1, 1, 2, 2, 2, 3]]
    assert spread(torch.tensor([[5.0]]), 4).tolist() == [[5, 5, 5, 5]]


# ---------------------------------------------------------------------------- the nodes

@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models), device="cpu", offload_device="cpu")


@pytest.fixture(scope="module")
def vae(ctx):
    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def encoder_output(states_50: int, seed: int, layers: int = 3, width: int = 4) -> dict:
    g = torch.Generator().manual_seed(seed)
    hidden = tuple(torch.randn(1, states_50, width, generator=g) for _ in range(layers))
    return {"encoded_audio": hidden[-1], "encoded_audio_all_layers": hidden, "audio_samples": states_50 * 320}


def expected_audio(enc: dict, offset: int, frames: int) -> torch.Tensor:
    """By hand: 50/s states resampled linearly (ends kept) to int(T * 30 / 50) steps; video
    frame i reads step round(i * 30 / 16) (half to even), zeros past the end."""
    states = torch.cat(enc["encoded_audio_all_layers"])  # [layers, T, C]
    n = states.shape[1]
    steps = int(n / 50 * 30)
    resampled = []
    for j in range(steps):
        x = Fraction(j * (n - 1), steps - 1)
        lo = math.floor(x)
        frac = float(x - lo)
        hi = min(lo + 1, n - 1)
        resampled.append(states[:, lo] * (1 - frac) + states[:, hi] * frac)
    out = []
    for i in range(offset, offset + frames):
        s = round(Fraction(i * 30, 16))
        out.append(resampled[s] if s < steps else torch.zeros_like(resampled[0]))
    return torch.stack(out).permute(1, 2, 0).unsqueeze(0)  # [1, layers, C, frames]


def test_first_chunk_outputs(ctx, vae):
    text = [[torch.zeros(1, 512, 8), {}]]
    enc = encoder_output(40, seed=1)  # 0.8 s: 24 steps at 30/s
    image = torch.rand(1, 24, 40, 3, generator=torch.Generator().manual_seed(2))
    motion = torch.rand(5, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    pos, neg, latent = node("WanSoundImageToVideo")(ctx, positive=text, negative=text, vae=vae, width=64, height=64,
                                                    length=9, batch_size=2, audio_encoder_output=enc, ref_image=image,
                                                    ref_motion=motion)
    assert latent["samples"].shape == (2, 16, 3, 8, 8) and latent["samples"].eq(0).all()
    p, n = pos[0][1], neg[0][1]
    want = expected_audio(enc, 0, 12)
    torch.testing.assert_close(p["audio_embed"], want, rtol=1e-5, atol=1e-6)
    assert n["audio_embed"].shape == want.shape and n["audio_embed"].eq(0).all()
    # centre crop 40 x 24 to 24 x 24 (columns 8 .. 31), then bilinear to 64 x 64
    ref = encode_images(ctx, vae, F.interpolate(image.movedim(-1, 1)[:, :, :, 8:32], size=(64, 64), mode="bilinear",
                                                align_corners=False).movedim(1, -1))
    assert len(p["reference_latents"]) == 1 and len(n["reference_latents"]) == 1
    torch.testing.assert_close(p["reference_latents"][0], ref, rtol=1e-4, atol=1e-4)
    grey = torch.full((73, 64, 64, 3), 0.5)
    grey[-5:] = motion
    torch.testing.assert_close(p["reference_motion"], encode_images(ctx, vae, grey)[:, :, -19:])
    # no control video: the latent of zeros, which the model's normalisation brings back to 0
    control = p["control_video"]
    assert control.shape == (2, 16, 3, 8, 8)
    torch.testing.assert_close(latent_format(16).process_in(control), torch.zeros_like(control), atol=1e-6, rtol=0)


def test_extension_reads_the_audio_after_the_video_so_far(ctx, vae):
    text = [[torch.zeros(1, 512, 8), {}]]
    enc = encoder_output(40, seed=4)
    so_far = torch.randn(1, 16, 3, 8, 10, generator=torch.Generator().manual_seed(5))
    control = torch.rand(20, 64, 80, 3, generator=torch.Generator().manual_seed(6))
    pos, neg, latent = node("WanSoundImageToVideoExtend")(ctx, positive=text, negative=text, vae=vae, length=9,
                                                          video_latent={"samples": so_far}, audio_encoder_output=enc,
                                                          control_video=control)
    assert latent["samples"].shape == (1, 16, 3, 8, 10)
    # 3 latent frames made: video frames 12 .. 23; frame 12 reads step 22 (22.5, half to even), 13 on: past 24 steps
    torch.testing.assert_close(pos[0][1]["audio_embed"], expected_audio(enc, 12, 12), rtol=1e-5, atol=1e-6)
    assert pos[0][1]["audio_embed"][..., 1:].eq(0).all()
    torch.testing.assert_close(pos[0][1]["reference_motion"], so_far)
    assert "reference_latents" not in pos[0][1]
    torch.testing.assert_close(neg[0][1]["control_video"], encode_images(ctx, vae, control[:9]))


def test_audio_ended_before_the_chunk_attaches_none_and_bad_inputs_are_named(ctx, vae):
    text = [[torch.zeros(1, 512, 8), {}]]
    pos, _, _ = node("WanSoundImageToVideoExtend")(ctx, positive=text, negative=text, vae=vae, length=9,
                                                   video_latent={"samples": torch.zeros(1, 16, 20, 8, 8)},
                                                   audio_encoder_output=encoder_output(40, seed=7))
    assert "audio_embed" not in pos[0][1]  # 80 frames in: past the 24-frame buckets
    with pytest.raises(NodeInputError, match="AudioEncoderEncode") as err:
        node("WanSoundImageToVideo")(ctx, positive=text, negative=text, vae=vae, width=32, height=32, length=9,
                                     batch_size=1, audio_encoder_output={"encoded_audio": torch.zeros(1, 4, 4)})
    assert err.value.input_name == "audio_encoder_output"
    with pytest.raises(NodeInputError, match="video LATENT") as err:
        node("WanSoundImageToVideoExtend")(ctx, positive=text, negative=text, vae=vae, length=9, video_latent={})
    assert err.value.input_name == "video_latent"
    (vae22,) = node("VAELoader")(ctx, vae_name="wan2.2_vae_tiny.safetensors")
    with pytest.raises(NodeInputError, match="Wan 2.1") as err:
        node("WanSoundImageToVideo")(ctx, positive=text, negative=text, vae=vae22, width=32, height=32, length=9,
                                     batch_size=1)
    assert err.value.input_name == "vae"


def test_motion_frames_smaller_than_the_packers_8x8_patch_are_refused_at_the_node(ctx, vae, model):
    """ComfyUI's FramePackMotioner patches the motion latents 4x8x8 unpadded: a side of 7
    latents (56 px) fails inside its conv3d, 8 (64 px) runs. The nodes refuse the former,
    naming the input that sets the size."""
    text = [[torch.zeros(1, 512, 8), {}]]
    c = s2v_case(seed=5, size=8)
    with torch.no_grad():  # 8x8 latents: the packer runs
        s2v_forward(model, c["x"], torch.tensor([500.0]), c["text"], S2VInputs(motion=c["motion"]))
    with pytest.raises(RuntimeError, match="Kernel size"):  # the bare conv's own failure at 7
        F.conv3d(torch.zeros(1, 16, 16, 7, 8), torch.zeros(4, 16, 4, 8, 8), stride=(4, 8, 8))
    motion = torch.rand(2, 56, 64, 3)
    for width, height, name in ((64, 56, "height"), (48, 64, "width")):
        with pytest.raises(NodeInputError, match="at least 64 px") as err:
            node("WanSoundImageToVideo")(ctx, positive=text, negative=text, vae=vae, width=width, height=height,
                                         length=9, batch_size=1, ref_motion=motion)
        assert err.value.input_name == name
    # no motion frames: a small first chunk is fine (the packer never runs)
    *_, latent = node("WanSoundImageToVideo")(ctx, positive=text, negative=text, vae=vae, width=32, height=32,
                                              length=9, batch_size=1)
    assert latent["samples"].shape == (1, 16, 3, 4, 4)
    with pytest.raises(NodeInputError, match="32x64 px video") as err:
        node("WanSoundImageToVideoExtend")(ctx, positive=text, negative=text, vae=vae, length=9,
                                           video_latent={"samples": torch.zeros(1, 16, 3, 8, 4)})
    assert err.value.input_name == "video_latent"


# ---------------------------------------------------------------------------- the template

def test_the_s2v_template_runs_on_stand_ins(tmp_path):
    import comfyui_workflow_templates_json

    from wfrun.cli import main

    path = Path(comfyui_workflow_templates_json.__file__).parent / "templates" / "video_wan2_2_14B_s2v.json"
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    assert "Wan 2.2 S2V 14B" in result.output  # the stand-in is the S2V family, so its forward ran
    written = [p for p in json.loads(result.stdout)["written"] if p.endswith(".mp4")]
    assert len(written) == 1 and Path(written[0]).stat().st_size > 0
