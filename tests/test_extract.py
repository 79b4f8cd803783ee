"""The spec extractor (wfrun.specs.extract) and the spec files it generated.

The fake pack below is built as a real git repository over a few commits, so the whole
path is exercised: git plumbing, the static interpreter, V1 and V3 nodes, registration
through ``__init__.py``, and the history rules (new signature on change, none on an
unrelated commit, deprecation, a file that stops parsing).
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from wfrun.specs.extract import extract_pack
from wfrun.specs.extract.project import ParsedFile, Project
from wfrun.specs.extract.snapshot import extract_snapshot
from wfrun.specs.spec import InputSpec, NodeSpec, OutputSpec, PackSpecs, Signature

REPO_ROOT = Path(__file__).parents[1]
SCHEMAS = REPO_ROOT / "schemas" / "nodes"
REFERENCE = Path(__file__).parents[1].parent / "shared/reference/wanvideowrapper_node_history.json"


# ---------------------------------------------------------------------- helpers
def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(repo), "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def commit(repo: Path, files: dict[str, str | None], date: str, message: str = "c") -> str:
    for path, text in files.items():
        target = repo / path
        if text is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    git(repo, "add", "-A")
    stamp = f"{date}T12:00:00+00:00"
    subprocess.run(
        ["git", "commit", "-q", "-m", message, "--date", stamp],
        cwd=repo, check=True, capture_output=True,
        env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
             "GIT_COMMITTER_EMAIL": "t@t", "GIT_COMMITTER_DATE": stamp, "HOME": str(repo),
             "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    return git(repo, "rev-parse", "HEAD").strip()


INIT = """
from .nodes import NODE_CLASS_MAPPINGS as A, NODE_DISPLAY_NAME_MAPPINGS as AD
from .extra.nodes import NODE_CLASS_MAPPINGS as B, NODE_DISPLAY_NAME_MAPPINGS as BD

NODE_CLASS_MAPPINGS = {**A, **B}
NODE_DISPLAY_NAME_MAPPINGS = dict(AD)
NODE_DISPLAY_NAME_MAPPINGS.update(BD)
"""

NODES_V1 = """
import sys
import folder_paths
from nodes import MAX_RESOLUTION
from .utils import SCHEDULERS

PRECISIONS = ["fp16", "bf16"]

class FakeLoader:
    @classmethod
    def INPUT_TYPES(s):
        loras = ["none"] + folder_paths.get_filename_list("loras")
        return {
            "required": {
                "model": (folder_paths.get_filename_list("diffusion_models"), {"tooltip": "x"}),
                "precision": (PRECISIONS, {"default": "bf16"}),
                "lora": (loras, {"default": "none"}),
            },
        }
    RETURN_TYPES = ("FAKEMODEL",)
    RETURN_NAMES = ("model",)
    CATEGORY = "fake"

class FakeSampler:
    @classmethod
    def INPUT_TYPES(s):
        inputs = {
            "required": {
                "model": ("FAKEMODEL",),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xffffffffffffffff}),
                "cfg": ("FLOAT", {"default": 6.0, "min": -1.0, "max": 30, "step": 0.1}),
                "width": ("INT", {"default": 832, "min": 64, "max": MAX_RESOLUTION, "step": 8}),
                "scheduler": (SCHEDULERS, {"default": SCHEDULERS[0]}),
                "prompt": ("STRING", {"default": "", "multiline": True}),
            },
            "optional": {
                "strength": ("FLOAT", {"default": 1.0, "forceInput": True}),
                "mode": (get_modes(),),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }
        return inputs
    RETURN_TYPES = ("LATENT", "INT")
    OUTPUT_IS_LIST = (False, True)
    INPUT_IS_LIST = True
    OUTPUT_NODE = True
    CATEGORY = "fake"

class FakeBlocks:
    @classmethod
    def INPUT_TYPES(s):
        d = {}
        for i in range(3):
            d[f"block_{i}"] = ("BOOLEAN", {"default": True})
        return {"required": d, "optional": {"limit": ("INT", {"default": sys.maxsize, "min": -2 * 8})}}
    RETURN_TYPES = ("BLOCKS",)

