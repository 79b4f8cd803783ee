"""WanVideoExtraModelSelect and WanVideoPassImagesFromSamples (ComfyUI-WanVideoWrapper,
2025-08/09): the pack's rules written out here as the reference.

- ExtraModelSelect: a list of files, ``prev_model``'s first, that the loader lays over the
  main model (a VACE module gives the same model as WanVideoVACEModelSelect's); any other
  extra weights are refused by the loader on ``extra_model``; smoke stand-ins for names
  that say VACE only.
- PassImagesFromSamples: the samples' ``video`` clamped to -1..1 then moved to 0..1, with
  ``output_path``; samples without a decoded video are refused by name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.standins import NoStandin, family_for
from wfrun.models.tiny import transformer_weights, vace_module_weights
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import VacePath

SEED = 77


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("extra-model")
    folder = root / "diffusion_models"
    folder.mkdir()
    meta = {"wfrun.num_heads": "2"}
    sds = {"main": transformer_weights("t2v", SEED), "module": vace_module_weights(SEED),
           "other": {"LQ_proj_in.weight": torch.zeros(4, 4)}}  # not a VACE module (a FlashVSR-like part)
    paths = {"root": root}
    for name, sd in sds.items():
        paths[name] = folder / f"{name}_tiny_bf16.safetensors"
        save_file({k: v.to(torch.bfloat16).contiguous() for k, v in sd.items()}, str(paths[name]), metadata=meta)
    return paths


def test_extra_model_select_chains_files_in_order(files):
    ctx = ExecContext(models=ModelRoots.from_options(str(files["root"])))
    select = node("WanVideoExtraModelSelect")
    (first,) = select(ctx, extra_model="module_tiny_bf16.safetensors")
    assert isinstance(first, VacePath) and [p.resolve() for p in first.paths] == [files["module"].resolve()]
    (both,) = select(ctx, extra_model="other_tiny_bf16.safetensors", prev_model=first)
    assert [p.resolve() for p in both.paths] == [files["module"].resolve(), files["other"].resolve()]
    with pytest.raises(NodeInputError) as err:
        select(ctx, extra_model="module_tiny_bf16.safetensors", prev_model=["x"])
    assert err.value.input_name == "prev_model"
    with pytest.raises(NodeInputError) as err:
        select(ctx, extra_model="missing.safetensors")
    assert err.value.input_name == "extra_model"


def test_loader_takes_a_vace_module_and_refuses_other_extra_weights(files):
    ctx = ExecContext(models=ModelRoots.from_options(str(files["root"])))
    loader = node("WanVideoModelLoader")
    args = dict(model="main_tiny_bf16.safetensors", base_precision="fp32", quantization="disabled",
                load_device="main_device")
    (extra,) = node("WanVideoExtraModelSelect")(ctx, extra_model="module_tiny_bf16.safetensors")
    (vace,) = node("WanVideoVACEModelSelect")(ctx, vace_model="module_tiny_bf16.safetensors")
    (a,) = loader(ctx, extra_model=extra, **args)
    (b,) = loader(ctx, vace_model=vace, **args)
    assert len(a.transformer.vace_blocks) == 2
    sa, sb = a.transformer.state_dict(), b.transformer.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    (other,) = node("WanVideoExtraModelSelect")(ctx, extra_model="other_tiny_bf16.safetensors")
    with pytest.raises(NodeInputError) as err:
        loader(ctx, extra_model=other, **args)
    assert err.value.input_name == "extra_model" and "not a VACE module" in str(err.value)


def test_smoke_standins_for_extra_models_only_where_the_name_says_vace():
    standin = family_for("WanVideoExtraModelSelect", "extra_model", "unet_gguf,diffusion_models",
                         "WanVideo\\Wan2_2_Fun_VACE_module_A14B_HIGH_bf16.safetensors")
    assert standin.family.kind == "wan_vace_module" and standin.folder == "diffusion_models"
    gguf = family_for("WanVideoExtraModelSelect", "extra_model", "unet_gguf,diffusion_models",
                      "Wan2_1-VACE_module_14B_Q4_K_M.gguf")
    assert gguf.family.kind == "wan_vace_module" and gguf.family.precision.startswith("gguf-")
    with pytest.raises(NoStandin, match="only VACE modules"):
        family_for("WanVideoExtraModelSelect", "extra_model", "unet_gguf,diffusion_models",
                   "WanVideo\\FlashVSR\\Wan2_1_FlashVSR_LQ_proj_model_bf16.safetensors")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_pass_images_from_samples_moves_the_video_to_0_1(dtype):
    video = (torch.linspace(-1.5, 1.5, 5 * 4 * 6 * 3).reshape(5, 4, 6, 3)).to(dtype)
    samples = {"samples": torch.zeros(1, 16, 2, 1, 1), "video": video, "output_path": "/out/x.mp4"}
    images, path = node("WanVideoPassImagesFromSamples")(ExecContext(), samples=samples)
    expected = ((video.clamp(-1.0, 1.0) + 1.0) / 2.0).float()
    assert images.dtype == torch.float32 and images.shape == (5, 4, 6, 3)
    torch.testing.assert_close(images, expected, rtol=0, atol=0)
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0 and path == "/out/x.mp4"
    assert torch.equal(samples["video"], video)  # the LATENT is left as it was
    _, no_path = node("WanVideoPassImagesFromSamples")(ExecContext(), samples={"video": video})
    assert no_path == ""


@pytest.mark.parametrize("samples", [{"samples": torch.zeros(1, 16, 2, 4, 4)}, {"video": torch.zeros(4, 4)}, 3])
def test_pass_images_without_a_decoded_video_is_refused(samples):
    with pytest.raises(NodeInputError) as err:
        node("WanVideoPassImagesFromSamples")(ExecContext(), samples=samples)
    assert err.value.input_name == "samples"
