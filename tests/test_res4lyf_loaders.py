"""RES4LYF's ClownModelLoader against the core loaders it stands for (same files, same
results), its choices (.none / .use_ckpt_*) and refusals, and TorchCompileModels' settings."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from wfrun.engine.executors import get_executor
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.types import CoreModel, WanTextEncoder, WanVAE

UNET = "wan2.1_t2v_1.3B_tiny_bf16.safetensors"
CLIP = "umt5_xxl_tiny_fp16.safetensors"
VAE = "wan_2.1_vae_tiny.safetensors"


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


def load(ctx, **changes):
    values = dict(model_name=UNET, weight_dtype="default", clip_name1_opt=CLIP, clip_name2_opt=".none",
                  clip_name3_opt=".none", clip_name4_opt=".none", clip_type=".auto", vae_name=VAE)
    values.update(changes)
    return get_executor("ClownModelLoader")(ctx, **values)


def state(module: torch.nn.Module) -> dict:
    return {k: v.float() for k, v in module.state_dict().items()}


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = state(a), state(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_separate_files_load_as_the_core_loaders_do(ctx):
    model, clip, vae = load(ctx, weight_dtype="fp8_e4m3fn")
    (core_model,) = get_executor("UNETLoader")(ctx, unet_name=UNET, weight_dtype="fp8_e4m3fn")
    (core_clip,) = get_executor("CLIPLoader")(ctx, clip_name=CLIP, type="wan")
    (core_vae,) = get_executor("VAELoader")(ctx, vae_name=VAE)
    assert isinstance(model, CoreModel) and isinstance(clip, WanTextEncoder) and isinstance(vae, WanVAE)
    assert model.path == core_model.path and model.shift == core_model.shift
    assert same_weights(model.transformer, core_model.transformer)
    assert same_weights(clip.encoder, core_clip.encoder) and same_weights(vae.vae, core_vae.vae)
    dtypes = {p.dtype for name, p in model.transformer.named_parameters() if "blocks." in name and "ffn" in name}
    assert torch.float8_e4m3fn in dtypes  # the node's weight_dtype reached UNETLoader


def test_none_choices_give_none(ctx):
    model, clip, vae = load(ctx, clip_name1_opt=".none", vae_name=".none")
    assert isinstance(model, CoreModel) and clip is None and vae is None


@pytest.mark.parametrize("changes,name", [
    ({"clip_name2_opt": CLIP}, "clip_name2_opt"),
    ({"clip_name1_opt": ".use_ckpt_clip", "clip_name3_opt": CLIP}, "clip_name3_opt"),
    ({"clip_name1_opt": ".use_ckpt_clip"}, "clip_name1_opt"),   # a diffusion model file has no text encoder
    ({"vae_name": ".use_ckpt_vae"}, "vae_name"),
    ({"vae_name": "taesd"}, "vae_name"),
    ({"weight_dtype": "int4"}, "weight_dtype"),
    ({"model_name": "absent.safetensors"}, "unet_name"),
])
def test_refusals_name_the_input(ctx, changes, name):
    with pytest.raises(NodeInputError) as err:
        load(ctx, **changes)
    assert err.value.input_name == name


def test_a_checkpoint_is_looked_up_first_and_serves_use_ckpt(tmp_path):
    from wfrun.models.tiny import write_wan_all_in_one

    models = tmp_path / "models"
    write_wan_all_in_one(models / "checkpoints" / "aio.safetensors")
    ctx = ExecContext(models=ModelRoots.from_options(models))
    model, clip, vae = load(ctx, model_name="aio.safetensors", clip_name1_opt=".use_ckpt_clip",
                            vae_name=".use_ckpt_vae")
    ref_model, ref_clip, ref_vae = get_executor("CheckpointLoaderSimple")(ctx, ckpt_name="aio.safetensors")
    assert same_weights(model.transformer, ref_model.transformer)
    assert same_weights(clip.encoder, ref_clip.encoder) and same_weights(vae.vae, ref_vae.vae)
    with pytest.raises(NodeInputError) as err:
        load(ctx, model_name="aio.safetensors", clip_name1_opt=".use_ckpt_clip", vae_name=".use_ckpt_vae",
             weight_dtype="fp8_e4m3fn")
    assert err.value.input_name == "weight_dtype"


def test_torch_compile_models_compiles_the_blocks_one_by_one(ctx):
    model = load(ctx, clip_name1_opt=".none", vae_name=".none")[0]
    (compiled,) = get_executor("TorchCompileModels")(ctx, model=model, backend="inductor", fullgraph=False,
                                                     mode="max-autotune", dynamic=False, dynamo_cache_size_limit=32,
                                                     triton_max_block_x=0)
    assert compiled.compile == {"backend": "inductor", "fullgraph": False, "mode": "max-autotune", "dynamic": False,
                                "blocks_only": True, "cache_size_limit": 32}
    assert dataclasses.replace(compiled, compile=None) == dataclasses.replace(model, compile=None)
    with pytest.raises(NodeInputError) as err:
        get_executor("TorchCompileModels")(ctx, model=None, backend="inductor", fullgraph=False, mode="default",
                                           dynamic=False, dynamo_cache_size_limit=64, triton_max_block_x=0)
    assert err.value.input_name == "model"