NODE_CLASS_MAPPINGS = {"FakeLoader": FakeLoader, "FakeSampler": FakeSampler}
NODE_CLASS_MAPPINGS["FakeBlocks"] = FakeBlocks
NODE_DISPLAY_NAME_MAPPINGS = {"FakeLoader": "Fake Loader"}
"""

UTILS = """
SCHEDULERS = ["unipc", "euler"]
"""

EXTRA_V3 = """
from comfy_api.latest import ComfyExtension, io

class FakeV3(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="FakeV3",
            display_name="Fake V3",
            category="fake/v3",
            is_input_list=True,
            inputs=[
                io.Image.Input("image"),
                io.Int.Input("steps", default=20, min=1, max=100),
                io.Float.Input("shift", default=5.0, step=0.01, optional=True),
                io.String.Input("text", multiline=True, default="hi"),
                io.Boolean.Input("flag", default=False),
                io.Combo.Input("method", options=["a", "b"], default="a"),
                io.Custom("FAKEMODEL").Input("model", optional=True),
            ],
            outputs=[io.Latent.Output(display_name="latent")],
            hidden=[io.Hidden.unique_id],
        )

class Ext(ComfyExtension):
    async def get_node_list(self):
        return [FakeV3]

async def comfy_entrypoint():
    return Ext()

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}
"""


def spec(**kw) -> InputSpec:
    return InputSpec(**kw)


SAMPLER_V1 = [
    spec(name="model", section="required", type="FAKEMODEL"),
    spec(name="seed", section="required", type="INT", default=0, min=0, max=0xFFFFFFFFFFFFFFFF,
         control_after_generate=True),
    spec(name="cfg", section="required", type="FLOAT", default=6.0, min=-1.0, max=30, step=0.1),
    spec(name="width", section="required", type="INT", default=832, min=64, max=16384, step=8),
    spec(name="scheduler", section="required", type="COMBO", default="unipc", options=["unipc", "euler"]),
    spec(name="prompt", section="required", type="STRING", default="", multiline=True),
    spec(name="strength", section="optional", type="FLOAT", default=1.0, force_input=True),
    spec(name="mode", section="optional", type="COMBO", options_dynamic=True),
    spec(name="unique_id", section="hidden", type="UNIQUE_ID"),
]
SAMPLER_OUT = [OutputSpec(type="LATENT"), OutputSpec(type="INT", is_list=True)]


@pytest.fixture(scope="module")
def fake_pack(tmp_path_factory) -> tuple[Path, list[str]]:
    repo = tmp_path_factory.mktemp("fakepack")
    git(repo, "init", "-q", "-b", "main")
    shas = [
        commit(repo, {"__init__.py": INIT, "nodes.py": NODES_V1, "utils.py": UTILS,
                      "extra/__init__.py": "", "extra/nodes.py": EXTRA_V3, "extra/helpers.py": "X = 1\n"},
               "2025-01-01"),
        # renames cfg -> guidance and adds steps; a new scheduler in another module
        commit(repo, {"nodes.py": NODES_V1.replace('"cfg": ("FLOAT"', '"guidance": ("FLOAT"').replace(
                   '"prompt": ("STRING"', '"steps": ("INT", {"default": 30, "min": 1}),\n'
                   '                "prompt": ("STRING"'),
                      "utils.py": 'SCHEDULERS = ["unipc", "euler", "dpm++"]\n'}, "2025-01-05"),
        # unrelated: no new signature anywhere
        commit(repo, {"README.md": "hello\n", "extra/helpers.py": "X = 2\n"}, "2025-01-06"),
        # a broken nodes.py must not drop the pack's nodes; FakeBlocks is removed
        commit(repo, {"nodes.py": "def broken(:\n"}, "2025-01-07"),
        commit(repo, {"nodes.py": NODES_V1.replace('"cfg": ("FLOAT"', '"guidance": ("FLOAT"').replace(
                   '"prompt": ("STRING"', '"steps": ("INT", {"default": 30, "min": 1}),\n'
                   '                "prompt": ("STRING"').replace(
                   'NODE_CLASS_MAPPINGS["FakeBlocks"] = FakeBlocks', '').replace(
                   'CATEGORY = "fake"\n\nclass FakeSampler',
                   'CATEGORY = "fake"\n    DEPRECATED = True\n\nclass FakeSampler')},
               "2025-01-09"),
    ]
    return repo, shas


def _expected(shas: list[str]) -> PackSpecs:
    c1, c2, _, _, c5 = shas
    sampler_v2 = [s for s in SAMPLER_V1]
    sampler_v2[2] = spec(name="guidance", section="required", type="FLOAT", default=6.0, min=-1.0, max=30, step=0.1)
    sampler_v2[4] = spec(name="scheduler", section="required", type="COMBO", default="unipc",
                         options=["unipc", "euler", "dpm++"])
    sampler_v2.insert(5, spec(name="steps", section="required", type="INT", default=30, min=1))
    loader = [
        spec(name="model", section="required", type="COMBO", options_from="diffusion_models"),
        spec(name="precision", section="required", type="COMBO", default="bf16", options=["fp16", "bf16"]),
        spec(name="lora", section="required", type="COMBO", default="none", options=["none"], options_from="loras"),
    ]
    blocks = [spec(name=f"block_{i}", section="required", type="BOOLEAN", default=True) for i in range(3)]
    blocks.append(spec(name="limit", section="optional", type="INT", default=2**63 - 1, min=-16))
    v3 = [
        spec(name="image", section="required", type="IMAGE"),
        spec(name="steps", section="required", type="INT", default=20, min=1, max=100),
        spec(name="text", section="required", type="STRING", default="hi", multiline=True),
        spec(name="flag", section="required", type="BOOLEAN", default=False),
        spec(name="method", section="required", type="COMBO", default="a", options=["a", "b"]),
        spec(name="shift", section="optional", type="FLOAT", default=5.0, step=0.01),
        spec(name="model", section="optional", type="FAKEMODEL"),
        spec(name="unique_id", section="hidden", type="UNIQUE_ID"),
    ]

    def sig(commit_sha: str, date: str, inputs, outputs, output_node=False, input_is_list=False) -> Signature:
        return Signature(first_commit=commit_sha, date=date, inputs=inputs, outputs=outputs, output_node=output_node,
                         input_is_list=input_is_list)

    return PackSpecs(
        pack="fake", cnr_id="fake-pack", nodes={
            "FakeBlocks": NodeSpec(class_type="FakeBlocks", pack="fake", deprecated=True, signatures=[
                sig(c1, "2025-01-01", blocks, [OutputSpec(type="BLOCKS")])]),
            "FakeLoader": NodeSpec(class_type="FakeLoader", pack="fake", display_name="Fake Loader",
                                   category="fake", deprecated=True, signatures=[
                sig(c1, "2025-01-01", loader, [OutputSpec(type="FAKEMODEL", name="model")])]),
            "FakeSampler": NodeSpec(class_type="FakeSampler", pack="fake", category="fake", signatures=[
                sig(c1, "2025-01-01", SAMPLER_V1, SAMPLER_OUT, True, True),
                sig(c2, "2025-01-05", sampler_v2, SAMPLER_OUT, True, True)]),
            "FakeV3": NodeSpec(class_type="FakeV3", pack="fake", display_name="Fake V3", category="fake/v3",
                               signatures=[sig(c1, "2025-01-01", v3, [OutputSpec(type="LATENT", name="latent")],
                                                   input_is_list=True)]),
        })


def test_history_of_fake_pack(fake_pack):
    repo, shas = fake_pack
    got = extract_pack(repo, "fake", cnr_id="fake-pack")
    want = _expected(shas)
    assert got.model_dump(exclude={"source"}) == want.model_dump(exclude={"source"})
    assert got.source["first_commit"] == shas[0] and got.source["last_commit"] == shas[-1]
    assert got.source["commits_walked"] == 5
    # the README-only commit and the broken file were not new signatures; 4 evaluations
    assert got.source["commits_evaluated"] == 4


def test_head_only_since_and_only_nodes(fake_pack):
    repo, shas = fake_pack
    head = extract_pack(repo, "fake", head_only=True, only_nodes="FakeSampler,FakeV3")
    assert sorted(head.nodes) == ["FakeSampler", "FakeV3"]
    assert [s.first_commit for s in head.nodes["FakeSampler"].signatures] == [shas[-1]]
    assert head.nodes["FakeSampler"].latest.input("guidance") is not None

    since = extract_pack(repo, "fake", since="2025-01-05")
    assert [s.first_commit for s in since.nodes["FakeSampler"].signatures] == [shas[1]]
    assert since.nodes["FakeBlocks"].deprecated  # gone at HEAD

    until = extract_pack(repo, "fake", until=shas[0][:10])
    assert [s.first_commit for s in until.nodes["FakeSampler"].signatures] == [shas[0]]
    assert not until.nodes["FakeBlocks"].deprecated


def test_output_file_round_trip(fake_pack, tmp_path):
    from wfrun.specs.extract.__main__ import main

    repo, _ = fake_pack
    out = tmp_path / "fake.json"
    assert main(["--git-dir", str(repo), "--pack", "fake", "--repo", "me/fake", "-q", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert "tooltip" not in out.read_text()
    assert PackSpecs.model_validate(data).nodes["FakeSampler"].signatures[-1].input("steps").default == 30
    assert data["source"]["repo"] == "me/fake"


def _snapshot(files: dict[str, str]):
    parsed = {p: ParsedFile(textwrap.dedent(t), p) for p, t in files.items()}
    return extract_snapshot(Project(parsed, parsed.get), sorted(parsed))


def test_unevaluable_code_never_crashes():
    snap = _snapshot({"nodes.py": """
        import torch, os
        class Weird:
            @classmethod
            def INPUT_TYPES(cls):
                files = sorted(os.listdir("/x"))
                opts = {"required": {
                    "a": (files, {"default": torch.zeros(1)}),
                    "b": (["x"] + files,),
                    "c": (cls.make(),),
                    "d": ("INT", {"default": 2 ** 100000, "max": 10 ** 10}),
                    "e": ("FLOAT", {"min": -float("inf") if False else -1.5}),
                }}
                n = 0
                while n < 3:
                    n += 1
                return opts
            @classmethod
            def make(cls):
                raise RuntimeError()
            RETURN_TYPES = (torch.float16,)
        class Recursive:
            @classmethod
            def INPUT_TYPES(cls):
                return cls.INPUT_TYPES()
        NODE_CLASS_MAPPINGS = {"Weird": Weird, "Recursive": Recursive, "Missing": Nope}
    """})
    weird = snap.nodes["Weird"].signature
    assert [i.model_dump(exclude_defaults=True) for i in weird.inputs] == [
        {"name": "a", "section": "required", "type": "COMBO", "options_dynamic": True},
        {"name": "b", "section": "required", "type": "COMBO", "options": ["x"], "options_dynamic": True},
        {"name": "c", "section": "required", "type": "COMBO", "options_dynamic": True},
        {"name": "d", "section": "required", "type": "INT", "max": 10**10},
        {"name": "e", "section": "required", "type": "FLOAT", "min": -1.5},
    ]
    assert weird.outputs == [OutputSpec(type="*")]
    assert snap.nodes["Recursive"].signature is None
    assert "Missing" not in snap.nodes


def test_tuple_subclass_return_types_list_their_items():
    """Easy-Use's ``ByPassTypeTuple`` (a tuple whose ``[i]`` answers item 0 for any i):
    the frontend iterates it, so the outputs are the wrapped tuple's items."""
    snap = _snapshot({"nodes.py": """
        class ByPass(tuple):
            def __getitem__(self, index):
                return super().__getitem__(0)
        class Loop:
            @classmethod
            def INPUT_TYPES(cls):
                return {"required": {"total": ("INT", {"default": 1})}}
            RETURN_TYPES = ByPass(tuple(["FLOW"] + ["*"] * 2))
            RETURN_NAMES = ByPass(tuple(["flow"] + ["value%d" % i for i in range(1, 3)]))
        NODE_CLASS_MAPPINGS = {"Loop": Loop}
    """})
    outputs = snap.nodes["Loop"].signature.outputs
    assert [(o.type, o.name) for o in outputs] == [("FLOW", "flow"), ("*", "value1"), ("*", "value2")]


