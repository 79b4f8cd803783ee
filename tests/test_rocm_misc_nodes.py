"""rocm-ninodes' loader and VAE decode, ComfyUI-WanVideoKsampler's sampler, calcuis' GGUF VAE
loader and the Inspire pack's folder image loader.

The first three are ComfyUI's core behaviour in their packs (their executors' docstrings say
why), so each is checked against the core node on the same inputs: equal tensors. The GGUF
VAE is checked against the same weights read with the ``gguf`` package alone and loaded by
the core VAELoader. The folder loader is checked against PIL and the pack's documented sort
rules, and for refusing paths that leave wfrun's folders. Last, the corpus workflow that uses
all of them runs with ``--smoke``.
"""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save_file

from tests.node_helpers import node
from wfrun.cli import main
from wfrun.media.image import MediaPathError
from wfrun.media.image_folder import first_number, list_images, resolve_folder
from wfrun.models.handles import CoreModel, WanVAE
from wfrun.models.paths import ModelRoots
from wfrun.models.standins import family_for
from wfrun.models.tiny_gguf import write_wan_vae_gguf
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.rocm_ninodes.nodes import weight_dtype_for

T2V = "wan2.1_t2v_1.3B_tiny_bf16.safetensors"
SCALED = "wan2.1_i2v_480p_14B_tiny_fp8_scaled.safetensors"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def ctx(models, tiny_models, tmp_path_factory) -> ExecContext:
    out = tmp_path_factory.mktemp("out")
    return ExecContext(models=ModelRoots((models, Path(tiny_models))), input_dir=out / "input",
                       output_dir=out / "output")


@pytest.fixture(scope="module")
def cond(ctx):
    (clip,) = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan")
    return node("CLIPTextEncode")(ctx, text="a fox in the snow", clip=clip)[0]


# --- ROCmDiffusionLoader ------------------------------------------------------------------


def test_rocm_diffusion_loader_gives_the_unet_loader_model(ctx):
    (rocm,) = node("ROCmDiffusionLoader")(ctx, unet_name=T2V, weight_dtype="fp8_e4m3fn")
    (core,) = node("UNETLoader")(ctx, unet_name=T2V, weight_dtype="fp8_e4m3fn")
    assert isinstance(rocm, CoreModel) and rocm.task == core.task == "t2v"
    a, b = rocm.transformer.state_dict(), core.transformer.state_dict()
    assert a.keys() == b.keys()
    assert all(a[k].dtype == b[k].dtype and torch.equal(a[k].float(), b[k].float()) for k in a)
    assert a["blocks.0.attn1.to_q.weight"].dtype == torch.float8_e4m3fn


def test_an_fp8_scaled_file_keeps_its_storage_whatever_weight_dtype_says(ctx):
    assert weight_dtype_for("x_fp8_scaled.safetensors", "fp8_e5m2") == "default"
    assert weight_dtype_for("X-FP8-Scaled.safetensors", "fp8_e4m3fn") == "default"
    assert weight_dtype_for("x_bf16.safetensors", "fp8_e5m2") == "fp8_e5m2"
    (rocm,) = node("ROCmDiffusionLoader")(ctx, unet_name=SCALED, weight_dtype="fp8_e5m2")
    (core,) = node("UNETLoader")(ctx, unet_name=SCALED, weight_dtype="default")
    a, b = rocm.transformer.state_dict(), core.transformer.state_dict()
    assert all(a[k].dtype == b[k].dtype and torch.equal(a[k].float(), b[k].float()) for k in a)


def test_rocm_diffusion_loader_refuses_gguf_and_unknown_dtypes(ctx):
    with pytest.raises(NodeInputError, match="GGUF"):
        node("ROCmDiffusionLoader")(ctx, unet_name="wan-Q4_0.gguf", weight_dtype="default")
    with pytest.raises(NodeInputError, match="weight dtype"):
        node("ROCmDiffusionLoader")(ctx, unet_name=T2V, weight_dtype="int4")


# --- WanVideoKsampler and ROCMOptimizedVAEDecode ------------------------------------------


