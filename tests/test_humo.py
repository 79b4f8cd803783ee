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
from wfrun.models.tiny import (HUMO, TRANSFORMER, TRANSFORMER_1_3B, TRANSFORMER_14B, TinySpec, transformer_weights,
                               write_file)
from wfrun.sampling.humo import GREY_LATENT, HuMoInputs, humo_forward

LAYERS = TRANSFORMER["layers"]


# ---------------------------------------------------------------------------- detection and loading

def test_the_humo_checkpoint_is_told_by_its_audio_projection():
    sd = transformer_weights("humo-17b", 0, TRANSFORMER_14B, meta=True)
    header = {f"model.diffusion_model.{k}": TensorInfo("F8_E4M3", tuple(v.shape)) for k, v in sd.items()}
    info = identify(Path("some_model.safetensors"), header)  # by its parts, not its name
    assert info.kind == "wan_transformer" and info.task == "humo-17b" and not info.notes
    c = info.config
    assert (c["dim"], c["num_layers"], c["in_dim"]) == (5120, 40, 36)  # I2V-like channels, no CLIP
    # ComfyUI's AudioProjModel(seq_len=8, blocks=5, channels=1280, intermediate_dim=512, output_dim=1536, 16 tokens)
    assert (c["humo_audio_in"], c["humo_hidden"], c["humo_tokens"], c["humo_width"]) == (8 * 5 * 1280, 512, 16, 1536)
    assert sd["blocks.39.audio_cross_attn_wrapper.audio_cross_attn.k.weight"].shape == (5120, 1536)
    assert task_from_name("humo_17B_fp8_e4m3fn.safetensors") == "humo-17b"
    assert task_from_name("humo_1.7B_bf16.safetensors") == "humo-1.7b"
    small = {k: TensorInfo("BF16", tuple(v.shape))
             for k, v in transformer_weights("humo-1.7b", 0, TRANSFORMER_1_3B, meta=True).items()}
    info = identify(Path("x.safetensors"), small)
    assert info.task == "humo-1.7b" and info.config["in_dim"] == 16 and info.config["dim"] == 1536
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


