"""Full-size random-weight checkpoints in the real single-file layouts, for GPU benchmarks.

Speed does not depend on weight values, so benchmarks write files with exactly the
tensor names, shapes and dtypes of the released checkpoints (Kijai's layout), filled with
seeded random numbers made on the GPU (fast) and streamed to disk one tensor at a time.

The text encoder is the exception: the real UMT5-XXL needs its 256k-piece tokenizer,
which cannot be downloaded here, so benchmarks use a 4096-wide UMT5 with two layers and the
tiny test vocabulary. It produces context of the real width (4096) for the transformer;
text encoding is ~0.06 s of a job either way (DESIGN.md) and is not what is measured.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wfrun.models import tiny  # noqa: E402
from wfrun.models.fp8 import quantize  # noqa: E402

FP8 = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
FLOATS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
#: ``--small``: real layouts with tiny widths, to smoke-test a benchmark on a CPU in seconds.
SMALL = {"dim": 256, "heads": 2, "ffn": 512, "layers": 2, "text_dim": 32, "image_dim": 32, "image_tokens": 5}


def _init(name: str, shape: tuple[int, ...]) -> tuple[float, float]:
    if name.endswith("bias"):
        return 0.0, 0.02
    if len(shape) == 1:
        return 1.0, 0.05
    if name.endswith(("modulation", "emb_pos")) or "pos_embedding" in name or "token_embedding" in name:
        return 0.0, 0.5 if "pos_embedding" in name else shape[-1] ** -0.5
    return 0.0, math.prod(shape[1:]) ** -0.5


def write_random(path: Path, shapes: dict[str, torch.Tensor], precision: str, device: str, seed: int,
                 rest: str = "bf16", metadata: dict[str, str] | None = None, prefix: str = "") -> Path:
    """Stream random tensors of ``shapes`` (meta tensors) to ``path`` in ``precision``
    (``fp8_e4m3fn_scaled``: ComfyUI's scaled fp8, ``weight / scale`` with a per-tensor
    ``scale_weight`` and the ``scaled_fp8`` marker), each name under ``prefix``."""
    gen = torch.Generator(device=device).manual_seed(seed)
    scaled = precision.endswith("_scaled")
    precision = precision.removesuffix("_scaled")
    entries = []
    for name, meta in shapes.items():
        fp8 = precision in FP8 and tiny._FP8_ELIGIBLE.fullmatch(name) is not None
        dtype = FP8[precision] if fp8 else FLOATS.get(precision, FLOATS[rest])
        mean, std = _init(name, tuple(meta.shape))
        scale = (6 * std + abs(mean)) / torch.finfo(dtype).max if fp8 and scaled else None

        def make(shape=tuple(meta.shape), fp8=fp8, dtype=dtype, mean=mean, std=std, scale=scale):
            value = torch.randn(shape, generator=gen, device=device) * std + mean
            if scale is not None:
                value = value / scale
            return (quantize(value, dtype) if fp8 else value.to(dtype)).cpu()

        entries.append((prefix + name, dtype, tuple(meta.shape), make))
        if scale is not None:
            entries.append((prefix + name.removesuffix("weight") + "scale_weight", torch.float32, (),
                            lambda scale=scale: torch.tensor(scale, dtype=torch.float32)))
    if scaled:
        entries.append((prefix + "scaled_fp8", FP8[precision], (0,), lambda: torch.empty(0, dtype=FP8[precision])))
    path.parent.mkdir(parents=True, exist_ok=True)
    return tiny.write_safetensors_streaming(path, entries, metadata={"format": "pt", **(metadata or {})})


def write_transformer(path: Path, task: str, size: str, precision: str, device: str, small: bool = False,
                      prefix: str = "", rest: str = "bf16", seed: int = 1) -> Path:
    """``prefix="model.diffusion_model."``, ``precision="fp8_e4m3fn_scaled"``, ``rest="fp16"``:
    ComfyUI's repacks (``wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors``)."""
    dims = {"1.3B": tiny.TRANSFORMER_1_3B, "14B": tiny.TRANSFORMER_14B}[size]
    if small:
        dims = dict(dims, **SMALL)
    return write_random(path, tiny.transformer_weights(task, 0, dims, meta=True), precision, device, seed=seed,
                        rest=rest, prefix=prefix)


def write_lora(path: Path, size: str, rank: int, small: bool = False) -> Path:
    """A LoRA on every block linear (lightx2v's layout) of the ``size`` model."""
    from safetensors.torch import save_file

    dims = {"1.3B": tiny.TRANSFORMER_1_3B, "14B": tiny.TRANSFORMER_14B}[size]
    if small:
        dims = dict(dims, **SMALL)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in tiny.lora_weights(5, dims, rank).items()}, str(path))
    return path


def write_vae(path: Path, device: str, small: bool = False) -> Path:
    dims = tiny.VAE if small else tiny.VAE_WAN21
    return write_random(path, tiny.vae_weights(0, dims, meta=True), "bf16", device, seed=2)


def write_text_encoder(folder: Path, name: str, device: str, small: bool = False) -> Path:
    """A 4096-wide, 2-layer UMT5 (tiny vocabulary) plus its tokenizer beside it."""
    import sentencepiece as spm

    vocab = spm.SentencePieceProcessor(model_proto=tiny.tiny_spiece_model()).get_piece_size()
    dims = dict(tiny.UMT5_XXL, vocab=vocab, layers=2)
    if small:
        dims = dict(dims, dim=32, dim_attn=32, ffn=64, heads=4)
    path = write_random(folder / name, tiny.t5_weights(0, dims, meta=True), "bf16", device, seed=3)
    tiny.write_tokenizer(folder / "umt5-xxl")
    return path


def write_clip(path: Path, device: str, small: bool = False) -> Path:
    dims = tiny.CLIP if small else tiny.CLIP_VIT_H
    # real widths tell the head count; the tiny width needs it written down, as tiny files do
    meta = {"wfrun.num_heads": str(tiny.CLIP["heads"])} if small else None
    return write_random(path, tiny.clip_weights(0, dims, meta=True), "fp16", device, seed=4, rest="fp16",
                        metadata=meta)