def test_v3_in_tree_comfy_api_and_folder_paths():
    """ComfyUI itself: ``comfy_api`` and ``folder_paths`` are files of the tree."""
    snap = _snapshot({
        "folder_paths.py": """
            def get_filename_list(folder):
                return []
        """,
        "comfy_api/__init__.py": "",
        "comfy_api/latest/__init__.py": "from . import _io as io\nclass ComfyExtension: pass\n",
        "comfy_api/latest/_io.py": """
            def comfytype(io_type): return lambda c: c
            class Hidden:
                unique_id = "UNIQUE_ID"
            class ComfyNode:
                @classmethod
                def INPUT_TYPES(cls): return {}
            @comfytype(io_type="INT")
            class Int:
                class Input: pass
            @comfytype(io_type="CLIP_VISION")
            class ClipVision:
                class Input: pass
                class Output: pass
            @comfytype(io_type="COMBO")
            class Combo:
                class Input: pass
            class Schema:
                pass
        """,
        "comfy_extras/nodes_x.py": """
            import folder_paths
            from comfy_api.latest import io, ComfyExtension
            class Loader(io.ComfyNode):
                @classmethod
                def define_schema(cls):
                    return io.Schema(node_id="XLoader", inputs=[
                        io.Combo.Input("name", options=folder_paths.get_filename_list("clip_vision")),
                        io.Int.Input("seed", default=0)],
                        outputs=[io.ClipVision.Output()], is_output_node=True)
            class Child(Loader):
                @classmethod
                def define_schema(cls):
                    parent = super().define_schema()
                    return io.Schema(node_id="XChild", category=parent.category, inputs=parent.inputs[:1])
            class Ext(ComfyExtension):
                async def get_node_list(self):
                    return [Loader, Child]
        """,
    })
    loader = snap.nodes["XLoader"]
    assert loader.category == "sd"
    assert [i.model_dump(exclude_defaults=True) for i in loader.signature.inputs] == [
        {"name": "name", "section": "required", "type": "COMBO", "options_from": "clip_vision"},
        {"name": "seed", "section": "required", "type": "INT", "default": 0, "control_after_generate": True},
        {"name": "prompt", "section": "hidden", "type": "PROMPT"},
        {"name": "extra_pnginfo", "section": "hidden", "type": "EXTRA_PNGINFO"},
    ]
    assert loader.signature.outputs == [OutputSpec(type="CLIP_VISION")] and loader.signature.output_node
    assert [i.name for i in snap.nodes["XChild"].signature.inputs] == ["name"]


