"""calcuis' gguf loaders (LoaderGGUF, LoaderGGUFAdvanced, ClipLoaderGGUF): the same GGUF
files give the same model and text encoder as the same weights dequantized by the ``gguf``
package alone and loaded by ComfyUI's core loaders (UNETLoader, CLIPLoader), rounded to
fp16 where diffusers' GGUF layers dequantize in fp16; so the outputs must be equal.
The pack (pig.py at 2.3.5) reads the file from the diffusion-model folders (``model_gguf``)
and the text-encoder folders, and only Wan is run; other types are refused by name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.gguf_reference import dequantized, t5_name, sample as gguf_sample
from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny_gguf import write_umt5_gguf, write_wan_gguf
from wfrun.nodes.executor import ExecContext, NodeInputError

UNET = "wan2.1-t2v-14b-q4_0.gguf"
CLIP = "umt5-xxl-encoder-q8_0.gguf"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, tiny_models) -> ExecContext:
    root = tmp_path_factory.mktemp("models")
    unet = write_wan_gguf(root / "unet" / UNET, "t2v", "Q4_0", seed=21)  # the legacy unet folder, as the pack lists
    (root / "diffusion_models").mkdir()
    save_file(dequantized(unet), str(root / "diffusion_models" / "reference.safetensors"),
              metadata={"wfrun.num_heads": "2"})
    clip = write_umt5_gguf(root / "text_encoders" / CLIP, "Q8_0", seed=22)
    save_file({k: v.to(torch.bfloat16) for k, v in dequantized(clip, t5_name).items()},
              str(root / "text_encoders" / "umt5_reference_bf16.safetensors"))
    return ExecContext(models=ModelRoots((root, Path(tiny_models))))


def sample(ctx: ExecContext, model, cond) -> torch.Tensor:
    return gguf_sample(ctx, model, cond, seed=5, cfg=3.0)


@pytest.fixture(scope="module")
def cond(ctx):
    (clip,) = node("CLIPLoader")(ctx, clip_name="umt5_reference_bf16.safetensors", type="wan")
    return node("CLIPTextEncode")(ctx, text="a heron over a lake", clip=clip)[0]


def test_loader_gguf_samples_as_the_dequantized_weights_through_unet_loader(ctx, cond):
    (model,) = node("LoaderGGUF")(ctx, gguf_name=UNET)
    (plain,) = node("UNETLoader")(ctx, unet_name="reference.safetensors", weight_dtype="default")
    assert model.task == "t2v"
    assert torch.equal(sample(ctx, model, cond), sample(ctx, plain, cond))
    (advanced,) = node("LoaderGGUFAdvanced")(ctx, gguf_name=UNET, dequant_dtype="default", patch_dtype="default",
                                             patch_on_device=False)
    assert torch.equal(sample(ctx, advanced, cond), sample(ctx, plain, cond))


def test_loader_gguf_errors_name_its_own_input(ctx):
    with pytest.raises(NodeInputError) as err:
        node("LoaderGGUF")(ctx, gguf_name="missing-q4_0.gguf")
    assert err.value.input_name == "gguf_name"
    with pytest.raises(NodeInputError) as err:
        node("LoaderGGUF")(ctx, gguf_name="reference.safetensors")
    assert err.value.input_name == "gguf_name" and "not a GGUF file" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        node("LoaderGGUFAdvanced")(ctx, gguf_name=UNET, dequant_dtype="float8", patch_dtype="default",
                                   patch_on_device=False)
    assert err.value.input_name == "dequant_dtype"


@pytest.mark.parametrize("device", ["default", "cpu"])
def test_clip_loader_gguf_encodes_as_clip_loader_whatever_the_device(ctx, device):
    (plain,) = node("CLIPLoader")(ctx, clip_name="umt5_reference_bf16.safetensors", type="wan")
    text = "a heron lifts off the water at dusk"
    want = node("CLIPTextEncode")(ctx, text=text, clip=plain)[0][0][0]
    for name in (CLIP, "umt5_reference_bf16.safetensors"):  # the pack lists .gguf and other files alike
        (clip,) = node("ClipLoaderGGUF")(ctx, clip_name=name, type="wan", device=device)
        assert torch.equal(node("CLIPTextEncode")(ctx, text=text, clip=clip)[0][0][0], want)


def test_clip_loader_gguf_refuses_other_types_and_devices_by_name(ctx):
    with pytest.raises(NodeInputError) as err:
        node("ClipLoaderGGUF")(ctx, clip_name=CLIP, type="flux")
    assert err.value.input_name == "type" and "ClipLoaderGGUF" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        node("ClipLoaderGGUF")(ctx, clip_name=CLIP, type="wan", device="cuda:3")
    assert err.value.input_name == "device"
