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