def test_wan_video_ksampler_samples_as_ksampler(ctx, cond):
    (model,) = node("UNETLoader")(ctx, unet_name=T2V, weight_dtype="default")
    (latent,) = node("EmptyHunyuanLatentVideo")(ctx, width=32, height=32, length=5, batch_size=1)
    common = dict(model=model, seed=7, steps=3, cfg=3.0, sampler_name="dpmpp_2m", scheduler="beta",
                  positive=cond, negative=cond, denoise=1.0)
    (ours,) = node("WanVideoKsampler")(ctx, video_latents=latent, **common)
    (core,) = node("KSampler")(ctx, latent_image=latent, **common)
    assert torch.equal(ours["samples"], core["samples"])
    assert not torch.equal(ours["samples"], latent["samples"])
    with pytest.raises(NodeInputError, match="LATENT"):
        node("WanVideoKsampler")(ctx, video_latents=latent["samples"], **common)


def test_rocm_vae_decode_is_the_core_decode_whatever_its_tuning_inputs(ctx):
    (vae,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    samples = {"samples": torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(2))}
    (core,) = node("VAEDecode")(ctx, samples=samples, vae=vae)
    (ours,) = node("ROCMOptimizedVAEDecode")(ctx, samples=samples, vae=vae, tile_size=256, overlap=32,
                                             use_rocm_optimizations=False, precision_mode="fp16",
                                             batch_optimization=False, video_chunk_size=1)
    assert ours.shape == core.shape == (5, 32, 32, 3)
    assert torch.equal(ours, core)


# --- VaeGGUF -------------------------------------------------------------------------------


def _gguf_reference(path: Path) -> dict[str, torch.Tensor]:
    """The file's tensors by the gguf package alone, in their logical shapes."""
    out = {}
    for tensor in gguf.GGUFReader(path).tensors:
        values = np.array(gguf.quants.dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        out[tensor.name] = torch.from_numpy(values).reshape(tuple(int(d) for d in reversed(tensor.shape.tolist())))
    return out


@pytest.mark.parametrize("qtype", ["F16", "Q8_0"])
def test_vae_gguf_decodes_as_the_core_vae_on_the_same_weights(ctx, models, qtype):
    name = f"pig_wan_vae_tiny-{qtype.lower()}.gguf"
    path = write_wan_vae_gguf(models / "vae" / name, "", qtype, seed=5)
    assert gguf.GGUFReader(path).fields["general.architecture"].contents() == "pig"
    save_file(_gguf_reference(path), str(models / "vae" / f"reference_{qtype}.safetensors"))
    (ours,) = node("VaeGGUF")(ctx, vae_name=name)
    (core,) = node("VAELoader")(ctx, vae_name=f"reference_{qtype}.safetensors")
    assert isinstance(ours, WanVAE) and ours.dtype == core.dtype
    a, b = ours.vae.state_dict(), core.vae.state_dict()
    assert a.keys() == b.keys()
    # the core loader reads the reference in fp32; Q8_0 blocks dequantize in fp16 (diffusers' rule)
    tol = 0 if qtype == "F16" else 2e-3
    assert all(torch.allclose(a[k], b[k], atol=tol, rtol=0) for k in a)
    samples = {"samples": torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(3))}
    images = [node("VAEDecode")(ctx, samples=samples, vae=v)[0] for v in (ours, core)]
    assert images[0].shape == (5, 32, 32, 3)
    assert torch.allclose(images[0], images[1], atol=2e-2 if qtype == "Q8_0" else 0)