# ---------------------------------------------------------------------- committed files
COMMITTED = sorted(SCHEMAS.glob("*.json"))


def test_committed_specs_exist():
    names = {p.stem for p in COMMITTED}
    assert {"ComfyUI-WanVideoWrapper", "comfy-core", "comfyui-kjnodes", "comfyui-videohelpersuite",
            "comfyui_essentials", "comfyui-depthanythingv2"} <= names


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_committed_specs_validate(path: Path):
    specs = PackSpecs.model_validate_json(path.read_bytes())
    assert specs.pack == path.stem
    assert specs.nodes
    for class_type, node in specs.nodes.items():
        assert node.class_type == class_type and node.pack == specs.pack and node.signatures
        dates = [s.date for s in node.signatures]
        assert all(d is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in dates)
        assert dates == sorted(dates) or specs.source.get("walk") == "all-commits"
    assert "tooltip" not in path.read_text()


def test_comfy_core_has_what_templates_use():
    core = PackSpecs.model_validate_json((SCHEMAS / "comfy-core.json").read_bytes()).nodes
    must = {"CLIPLoader", "CLIPTextEncode", "CLIPVisionLoader", "EmptyImage", "ImageBatch",
            "ImageCompositeMasked", "LoadAudio", "LoadImage", "MaskPreview", "PreviewImage", "SaveImage",
            "KSampler", "KSamplerAdvanced", "UNETLoader", "VAELoader", "VAEDecode", "WanImageToVideo",
            "WanFirstLastFrameToVideo", "CreateVideo", "SaveVideo", "ModelSamplingSD3", "LoraLoaderModelOnly",
            "CLIPVisionEncode"}
    assert must <= set(core)
    assert core["LoadImage"].latest.input("image").image_upload
    assert core["KSampler"].latest.input("seed").control_after_generate
    assert core["UNETLoader"].latest.input("unet_name").options_from == "diffusion_models"
    assert "uni_pc" in core["KSampler"].latest.input("sampler_name").options


