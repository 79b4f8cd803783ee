"""WanVideoWrapper executors on tiny checkpoints: loaders, text, VAE, I2V/control embeds, CLIP."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from node_helpers import node
from wfrun.nodes.executor import NodeInputError
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext
from wfrun.engine.executors import get_executor
from wfrun.models import placement
from wfrun.packs.wanvideo.types import ImageEmbeds


def run(class_type: str, ctx: ExecContext, **inputs):
    return node(class_type)(ctx, **inputs)


@pytest.fixture(scope="module")
def ctx(tiny_models):
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def vae(ctx):
    return run("WanVideoVAELoader", ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")[0]


@pytest.fixture(scope="module")
def t5(ctx):
    return run("LoadWanVideoT5TextEncoder", ctx, model_name="umt5-xxl-enc-tiny-bf16.safetensors", precision="fp32")[0]


def frames(n: int, h: int = 64, w: int = 96, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, h, w, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name, expected", [
    ("Wan2_1-T2V-1_3B_tiny_bf16.safetensors", ("t2v", 16)),
    ("wan2.1_t2v_1.3B_tiny_bf16.safetensors", ("t2v", 16)),
    ("Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors", ("i2v", 36)),
    ("Wan2_1-FLF2V-14B-720P_tiny_fp16.safetensors", ("fl2v", 36)),
    ("Wan2.1-Fun-1.3B-Control_tiny_bf16.safetensors", ("fun_control", 48)),
])
def test_model_loader_tells_model_type_from_weights(ctx, name, expected):
    model = run("WanVideoModelLoader", ctx, model=name, base_precision="bf16", quantization="disabled",
                load_device="main_device")[0]
    assert (model.model_type, model.in_channels) == expected
    assert model.base_dtype == torch.bfloat16


def test_model_loader_windows_separator_and_missing_file(ctx, tiny_models):
    with pytest.raises(NodeInputError) as err:
        run("WanVideoModelLoader", ctx, model="WanVideo\\no_such_model.safetensors")
    assert err.value.input_name == "model"
    assert "diffusion_models" in str(err.value)


def test_model_loader_refuses_a_vae_file(ctx, tiny_models):
    vae_file = tiny_models / "vae" / "Wan2_1_VAE_tiny_bf16.safetensors"
    target = tiny_models / "diffusion_models" / "actually_a_vae.safetensors"
    target.write_bytes(vae_file.read_bytes())
    with pytest.raises(NodeInputError) as err:
        run("WanVideoModelLoader", ctx, model="actually_a_vae.safetensors")
    assert err.value.input_name == "model" and "actually_a_vae" in str(err.value)
    assert "Traceback" not in str(err.value) and "size mismatch" not in str(err.value)


def test_block_swap_is_set_up_by_the_sampler_and_changes_nothing(ctx, t5):
    """The loader leaves a block-swap model unhooked on the offload device; the sampler hooks
    exactly the first blocks on the main device (as the pack) and samples the same latent."""
    plain = run("WanVideoModelLoader", ctx, model="Wan2_1-T2V-1_3B_tiny_bf16.safetensors", base_precision="fp32")[0]
    swap = run("WanVideoBlockSwap", ctx, blocks_to_swap=1, use_non_blocking=False)[0]
    model = run("WanVideoModelLoader", ctx, model="Wan2_1-T2V-1_3B_tiny_bf16.safetensors", base_precision="fp32",
                block_swap_args=swap, load_device="main_device")[0]
    assert placement.streamer(model.transformer) is None
    assert model.load_device == ctx.offload_device
    embeds = run("WanVideoEmptyEmbeds", ctx, width=64, height=64, num_frames=5)[0]
    text = run("WanVideoTextEncode", ctx, positive_prompt="a red fox", negative_prompt="", t5=t5)[0]
    settings = dict(image_embeds=embeds, text_embeds=text, steps=2, cfg=1.0, shift=5.0, seed=3, scheduler="unipc",
                    force_offload=True)
    expected = run("WanVideoSampler", ctx, model=plain, **settings)[0]["samples"]
    got = run("WanVideoSampler", ctx, model=model, **settings)[0]["samples"]
    assert placement.streamer(model.transformer).modules == [model.transformer.blocks[0]]
    torch.testing.assert_close(got, expected)
    again = run("WanVideoSampler", ctx, model=model, **settings)[0]["samples"]  # hooks are set up once
    torch.testing.assert_close(again, expected)


def test_text_encode_cuts_each_prompt_to_its_tokens_and_applies_weights(ctx, t5):
    plain = run("WanVideoTextEncode", ctx, positive_prompt="a red fox", negative_prompt="", t5=t5)[0]
    weighted = run("WanVideoTextEncode", ctx, positive_prompt="(a red fox:2.0)", negative_prompt="", t5=t5)[0]
    travel = run("WanVideoTextEncode", ctx, positive_prompt="a red fox | a blue bird", negative_prompt="x", t5=t5)[0]
    tokens = t5.tokenizer(["a red fox"], padding="max_length", max_length=512, truncation=True,
                          return_tensors="pt")["attention_mask"].sum().item()
    assert plain.prompt_embeds[0].shape == (tokens, t5.encoder.config.d_model)
    torch.testing.assert_close(weighted.prompt_embeds[0], plain.prompt_embeds[0] * 2.0)
    assert len(travel.prompt_embeds) == 2
    torch.testing.assert_close(travel.prompt_embeds[0], plain.prompt_embeds[0])
    assert len(travel.negative_prompt_embeds) == 1


def test_text_encode_disk_cache_is_safetensors_and_reused(ctx, t5, tmp_path, monkeypatch):
    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path))
    first = run("WanVideoTextEncode", ctx, positive_prompt="cached prompt", negative_prompt="neg", t5=t5,
                use_disk_cache=True)[0]
    files = list((tmp_path / "text_embeds").glob("*.safetensors"))
    assert len(files) == 2
    with torch.no_grad():
        for p in t5.encoder.parameters():
            p.add_(1.0)  # a changed encoder would give other numbers: the cache must be what is read
    try:
        again = run("WanVideoTextEncode", ctx, positive_prompt="cached prompt", negative_prompt="neg", t5=t5,
                    use_disk_cache=True)[0]
    finally:
        with torch.no_grad():
            for p in t5.encoder.parameters():
                p.sub_(1.0)
    torch.testing.assert_close(again.prompt_embeds[0], first.prompt_embeds[0])


def test_text_encode_without_encoder_is_a_clear_error(ctx):
    with pytest.raises(NodeInputError) as err:
        run("WanVideoTextEncode", ctx, positive_prompt="a", negative_prompt="b", t5=None)
    assert err.value.input_name == "t5"


def test_comfy_clip_text_encode_pads_to_512_with_zeros(ctx):
    clip = run("CLIPLoader", ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan")[0]
    cond = run("CLIPTextEncode", ctx, text="a red fox", clip=clip)[0]
    tensor = cond[0][0]
    n = len(clip.tokenizer.encode("a red fox"))
    assert tensor.shape[:2] == (1, 512)
    assert tensor[0, :n].abs().sum() > 0 and tensor[0, n:].abs().sum() == 0
    embeds = run("WanVideoTextEmbedBridge", ctx, positive=cond, negative=cond)[0]
    assert embeds.prompt_embeds[0].shape == tensor[0].shape
    with pytest.raises(NodeInputError):
        run("CLIPLoader", ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="sd3")


def test_vae_encode_decode_frame_counts(ctx, vae):
    latents = run("WanVideoEncode", ctx, vae=vae, image=frames(9))[0]
    assert latents["samples"].shape == (1, 16, 3, 8, 12)
    images = run("WanVideoDecode", ctx, vae=vae, samples=latents)[0]
    assert images.shape == (9, 64, 96, 3)
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0


@pytest.mark.parametrize("num_frames", [9, 17])
@pytest.mark.parametrize("fun", [False, True])
def test_i2v_end_frame_shapes_match_the_pack(ctx, vae, num_frames, fun):
    start, end = frames(1, seed=1), frames(1, seed=2)
    embeds: ImageEmbeds = run("WanVideoImageToVideoEncode", ctx, vae=vae, width=96, height=64,
                              num_frames=num_frames, start_image=start, end_image=end, fun_or_fl2v_model=fun)[0]
    latent_frames = (num_frames - 1) // 4 + (1 if fun else 2)
    assert embeds.image_embeds.shape == (20, latent_frames, 8, 12)
    assert embeds.max_seq_len == latent_frames * (8 * 12) // 4
    mask = embeds.image_embeds[:4]
    assert bool((mask[:, 0] == 1).all()) and bool((mask[:, 1:-1] == 0).all())
    # the pack's layout: the end frame is a whole latent frame of its own (4 mask channels
    # set), except for Fun/FLF2V models, where it is the 4th pixel frame of the last latent
    last = mask[:, -1, 0, 0].tolist()
    assert last == ([0.0, 0.0, 0.0, 1.0] if fun else [1.0, 1.0, 1.0, 1.0])
    # decoding those latents as the sampler hands them on gives num_frames frames
    samples = {"samples": embeds.image_embeds[4:].unsqueeze(0),
               "end_image": None if fun else embeds.end_image}
    images = run("WanVideoDecode", ctx, vae=vae, samples=samples)[0]
    assert images.shape[0] == num_frames


def test_i2v_start_only_and_control(ctx, vae):
    embeds = run("WanVideoImageToVideoEncode", ctx, vae=vae, width=96, height=64, num_frames=17,
                 start_image=frames(1), start_latent_strength=0.5)[0]
    assert embeds.image_embeds.shape == (20, 5, 8, 12)
    assert bool((embeds.image_embeds[:4, 0] == 1).all()) and bool((embeds.image_embeds[:4, 1:] == 0).all())
    latents = run("WanVideoEncode", ctx, vae=vae, image=frames(17))[0]
    control = run("WanVideoControlEmbeds", ctx, latents=latents, start_percent=0.0, end_percent=0.5)[0]
    assert control.target_shape == (16, 5, 8, 12) and control.num_frames == 17
    fun = run("WanVideoImageToVideoEncode", ctx, vae=vae, width=96, height=64, num_frames=17,
              start_image=frames(1), control_embeds=control, fun_or_fl2v_model=True)[0]
    assert fun.image_embeds.shape == (16, 5, 8, 12)
    assert bool((fun.image_embeds[:, 1:] == 0).all()) and fun.control_embeds.end_percent == 0.5
    with pytest.raises(NodeInputError) as err:
        run("WanVideoImageToVideoEncode", ctx, vae=vae, width=90, height=64, num_frames=17, start_image=frames(1))
    assert err.value.input_name == "width"


def test_empty_embeds_target_shape(ctx):
    embeds = run("WanVideoEmptyEmbeds", ctx, width=832, height=480, num_frames=81)[0]
    assert embeds.target_shape == (16, 21, 60, 104) and embeds.image_embeds is None


def test_clip_vision_encode_combines_two_images(ctx):
    clip = run("LoadWanVideoClipTextEncoder", ctx,
               model_name="open-clip-xlm-roberta-large-vit-huge-14_visual_tiny_fp16.safetensors", precision="fp32")[0]
    one = run("WanVideoClipVisionEncode", ctx, clip_vision=clip, image_1=frames(1, seed=3))[0].clip_embeds
    two = run("WanVideoClipVisionEncode", ctx, clip_vision=clip, image_1=frames(1, seed=3), image_2=frames(1, seed=4),
              strength_1=1.0, strength_2=1.0, combine_embeds="average")[0].clip_embeds
    only_second = run("WanVideoClipVisionEncode", ctx, clip_vision=clip, image_1=frames(1, seed=4))[0].clip_embeds
    torch.testing.assert_close(two, (one + only_second) / 2)
    concat = run("WanVideoClipVisionEncode", ctx, clip_vision=clip, image_1=frames(1, seed=3),
                 image_2=frames(1, seed=4), combine_embeds="concat")[0].clip_embeds
    assert concat.shape[1] == 2 * one.shape[1]
    # penultimate hidden states: one block short of the last layer
    hidden = clip.model(pixel_values=torch.zeros(1, 3, clip.model.config.image_size, clip.model.config.image_size),
                        output_hidden_states=True).hidden_states
    assert one.shape[1:] == hidden[-2].shape[1:]


def test_lora_merge_matches_formula(ctx, tiny_models):
    base = run("WanVideoModelLoader", ctx, model="Wan2_1-T2V-1_3B_tiny_fp32.safetensors"
               if (tiny_models / "diffusion_models" / "Wan2_1-T2V-1_3B_tiny_fp32.safetensors").exists()
               else "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", base_precision="fp32")[0]
    layer = base.transformer.blocks[0].attn1.to_q
    out_features, in_features = layer.weight.shape
    g = torch.Generator().manual_seed(7)
    down, up = torch.randn(4, in_features, generator=g), torch.randn(out_features, 4, generator=g)
    lora_dir = tiny_models / "loras"
    lora_dir.mkdir(exist_ok=True)
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": down,
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": up,
               "diffusion_model.blocks.0.self_attn.q.alpha": torch.tensor(2.0)}, str(lora_dir / "tiny_lora.safetensors"))
    chain = run("WanVideoLoraSelect", ctx, lora="tiny_lora.safetensors", strength=0.5)[0]
    merged = run("WanVideoModelLoader", ctx, model=str(base.path.name), base_precision="fp32", lora=chain)[0]
    expected = layer.weight.float() + 0.5 * (2.0 / 4) * (up @ down)
    torch.testing.assert_close(merged.transformer.blocks[0].attn1.to_q.weight.float(), expected)
    torch.testing.assert_close(merged.transformer.blocks[1].attn1.to_q.weight, base.transformer.blocks[1].attn1.to_q.weight)


def test_lora_merges_into_fp8_layers_and_they_stay_fp8(ctx, tiny_models):
    from wfrun.models.fp8 import quantize

    name = "Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors"
    base = run("WanVideoModelLoader", ctx, model=name, base_precision="fp32", quantization="fp8_e4m3fn")[0]
    layer = base.transformer.blocks[0].attn1.to_q
    assert layer.weight.dtype == torch.float8_e4m3fn
    out_features, in_features = layer.weight.shape
    g = torch.Generator().manual_seed(3)
    down, up = torch.randn(2, in_features, generator=g), torch.randn(out_features, 2, generator=g)
    lora_dir = tiny_models / "loras"
    lora_dir.mkdir(exist_ok=True)
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_A.weight": down,
               "diffusion_model.blocks.0.self_attn.q.lora_B.weight": up}, str(lora_dir / "tiny_fp8_lora.safetensors"))
    chain = run("WanVideoLoraSelect", ctx, lora="tiny_fp8_lora.safetensors", strength=1.0)[0]
    merged = run("WanVideoModelLoader", ctx, model=name, base_precision="fp32", quantization="fp8_e4m3fn",
                 lora=chain)[0].transformer.blocks[0].attn1.to_q
    expected = quantize(layer.dequantized_weight(torch.float32) + up @ down, torch.float8_e4m3fn)
    assert merged.weight.dtype == torch.float8_e4m3fn
    assert torch.equal(merged.weight.view(torch.uint8), expected.view(torch.uint8))
