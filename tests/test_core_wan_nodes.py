"""ComfyUI's core Wan nodes: LoRA patches, the channels concatenated to the latent, the
conditioning nodes' masks, and the post-CFG patches — each against ComfyUI's arithmetic
written out here independently of wfrun's code."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.node_helpers import node
from wfrun.models.lora_files import LoraError, merged
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def t2v(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    return model


@pytest.fixture(scope="module")
def vae(ctx):
    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def _write_lora(path: Path, module: str, out_f: int, in_f: int, rank: int = 2, alpha: float = 1.0,
                prefix: str = "diffusion_model.") -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    down, up = torch.randn(rank, in_f, generator=g), torch.randn(out_f, rank, generator=g)
    save_file({f"{prefix}{module}.lora_down.weight": down, f"{prefix}{module}.lora_up.weight": up,
               f"{prefix}{module}.alpha": torch.tensor(alpha)}, str(path))
    return down, up


def test_lora_is_merged_for_the_pass_and_restored_after(t2v, tmp_path):
    tr = t2v.transformer
    q = tr.blocks[0].attn1.to_q
    before = q.weight
    down, up = _write_lora(tmp_path / "l.safetensors", "blocks.0.self_attn.q", *q.weight.shape)
    with merged(tr, [(tmp_path / "l.safetensors", 0.5)]) as count:
        assert count == 1
        expected = (before.float() + 0.5 * (1.0 / 2) * (up @ down)).to(before.dtype)
        assert torch.equal(q.weight, expected)
    assert q.weight is before  # the very same parameter back: nothing drifts across passes


def test_lora_loader_adds_a_patch_and_leaves_the_model_alone(ctx, t2v, tmp_path, tiny_models):
    q = t2v.transformer.blocks[0].attn1.to_q
    weight = q.weight.clone()
    loras = Path(tiny_models) / "loras"
    loras.mkdir(exist_ok=True)
    _write_lora(loras / "style.safetensors", "blocks.0.self_attn.q", *q.weight.shape)
    (patched,) = node("LoraLoaderModelOnly")(ctx, model=t2v, lora_name="style.safetensors", strength_model=0.8)
    assert [p.strength for p in patched.loras] == [0.8] and t2v.loras == ()
    assert torch.equal(q.weight, weight)


def test_a_lora_for_another_model_is_refused_on_its_node(ctx, t2v, tiny_models):
    loras = Path(tiny_models) / "loras"
    loras.mkdir(exist_ok=True)
    save_file({"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": torch.zeros(2, 4),
               "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight": torch.zeros(4, 2)},
              str(loras / "flux.safetensors"))
    with pytest.raises(NodeInputError) as err:
        node("LoraLoaderModelOnly")(ctx, model=t2v, lora_name="flux.safetensors", strength_model=1.0)
    assert err.value.input_name == "lora_name" and "match" in str(err.value)
    with pytest.raises(LoraError):
        with merged(t2v.transformer, [(loras / "flux.safetensors", 1.0)]):
            pass


def _wan21_stats():
    """Wan 2.1's latent statistics as diffusers' AutoencoderKLWan defaults hold them."""
    import inspect

    from diffusers import AutoencoderKLWan

    params = inspect.signature(AutoencoderKLWan.__init__).parameters
    shape = (1, 16, 1, 1, 1)
    return (torch.tensor(params["latents_mean"].default).view(shape),
            torch.tensor(params["latents_std"].default).view(shape))


def test_image_to_video_concat_is_mask_then_normalised_image(ctx, vae):
    from types import SimpleNamespace

    from wfrun.packs.comfy_core_models.model_input import concat_channels
    from wfrun.packs.comfy_core_models.types import CoreModel

    positive = [[torch.zeros(1, 512, 8), {}]]
    start = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    pos, neg, latent = node("WanImageToVideo")(ctx, positive=positive, negative=positive, vae=vae, width=32,
                                              height=32, length=9, batch_size=1, start_image=start)
    opts = pos[0][1]
    assert latent["samples"].shape == (1, 16, 3, 4, 4)
    mask = opts["concat_mask"]
    assert mask.shape == (1, 1, 3, 4, 4) and mask[:, :, 0].eq(0).all() and mask[:, :, 1:].eq(1).all()
    assert neg[0][1]["concat_latent_image"] is opts["concat_latent_image"] and positive[0][1] == {}

    model = CoreModel(transformer=SimpleNamespace(config=SimpleNamespace(in_channels=36)), task="i2v", path=Path("m"),
                      dtype=torch.float32, latent_channels=16, shift=5.0, image_to_video=True)
    noise = torch.zeros(1, 16, 3, 4, 4)
    got = concat_channels(model, opts, noise)
    mean, std = _wan21_stats()
    want_mask = (1 - mask).repeat(1, 4, 1, 1, 1)
    want = torch.cat([want_mask, (opts["concat_latent_image"] - mean) / std], dim=1)
    assert torch.allclose(got, want, atol=1e-6)


def test_first_last_frame_mask_counts_the_first_frame_four_times(ctx, vae):
    positive = [[torch.zeros(1, 512, 8), {}]]
    frame = torch.rand(1, 32, 32, 3)
    pos, _, _ = node("WanFirstLastFrameToVideo")(ctx, positive=positive, negative=positive, vae=vae, width=32,
                                                 height=32, length=9, batch_size=1, start_image=frame, end_image=frame)
    mask = pos[0][1]["concat_mask"]
    # pixel frames 0..11 (3 latents x 4): the start covers 0-3 (frame 0 and its 3 copies), the end frame 11
    pixel = torch.ones(12)
    pixel[:4] = 0
    pixel[-1:] = 0
    assert mask.shape == (1, 4, 3, 4, 4)
    assert torch.equal(mask[0, :, :, 0, 0].transpose(0, 1).reshape(-1), pixel)


def test_cfg_zero_star_hook_is_comfyuis_projection():
    from wfrun.packs.comfy_core_models.ksampler_nodes import cfg_zero_star_hook

    g = torch.Generator().manual_seed(0)
    x, cond, uncond = (torch.randn(2, 3, 2, 2, 2, generator=g) for _ in range(3))
    scale = 5.0
    out = uncond + scale * (cond - uncond)
    got = cfg_zero_star_hook({"input": x, "cond_denoised": cond, "uncond_denoised": uncond, "denoised": out,
                              "cond_scale": scale})
    for b in range(2):
        p, n = (x[b] - cond[b]).flatten(), (x[b] - uncond[b]).flatten()
        alpha = float(p @ n) / (float(n @ n) + 1e-8)
        want = out[b] + uncond[b] * (alpha - 1) + scale * uncond[b] * (1 - alpha)
        assert torch.allclose(got[b], want, atol=1e-5)


@pytest.mark.parametrize("text,what", [(["a cat", "a dog"], "a list of 2 values"), (None, "NoneType")])
def test_clip_text_encode_refuses_a_text_that_is_not_a_string(ctx, text, what):
    (clip,) = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan", device="default")
    with pytest.raises(NodeInputError) as err:
        node("CLIPTextEncode")(ctx, text=text, clip=clip)
    assert err.value.input_name == "text" and what in str(err.value)


def test_a_length_that_is_not_4n_plus_1_runs_as_comfyui_runs_it(ctx, vae):
    """ComfyUI's WanImageToVideo makes ``(length - 1) // 4 + 1`` latent frames of any length
    (its validation checks only the bounds), so a saved 6 runs there with 2 latent frames:
    wfrun warns and runs it the same; the wrapper's nodes stay refused (tests/test_check.py)."""
    from wfrun.diagnostics import Severity
    from wfrun.formats.document import from_data
    from wfrun.graph import build, check
    from wfrun.engine.executors import pack_checks
    from wfrun.specs.registry import default_registry

    positive = [[torch.zeros(1, 512, 8), {}]]
    _, _, latent = node("WanImageToVideo")(ctx, positive=positive, negative=positive, vae=vae, width=32, height=32,
                                           length=6, batch_size=1)
    assert latent["samples"].shape == (1, 16, (6 - 1) // 4 + 1, 4, 4)
    prompt = {"1": {"class_type": "WanImageToVideo", "inputs": {"width": 832, "height": 480, "length": 6,
                                                                 "batch_size": 1}}}
    graph = build(from_data(prompt, "api.json"), default_registry())
    frames = [d for d in check(graph, None, pack_checks()) if d.code == "frame-count"]
    assert [d.severity for d in frames] == [Severity.WARNING] and "2 latent frames" in frames[0].message