def humo_case(seed=0, frames=3, size=8, channels=36):
    """Inputs of the model's width: the 17B's 36 channels (noise, mask, image latents) by default."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(x=r(1, channels, frames, size, size), text=r(1, 6, TRANSFORMER["text_dim"]),
                audio=r(1, frames, 8, 5, HUMO["audio_dim"]), ref=r(1, channels, 1, size, size))


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


def test_the_1_7b_model_loads_and_runs_without_image_channels(tmp_path):
    spec = TinySpec("diffusion_models", "humo_1.7B_tiny_fp32.safetensors", "wan_transformer", "humo-1.7b",
                    "comfyui", "fp32")
    path = write_file(spec, tmp_path)
    small = load_transformer(path, dtype=torch.float32)
    sd = {k.removeprefix("model.diffusion_model."): v.float() for k, v in load_file(str(path)).items()}
    assert is_humo(small) and small.config.in_channels == 16
    c = humo_case(seed=6, channels=16)
    with torch.no_grad():
        got = humo_forward(small, c["x"], torch.tensor([400.0]), c["text"], HuMoInputs(c["audio"], c["ref"]))
        want = reference(sd, c["x"], 400.0, c["text"], audio=c["audio"], ref=c["ref"])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)


def test_the_audio_changes_the_output_and_its_scale_matters(model):
    c = humo_case(seed=3)
    with torch.no_grad():
        base = humo_forward(model, c["x"], torch.tensor([500.0]), c["text"], HuMoInputs(reference=c["ref"]))
        one = humo_forward(model, c["x"], torch.tensor([500.0]), c["text"], HuMoInputs(c["audio"], c["ref"]))
        zero = humo_forward(model, c["x"], torch.tensor([500.0]), c["text"], HuMoInputs(c["audio"], c["ref"], 0.0))
    assert (one - base).abs().max() > 1e-3
    torch.testing.assert_close(zero, base)


# ---------------------------------------------------------------------------- audio windows

def test_layer_groups_by_hand():
    """Means of states 0-7 … 24-31 and state 32, resampled 50 → 25 a second with the ends
    kept (numpy's interp over ``linspace(0, T - 1, steps)``), after the cut to 2 x samples // 640."""
    import numpy as np

    from wfrun.sampling.humo_audio import layer_groups

    g = torch.Generator().manual_seed(5)
    hidden = torch.randn(1, 14, 33, 3, generator=g)
    got = layer_groups(hidden, samples=6 * 640 + 100)  # 6 video frames: 12 states kept, 6 steps out
    assert got.shape == (1, 6, 5, 3)
    kept = hidden[0, :12].double().numpy()
    groups = [kept[:, 8 * k:8 * k + 8].mean(axis=1) for k in range(4)] + [kept[:, 32]]
    where = np.linspace(0, 11, 6)
    for k, grp in enumerate(groups):
        want = np.stack([np.interp(where, np.arange(12), grp[:, c]) for c in range(3)], axis=1)
        torch.testing.assert_close(got[0, :, k].double(), torch.from_numpy(want), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="33 hidden states"):
        layer_groups(torch.zeros(1, 10, 25, 3), 6400)


def test_audio_windows_by_hand():
    from wfrun.sampling.humo_audio import audio_windows

    features = torch.arange(1, 11).float().view(10, 1, 1).expand(10, 5, 2)  # frame f holds f + 1
    windows = audio_windows(features, length=13)  # 4 latent frames
    firsts = windows[:, :, 0, 0].tolist()
    assert firsts == [[0, 0, 0, 0, 0, 1, 2, 3],     # three lead zeros, frames -2 … 2
                      [0, 1, 2, 3, 4, 5, 6, 7],     # frames -1 … 6
                      [4, 5, 6, 7, 8, 9, 10, 0],    # frames 3 … 10 (10 is past the sound)
                      [8, 9, 10, 0, 0, 0, 0, 0]]    # frames 7 … 14
    assert windows.shape == (4, 8, 5, 2)


# ---------------------------------------------------------------------------- the node and the sampler

@pytest.fixture(scope="module")
def ctx(tiny_models):
    from wfrun.models.paths import ModelRoots
    from wfrun.nodes.executor import ExecContext

    return ExecContext(models=ModelRoots.from_options(tiny_models), device="cpu", offload_device="cpu")


@pytest.fixture(scope="module")
def vae(ctx):
    from node_helpers import node

    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def whisper_output(states: int, seed: int, width: int = 4) -> dict:
    g = torch.Generator().manual_seed(seed)
    hidden = tuple(torch.randn(1, states, width, generator=g) for _ in range(33))
    return {"encoded_audio": hidden[-1], "encoded_audio_all_layers": hidden, "audio_samples": states * 320}


def test_the_node_attaches_reference_and_audio_windows(ctx, vae):
    from node_helpers import node
    from wfrun.packs.comfy_core_models.vae_nodes import encode_images
    from wfrun.sampling.humo_audio import audio_windows, layer_groups

    text = [[torch.zeros(1, 512, 8), {}]]
    enc = whisper_output(40, seed=1)  # 0.8 s: 20 video frames
    image = torch.rand(2, 24, 40, 3, generator=torch.Generator().manual_seed(2))
    pos, neg, latent = node("WanHuMoImageToVideo")(ctx, positive=text, negative=text, vae=vae, width=32, height=32,
                                                   length=9, batch_size=2, audio_encoder_output=enc, ref_image=image)
    assert latent["samples"].shape == (2, 16, 3, 4, 4) and latent["samples"].eq(0).all()
    p, n = pos[0][1], neg[0][1]
    want = audio_windows(layer_groups(torch.stack(enc["encoded_audio_all_layers"], dim=2), 40 * 320)[0], 9)[None]
    assert p["audio_embed"].shape == (1, 3, 8, 5, 4)
    torch.testing.assert_close(p["audio_embed"], want)
    # latent frame 1 reads feature frames -1 … 6: the mean of states 0-7 of frame 3 is at column 3
    states = torch.stack(enc["encoded_audio_all_layers"], dim=2)[0, :, :8].mean(dim=1)  # [40, 4] at 50/s
    frame3 = states[3 * 39 // 19] * (1 - (3 * 39 / 19 % 1)) + states[3 * 39 // 19 + 1] * (3 * 39 / 19 % 1)
    torch.testing.assert_close(p["audio_embed"][0, 1, 4, 0], frame3, rtol=1e-5, atol=1e-6)
    assert n["audio_embed"].eq(0).all() and n["audio_embed"].shape == p["audio_embed"].shape
    # the first reference frame, centre crop 40 x 24 → 24 x 24, bilinear to 32 x 32
    ref = encode_images(ctx, vae, F.interpolate(image[:1].movedim(-1, 1)[:, :, :, 8:32], size=(32, 32),
                                                mode="bilinear", align_corners=False).movedim(1, -1))
    torch.testing.assert_close(p["reference_latents"][0], ref, rtol=1e-4, atol=1e-4)
    assert n["reference_latents"][0].eq(0).all() and n["reference_latents"][0].shape == ref.shape

    pos, neg, _ = node("WanHuMoImageToVideo")(ctx, positive=text, negative=text, vae=vae, width=32, height=48,
                                              length=13, batch_size=1)
    assert pos[0][1]["reference_latents"][0].shape == (1, 16, 1, 6, 4)
    assert pos[0][1]["audio_embed"].shape == (1, 4, 8, 5, 1280) and pos[0][1]["audio_embed"].eq(0).all()


def test_node_refusals_name_their_input(ctx, vae):
    from node_helpers import node
    from wfrun.nodes.executor import NodeInputError

    text = [[torch.zeros(1, 512, 8), {}]]
    wav2vec = {"encoded_audio_all_layers": tuple(torch.zeros(1, 20, 4) for _ in range(25)), "audio_samples": 6400}
    for bad, words in ((wav2vec, "33 hidden states"), ({"encoded_audio": torch.zeros(1, 4, 4)}, "AudioEncoderEncode")):
        with pytest.raises(NodeInputError, match=words) as err:
            node("WanHuMoImageToVideo")(ctx, positive=text, negative=text, vae=vae, width=32, height=32, length=9,
                                        batch_size=1, audio_encoder_output=bad)
        assert err.value.input_name == "audio_encoder_output"
    (vae22,) = node("VAELoader")(ctx, vae_name="wan2.2_vae_tiny.safetensors")
    with pytest.raises(NodeInputError, match="Wan 2.1") as err:
        node("WanHuMoImageToVideo")(ctx, positive=text, negative=text, vae=vae22, width=32, height=32, length=9,
                                    batch_size=1)
    assert err.value.input_name == "vae"


def test_the_core_sampler_hands_the_model_normalised_reference_and_the_audio(model):
    """ComfyUI's WAN21_HuMo (17B, no concatenated channels): the audio as given, the last
    reference latent through the latent format's process_in."""
    from wfrun.models.handles import CoreModel
    from wfrun.nodes.executor import NodeInputError
    from wfrun.packs.comfy_core_models.latent_format import latent_format
    from wfrun.packs.comfy_core_models.model_input import WanPredictor, conditioning_entries

    c = humo_case(seed=4, channels=16)
    raw = latent_format(16).process_out
    options = {"audio_embed": c["audio"], "reference_latents": [torch.zeros_like(c["ref"]), raw(c["ref"])]}
    cond = [[c["text"], options]]
    core = CoreModel(transformer=model, task="humo-17b", path=Path("humo.safetensors"), dtype=torch.float32,
                     latent_channels=16, shift=8.0)
    # ComfyUI's c_concat for the 17B: four zero mask channels, then the grey video's latent by frame
    grey = torch.tensor(GREY_LATENT)  # first, second, every later latent frame
    concat = torch.zeros(1, 20, 3, 8, 8)
    for f in range(3):
        concat[0, 4:, f] = grey[min(f, 2)][:, None, None]
    ref_full = torch.cat([torch.zeros(1, 16, 1, 8, 8), torch.ones(1, 4, 1, 8, 8), c["ref"]], dim=1)
    with torch.no_grad():
        got = WanPredictor(core, cond, cond, "cpu")(c["x"], torch.tensor([700.0]), "cond")
        want = humo_forward(model, torch.cat([c["x"], concat], dim=1), torch.tensor([700.0]), c["text"],
                            HuMoInputs(c["audio"], ref_full))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)
    with pytest.raises(NodeInputError, match="audio"):  # another model would lose the audio: refused
        conditioning_entries(cond, "positive")
    short = [[c["text"], {**options, "audio_embed": c["audio"][:, :2]}]]
    with pytest.raises(NodeInputError, match="3 latent frames") as err:
        WanPredictor(core, short, cond, "cpu")(c["x"], torch.tensor([700.0]), "cond")
    assert err.value.input_name == "positive"


# ---------------------------------------------------------------------------- whole workflows

@pytest.mark.parametrize("workflow", ["template", "humo_core_tiny", "humo_wrapper_tiny"])
def test_humo_workflows_run_on_stand_ins(tmp_path, workflow):
    import json

    from click.testing import CliRunner

    from wfrun.cli import main

    if workflow == "template":
        import comfyui_workflow_templates_json

        path = Path(comfyui_workflow_templates_json.__file__).parent / "templates" / "video_humo.json"
    else:
        path = Path(__file__).resolve().parents[1] / "workflows" / f"{workflow}.json"
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    assert "HuMo 17B" in result.output and "Whisper" in result.output  # the stand-ins are HuMo's and Whisper's
    written = [p for p in json.loads(result.stdout)["written"] if p.endswith(".mp4")]
    assert len(written) == 1 and Path(written[0]).stat().st_size > 0


def test_a_gguf_release_loads_with_its_audio_parts(tmp_path, humo_file):
    """ComfyUI-GGUF's UnetLoaderGGUF files: the audio parts come along (quantized linears);
    Q8_0 of the same weights gives the fp32 file's output to quantization error."""
    from wfrun.models.load_gguf import load_gguf_transformer
    from wfrun.models.tiny_gguf import write_wan_gguf

    import zlib

    seed = zlib.crc32(humo_file.name.encode())  # the seed the module's fp32 file was written with (TinySpec.seed)
    path = write_wan_gguf(tmp_path / "humo_17B_Q8_0.gguf", "humo-17b", "Q8_0", seed=seed)
    quantized = load_gguf_transformer(path, dtype=torch.float32)
    assert is_humo(quantized) and quantized.config.in_channels == 36
    full = load_transformer(humo_file, dtype=torch.float32)
    c = humo_case(seed=8)
    with torch.no_grad():
        got = humo_forward(quantized, c["x"], torch.tensor([600.0]), c["text"], HuMoInputs(c["audio"], c["ref"]))
        want = humo_forward(full, c["x"], torch.tensor([600.0]), c["text"], HuMoInputs(c["audio"], c["ref"]))
        silent = humo_forward(full, c["x"], torch.tensor([600.0]), c["text"], HuMoInputs(reference=c["ref"]))
    error = (got - want).abs().max() / want.abs().max()
    assert error < 0.02 < (silent - want).abs().max() / want.abs().max()