# ---------------------------------------------------------------------- the reference history
#: Where the reference differs from the extractor for a known reason, the check that
#: stands in for "same signature on the same commit". Every reference signature is still
#: checked.
#:
#: 1. The reference's walker did not evaluate merge commits (``git log --raw`` shows
#:    merges without changes), so a signature that a merge brought back is credited there
#:    to the next commit. We evaluate the merge's own tree: 0291b520 (merge of PR #353)
#:    already has these signatures, and 4970f84f is the next commit in the walk.
MERGE_CREDIT = {
    ("WanVideoDecode", "4970f84f5f871991606fa4efe81a912829333fac"): "0291b5205cab37a404d0da41af5b25ae5dea7fbd",
    ("LoadWanVideoClipTextEncoder", "4970f84f5f871991606fa4efe81a912829333fac"):
        "0291b5205cab37a404d0da41af5b25ae5dea7fbd",
}
#: 2. WanVideoLoraBlockEdit builds its 40 ``blocks.N.`` BOOLEAN inputs in a ``for`` loop,
#:    which the reference did not run; the frontend shows (and files save) all 40.
LOOP_INPUTS = {"WanVideoLoraBlockEdit": re.compile(r"blocks\.\d+\.")}


def _norm_ref(inp: dict) -> tuple[dict, str]:
    kind = inp["type"]
    fields = {k: v for k, v in inp.items() if k in ("name", "section", "default", "min", "max", "options")}
    fields["type"] = "COMBO" if kind.startswith("<") else kind
    return InputSpec(**fields).model_dump(include={"name", "section", "type", "default", "min", "max", "options"}), kind


