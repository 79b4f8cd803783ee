"""Reading a Mel-Band RoFormer safetensors file (kijai's ``MelBandRoformer_fp16.safetensors``,
a plain state dict of the pack's model) and writing tiny ones in the same key layout.

The pack builds one fixed network (:class:`MelBandConfig`'s defaults) and loads the file
strictly into it in float32. wfrun reads the widths that the keys show (model width, depth,
heads and head width, transformer depths, mask MLP depth, band and stem counts) from the
tensor shapes instead, so its tiny stand-ins load through the same path; the STFT and mel
parameters stay the pack's fixed ones, and the band widths stored must match the filterbank's
layout. As with the pack's strict load, a missing or unexpected key is refused. Weights are
kept in float32, as the pack's model holds them whatever the file stores.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from wfrun.models.header import CheckpointError
from wfrun.models.mel_band_roformer.network import MelBandConfig, MelBandRoformer

#: A tiny shape for tests and ``--smoke`` stand-ins (all 60 bands: the layout is fixed).
TINY = MelBandConfig(dim=8, depth=1, heads=2, dim_head=4, mask_expansion=1)


def _count(shapes: dict[str, tuple[int, ...]], pattern: str) -> int:
    regex = re.compile(pattern)
    found = {int(m.group(1)) for k in shapes if (m := regex.fullmatch(k))}
    return max(found) + 1 if found else 0


def config_of(shapes: dict[str, tuple[int, ...]], name: str) -> MelBandConfig:
    """The network a state dict's shapes describe, or CheckpointError when it is not one."""
    try:
        dim = shapes["layers.0.0.norm.gamma"][0]
        heads = shapes["layers.0.0.layers.0.0.to_gates.weight"][0]
        inner = shapes["layers.0.0.layers.0.0.to_qkv.weight"][0] // 3
        ff_inner = shapes["layers.0.0.layers.0.1.net.1.weight"][0]
        mask_hidden = shapes["mask_estimators.0.to_freqs.0.0.0.weight"][0]
    except KeyError as err:
        raise CheckpointError(f"{name}: not a Mel-Band RoFormer state dict (no {err.args[0]})") from None
    return MelBandConfig(
        dim=dim, depth=_count(shapes, r"layers\.(\d+)\.0\.norm\.gamma"), heads=heads, dim_head=inner // heads,
        time_depth=_count(shapes, r"layers\.0\.0\.layers\.(\d+)\.0\.to_qkv\.weight"),
        freq_depth=_count(shapes, r"layers\.0\.1\.layers\.(\d+)\.0\.to_qkv\.weight"),
        num_bands=_count(shapes, r"band_split\.to_features\.(\d+)\.1\.weight"),
        mask_depth=_count(shapes, r"mask_estimators\.0\.to_freqs\.0\.0\.(\d+)\.weight") // 2,
        num_stems=_count(shapes, r"mask_estimators\.(\d+)\.to_freqs\.0\.0\.0\.weight"),
        ff_mult=ff_inner // dim, mask_expansion=mask_hidden // dim)


def load_mel_band_roformer(path: str | Path, *, device: Any = "cpu") -> MelBandRoformer:
    from wfrun.models.reader import open_checkpoint

    path = Path(path)
    with open_checkpoint(path) as reader:
        shapes = {k: tuple(v.shape) for k, v in reader.tensors.items()}
        config = config_of(shapes, path.name)
        try:
            with torch.device("meta"):
                module = MelBandRoformer(config)
        except ValueError as err:
            raise CheckpointError(f"{path.name}: {err}") from None
        wanted = module.state_dict()
        missing = [k for k in wanted if k not in shapes]
        extra = [k for k in shapes if k not in wanted]
        if missing or extra:
            raise CheckpointError(f"{path.name}: not the Mel-Band RoFormer the pack builds: "
                                  + "; ".join(p for p in (
                                      f"{len(missing)} tensors missing ({', '.join(missing[:3])})" if missing else "",
                                      f"{len(extra)} unexpected ({', '.join(extra[:3])})" if extra else "") if p))
        state = {}
        for key, like in wanted.items():
            if shapes[key] != tuple(like.shape):
                raise CheckpointError(f"{path.name}: {key} has shape {shapes[key]}, expected {tuple(like.shape)} "
                                      "(the 60-band layout of a 2048-point STFT at 44.1 kHz)")
            state[key] = reader.read(key, device).to(torch.float32)
    module.load_state_dict(state, assign=True, strict=True)
    return module.to(device).eval().requires_grad_(False)


def tiny_state_dict(config: MelBandConfig = TINY, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights of ``config`` in the pack's key layout (norm gains near 1, the rotary
    frequencies as the pack computes them)."""
    torch.manual_seed(seed)
    module = MelBandRoformer(config)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith("gamma"):
                param.uniform_(0.8, 1.2)
            elif name.endswith("bias"):
                param.normal_(0.0, 0.1)
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def write_tiny(path: str | Path, config: MelBandConfig = TINY, seed: int = 0,
               dtype: torch.dtype = torch.float16) -> Path:
    """A tiny Mel-Band RoFormer safetensors file, written atomically."""
    from wfrun.models.tiny import write_state

    return write_state(path, tiny_state_dict(config, seed), dtype)


__all__ = ["TINY", "config_of", "load_mel_band_roformer", "tiny_state_dict", "write_tiny"]
