"""Shared test data: the real corpus beside the checkout and the official templates."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so CI passes or fails on the code, not
# on the draw. To hunt for new failures run them with fresh randomness:
#   python3 -m pytest tests/test_robustness.py --hypothesis-profile=explore
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")

# Under pytest-xdist (the README's `-n auto`) each worker is one process per core: one
# intra-op thread each, so two workers on two cores do not fight over four threads. Tests
# that start their own processes (Ray workers, gloo ranks, `wfrun` subprocesses) inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def corpus_files() -> list[Path]:
    files = sorted(p for p in CORPUS.glob("*/*.json") if p.name != "manifest.json")
    if not files:
        raise RuntimeError(f"no corpus files under {CORPUS}: the shared/ folder must sit beside the checkout")
    return files


def is_api_prompt(path: Path) -> bool:
    """An API-format prompt (node ids to {class_type, inputs}) rather than a UI workflow."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return isinstance(data, dict) and "nodes" not in data and all(
        isinstance(v, dict) and "class_type" in v for v in data.values())


def ui_corpus_files() -> list[Path]:
    """The corpus files saved by the ComfyUI frontend (the real-world set also holds API prompts)."""
    return [p for p in corpus_files() if not is_api_prompt(p)]


def curated_corpus_files() -> list[Path]:
    """The pack author's examples and ComfyUI's templates, saved by the node versions wfrun's
    specs cover (the real-world and public sets by other people reach beyond them)."""
    return [p for p in corpus_files() if p.parent.name not in ("realworld", "public")]


def template_files() -> list[Path]:
    import comfyui_workflow_templates_json as templates

    folder = Path(templates.__file__).parent / "templates"
    out = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("nodes"), list):
            out.append(path)
    return out


def all_workflow_files() -> list[Path]:
    return corpus_files() + template_files()


def wan_manifest() -> list[dict]:
    return json.loads((CORPUS / "wanvideowrapper" / "manifest.json").read_text())


@pytest.fixture(scope="session")
def registry():
    from wfrun.specs.registry import default_registry

    return default_registry()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """wfrun's tiny random checkpoints in ComfyUI's folder layout, written once per session."""
    from wfrun.models.tiny import write_tiny_models

    return write_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="module")
def ctx(tiny_models):
    """An executor context on the tiny models (a test module may define its own)."""
    from wfrun.models.paths import ModelRoots
    from wfrun.nodes.executor import ExecContext

    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def vae(ctx):
    """The tiny Wan 2.1 VAE through core VAELoader (a test module may define its own)."""
    from tests.node_helpers import node

    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v
