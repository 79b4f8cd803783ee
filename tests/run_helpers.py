"""Running real workflows on the tiny models: a models folder under the names a workflow uses.

The corpus workflows name the real files (``WanVideo\\wan2.1_t2v_1.3B_fp16.safetensors``); the
tests link wfrun's tiny files under those names, so the workflow runs unchanged apart from
the ``--set`` overrides that shrink frames, size and steps to what a CPU does in seconds.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wfrun.jobs.run import RunOptions, run_file
from wfrun.media.video import probe
from wfrun.models.tiny import TOKENIZER_DIR

ROOT = Path(__file__).resolve().parents[1]
CORPUS_WAN = ROOT.parent / "shared" / "corpus" / "wanvideowrapper"


def linked_models(tiny_root: Path, dest: Path, names: dict[str, str]) -> Path:
    """``dest`` as a models folder where each ``folder/name`` of ``names`` (backslashes as the
    workflow saved them) is the tiny file ``names[...]`` (a path relative to ``tiny_root``),
    plus the tiny UMT5 tokenizer where the loaders look for it."""
    names = {**names, TOKENIZER_DIR: TOKENIZER_DIR}
    for wanted, tiny in names.items():
        target = dest / wanted.replace("\\", "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tiny_root / tiny
        if not source.exists():
            raise FileNotFoundError(source)
        try:
            os.symlink(source, target)
        except OSError:
            shutil.copyfile(source, target)
    return dest


def run_workflow(path: Path, models: Path, tmp_path: Path, overrides: list[str], **kw):
    """``wfrun run`` through its Python entry point, on the CPU, writing under ``tmp_path``."""
    options = RunOptions(models_dir=str(models), output_dir=tmp_path / "out", overrides=overrides,
                         device="cpu", **kw)
    return run_file(path, options)


def videos(report) -> dict[str, tuple[int, int, int]]:
    """``{file name: (frames, width, height)}`` of every mp4 the run wrote."""
    out = {}
    for path in report.result.written:
        if Path(path).suffix == ".mp4":
            info = probe(path)
            out[Path(path).name] = (info.frame_count, info.width, info.height)
    return out


def nvfp4_t2v_template(tiny_models: Path, tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """ComfyUI's Wan 2.1 T2V template set up on an NVFP4 transformer and an fp8-mixed UMT5
    (ComfyUI's per-layer quantized layouts, written tiny): (models folder, workflow, --set lines)."""
    from importlib import resources

    from wfrun.models.tiny import TinySpec, write_file

    models = linked_models(tiny_models, tmp_path / "models", {"vae/wan_2.1_vae.safetensors":
                                                              "vae/wan_2.1_vae_tiny.safetensors"})
    write_file(TinySpec("diffusion_models", "wan2.1_t2v_1.3B_nvfp4.safetensors", "wan_transformer", "t2v", "comfyui",
                        "nvfp4"), models)
    write_file(TinySpec("text_encoders", "umt5_xxl_fp8mixed.safetensors", "umt5", "", "transformers", "fp8mixed"),
               models)
    template = resources.files("comfyui_workflow_templates_json") / "templates" / "text_to_video_wan.json"
    workflow = tmp_path / "t2v.json"
    workflow.write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
    sets = ["37.unet_name=wan2.1_t2v_1.3B_nvfp4.safetensors", "38.clip_name=umt5_xxl_fp8mixed.safetensors",
            "40.width=64", "40.height=64", "40.length=5", "3.steps=2"]
    return models, workflow, sets
