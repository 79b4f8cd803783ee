"""Finding the file a workflow names, in ComfyUI's models folder layout.

Workflows name models as ComfyUI lists them: relative to a models sub-folder, often with
Windows separators (``WanVideo\\\\Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors``). A name is
untrusted input, so it is resolved only *inside* a models folder: absolute paths and
``..`` segments are refused.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: ComfyUI's folder names, with the older names it still reads.
FOLDER_ALIASES: dict[str, tuple[str, ...]] = {
    "diffusion_models": ("diffusion_models", "unet"),
    "unet": ("unet", "diffusion_models"),
    "text_encoders": ("text_encoders", "clip"),
    "clip": ("clip", "text_encoders"),
    "vae": ("vae",),
    "clip_vision": ("clip_vision",),
    "loras": ("loras",),
    "checkpoints": ("checkpoints",),
}

MODEL_SUFFIXES = (".safetensors", ".sft", ".gguf", ".ckpt", ".pt", ".pth", ".bin")


class ModelPathError(ValueError):
    """A model name that cannot be resolved; the message says where we looked."""


@dataclass(frozen=True)
class ModelRoots:
    """The models folders to search, in order."""

    roots: tuple[Path, ...]

    @classmethod
    def from_options(cls, models_dir: str | os.PathLike[str] | None = None) -> "ModelRoots":
        roots: list[Path] = []
        if models_dir:
            roots.append(Path(models_dir))
        env = os.environ.get("WFRUN_MODELS")
        if env:
            roots.extend(Path(p) for p in env.split(os.pathsep) if p)
        return cls(tuple(roots))

    def folders(self, folder: str) -> list[Path]:
        return [root / name for root in self.roots for name in FOLDER_ALIASES.get(folder, (folder,))]


def safe_relative(name: str) -> PurePosixPath:
    """The model name as a relative path, refusing anything that could escape a folder."""
    rel = PurePosixPath(name.replace("\\", "/"))
    if not name or rel.is_absolute() or ":" in rel.parts[0] or ".." in rel.parts:
        raise ModelPathError(
            f"model name {name!r} is not a plain relative file name inside a models folder")
    return rel


def find_model(roots: ModelRoots, folder: str, name: str) -> Path:
    """The file for ``name`` in ``folder`` (any alias, any root), or a clear error."""
    rel = safe_relative(name)
    searched = roots.folders(folder)
    for base in searched:
        candidate = base.joinpath(*rel.parts)
        if candidate.is_file():
            return candidate
    close = closest_names(searched, str(rel))
    where = ", ".join(str(p) for p in searched) or "(no models folder given: use --models DIR)"
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise ModelPathError(f"{name!r} not found in {where}{hint}")


def list_models(searched: list[Path]) -> list[str]:
    names: list[str] = []
    for base in searched:
        if base.is_dir():
            for path in base.rglob("*"):
                if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES:
                    names.append(path.relative_to(base).as_posix())
    return names


def closest_names(searched: list[Path], wanted: str, limit: int = 3) -> list[str]:
    return difflib.get_close_matches(wanted, list_models(searched), n=limit, cutoff=0.4)