def _compare_inputs(node: str, ref_inputs: list[dict], ours: Signature) -> list[str]:
    mine = [i for i in ours.inputs if i.section != "hidden"]
    loop = LOOP_INPUTS.get(node)
    if loop is not None:
        generated = [i for i in mine if loop.fullmatch(i.name)]
        assert len(generated) == 40 and all(i.type == "BOOLEAN" and i.default is True for i in generated)
        mine = [i for i in mine if not loop.fullmatch(i.name)]
    problems = []
    if [(i["name"], i["section"]) for i in ref_inputs] != [(i.name, i.section) for i in mine]:
        return [f"inputs {[i['name'] for i in ref_inputs]} != {[i.name for i in mine]}"]
    for ref, got in zip(ref_inputs, mine):
        want, kind = _norm_ref(ref)
        have = got.model_dump(include={"name", "section", "type", "default", "min", "max", "options"})
        if kind.startswith("<"):
            # a combo whose options the reference did not evaluate
            want.pop("options"), have.pop("options")
            if not (got.options or got.options_from or got.options_dynamic):
                problems.append(f"{got.name}: non-literal combo without options")
            if kind.startswith("<get_filename_list:") and got.options_from != kind[len("<get_filename_list:"):-1]:
                problems.append(f"{got.name}: options_from {got.options_from!r} for {kind}")
            if kind == "<expr>" and not (got.options_from or got.options_dynamic):
                problems.append(f"{got.name}: {kind} should be options_from/options_dynamic")
        if want != have:
            problems.append(f"{got.name}: {want} != {have}")
    return problems


def test_wanvideowrapper_matches_reference_history():
    if not REFERENCE.is_file():
        pytest.fail(f"reference history missing: {REFERENCE} (expected in the shared checkout beside the repo)")
    reference = json.loads(REFERENCE.read_text())
    ours = PackSpecs.model_validate_json((SCHEMAS / "ComfyUI-WanVideoWrapper.json").read_bytes()).nodes
    problems: list[str] = []
    checked = 0
    for node, sigs in reference.items():
        if node not in ours:
            problems.append(f"{node}: missing")
            continue
        by_commit = {s.first_commit: s for s in ours[node].signatures}
        for ref in sigs:
            checked += 1
            sha = ref["first_commit"]
            credited = MERGE_CREDIT.get((node, sha))
            if credited is not None:
                assert sha not in by_commit
                sha = credited
            got = by_commit.get(sha)
            if got is None:
                problems.append(f"{node}: no signature first seen at {sha[:10]} ({ref['date']})")
                continue
            if credited is None and got.date != ref["date"]:
                problems.append(f"{node}@{sha[:10]}: date {got.date} != {ref['date']}")
            if [o.type for o in got.outputs] != ref["outputs"]:
                problems.append(f"{node}@{sha[:10]}: outputs {[o.type for o in got.outputs]} != {ref['outputs']}")
            problems += [f"{node}@{sha[:10]}: {p}" for p in _compare_inputs(node, ref["inputs"], got)]
    assert checked == sum(len(s) for s in reference.values())
    assert not problems, "\n".join(problems)


