"""``wfrun coverage``: per node type, how many workflows it keeps from running."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from specs_for_tests import inp, node, out, workflow
from wfrun.cli import main
from wfrun.engine.executors import get_executor
from wfrun.jobs.coverage import coverage

CORPUS = Path("/work/shared/corpus/realworld")
SAMPLE = ["012_Hearmeman24_hm-wrapper-i2v-upscale.json", "024_cseti007_cseti-wan22-t2v.json",
          "033_jalberty2018_jalb-scail.json", "053_s1ntecs_s1ntecs-api-i2v.json"]


def write(tmp_path: Path, name: str, nodes: list, links: list) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(workflow(nodes, links)), encoding="utf-8")
    return path


def made_up(tmp_path: Path) -> list[Path]:
    """Three workflows: two use an unknown 'Blur (mypack)' on the way to SaveImage, one of
    them also an unknown 'Sharpen' that nothing uses (pruned: it blocks nothing)."""
    load = node(1, "EmptyImage", [64, 64, 1, 0], outputs=[out("IMAGE", "IMAGE", [1])])
    blur = node(2, "Blur (mypack)", [3], inputs=[inp("image", "IMAGE", 1)], outputs=[out("IMAGE", "IMAGE", [2])],
                properties={"cnr_id": "mypack"})
    save = node(3, "SaveImage", ["x"], inputs=[inp("images", "IMAGE", 2)])
    sharpen = node(4, "Sharpen", [1], inputs=[inp("image", "IMAGE", 3)], outputs=[out("IMAGE", "IMAGE")])
    links = [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]]
    direct = [node(1, "EmptyImage", [64, 64, 1, 0], outputs=[out("IMAGE", "IMAGE", [1])]),
              node(3, "SaveImage", ["x"], inputs=[inp("images", "IMAGE", 1)])]
    return [write(tmp_path, "a.json", [load, blur, save], links),
            write(tmp_path, "b.json", [load, blur, save, sharpen], links + [[3, 1, 0, 4, 0, "IMAGE"]]),
            write(tmp_path, "c.json", direct, [[1, 1, 0, 3, 0, "IMAGE"]])]


def test_counts_on_made_up_workflows(tmp_path):
    assert get_executor("EmptyImage") and get_executor("SaveImage")
    report = coverage(made_up(tmp_path))
    assert [(r["type"], r["pack"], r["workflows"]) for r in report.rows()] == [("Blur (mypack)", "mypack?", 2)]
    assert report.supported == 1
    assert report.summary() == "1 of 3 workflows have every planned node supported"


def test_cli_text_and_json(tmp_path):
    files = [str(p) for p in made_up(tmp_path)]
    result = CliRunner().invoke(main, ["coverage", *files])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split() == ["2", "Blur", "(mypack)", "mypack?"]
    assert result.output.splitlines()[-1] == "1 of 3 workflows have every planned node supported"
    data = json.loads(CliRunner().invoke(main, ["coverage", "--format", "json", str(tmp_path)]).output)
    assert data["workflows"] == 3 and data["supported"] == 1
    assert data["node_types"][0]["files"] == files[:2]


def _types_in(path: Path) -> set[str]:
    """Node types of the file's live nodes, read straight from its JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if "nodes" not in data:  # an API prompt
        return {n["class_type"] for n in data.values()}
    found = {n["type"] for n in data["nodes"] if n.get("mode", 0) not in (2, 4)}
    for sg in (data.get("definitions") or {}).get("subgraphs") or []:
        found |= {n["type"] for n in sg["nodes"] if n.get("mode", 0) not in (2, 4)}
    return found


def test_corpus_counts_agree_with_what_the_files_contain():
    paths = [CORPUS / name for name in SAMPLE]
    report = coverage(paths)
    rows = {r["type"]: r for r in report.rows()}
    for path in paths:
        types = _types_in(path)
        no_executor = {t for t in types if get_executor(t) is None}
        blocking = {t for t, _ in next(f for f in report.files if f.path == str(path)).blocking}
        assert blocking <= no_executor, path.name  # only types the file has, that wfrun cannot run
    for t, row in rows.items():  # each count is the number of sample files holding it
        holding = [p for p in paths if t in _types_in(p)]
        assert row["workflows"] <= len(holding)
        assert set(row["files"]) <= {str(p) for p in holding}
    assert report.supported == sum(1 for f in report.files if not f.blocking and f.error is None)


