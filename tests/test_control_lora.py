"""spacepxl's control LoRA on the 1.3B T2V model: the wide patch embedding, the switch the
sampler makes at the control window's edges, and the pack's control-LoRA example end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from run_helpers import CORPUS_WAN, linked_models, run_workflow, videos
from node_helpers import node
from wfrun.media.samples import write_control_video
from wfrun.models.tiny import TRANSFORMER
from wfrun.nodes.executor import ExecContext
from wfrun.engine.executors import get_executor
from wfrun.packs.wanvideo.control_lora import ControlLora, control_lora_of

EXAMPLE = CORPUS_WAN / "2025-06-13_ad43eed_wanvideo_1_3B_control_lora_example_01.json"
RANK = 4


def write_control_lora(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A tiny control LoRA in the released file's layout (PEFT names under ``diffusion_model.``):
    the patch embedding widened to 32 input channels, and block 0's self-attention query."""
    g = torch.Generator().manual_seed(seed)
    dim = TRANSFORMER["dim"]
    tensors = {
        "diffusion_model.patch_embedding.lora_A.weight": torch.randn(RANK, 32, 1, 2, 2, generator=g) * 0.1,
        "diffusion_model.patch_embedding.lora_B.weight": torch.randn(dim, RANK, 1, 1, 1, generator=g) * 0.1,
        "diffusion_model.blocks.0.self_attn.q.lora_A.weight": torch.randn(RANK, dim, generator=g) * 0.1,
        "diffusion_model.blocks.0.self_attn.q.lora_B.weight": torch.randn(dim, RANK, generator=g) * 0.1,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return tensors


def load(ctx: ExecContext, lora_name: str | None, strength: float = 1.0):
    loras = None
    if lora_name:
        loras = node("WanVideoLoraSelect")(ctx, lora=lora_name, strength=strength)[0]
    return node("WanVideoModelLoader")(ctx, model="Wan2_1-T2V-1_3B_tiny_bf16.safetensors",
                                               base_precision="fp32", lora=loras)[0]


def test_switch_merges_inside_the_window_and_restores_exactly(tiny_models, tmp_path):
    from wfrun.models.paths import ModelRoots

    tensors = write_control_lora(tiny_models / "loras" / "control_tiny.safetensors")
    ctx = ExecContext(models=ModelRoots.from_options(str(tiny_models)), device="cpu", offload_device="cpu")
    plain = load(ctx, None).transformer
    model = load(ctx, "control_tiny.safetensors", strength=0.5).transformer
    state = control_lora_of(model)
    assert isinstance(state, ControlLora) and not state.enabled and state.extra_channels == 16
    q = model.blocks[0].attn1.to_q
    assert torch.equal(q.weight, plain.blocks[0].attn1.to_q.weight)  # not merged at load
    scale = 0.5  # strength x alpha / rank with alpha = rank
    delta_q = scale * tensors["diffusion_model.blocks.0.self_attn.q.lora_B.weight"] @ \
        tensors["diffusion_model.blocks.0.self_attn.q.lora_A.weight"]

    state.set(True)
    torch.testing.assert_close(q.weight, plain.blocks[0].attn1.to_q.weight + delta_q)
    wide = model.patch_embedding
    assert wide.in_channels == 32 and wide is state.wide_patch
    delta_patch = scale * (tensors["diffusion_model.patch_embedding.lora_B.weight"].flatten(1)
                           @ tensors["diffusion_model.patch_embedding.lora_A.weight"].flatten(1))
    expected = torch.cat([plain.patch_embedding.weight, torch.zeros_like(plain.patch_embedding.weight)], dim=1)
    torch.testing.assert_close(wide.weight, expected + delta_patch.reshape(expected.shape))
    torch.testing.assert_close(wide.bias, plain.patch_embedding.bias)

    state.set(False)
    assert torch.equal(q.weight, plain.blocks[0].attn1.to_q.weight)  # a copy back, not a subtraction
    assert model.patch_embedding is state.original_patch and model.patch_embedding.in_channels == 16


def test_control_embeds_without_fun_model_or_control_lora_is_a_clear_error(tiny_models):
    from wfrun.nodes.executor import NodeInputError
    from wfrun.models.paths import ModelRoots

    ctx = ExecContext(models=ModelRoots.from_options(str(tiny_models)), device="cpu", offload_device="cpu")
    model = load(ctx, None)
    latents = {"samples": torch.zeros(1, 16, 2, 4, 4)}
    embeds = node("WanVideoControlEmbeds")(ctx, latents=latents)[0]
    text = node("WanVideoTextEncode")(
        ctx, positive_prompt="a fox", negative_prompt="",
        t5=node("LoadWanVideoT5TextEncoder")(ctx, model_name="umt5-xxl-enc-tiny-bf16.safetensors")[0])[0]
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSampler")(ctx, model=model, image_embeds=embeds, text_embeds=text, steps=1)
    assert err.value.input_name == "image_embeds" and "control LoRA" in err.value.hint


def test_control_lora_example_runs_with_the_lora_on_for_the_first_70_percent(tiny_models, tmp_path, monkeypatch):
    write_control_lora(tmp_path / "lora" / "control.safetensors")
    models = linked_models(tiny_models, tmp_path / "models", {
        "diffusion_models/WanVideo\\wan2.1_t2v_1.3B_fp16.safetensors":
            "diffusion_models/Wan2_1-T2V-1_3B_tiny_bf16.safetensors",
        "vae/wanvideo\\Wan2_1_VAE_bf16.safetensors": "vae/Wan2_1_VAE_tiny_bf16.safetensors",
        "text_encoders/umt5-xxl-enc-bf16.safetensors": "text_encoders/umt5-xxl-enc-tiny-bf16.safetensors",
    })
    target = models / "loras" / "WanVid" / "wan2.1-1.3b-control-lora-tile-v0.1_comfy.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes((tmp_path / "lora" / "control.safetensors").read_bytes())
    write_control_video(tmp_path / "input" / "wolf_interpolated.mp4", 64, 64, frames=12)
    switches = []
    real_set = ControlLora.set
    monkeypatch.setattr(ControlLora, "set", lambda self, on: (switches.append(on), real_set(self, on))[1])
    # 97 loads 9 frames; 104 blurs them (radius 4), 95 encodes, 96 makes control embeds for 0..0.7
    report = run_workflow(EXAMPLE, models, tmp_path, ["97.frame_load_cap=9", "27.steps=4", "38.precision=fp32"],
                          input_dir=tmp_path / "input")
    # one switch per step: 0, 25 and 50 % are inside the window, 75 % is not; then the model is
    # left as loaded (a cached model is reused by the next run)
    assert switches == [True, True, True, False, False]
    # the preview puts the blurred control video beside the result
    assert list(videos(report).values()) == [(9, 128, 64)]


def test_block_swap_with_a_control_lora_is_refused_before_sampling(tiny_models):
    from wfrun.nodes.executor import NodeInputError
    from wfrun.models.paths import ModelRoots

    write_control_lora(tiny_models / "loras" / "control_tiny.safetensors")
    ctx = ExecContext(models=ModelRoots.from_options(str(tiny_models)), device="cpu", offload_device="cpu")
    loras = node("WanVideoLoraSelect")(ctx, lora="control_tiny.safetensors")[0]
    swap = node("WanVideoBlockSwap")(ctx, blocks_to_swap=1)[0]
    model = node("WanVideoModelLoader")(ctx, model="Wan2_1-T2V-1_3B_tiny_bf16.safetensors",
                                                base_precision="fp32", lora=loras, block_swap_args=swap)[0]
    embeds = node("WanVideoControlEmbeds")(ctx, latents={"samples": torch.zeros(1, 16, 2, 4, 4)})[0]
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSampler")(ctx, model=model, image_embeds=embeds, text_embeds=None, steps=1)
    assert err.value.input_name == "model" and "WanVideoBlockSwap" in err.value.hint