def test_pack_that_puts_its_folder_on_sys_path():
    """ComfyUI-Frame-Interpolation inserts its own folder into ``sys.path`` and imports its
    files absolutely (``from vfi_models.rife import RIFE_VFI``, ``from vfi_utils import …``);
    a pack that does not do so keeps absolute imports pointing outside (``import nodes``)."""
    files = {
        "__init__.py": """
            import os, sys
            sys.path.insert(0, os.path.abspath(os.path.dirname(__file__)))
            from vfi_models.rife import RIFE_VFI
            NODE_CLASS_MAPPINGS = {"RIFE VFI": RIFE_VFI}
        """,
        "vfi_models/__init__.py": "",
        "vfi_models/rife/__init__.py": """
            from vfi_utils import MULTIPLIER
            class RIFE_VFI:
                @classmethod
                def INPUT_TYPES(s):
                    return {"required": {"frames": ("IMAGE",), "multiplier": ("INT", MULTIPLIER)}}
                RETURN_TYPES = ("IMAGE",)
        """,
        "vfi_utils.py": 'MULTIPLIER = {"default": 2, "min": 1}\n',
    }
    snap = _snapshot(files)
    assert [(i.name, i.default) for i in snap.nodes["RIFE VFI"].signature.inputs] == [("frames", None), ("multiplier", 2)]
    files["__init__.py"] = files["__init__.py"].replace("sys.path.insert(0, os.path.abspath(os.path.dirname(__file__)))", "")
    assert "RIFE VFI" not in _snapshot(files).nodes or _snapshot(files).nodes["RIFE VFI"].signature is None


def test_optional_module_missing_from_the_snapshot_and_package_self_import():
    """RES4LYF's shape: the root imports ``from . import sigmas`` (its own package), then
    rebinds its mappings through an optional ``.zampler`` that the repository lacks (an
    ImportError at run time: the rest of that try body and its handlers do not count) and
    through ``.beta``, which is there."""
    snap = _snapshot({
        "__init__.py": """
            import os
            from . import sigmas
            NODE_CLASS_MAPPINGS = {"Rescale": sigmas.Rescale}
            if os.path.exists(os.path.join(os.path.dirname(__file__), "flag.txt")):
                try:
                    from .zampler import add_zamplers
                    NODE_CLASS_MAPPINGS = add_zamplers(NODE_CLASS_MAPPINGS)
                except ImportError:
                    import importlib
                    NODE_CLASS_MAPPINGS = importlib.import_module("x.zampler").add(NODE_CLASS_MAPPINGS)
            try:
                from .beta import add_beta
                NODE_CLASS_MAPPINGS = add_beta(NODE_CLASS_MAPPINGS)
            except ImportError:
                pass
        """,
        "sigmas.py": """
            class Rescale:
                @classmethod
                def INPUT_TYPES(cls):
                    return {"required": {"start": ("FLOAT", {"default": 1.0})}}
                RETURN_TYPES = ("SIGMAS",)
        """,
        "beta/__init__.py": """
            class Chain:
                @classmethod
                def INPUT_TYPES(cls):
                    return {"required": {"eta": ("FLOAT", {"default": 0.5})}}
                RETURN_TYPES = ("LATENT",)
            def add_beta(mappings):
                mappings.update({"Chain": Chain})
                return mappings
        """,
    })
    assert sorted(snap.nodes) == ["Chain", "Rescale"]
    assert snap.nodes["Rescale"].signature.input("start").default == 1.0
