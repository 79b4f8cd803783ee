"""The wrapper's specs reach its 2025-08..2026 versions (issue 14): the real workflows
other people shared (``shared/corpus/realworld``) validate without widget-mismatch,
type-mismatch or unknown-node errors on ComfyUI-WanVideoWrapper nodes."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import CORPUS
from wfrun.diagnostics import Severity
from wfrun.jobs.validate import validate_file
from wfrun.specs.registry import default_registry

REALWORLD = CORPUS / "realworld"
WRAPPER = "ComfyUI-WanVideoWrapper"
#: Nodes of realworld/ by frequency (issue 14); each must have a signature from after the
#: 2025-07-24 end of the earlier specs, or be unchanged since.
CURRENT = ["WanVideoSampler", "WanVideoModelLoader", "WanVideoSetLoRAs", "WanVideoSetBlockSwap",
           "WanVideoTextEncodeCached", "WanVideoLoraSelectMulti", "WanVideoSchedulerv2", "WanVideoSamplerv2",
           "WanVideoVACEEncode", "WanVideoVACEModelSelect", "WanVideoImageToVideoEncode",
           "WanVideoTorchCompileSettings", "WanVideoApplyNAG"]
CODES = {"widget-mismatch", "type-mismatch", "unknown-node"}


def _ui_files() -> list[Path]:
    if not REALWORLD.is_dir():
        return []
    out = []
    for path in sorted(REALWORLD.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "nodes" in data and "wanvideowrapper" in path.read_text(encoding="utf-8").lower():
            out.append(path)
    return out


FILES = _ui_files()


@lru_cache(maxsize=None)
def _validated(path: Path):
    return validate_file(path)


def _is_wrapper(props: dict) -> bool:
    return any("wanvideowrapper" in str(props.get(k) or "").lower() for k in ("cnr_id", "aux_id"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_wrapper_nodes_of_realworld_have_no_shape_type_or_unknown_errors(path):
    result = _validated(path)
    graph = result.graph
    assert graph is not None
    bad = []
    for d in result.diagnostics:
        if d.code not in CODES or d.severity is not Severity.ERROR or d.node_id is None:
            continue
        node = graph.node(d.node_id) if d.node_id in graph.graph else None
        if node is not None and _is_wrapper(node.properties):
            bad.append(d.text())
    assert bad == []


def test_every_wrapper_node_type_of_realworld_has_a_spec():
    reg = default_registry()
    unknown = set()
    for path in FILES:
        for node in _validated(path).graph.nodes():
            if _is_wrapper(node.properties) and reg.get(node.class_type) is None:
                unknown.add(node.class_type)
    assert unknown == set()


def test_base_precision_fp16_is_accepted():
    path = REALWORLD / "014_Hearmeman24_hm-startend.json"
    found = [d for d in _validated(path).diagnostics if d.input == "base_precision"]
    assert found == [], [d.text() for d in found]


def test_wrapper_specs_reach_2026_with_their_source_recorded():
    reg = default_registry()
    pack = reg.packs[WRAPPER]
    source = pack.source
    assert source["last_date"] >= "2026-05-24" and source["repo"] and source["note"]
    commits = {sha: day for sha, day in source["commits"]}
    assert source["first_commit"] in commits and source["last_commit"] in commits
    for name in CURRENT:
        spec = reg.get(name)
        assert spec is not None, name
        for sig in spec.signatures:  # every signature dated by the commit it first appeared in
            assert commits.get(sig.first_commit) == sig.date, (name, sig.first_commit)
    newer = {n for n in CURRENT if reg.get(n).latest.date > "2025-07-24"}
    assert {"WanVideoSampler", "WanVideoModelLoader", "WanVideoTextEncodeCached", "WanVideoSamplerv2",
            "WanVideoSchedulerv2", "WanVideoImageToVideoEncode", "WanVideoTorchCompileSettings"} <= newer


def test_torch_compile_settings_output_is_wancompileargs_as_the_loader_expects():
    reg = default_registry()
    out = reg.get("WanVideoTorchCompileSettings").latest.outputs[0].type
    loader = reg.get("WanVideoModelLoader").latest.input("compile_args")
    assert out == loader.type == "WANCOMPILEARGS"


def test_multitalk_examples_chinese_wav2vec2_option_is_valid():
    # The option exists on the multitalk branch the examples were saved on; the all-commits
    # walk interleaves that branch with the main line, whose signature lacks it, so the
    # saved ver alone could pick a main-line signature. The values decide (widgets.py).
    files = sorted((CORPUS / "wanvideowrapper").glob("*multitalk*.json"))
    assert files
    for path in files:
        bad = [d.text() for d in validate_file(path).diagnostics
               if d.class_type == "DownloadAndLoadWav2VecModel" and d.severity is Severity.ERROR]
        assert bad == [], path.name


def test_the_realworld_corpus_is_here():
    assert len(FILES) >= 20  # the shared corpus' UI files travel with the checkout; an empty list would test nothing
