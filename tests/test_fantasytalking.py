"""ComfyUI-WanVideoWrapper's FantasyTalking: the wav2vec folder loader, the model loader, the
embeds node's windows, the audio cross-attention hook and audio CFG in the sampler.

References are independent of wfrun's code: the window rule worked out by hand for 81 frames
at 23 fps (175 wav2vec frames), transformers' own ``Wav2Vec2Model.from_pretrained`` and
``Wav2Vec2FeatureExtractor`` on the stand-in folder, and the pack's cross-attention written
out with per-frame softmax loops over the module's own weights."""

from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel

from node_helpers import node
from wfrun.models.fantasytalking import (AUDIO_K, AUDIO_V, attach, has_audio_maps, load_fantasytalking,
                                         split_windows, tiny_state_dict, window_ranges, write_tiny)
from wfrun.models.paths import ModelRoots
from wfrun.models.wav2vec2_folder import FACEBOOK, TENCENT, write_tiny_folder
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import FantasyTalkingEmbeds, ImageEmbeds, SamplerOptions, TextEmbeds
from wfrun.sampling.audio import FantasyAudio
from wfrun.sampling.forward import ForwardOptions
from wfrun.sampling.hooks import active_pass, sampling_pass
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample

FT_NAME = "WanVideo/fantasytalking_tiny.safetensors"


@pytest.fixture
def models(tmp_path):
    write_tiny(tmp_path / "diffusion_models" / FT_NAME, seed=4, dtype=torch.float32)
    write_tiny_folder(tmp_path / "transformers" / FACEBOOK, seed=2)
    return tmp_path


@pytest.fixture
def ctx(models):
    return ExecContext(models=ModelRoots.from_options(str(models)), device="cpu", offload_device="cpu")


def tiny(layers=2, seed=0):
    torch.manual_seed(seed)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=36,
                                 out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=layers,
                                 cross_attn_norm=True, image_dim=20, added_kv_proj_dim=32).eval()


# --- windows ----------------------------------------------------------------------------------

def test_window_rule_worked_out_by_hand_for_81_frames_at_23_fps():
    # 81 / 23 s at 16 kHz = 56347 samples -> (56347 - 400) // 320 + 1 = 175 wav2vec frames;
    # 175 / 81 = 2.16 tokens a frame, half a latent frame int(8.64 / 2) = 4 tokens.
    # frame 1: centre int((2.16 + 10.80) / 2) - 1 = 5 -> [1, 9]; frame 0 ends where 1 starts: [-7, 1];
    # frame 2: int((10.80 + 19.44) / 2) - 1 = 14 -> [10, 18]; frame 20: int((166.4 + 175) / 2) - 1 = 169
    spans = window_ranges(175, 81)
    assert len(spans) == 21
    assert spans[:3] == [(-7, 1), (1, 9), (10, 18)] and spans[20] == (165, 173)
    tokens = torch.arange(175.0).view(1, 175, 1)
    windows, lens = split_windows(tokens, spans)
    assert windows.shape == (1, 21, 17, 1)  # 2 * 4 + 1 tokens widened by 4 each side
    # frame 0: [-11, 5] -> tokens 0..5, then 11 zeros (the cut front part is filled at the end)
    assert windows[0, 0, :, 0].tolist() == list(range(6)) + [0.0] * 11
    # frame 1: [-3, 13] -> tokens 0..13, then 3 zeros; frame 20: [161, 177] -> 161..174, 3 zeros
    assert windows[0, 1, :, 0].tolist() == list(range(14)) + [0.0] * 3
    assert windows[0, 20, :, 0].tolist() == list(range(161, 175)) + [0.0] * 3
    assert windows[0, 2, :, 0].tolist() == list(range(6, 23))
    assert lens.tolist() == [6, 14] + [17] * 18 + [14]


def test_too_few_frames_are_refused():
    with pytest.raises(ValueError, match="at least 5 frames"):
        window_ranges(40, 4)


# --- the loaders -------------------------------------------------------------------------------