def test_vae_gguf_reads_other_files_as_vae_loader_and_refuses_image_autoencoders(ctx):
    (ours,) = node("VaeGGUF")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    (core,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    assert all(torch.equal(x, y) for x, y in zip(ours.vae.state_dict().values(), core.vae.state_dict().values()))
    with pytest.raises(NodeInputError, match="tiny autoencoder"):
        node("VaeGGUF")(ctx, vae_name="taesd")


def test_a_gguf_vae_name_gets_a_gguf_vae_stand_in():
    standin = family_for("VaeGGUF", "vae_name", "vae,vae_gguf", "pig_wan_vae_fp32-f16.gguf")
    assert standin.folder == "vae" and standin.family.kind == "wan_vae"
    assert standin.family.precision == "gguf-f16"


# --- LoadImageListFromDir //Inspire ------------------------------------------------------


def _draw(folder: Path, name: str, color: tuple, alpha: int | None = None, mtime: float | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    mode = "RGBA" if alpha is not None else "RGB"
    Image.new(mode, (8, 6), color + ((alpha,) if alpha is not None else ())).save(folder / name)
    if mtime is not None:
        os.utime(folder / name, (mtime, mtime))
    return folder / name


@pytest.fixture()
def folder(tmp_path) -> Path:
    base = tmp_path / "output" / "frames"
    _draw(base, "img10.png", (10, 0, 0), mtime=1_000)
    _draw(base, "img2.png", (20, 0, 0), mtime=3_000)
    _draw(base, "b.jpg", (200, 200, 200), mtime=2_000)
    _draw(base, "a1.webp", (0, 30, 0), alpha=128, mtime=4_000)
    (base / "notes.txt").write_text("not an image")
    (base / "sub.png").mkdir()
    return base


def test_the_folder_is_listed_and_sorted_as_the_pack_sorts(folder):
    names = lambda method: [p.name for p in list_images(folder, method)]  # noqa: E731
    assert names("Alphabetical (ASC)") == sorted(["img10.png", "img2.png", "b.jpg", "a1.webp"])
    assert names("Alphabetical (DESC)") == sorted(["img10.png", "img2.png", "b.jpg", "a1.webp"], reverse=True)
    # the first number in the stem; names without one sort last (infinity)
    assert names("Numerical (ASC)") == ["a1.webp", "img2.png", "img10.png", "b.jpg"]
    assert names("Numerical (DESC)") == ["b.jpg", "img10.png", "img2.png", "a1.webp"]
    assert names("Datetime (ASC)") == ["img10.png", "b.jpg", "img2.png", "a1.webp"]
    assert names("Datetime (DESC)") == ["a1.webp", "img2.png", "b.jpg", "img10.png"]
    assert first_number("x") == float("inf") and first_number("f007_3") == 7


def test_load_image_list_reads_one_image_from_start_index(tmp_path, folder):
    ctx = ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output")
    load = node("LoadImageListFromDir //Inspire")
    (image,), (mask,), (path,) = load(ctx, directory="./output/frames", image_load_cap=1, start_index=0,
                                      sort_method="Alphabetical (ASC)")
    assert Path(path).name == "a1.webp"
    with Image.open(folder / "a1.webp") as pil:
        expected = torch.from_numpy(np.asarray(pil.convert("RGB")).astype(np.float32) / 255.0)
        alpha = torch.from_numpy(np.asarray(pil.getchannel("A")).astype(np.float32) / 255.0)
    assert image.shape == (1, 6, 8, 3) and torch.equal(image[0], expected)
    assert torch.equal(mask[0], 1.0 - alpha)
    (image,), (mask,), (path,) = load(ctx, directory="output\\frames", image_load_cap=1, start_index=3,
                                      sort_method="Numerical (ASC)")
    assert Path(path).name == "b.jpg" and mask.shape == (1, 64, 64) and not mask.any()


def test_load_image_list_limits(tmp_path, folder):
    ctx = ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output")
    load = node("LoadImageListFromDir //Inspire")
    with pytest.raises(NodeInputError, match="no image from index 4") as err:
        load(ctx, directory="./output/frames", image_load_cap=1, start_index=4, sort_method="None")
    assert err.value.input_name == "start_index"
    # 0 = all: the four images, in order, one list item each
    images, masks, paths = load(ctx, directory="./output/frames", image_load_cap=0, start_index=0,
                                sort_method="Numerical (ASC)")
    assert [Path(p).name for p in paths] == ["a1.webp", "img2.png", "img10.png", "b.jpg"]
    assert [i.shape for i in images] == [(1, 6, 8, 3)] * 4 and [m.shape[0] for m in masks] == [1] * 4
    for image, path in zip(images, paths):
        with Image.open(path) as pil:
            expected = torch.from_numpy(np.asarray(pil.convert("RGB")).astype(np.float32) / 255.0)
        assert torch.equal(image[0], expected)
    (_, _, paths) = load(ctx, directory="./output/frames", image_load_cap=2, start_index=1,
                         sort_method="Alphabetical (ASC)")
    assert [Path(p).name for p in paths] == ["b.jpg", "img10.png"]
    (_, _, paths) = load(ctx, directory="./output/frames", image_load_cap=0, start_index=3,
                         sort_method="Alphabetical (ASC)")
    assert [Path(p).name for p in paths] == ["img2.png"]
    with pytest.raises(NodeInputError, match="sort_method"):
        load(ctx, directory="./output/frames", image_load_cap=1, start_index=0, sort_method="Random")


@pytest.mark.parametrize("directory", ["/etc", "C:\\Windows", "../outside", "./output/../../outside",
                                       "output/link", ""])
def test_load_image_list_refuses_folders_outside_wfrun_folders(tmp_path, directory):
    outside = tmp_path / "outside"
    _draw(outside, "secret.png", (1, 2, 3))
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "link").symlink_to(outside, target_is_directory=True)
    ctx = ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output")
    with pytest.raises(NodeInputError) as err:
        node("LoadImageListFromDir //Inspire")(ctx, directory=directory, image_load_cap=1, start_index=0,
                                               sort_method="None")
    assert err.value.input_name == "directory"
    with pytest.raises(MediaPathError):
        resolve_folder(directory, tmp_path / "input", tmp_path / "output", tmp_path / "temp")


def test_a_name_without_output_is_under_the_input_folder(tmp_path):
    _draw(tmp_path / "input" / "stills", "x.png", (5, 5, 5))
    assert resolve_folder("stills", tmp_path / "input", tmp_path / "output", tmp_path / "t") == \
        (tmp_path / "input" / "stills").resolve()


# --- the corpus workflow --------------------------------------------------------------------

def _workflow() -> dict:
    """The chain of the corpus file these nodes came from (RmeKLV's flf2v-vace, from a public
    collection, not in the repository), small: a ROCm loader, a GGUF VAE, a folder image,
    WanVideoKsampler, the ROCm decode."""
    return {
        "1": {"class_type": "ROCmDiffusionLoader",
              "inputs": {"unet_name": "wan2.1_t2v_1.3B_bf16.safetensors", "weight_dtype": "fp8_e4m3fn"}},
        "2": {"class_type": "VaeGGUF", "inputs": {"vae_name": "pig_wan_vae_fp32-f16.gguf"}},
        "3": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5_xxl_fp16.safetensors", "type": "wan"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["3", 0]}},
        "5": {"class_type": "LoadImageListFromDir //Inspire",
              "inputs": {"directory": "./output/VidGen", "image_load_cap": 1, "start_index": 2,
                         "load_always": False, "sort_method": "Alphabetical (ASC)"}},
        "6": {"class_type": "ImageScale", "inputs": {"image": ["5", 0], "upscale_method": "bilinear", "width": 32,
                                                    "height": 32, "crop": "disabled"}},
        "7": {"class_type": "VAEEncode", "inputs": {"pixels": ["6", 0], "vae": ["2", 0]}},
        "8": {"class_type": "WanVideoKsampler",
              "inputs": {"model": ["1", 0], "positive": ["4", 0], "negative": ["4", 0], "video_latents": ["7", 0],
                         "seed": 1, "steps": 2, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple",
                         "denoise": 0.8}},
        "9": {"class_type": "ROCMOptimizedVAEDecode",
              "inputs": {"samples": ["8", 0], "vae": ["2", 0], "tile_size": 512, "overlap": 96,
                         "use_rocm_optimizations": True, "precision_mode": "auto", "batch_optimization": False,
                         "video_chunk_size": 81}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "rocm"}},
    }


def test_the_workflow_runs_with_smoke(tmp_path):
    import json

    path = tmp_path / "wf.json"
    path.write_text(json.dumps(_workflow()))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--device", "cpu", "-o", str(out),
                                       "--input", str(tmp_path / "input")])
    assert result.exit_code == 0, result.output
    assert "stand-in folder" in result.output and "GGUF F16" in result.output
    assert any(p.suffix in (".png", ".mp4") for p in out.rglob("*") if "temp" not in p.parts)
