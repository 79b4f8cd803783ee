"""ModelPatchLoader's MultiTalk/InfiniteTalk audio patch: loading, the audio tokens and the
audio cross-attention, against references written here from the patch's description with
plain loops and matrix products on the file's own tensors (numpy's ``interp`` for the 50 → 25
frames a second resampling, a loop over video frames for the windows, per-frame softmax
attention)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from node_helpers import node
from wfrun.models.header import CheckpointError
from wfrun.models.multitalk import (MultiTalkPatch, audio_frames, audio_tokens, spec_of, tiny_state_dict,
                                    write_tiny)
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.fixture
def models(tmp_path):
    write_tiny(tmp_path / "model_patches" / "infinitetalk_single_tiny.safetensors", seed=5, dtype=torch.float32)
    return tmp_path


@pytest.fixture
def ctx(models):
    return ExecContext(models=ModelRoots.from_options(str(models)), device="cpu", offload_device="cpu")


@pytest.fixture
def patch(ctx) -> MultiTalkPatch:
    (loaded,) = node("ModelPatchLoader")(ctx, name="infinitetalk_single_tiny.safetensors")
    return loaded


def layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def test_loader_reads_the_shape_from_the_file(patch):
    spec = patch.spec
    assert (spec.dim, spec.heads, spec.blocks, spec.audio_dim, spec.intermediate, spec.audio_values) == \
        (32, 2, 2, 16, 24, 2 * 32)


def test_audio_frames_drop_the_first_state_and_halve_the_rate():
    gen = torch.Generator().manual_seed(0)
    states = tuple(torch.randn(1, 51, 8, generator=gen) for _ in range(4))  # 3 layers' outputs, ~1 s at 50/s
    got = audio_frames(states)
    assert got.shape == (25, 3, 8)  # int(51 / 50 * 25) frames, layers, channels
    for layer in range(3):
        src = states[layer + 1][0].numpy()
        positions = np.linspace(0, 50, 25)  # corners aligned: first and last frames kept
        for c in range(8):
            np.testing.assert_allclose(got[:, layer, c].numpy(), np.interp(positions, np.arange(51), src[:, c]),
                                       atol=5e-5)  # float32 positions


def reference_tokens(sd: dict[str, torch.Tensor], audio: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """[latent frames, 32, width] from the description: 5-frame windows around each video
    frame (clamped; padded with the first frame past the end), 8 picks for each later latent
    frame, the projection's layers."""
    if end > audio.shape[0]:
        audio = torch.cat([audio] + [audio[:1]] * (end - audio.shape[0]))

    def window(frame: int) -> torch.Tensor:
        return torch.stack([audio[min(max(frame + o, 0), audio.shape[0] - 1)] for o in (-2, -1, 0, 1, 2)])

    frames = [window(f) for f in range(start, end)]
    inputs = [("proj1", frames[0])]
    for k in range((end - start - 1) // 4):
        a, b, c, d = frames[1 + 4 * k: 5 + 4 * k]
        picks = [a[0], a[1], a[2], b[2], c[2], d[2], d[3], d[4]]
        inputs.append(("proj1_vf", torch.stack(picks)))
    out = []
    for name, x in inputs:
        h = torch.relu(x.flatten() @ sd[f"audio_proj.{name}.weight"].T + sd[f"audio_proj.{name}.bias"])
        h = torch.relu(h @ sd["audio_proj.proj2.weight"].T + sd["audio_proj.proj2.bias"])
        t = (h @ sd["audio_proj.proj3.weight"].T + sd["audio_proj.proj3.bias"]).view(32, -1)
        out.append(layer_norm(t, sd["audio_proj.norm.weight"], sd["audio_proj.norm.bias"]))
    return torch.stack(out)


@pytest.mark.parametrize("start, end, audio_len", [(0, 9, 20), (3, 16, 14), (0, 5, 3)])
def test_audio_tokens_match_the_windows_and_projection(patch, models, start, end, audio_len):
    sd = load_file(str(models / "model_patches" / "infinitetalk_single_tiny.safetensors"))
    audio = torch.randn(audio_len, 2, 32, generator=torch.Generator().manual_seed(audio_len))
    with torch.no_grad():
        got = audio_tokens(patch.module.audio_proj, [audio], start, end)
    expected = reference_tokens(sd, audio, start, end)
    assert got.shape == (1, 1 + (end - start - 1) // 4, 32, 16)
    torch.testing.assert_close(got[0], expected, atol=1e-5, rtol=1e-5)


def test_two_speakers_tokens_sit_side_by_side(patch):
    gen = torch.Generator().manual_seed(9)
    a, b = torch.randn(12, 2, 32, generator=gen), torch.randn(12, 2, 32, generator=gen)
    with torch.no_grad():
        both = audio_tokens(patch.module.audio_proj, [a, b], 0, 9)
        one = audio_tokens(patch.module.audio_proj, [a], 0, 9)
        two = audio_tokens(patch.module.audio_proj, [b], 0, 9)
    assert both.shape == (1, 3, 64, 16)
    torch.testing.assert_close(both, torch.cat([one, two], dim=2))


def reference_cross_attention(sd: dict[str, torch.Tensor], block: int, x: torch.Tensor, audio: torch.Tensor,
                              grid: tuple[int, int, int], heads: int) -> torch.Tensor:
    p = f"blocks.{block}."
    frames, h, w = grid
    per = h * w
    normed = layer_norm(x, sd[p + "norm_x.weight"], sd[p + "norm_x.bias"])
    out = torch.zeros_like(x)
    dim = x.shape[-1]
    hd = dim // heads
    for b in range(x.shape[0]):
        for f in range(frames):
            q = normed[b, f * per:(f + 1) * per] @ sd[p + "audio_cross_attn.q_linear.weight"].T \
                + sd[p + "audio_cross_attn.q_linear.bias"]
            kv = audio[f] @ sd[p + "audio_cross_attn.kv_linear.weight"].T + sd[p + "audio_cross_attn.kv_linear.bias"]
            k, v = kv[:, :dim], kv[:, dim:]
            heads_out = []
            for i in range(heads):
                s = slice(i * hd, (i + 1) * hd)
                weights = torch.softmax(q[:, s] @ k[:, s].T / hd ** 0.5, dim=-1)
                heads_out.append(weights @ v[:, s])
            y = torch.cat(heads_out, dim=-1)
            out[b, f * per:(f + 1) * per] = y @ sd[p + "audio_cross_attn.proj.weight"].T \
                + sd[p + "audio_cross_attn.proj.bias"]
    return out


def test_audio_cross_attention_attends_frame_by_frame(patch, models):
    sd = load_file(str(models / "model_patches" / "infinitetalk_single_tiny.safetensors"))
    gen = torch.Generator().manual_seed(4)
    grid = (3, 2, 4)
    x = torch.randn(1, 24, 32, generator=gen)
    audio = torch.randn(3, 32, 16, generator=gen)
    block = patch.module.blocks[1]
    with torch.no_grad():
        got = block.audio_cross_attn(block.norm_x(x), audio, grid)
    torch.testing.assert_close(got, reference_cross_attention(sd, 1, x, audio, grid, heads=2), atol=1e-5, rtol=1e-5)
    for bad_x, bad_grid in ((x[:, :20], grid), (x, (4, 2, 3))):  # tokens or frames that do not fit
        with pytest.raises(ValueError):
            block.audio_cross_attn(bad_x, audio, bad_grid)


def test_comfyui_shapes_and_refusals():
    sd = {"blocks.0.audio_cross_attn.proj.weight": (5120, 5120), "audio_proj.proj1.weight": (512, 5 * 12 * 768),
          "audio_proj.proj1_vf.weight": (512, 8 * 12 * 768), "audio_proj.norm.weight": (768,)}
    spec = spec_of(sd)
    assert (spec.heads, spec.audio_values, spec.intermediate, spec.audio_dim) == (40, 12 * 768, 512, 768)
    tiny = {k: tuple(v.shape) for k, v in tiny_state_dict().items()}
    with pytest.raises(CheckpointError, match="5120-wide"):
        spec_of(tiny)
    assert spec_of(tiny, {"wfrun.num_heads": "2"}).heads == 2
    with pytest.raises(CheckpointError, match="whole number of 3 heads"):
        spec_of(tiny, {"wfrun.num_heads": "3"})


def test_loader_refuses_other_patches_and_broken_files_by_input(ctx, models):
    folder = models / "model_patches"
    save_file({"controlnet_blocks.0.y_rms.weight": torch.zeros(4)}, str(folder / "qwen_cn.safetensors"))
    state = tiny_state_dict()
    del state["blocks.1.norm_x.bias"]
    save_file(state, str(folder / "cut_talk.safetensors"), metadata={"wfrun.num_heads": "2"})
    for name, words in (("qwen_cn.safetensors", "Qwen-Image"), ("cut_talk.safetensors", "missing 1 tensors"),
                        ("nothere.safetensors", "not found")):
        with pytest.raises(NodeInputError) as err:
            node("ModelPatchLoader")(ctx, name=name)
        assert err.value.input_name == "name" and words in str(err.value), str(err.value)


def test_stand_in_for_the_patch(tmp_path):
    from wfrun.models.standins import NoStandin, family_for, write_standins

    standin = family_for("ModelPatchLoader", "name", "model_patches", "infinitetalk_single.safetensors")
    assert standin.family.kind == "multitalk"
    root = write_standins([standin], tmp_path / "tiny", cache=tmp_path / "cache")
    ctx = ExecContext(models=ModelRoots.from_options(str(root)), device="cpu", offload_device="cpu")
    (loaded,) = node("ModelPatchLoader")(ctx, name="infinitetalk_single.safetensors")
    # fits the tiny Wan 2.1 transformers (32 wide, 2 blocks) and the tiny wav2vec (2 layers of 32)
    from wfrun.models import tiny, wav2vec2

    assert (loaded.spec.dim, loaded.spec.blocks) == (tiny.TRANSFORMER["dim"], tiny.TRANSFORMER["layers"])
    assert loaded.spec.audio_values == wav2vec2.TINY["layers"] * wav2vec2.TINY["width"]
    with pytest.raises(NoStandin):
        family_for("ModelPatchLoader", "name", "model_patches", "qwen_image_controlnet.safetensors")