def test_model_loader_reads_the_projection_and_the_block_maps(ctx, models):
    (ft,) = node("FantasyTalkingModelLoader")(ctx, model=FT_NAME, base_precision="fp16")
    sd = tiny_state_dict(seed=4)
    assert (ft.spec.audio_dim, ft.spec.proj_dim, ft.spec.dim, ft.spec.blocks) == (32, 24, 32, 2)
    assert ft.projection.proj.weight.dtype == torch.float16
    torch.testing.assert_close(ft.projection.proj.weight.float(), sd["proj_model.proj.weight"], atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(ft.module.blocks[1].v_proj.weight, sd["blocks.1.cross_attn.v_proj.weight"])


def test_missing_wav2vec_folder_names_where_the_pack_downloads(ctx, models):
    with pytest.raises(NodeInputError) as err:
        node("DownloadAndLoadWav2VecModel")(ctx, model=TENCENT)
    text = str(err.value) + str(err.value.hint)
    assert "transformers" in text and TENCENT in text and "never downloads" in text


def test_embeds_match_transformers_and_the_hand_worked_windows(ctx, models):
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    (wav2vec,) = node("DownloadAndLoadWav2VecModel")(ctx, model=FACEBOOK, base_precision="fp32")
    (ft,) = node("FantasyTalkingModelLoader")(ctx, model=FT_NAME, base_precision="fp32")
    g = torch.Generator().manual_seed(0)
    wave = torch.randn(1, 2, 24000 * 4, generator=g) * 0.2  # 4 s of stereo at 24 kHz: longer than the video
    (embeds,) = node("FantasyTalkingWav2VecEmbeds")(ctx, wav2vec_model=wav2vec, fantasytalking_model=ft,
                                                    audio={"waveform": wave, "sample_rate": 24000}, num_frames=81,
                                                    fps=23.0, audio_scale=1.5, audio_cfg_scale=[4.0, 1.0])
    assert isinstance(embeds, FantasyTalkingEmbeds)
    assert embeds.audio_proj.shape == (1, 21, 17, 24)
    assert embeds.audio_context_lens.tolist() == [6, 14] + [17] * 18 + [14]
    assert embeds.audio_scale == 1.5 and embeds.audio_cfg_scale == (4.0, 1.0)

    # reference: torchaudio-style resampling is media.audio's (tested there); the first channel,
    # 56347 samples, transformers' feature extractor and encoder, the projection by hand
    from wfrun.media.audio import resample

    samples = resample(wave, 24000, 16000)[0, 0][:56347]
    folder = models / "transformers" / FACEBOOK
    values = Wav2Vec2FeatureExtractor.from_pretrained(str(folder))(samples.numpy(), sampling_rate=16000,
                                                                    return_tensors="pt").input_values
    with torch.no_grad():
        hidden = Wav2Vec2Model.from_pretrained(str(folder)).eval()(values).last_hidden_state
    assert hidden.shape[1] == 175
    sd = tiny_state_dict(seed=4)
    proj = hidden @ sd["proj_model.proj.weight"].T
    mean, var = proj.mean(-1, keepdim=True), proj.var(-1, unbiased=False, keepdim=True)
    tokens = (proj - mean) / torch.sqrt(var + 1e-5) * sd["proj_model.norm.weight"] + sd["proj_model.norm.bias"]
    torch.testing.assert_close(embeds.audio_proj[0, 1, :14], tokens[0, 0:14], atol=1e-4, rtol=1e-4)
    # frame 7: centre int((2.16 * 25 + 2.16 * 29) / 2) - 1 = 57 -> [53, 61], widened [49, 65]
    torch.testing.assert_close(embeds.audio_proj[0, 7], tokens[0, 49:66], atol=1e-4, rtol=1e-4)
    assert embeds.audio_proj[0, 0, 6:].abs().max() == 0


def test_embeds_refuse_the_tencent_model(ctx, models):
    write_tiny_folder(models / "transformers" / TENCENT, seed=3)
    (wav2vec,) = node("DownloadAndLoadWav2VecModel")(ctx, model=TENCENT, base_precision="fp32")
    (ft,) = node("FantasyTalkingModelLoader")(ctx, model=FT_NAME)
    with pytest.raises(NodeInputError, match="facebook/wav2vec2-base-960h"):
        node("FantasyTalkingWav2VecEmbeds")(ctx, wav2vec_model=wav2vec, fantasytalking_model=ft,
                                            audio={"waveform": torch.zeros(1, 1, 16000), "sample_rate": 16000})


# --- the audio cross-attention -------------------------------------------------------------------

def softmax_attention(q, k, v, valid=None):
    """q [S, n, d], k/v [L, n, d]: softmax(q k^T / sqrt d) v per head, keys past ``valid`` left out."""
    scores = torch.einsum("snd,lnd->nsl", q, k) / q.shape[-1] ** 0.5
    if valid is not None:
        scores[..., valid:] = float("-inf")
    return torch.einsum("nsl,lnd->snd", scores.softmax(-1), v).flatten(1)


def pack_cross_attention(attn, x, image, text, audio, scale, lens=None):
    """The pack's WanI2VCrossAttention with FantasyTalking, written out for batch 1: text and
    image attention with the shared query, each latent frame's tokens to its audio window, then
    o(text + image + scale * audio)."""
    n = attn.heads
    q = attn.norm_q(attn.to_q(x))[0].unflatten(-1, (n, -1))
    k = attn.norm_k(attn.to_k(text))[0].unflatten(-1, (n, -1))
    v = attn.to_v(text)[0].unflatten(-1, (n, -1))
    k_img = attn.norm_added_k(attn.add_k_proj(image))[0].unflatten(-1, (n, -1))
    v_img = attn.add_v_proj(image)[0].unflatten(-1, (n, -1))
    out = softmax_attention(q, k, v) + softmax_attention(q, k_img, v_img)
    frames = audio.shape[1]
    per = x.shape[1] // frames
    a = torch.cat([softmax_attention(q[f * per:(f + 1) * per],
                                     getattr(attn, AUDIO_K)(audio[0, f]).unflatten(-1, (n, -1)),
                                     getattr(attn, AUDIO_V)(audio[0, f]).unflatten(-1, (n, -1)),
                                     None if lens is None else int(lens[f]))
                   for f in range(frames)])
    return attn.to_out[0](out + scale * a)[None]


@pytest.fixture
def audio_model():
    model = tiny()
    ft_sd = tiny_state_dict(seed=9)
    from wfrun.models.fantasytalking import FantasyTalking, FantasyTalkingModule, spec_of

    spec = spec_of({k: tuple(v.shape) for k, v in ft_sd.items()})
    module = FantasyTalkingModule(spec)
    module.load_state_dict({k: ft_sd[v] for k, v in module.state_names().items()})
    attach(model, FantasyTalking(module, spec), torch.float32)
    return model


@pytest.mark.parametrize("attention", ["native", "flash"])
@torch.no_grad()
def test_audio_hook_matches_the_pack_cross_attention(audio_model, attention):
    assert has_audio_maps(audio_model)
    attn = audio_model.blocks[1].attn2
    g = torch.Generator().manual_seed(3)
    frames, per = 3, 4
    x = torch.randn(1, frames * per, 32, generator=g)
    image, text = torch.randn(1, 257, 32, generator=g), torch.randn(1, 512, 32, generator=g)
    audio = torch.randn(1, frames, 5, 24, generator=g)
    audio[0, 0, 3:] = 0  # a window filled up with zeros
    lens = torch.tensor([3, 5, 5])
    fa = FantasyAudio(audio, lens, scale=1.7)
    masked = attention == "flash"
    with sampling_pass(audio_model, audio=True, attention="native") as state:
        hook = attn._diffusers_hook.get_hook("wfrun.fantasytalking_audio")
        hook.masked = masked  # the flash backend itself needs CUDA; its masking rule is what is tested
        state.call = ForwardOptions(audio=fa)
        got = attn(x, torch.cat([image, text], dim=1))
        state.call = ForwardOptions(audio=None)
        without = attn(x, torch.cat([image, text], dim=1))
    expected = pack_cross_attention(attn, x, image, text, audio, 1.7, lens if masked else None)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(without, pack_cross_attention(attn, x, image, text, audio, 0.0), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, without, atol=1e-3)
    # masking changes the frame whose window is filled up
    other = pack_cross_attention(attn, x, image, text, audio, 1.7, None if masked else lens)
    assert not torch.allclose(got[:, :per], other[:, :per], atol=1e-4)
    assert active_pass(audio_model) is None and getattr(attn, "_diffusers_hook", None) is None


# --- the sampler ---------------------------------------------------------------------------------

def request(model, audio=None, audio_cfg=1.0, cfg=5.0, steps=2, counter=None, frames=3, **kw):
    g = torch.Generator().manual_seed(11)
    y = torch.randn(20, frames, 4, 4, generator=g)
    emb = ImageEmbeds(image_embeds=y, num_frames=4 * frames - 3, lat_h=4, lat_w=4,
                      clip_context=torch.randn(257, 20, generator=g))
    text = TextEmbeds(prompt_embeds=(torch.randn(7, 24, generator=g),),
                      negative_prompt_embeds=(torch.randn(5, 24, generator=g),))
    return SamplingRequest(transformer=model, image_embeds=emb, text_embeds=text, steps=steps, cfg=cfg, shift=5.0,
                           seed=3, scheduler="unipc", audio=audio, audio_cfg=audio_cfg,
                           on_block=(lambda i: counter.append(i)) if counter is not None else None, **kw)


def fantasy_audio(scale=1.0, frames=3):
    g = torch.Generator().manual_seed(5)
    return FantasyAudio(torch.randn(1, frames, 5, 24, generator=g), torch.full((frames,), 5), scale=scale)


@torch.no_grad()
def test_audio_changes_the_video_and_scale_zero_does_not(audio_model):
    plain = sample(request(audio_model))["samples"]
    silent = sample(request(audio_model, fantasy_audio(scale=0.0)))["samples"]
    loud = sample(request(audio_model, fantasy_audio(scale=1.0)))["samples"]
    torch.testing.assert_close(silent, plain, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(loud, plain, atol=1e-3)


@torch.no_grad()
def test_audio_cfg_is_the_packs_three_pass_formula(audio_model):
    # with the audio term switched off, no_audio == cond: the formula falls back to plain cfg
    calls: list[int] = []
    out = sample(request(audio_model, fantasy_audio(scale=0.0), audio_cfg=[3.0, 1.0], counter=calls))["samples"]
    torch.testing.assert_close(out, sample(request(audio_model))["samples"], atol=1e-5, rtol=1e-5)
    assert len(calls) == 2 * (3 + 2)  # step 0: cond, uncond, no-audio; step 1: cond, uncond (2 blocks each)

    # with audio: uncond + cfg (no_audio - uncond) + audio_cfg (cond - no_audio), built from three
    # single-step runs whose predictions are read back from the scheduler's first step
    from wfrun.sampling import loop

    seen = []
    original = loop._forward

    def spy(p, z, t, ctx, clip, idx, pct, uncond, pred_id, feta_on, vace=(), animate=None, audio=None, *more):
        out = original(p, z, t, ctx, clip, idx, pct, uncond, pred_id, feta_on, vace, animate, audio, *more)
        seen.append((uncond, audio is not None, out[0]))
        return out

    loop._forward = spy
    try:
        p = loop.prepare(request(audio_model, fantasy_audio(), audio_cfg=3.0, cfg=5.0, steps=1))
        pred = loop.predict(p, p.latent, 5.0, p.text.positive, torch.tensor([900.0]), 0, p.cond.image_cond, None,
                            [None, None, None], False)
    finally:
        loop._forward = original
    assert [(u, a) for u, a, _ in seen] == [(False, True), (True, False), (False, False)]
    cond, uncond, no_audio = (o[0] for _, _, o in seen)
    torch.testing.assert_close(pred, uncond + 5.0 * (no_audio - uncond) + 3.0 * (cond - no_audio))


@torch.no_grad()
def test_sampler_refusals(audio_model):
    with pytest.raises(SamplingError, match="cover 4 latent frames, the video has 3"):
        sample(request(audio_model, fantasy_audio(frames=4)))
    with pytest.raises(SamplingError, match="batched cfg"):
        sample(request(audio_model, fantasy_audio(), options=SamplerOptions(batched_cfg=True)))
    with pytest.raises(SamplingError, match="without FantasyTalking.s audio layers"):
        sample(request(tiny(), fantasy_audio()))


@torch.no_grad()
def test_context_windows_get_their_frames_audio(audio_model):
    from wfrun.sampling import loop
    from wfrun.sampling.conditioning import ContextOptions

    audio = fantasy_audio(frames=5)
    part = audio.frames_of([0, 2])
    torch.testing.assert_close(part.tokens, audio.tokens[:, [0, 2]])
    assert part.lens.tolist() == [5, 5] and part.scale == audio.scale
    seen = []
    original = loop._forward

    def spy(p, z, t, ctx, clip, idx, pct, uncond, pred_id, feta_on, vace=(), animate=None, audio=None, *more):
        seen.append((z.shape[2], audio))
        return original(p, z, t, ctx, clip, idx, pct, uncond, pred_id, feta_on, vace, animate, audio, *more)

    windows = ContextOptions(context_frames=9, context_stride=4, context_overlap=4, freenoise=False)
    loop._forward = spy
    try:
        sample(request(audio_model, audio, frames=5, steps=1, options=SamplerOptions(context=windows)))
    finally:
        loop._forward = original
    starts = set()
    for frames, got in seen:  # each window's call carries its own frames' windows, in order
        assert got is not None and got.frames == frames == 3
        rows = [next(i for i in range(5) if torch.equal(got.tokens[0, j], audio.tokens[0, i])) for j in range(3)]
        assert rows == list(range(rows[0], rows[0] + 3))
        starts.add(rows[0])
    assert len(starts) > 1


def test_attach_refuses_a_file_for_another_model():
    ft_sd = tiny_state_dict(seed=1, blocks=3)
    from wfrun.models.fantasytalking import FantasyTalking, FantasyTalkingModule, spec_of

    spec = spec_of({k: tuple(v.shape) for k, v in ft_sd.items()})
    with pytest.raises(ValueError, match="3 blocks"):
        attach(tiny(), FantasyTalking(FantasyTalkingModule(spec), spec), torch.float32)


def test_model_loader_attaches_in_base_precision(ctx, models, tmp_path):
    from wfrun.models.tiny import ensure_tiny_models

    tiny_root = ensure_tiny_models()
    roots = ModelRoots((tiny_root, models))
    c = ExecContext(models=roots, device="cpu", offload_device="cpu")
    (ft,) = node("FantasyTalkingModelLoader")(c, model=FT_NAME)
    name = next(p.relative_to(tiny_root / "diffusion_models").as_posix()
                for p in (tiny_root / "diffusion_models").rglob("*.safetensors") if "i2v" in p.name.lower())
    (model,) = node("WanVideoModelLoader")(c, model=name, base_precision="bf16", quantization="disabled",
                                           load_device="main_device", attention_mode="sdpa", fantasytalking_model=ft)
    block = model.transformer.blocks[0]
    assert getattr(block.attn2, AUDIO_K).weight.dtype == torch.bfloat16
    torch.testing.assert_close(getattr(block.attn2, AUDIO_V).weight.float(),
                               load_fantasytalking(models / "diffusion_models" / FT_NAME).module.blocks[0]
                               .v_proj.weight.float(), atol=1e-2, rtol=1e-2)


# --- stand-ins, detection and the folder check -------------------------------------------------

def test_standins_for_the_loaders(tmp_path):
    from wfrun.models.detect import detect
    from wfrun.models.preflight import check_model_file
    from wfrun.models.standins import family_for, folder_standin_for, write_standins

    ft = family_for("FantasyTalkingModelLoader", "model", "diffusion_models", "WanVideo\\fantasytalking_fp16.safetensors")
    folder = folder_standin_for("DownloadAndLoadWav2VecModel", "model", FACEBOOK)
    assert ft.family.kind == "fantasytalking" and folder.relpath == "transformers/facebook/wav2vec2-base-960h"
    root = write_standins([ft, folder], tmp_path / "tiny", cache=tmp_path / "cache")
    path = root / "diffusion_models" / "WanVideo" / "fantasytalking_fp16.safetensors"
    info = detect(path)
    assert info.kind == "fantasytalking" and info.dtype == "fp16"
    assert check_model_file(path, "diffusion_models").kind == "fantasytalking"  # accepted where the loader looks
    ctx = ExecContext(models=ModelRoots((root,)), device="cpu", offload_device="cpu")
    (wav2vec,) = node("DownloadAndLoadWav2VecModel")(ctx, model=FACEBOOK)
    (model,) = node("FantasyTalkingModelLoader")(ctx, model="WanVideo\\fantasytalking_fp16.safetensors")
    (embeds,) = node("FantasyTalkingWav2VecEmbeds")(ctx, wav2vec_model=wav2vec, fantasytalking_model=model,
                                                    audio={"waveform": torch.randn(1, 1, 8000), "sample_rate": 16000},
                                                    num_frames=9)
    assert embeds.audio_proj.shape[:2] == (1, 3) and embeds.audio_proj.dtype == torch.float16


def test_validate_reports_a_missing_wav2vec_folder(tmp_path):
    from wfrun.graph.check import CheckOptions
    from wfrun.graph.model import NodeInstance, WorkflowGraph
    from wfrun.packs.wanvideo.checks import wav2vec_folder_missing

    import networkx as nx

    g = nx.MultiDiGraph()
    g.add_node("7", node=NodeInstance("7", "DownloadAndLoadWav2VecModel", inputs={"model": TENCENT}))
    graph = WorkflowGraph(g)
    found = list(wav2vec_folder_missing(graph, CheckOptions(models=ModelRoots((tmp_path,)))))
    assert [d.code for d in found] == ["missing-model"] and "transformers" in found[0].message
    write_tiny_folder(tmp_path / "transformers" / TENCENT)
    assert not list(wav2vec_folder_missing(graph, CheckOptions(models=ModelRoots((tmp_path,)))))
