"""Other packs' nodes that feed Kijai's wrapper: IntelligentVRAMNode's
WanVideoEnhancedBlockSwap and ComfyUI-Lora-Manager's WanVideo Lora Select, plus the
wrapper's rule that CLIP features reach only a model with an image embedder.

References: the wrapper's own WanVideoBlockSwap / WanVideoLoraSelect executors with the
values the pack's dict / rows carry (the wrapper reads only those keys), the LoRA
Manager's name lookup and text formats written out from its code, and diffusers' forward
of the same model without image tokens."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import WanTransformer3DModel
from safetensors.torch import save_file

from node_helpers import node
from wfrun.graph.model import NodeInstance
from wfrun.jobs.standins import lora_rows
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import BlockSwapArgs
from wfrun.sampling.forward import transformer_forward


# --- WanVideoEnhancedBlockSwap -----------------------------------------------------------------

def test_enhanced_block_swap_is_the_wrappers_block_swap():
    got, = node("WanVideoEnhancedBlockSwap")(ExecContext(), blocks_to_swap=12, offload_txt_emb=True,
                                             vace_blocks_to_swap=3)
    want, = node("WanVideoBlockSwap")(ExecContext(), blocks_to_swap=12, offload_img_emb=False, offload_txt_emb=True,
                                      use_non_blocking=False, vace_blocks_to_swap=3)
    assert got == want == BlockSwapArgs(12, False, True, False, 3)
    # the pack's tuning values are read by no code of the wrapper
    tuned, = node("WanVideoEnhancedBlockSwap")(ExecContext(), blocks_to_swap=12, offload_txt_emb=True,
                                               vace_blocks_to_swap=3, auto_hardware_tuning=False,
                                               num_cuda_streams=2, bandwidth_target=0.3, vram_threshold_percent=90,
                                               enable_cuda_optimization=False, debug_mode=True)
    assert tuned == got


def test_enhanced_block_swap_feeds_set_block_swap(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    model = node("WanVideoModelLoader")(ctx, model="Wan2_1-T2V-1_3B_tiny_bf16.safetensors", base_precision="fp32")[0]
    args, = node("WanVideoEnhancedBlockSwap")(ctx, blocks_to_swap=1)
    assert node("WanVideoSetBlockSwap")(ctx, model=model, block_swap_args=args)[0].block_swap == args
    with pytest.raises(NodeInputError) as err:
        node("WanVideoEnhancedBlockSwap")(ctx, blocks_to_swap=-1)
    assert err.value.input_name == "blocks_to_swap"


# --- WanVideo Lora Select (LoraManager) ---------------------------------------------------------

@pytest.fixture(scope="module")
def lora_ctx(tmp_path_factory):
    """A models folder with LoRAs at the top and in a sub-folder, one with the manager's sidecar."""
    root = tmp_path_factory.mktemp("lm-models")
    g = torch.Generator().manual_seed(0)
    weights = {"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.randn(4, 32, generator=g),
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.randn(32, 4, generator=g)}
    for rel in ("loras/fast.safetensors", "loras/wan/style.safetensors", "loras/other/style.safetensors"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(weights, str(path))
    (root / "loras/wan/style.metadata.json").write_text(
        json.dumps({"civitai": {"trainedWords": ["st1le", "glow"]}}), encoding="utf-8")
    return ExecContext(models=ModelRoots.from_options(root)), root


def rows(*entries):
    return [dict(name=n, strength=s, active=a, clipStrength=c, expanded=False) for n, s, a, c in entries]


def test_lora_manager_rows_make_the_wrappers_chain(lora_ctx):
    ctx, root = lora_ctx
    prev = node("WanVideoLoraSelect")(ctx, lora="fast.safetensors", strength=0.25)[0]
    chain, words, active = node("WanVideo Lora Select (LoraManager)")(
        ctx, prev_lora=prev, text="", low_mem_load=True,
        loras=rows(("wan/style", 0.8, True, 0.8), ("fast", 1.0, False, 1.0), ("fast", 0.5, True, 0.7)))
    want = node("WanVideoLoraSelect")(ctx, lora="wan/style.safetensors", strength=0.8, prev_lora=prev,
                                      low_mem_load=True)[0]
    want = node("WanVideoLoraSelect")(ctx, lora="fast.safetensors", strength=0.5, prev_lora=want, low_mem_load=True)[0]
    assert chain == want and chain[1].path == root / "loras/wan/style.safetensors"
    assert words == "st1le,, glow"
    assert active == "<lora:wan/style:0.8> <lora:fast:0.5:0.7>"


def test_lora_manager_name_lookup_and_forms(lora_ctx):
    from wfrun.packs.lora_manager.wanvideo_lora_select import find_lora

    files = ["fast.safetensors", "other/style.safetensors", "wan/style.safetensors"]
    assert find_lora(files, "style") == "other/style.safetensors"       # by file name, first found
    assert find_lora(files, "wan/style.safetensors") == "wan/style.safetensors"  # folder/name
    assert find_lora(files, "gone/wan/style") == "other/style.safetensors"      # base-name fallback
    assert find_lora(files, "nothing") is None
    ctx, _ = lora_ctx
    chain, _, active = node("WanVideo Lora Select (LoraManager)")(
        ctx, low_mem_load=True, merge_loras=False, text="",
        loras={"__value__": rows(("fast", "1", True, "1"))})
    assert active == "<lora:fast:1.0>" and chain[0].strength == 1.0 and chain[0].low_mem_load is False
    empty, words, active = node("WanVideo Lora Select (LoraManager)")(ctx, text="", loras=[])
    assert (empty, words, active) == ((), "", "")
    with pytest.raises(NodeInputError) as err:
        node("WanVideo Lora Select (LoraManager)")(ctx, text="", loras=rows(("missing", 1, True, 1)))
    assert err.value.input_name == "loras"


def test_lora_manager_rows_get_smoke_stand_ins():
    node_ = NodeInstance(id="179", class_type="WanVideo Lora Select (LoraManager)",
                         saved_widgets=[False, True, "", rows(("wan/a", 1, True, 1), ("b", 1, False, 1))])
    node_.inputs["loras"] = {"__value__": rows(("c.safetensors", 1, True, 1))}
    assert lora_rows(node_) == ["wan/a.safetensors", "c.safetensors"]


# --- CLIP features on a model without an image embedder -----------------------------------------

@torch.no_grad()
def test_clip_features_are_ignored_without_an_image_embedder():
    """Wan 2.2 A14B I2V takes image latents but has no CLIP embedder; the wrapper skips the
    ClipVision embeds workflows still feed it (``hasattr(self, "img_emb")``)."""
    torch.manual_seed(0)
    model = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=36,
                                  out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=2,
                                  cross_attn_norm=True).eval()
    g = torch.Generator().manual_seed(1)
    x, text = torch.randn(1, 36, 3, 4, 6, generator=g), torch.randn(1, 512, 24, generator=g)
    t = torch.tensor([500.0])
    expected = model(x, t, text, return_dict=False)[0]
    got, _ = transformer_forward(model, x, t, text, torch.randn(1, 257, 1280, generator=g))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_lora_manager_reads_its_rows_from_the_saved_widgets(lora_ctx):
    """In a UI file the rows are the node's saved widget after ``text``; the custom widget
    type is not bound by position, and the saved values still fit the node's signature."""
    from wfrun.graph.widgets import choose_signature, fit
    from wfrun.specs.registry import default_registry

    ctx, root = lora_ctx
    saved = [False, True, "", rows(("fast", 0.5, True, 0.5))]
    ui = {"nodes": [{"id": 179, "type": "WanVideo Lora Select (LoraManager)", "widgets_values": saved}]}
    ctx_ui = ExecContext(models=ctx.models, workflow_json=ui, node_id="179")
    chain, _, active = node("WanVideo Lora Select (LoraManager)")(ctx_ui, text="")
    assert active == "<lora:fast:0.5>" and chain[0].path == root / "loras/fast.safetensors"
    spec = default_registry().get("WanVideo Lora Select (LoraManager)")
    choice = choose_signature(spec, saved, None, {})
    assert fit(spec.signatures[choice.index], choice.index, saved).perfect