def test_api_prompts_counted_by_an_independent_walk():
    """In an API prompt every link is explicit: walk back from the output nodes over the
    raw JSON and collect the types wfrun has no executor for; coverage must say the same."""
    from wfrun.engine.plan import DISPLAY_ONLY
    from wfrun.specs.registry import default_registry

    registry = default_registry()
    for name in ("053_s1ntecs_s1ntecs-api-i2v.json", "055_sirdrafton_sirdrafton-api-i2v.json"):
        path = CORPUS / name
        prompt = json.loads(path.read_text(encoding="utf-8"))
        consumed = {str(v[0]) for n in prompt.values() for v in n["inputs"].values() if isinstance(v, list)}

        def is_output(i: str) -> bool:
            spec = registry.get(prompt[i]["class_type"])
            if spec is None or not any(sig.output_node for sig in spec.signatures):
                return False
            t = prompt[i]["class_type"]  # display-only outputs nothing reads are skipped
            return not (t in DISPLAY_ONLY and get_executor(t) is None and i not in consumed)

        todo = [i for i in prompt if is_output(i)]
        seen: set[str] = set()
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            todo += [str(v[0]) for v in prompt[i]["inputs"].values() if isinstance(v, list)]
        expected = {prompt[i]["class_type"] for i in seen if get_executor(prompt[i]["class_type"]) is None}
        (found,) = coverage([path]).files
        assert {t for t, _ in found.blocking} == expected, name


def test_name_patterns_do_not_claim_nodes_their_pack_never_had(tmp_path):
    """Other packs name nodes like Kijai's (SquirrelRat's WanVideoLooper, GiusTex's
    EncodeWanVideo): a name pattern does not attribute a node that the pack's full spec
    history (read here straight from its JSON file) never held; a saved ``aux_id`` (the
    repository) beats a ``cnr_id`` left at a template's name; a pattern still guesses for a
    pack whose specs are partial (rgthree's: its head only) or absent (AnimateDiff)."""
    from wfrun.specs.registry import schemas_dir

    wrapper = json.loads((schemas_dir() / "nodes" / "ComfyUI-WanVideoWrapper.json").read_text(encoding="utf-8"))
    assert wrapper["source"]["head_only"] is False and "only_nodes" not in wrapper["source"]
    for name in ("WanVideoLooper", "WanVideoLooperPrompts", "WanVideoLoraSequencer", "EncodeWanVideo"):
        assert name not in wrapper["nodes"]
    rgthree = json.loads((schemas_dir() / "nodes" / "rgthree-comfy.json").read_text(encoding="utf-8"))
    assert rgthree["source"]["head_only"] is True and "Fancy (rgthree)" not in rgthree["nodes"]

    template = {"cnr_id": "comfyui-customnodes-template", "aux_id": "doggeddalle/ComfyUI-Wan22-Combined"}
    cases = {"WanVideoLooper": ({}, None), "EncodeWanVideo": ({}, None),
             "Wan22CombinedKSampler": (template, "doggeddalle/ComfyUI-Wan22-Combined?"),
             "ADE_MadeUp": ({}, "ComfyUI-AnimateDiff-Evolved?"), "Fancy (rgthree)": ({}, "rgthree-comfy?"),
             "Blur (mypack)": ({"cnr_id": "mypack"}, "mypack?")}
    paths = []
    for i, (type_, (props, _)) in enumerate(cases.items()):
        load = node(1, "EmptyImage", [64, 64, 1, 0], outputs=[out("IMAGE", "IMAGE", [1])])
        middle = node(2, type_, [], inputs=[inp("image", "IMAGE", 1)], outputs=[out("IMAGE", "IMAGE", [2])],
                      properties={"Node name for S&R": type_, **props})
        save = node(3, "SaveImage", ["x"], inputs=[inp("images", "IMAGE", 2)])
        paths.append(write(tmp_path, f"{i}.json", [load, middle, save],
                           [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]]))
    report = coverage(paths)
    assert {r["type"]: r["pack"] for r in report.rows()} == {t: pack for t, (_, pack) in cases.items()}
    text = report.text()
    assert any(line.split()[1:] == ["WanVideoLooper", "unknown"] for line in text.splitlines())