# --- PainterI2VforKJ ------------------------------------------------------------------------------

def hand_motion(latents: torch.Tensor, amplitude: float) -> torch.Tensor:
    """The pack's step written per frame: frame t > 0 keeps the first frame plus its
    difference from it, that difference's per-frame mean kept and the rest scaled."""
    out = latents.clone()
    first = latents[:, 0]
    for t in range(1, latents.shape[1]):
        d = latents[:, t] - first
        m = d.mean()
        out[:, t] = torch.clamp(first + (d - m) * amplitude + m, -6, 6)
    return out


@pytest.fixture(scope="module")
def wan_vae(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    return ctx, node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")[0]


def image(frames=1, seed=0):
    return torch.rand(frames, 32, 48, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("end", [False, True])
def test_painter_is_the_wrappers_encode_with_more_motion(wan_vae, end):
    ctx, vae = wan_vae
    common = dict(vae=vae, width=48, height=32, num_frames=9, start_image=image(), force_offload=False,
                  end_image=image(seed=1) if end else None, fun_or_fl2v_model=False)
    plain, = node("WanVideoImageToVideoEncode")(ctx, start_latent_strength=1.0, end_latent_strength=1.0, **common)
    got, = node("PainterI2VforKJ")(ctx, motion_amplitude=1.5, start_latent_strength=0.9, end_latent_strength=0.8,
                                   **common)
    mask, latents = plain.image_embeds[:4], plain.image_embeds[4:].clone()
    latents[:, :1] *= 0.9
    latents[:, -1:] *= 0.8
    want = torch.cat([mask, hand_motion(latents, 1.5)])
    torch.testing.assert_close(got.image_embeds, want)
    assert (got.num_frames, got.max_seq_len, got.lat_h) == (plain.num_frames, plain.max_seq_len, plain.lat_h)
    same, = node("PainterI2VforKJ")(ctx, motion_amplitude=1.0, **common)
    torch.testing.assert_close(same.image_embeds, plain.image_embeds)


def test_painter_without_images_and_refusals(wan_vae):
    ctx, vae = wan_vae
    empty, = node("PainterI2VforKJ")(ctx, width=48, height=32, num_frames=9)
    want, = node("WanVideoEmptyEmbeds")(ctx, width=48, height=32, num_frames=9)
    assert empty == want
    for inputs, name in (({"end_image": image(), "fun_or_fl2v_model": True, "start_image": image()}, "end_image"),
                         ({"end_image": image()}, "end_image"),
                         ({"start_image": image(), "temporal_mask": torch.ones(9, 32, 48)}, "temporal_mask")):
        with pytest.raises(NodeInputError) as err:
            node("PainterI2VforKJ")(ctx, vae=vae, width=48, height=32, num_frames=9, **inputs)
        assert err.value.input_name == name
