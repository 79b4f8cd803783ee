"""comfyui_controlnet_aux's preprocessors: PixelPerfectResolution against its formula, the
resize plumbing against exact area averaging, the lineart generator against a plain functional forward, and
both detectors end to end against references computed step by step from the pack's recipe."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from node_helpers import node
from wfrun.models.depth_anything.load import load_depth_anything
from wfrun.models.lineart import build_lineart, tiny_lineart_state_dict, write_tiny_lineart
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny_depth_anything import write_tiny_depth_anything
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.controlnet_aux import image as aux_image
from wfrun.packs.controlnet_aux.nodes import depth_input_size
from wfrun.specs.extract.project import ParsedFile, Project
from wfrun.specs.extract.snapshot import extract_snapshot
from wfrun.specs.registry import default_registry

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realworld"


def _frames(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth frames with detail (gradients plus a few discs), as 8-bit-exact floats."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    out = []
    for i in range(n):
        base = torch.stack([xx, yy, (xx + yy) / 2], dim=-1)
        cy, cx = torch.rand(2, generator=gen)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < 0.05).float()[..., None]
        out.append((0.7 * base + 0.3 * disc * torch.rand(3, generator=gen) + 0.02 * i).clamp(0, 1))
    return torch.floor(torch.stack(out) * 255) / 255


def _ctx(models: Path) -> ExecContext:
    return ExecContext(models=ModelRoots((models,)))


# --- specs ---------------------------------------------------------------------------------------


def test_extractor_follows_a_root_that_imports_node_modules_by_computed_names():
    files = {
        "__init__.py": """
            import importlib
            from pathlib import Path
            from .extra import NODE_CLASS_MAPPINGS as EXTRA
            here = Path(__file__).parent
            def load():
                found = {}
                for f in (here / "node_wrappers").iterdir():
                    found.update(importlib.import_module(f".node_wrappers.{f.stem}", package=__package__).NODE_CLASS_MAPPINGS)
                return found
            NODE_CLASS_MAPPINGS = {**load(), **EXTRA}
        """,
        "extra.py": """
            class Extra:
                @classmethod
                def INPUT_TYPES(s):
                    return {"required": {"x": ("INT", {"default": 1})}}
            NODE_CLASS_MAPPINGS = {"Extra": Extra}
        """,
        "node_wrappers/depth.py": """
            from ..utils import resolution
            class Depth:
                @classmethod
                def INPUT_TYPES(s):
                    return {"required": {"image": ("IMAGE",)}, "optional": {"resolution": resolution()}}
            NODE_CLASS_MAPPINGS = {"Depth": Depth}
        """,
        "utils.py": """
            def resolution(default=512):
                return ("INT", dict(default=default, min=64, step=64))
        """,
    }
    parsed = {p: ParsedFile(textwrap.dedent(t), p) for p, t in files.items()}
    snap = extract_snapshot(Project(parsed, parsed.get), sorted(parsed))
    assert set(snap.nodes) == {"Depth", "Extra"}
    assert snap.nodes["Depth"].signature.input("resolution").default == 512


def test_specs_bind_the_widgets_of_real_workflows():
    registry = default_registry()
    expected = {
        "DepthAnythingV2Preprocessor": ["ckpt_name", "resolution"],
        "LineArtPreprocessor": ["coarse", "resolution"],
        "PixelPerfectResolution": ["image_gen_width", "image_gen_height", "resize_mode"],
        "DWPreprocessor": ["detect_hand", "detect_body", "detect_face", "resolution", "bbox_detector",
                           "pose_estimator", "scale_stick_for_xinsr_cn"],
    }
    for class_type, widgets in expected.items():
        spec = registry.get(class_type)
        assert spec is not None and spec.pack == "comfyui_controlnet_aux", class_type
        names = [i.name for i in spec.signatures[-1].inputs if i.type not in ("IMAGE",)]
        assert names == widgets, class_type
    doc = json.loads((CORPUS / "015_Hearmeman24_hm-native-funcontrol.json").read_text())
    saved = {n["type"]: n for n in doc["nodes"]}
    assert saved["DepthAnythingV2Preprocessor"]["properties"]["cnr_id"] == "comfyui_controlnet_aux"
    depth = registry.get("DepthAnythingV2Preprocessor").signatures[-1].input("ckpt_name")
    assert saved["DepthAnythingV2Preprocessor"]["widgets_values"][0] in depth.options


# --- PixelPerfectResolution ----------------------------------------------------------------------


@pytest.mark.parametrize("h,w,gw,gh,mode", [
    (480, 832, 512, 512, "Just Resize"), (480, 832, 512, 512, "Resize and Fill"),
    (720, 1280, 832, 480, "Crop and Resize"), (1080, 1920, 640, 640, "Resize and Fill"),
    (100, 100, 1000, 250, "Just Resize"), (4, 10, 64, 64, "Resize and Fill")])
def test_pixel_perfect_resolution_formula(h, w, gw, gh, mode):
    k0, k1 = gh / h, gw / w
    k = min(k0, k1) if mode == "Resize and Fill" else max(k0, k1)
    expected = int(np.round(k * min(h, w)))
    got = node("PixelPerfectResolution")(ExecContext(), original_image=torch.zeros(1, h, w, 3),
                                        image_gen_width=gw, image_gen_height=gh, resize_mode=mode)
    assert got == (expected,)


def test_pixel_perfect_resolution_rounds_half_to_even():
    # a 4-high, 2-wide image to 5 (or 7) high: 5 / 4 * 2 = 2.5 -> 2 and 3.5 -> 4, as np.round
    for gen_h, expected in ((5, 2), (7, 4)):
        assert np.round(gen_h / 4 * 2) == expected
        got = node("PixelPerfectResolution")(ExecContext(), original_image=torch.zeros(1, 4, 2, 3),
                                            image_gen_width=1, image_gen_height=gen_h, resize_mode="Just Resize")
        assert got == (expected,)


# --- resize plumbing -----------------------------------------------------------------------------


def _area_reference(pixels: np.ndarray, th: int, tw: int) -> np.ndarray:
    """Exact area averaging by supersampling: each pixel repeated ``dst`` times along a side,
    then blocks of ``src`` averaged (separable, so one side at a time); float64."""
    x = pixels.astype(np.float64)
    h, w = x.shape[:2]
    x = np.repeat(x, th, axis=0).reshape(th, h, w, *x.shape[2:]).mean(axis=1)
    x = np.repeat(x, tw, axis=1).reshape(th, tw, w, *x.shape[2:]).mean(axis=2)
    return x


@pytest.mark.parametrize("src,dst", [((97, 61), (40, 25)), ((64, 64), (32, 32)), ((50, 80), (50, 79))])
def test_area_resize_is_exact_area_averaging(src, dst):
    gen = torch.Generator().manual_seed(1)
    grey = torch.rand(src, generator=gen, dtype=torch.float64) * 255
    ours = aux_image.resize_area(grey[None, None], dst)[0, 0].numpy()
    np.testing.assert_allclose(ours, _area_reference(grey.numpy(), *dst), atol=1e-9)
    if src[0] % dst[0] == 0 and src[1] % dst[1] == 0:  # whole blocks: PIL's box filter agrees
        pil = np.asarray(Image.fromarray(grey.numpy().astype(np.float32)).resize((dst[1], dst[0]), Image.BOX))
        np.testing.assert_allclose(ours, pil, atol=1e-3)


def test_sizes_follow_the_pack_rounding():
    # short side to the resolution, each side rounded half to even (np.round)
    assert aux_image.target_size(480, 832, 512) == (512, int(np.round(832 * 512 / 480)))
    assert aux_image.target_size(100, 250, 64) == (64, 160)
    assert aux_image.target_size(10, 25, 4) == (4, int(np.round(10.0)))
    assert aux_image.pad64(65) == 63 and aux_image.pad64(128) == 0
    # Depth Anything: lower bound 518, multiples of 14, rounded to nearest then raised
    assert depth_input_size(480, 832) == (518, 896)  # 832*518/480 = 897.9 -> 64.1 * 14
    assert depth_input_size(518, 518) == (518, 518)
    assert depth_input_size(1000, 600) == (868, 518)  # 863.3 / 14 = 61.67 -> 62 * 14
    assert depth_input_size(600, 1040) == (518, 896)  # 897.9 -> 64.13 -> 64 * 14 = 896
    assert depth_input_size(600, 1030) == (518, 896)  # 889.2 -> 63.5 -> 64 * 14
    assert aux_image.detect_resolution(32) == 512 and aux_image.detect_resolution(64) == 64


# --- lineart -------------------------------------------------------------------------------------


def _functional_lineart(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The informative-drawings generator written as plain torch functions over the state dict."""
    def conv(x, key, **kw):
        return F.conv2d(x, sd[f"{key}.weight"], sd[f"{key}.bias"], **kw)

    def up(x, key):
        return F.conv_transpose2d(x, sd[f"{key}.weight"], sd[f"{key}.bias"], stride=2, padding=1, output_padding=1)

    def norm_relu(x):
        return torch.relu(F.instance_norm(x))

    x = norm_relu(conv(F.pad(x, (3,) * 4, mode="reflect"), "model0.1"))
    x = norm_relu(conv(x, "model1.0", stride=2, padding=1))
    x = norm_relu(conv(x, "model1.3", stride=2, padding=1))
    i = 0
    while f"model2.{i}.conv_block.1.weight" in sd:
        y = norm_relu(conv(F.pad(x, (1,) * 4, mode="reflect"), f"model2.{i}.conv_block.1"))
        y = F.instance_norm(conv(F.pad(y, (1,) * 4, mode="reflect"), f"model2.{i}.conv_block.5"))
        x = x + y
        i += 1
    x = norm_relu(up(x, "model3.0"))
    x = norm_relu(up(x, "model3.3"))
    return torch.sigmoid(conv(F.pad(x, (3,) * 4, mode="reflect"), "model4.1"))


def test_lineart_generator_matches_functional_reference():
    sd = tiny_lineart_state_dict(seed=3, width=4, blocks=3)
    x = torch.rand(2, 3, 64, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = build_lineart(sd)(x)
    want = _functional_lineart(sd, x)
    assert got.shape == (2, 1, 64, 128)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert got.std() > 0.01  # the random network draws something


def test_lineart_refuses_other_files():
    from wfrun.models.lineart import NotLineartError

    with pytest.raises(NotLineartError, match="model0.1.weight"):
        build_lineart({"conv.weight": torch.zeros(1)})
    sd = tiny_lineart_state_dict()
    sd["model2.0.conv_block.1.weight"] = torch.zeros(2, 2, 3, 3)
    with pytest.raises(NotLineartError, match="wrong shapes"):
        build_lineart(sd)


def _lineart_reference(sd, frames: torch.Tensor, resolution: int) -> torch.Tensor:
    """The pack's LineartDetector path: area shrinking by supersampling, numpy edge padding."""
    out = []
    for frame in frames:
        u8 = np.asarray(frame.numpy() * 255.0, dtype=np.uint8)
        h, w = u8.shape[:2]
        k = resolution / min(h, w)
        th, tw = int(np.round(h * k)), int(np.round(w * k))
        assert k <= 1
        resized = np.clip(np.round(_area_reference(u8, th, tw)), 0, 255).astype(np.uint8)
        ph, pw = int(np.ceil(th / 64) * 64 - th), int(np.ceil(tw / 64) * 64 - tw)
        padded = np.pad(resized, [[0, ph], [0, pw], [0, 0]], mode="edge")
        x = torch.from_numpy(padded).float().permute(2, 0, 1)[None] / 255.0
        line = _functional_lineart(sd, x)[0, 0].numpy()
        line = (line * 255.0).clip(0, 255).astype(np.uint8)
        drawn = (255 - line)[:th, :tw]
        out.append(torch.from_numpy(np.repeat(drawn[..., None], 3, axis=2).astype(np.float32) / 255.0))
    return torch.stack(out)


def test_lineart_preprocessor_matches_the_pack_recipe(tmp_path):
    write_tiny_lineart(tmp_path / "controlnet_aux" / "sk_model.pth", seed=0)
    write_tiny_lineart(tmp_path / "controlnet_aux" / "sk_model2.pth", seed=1)
    frames = _frames(2, 90, 110)
    (fine,) = node("LineArtPreprocessor")(_ctx(tmp_path), image=frames, coarse="disable", resolution=64)
    (coarse,) = node("LineArtPreprocessor")(_ctx(tmp_path), image=frames, coarse="enable", resolution=64)
    assert fine.shape == (2, 64, 78, 3) and fine.dtype == torch.float32
    for got, seed in ((fine, 0), (coarse, 1)):
        want = _lineart_reference(tiny_lineart_state_dict(seed), frames, 64)
        assert (got - want).abs().max() <= 1.5 / 255
        assert (got - want).abs().mean() < 0.1 / 255
    assert not torch.equal(fine, coarse)


def test_lineart_missing_file_says_where_to_put_it(tmp_path):
    with pytest.raises(NodeInputError) as err:
        node("LineArtPreprocessor")(_ctx(tmp_path), image=_frames(1, 70, 70), coarse="disable")
    assert "sk_model.pth" in str(err.value)
    assert "controlnet_aux" in err.value.hint and "lllyasviel/Annotators" in err.value.hint


# --- Depth Anything V2 ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_depth(tmp_path_factory):
    """The tiny Depth Anything V2 checkpoint as a safetensors file and as the pack's ``.pth``."""
    from safetensors.torch import load_file

    root = tmp_path_factory.mktemp("depth")
    st = write_tiny_depth_anything(root, "depth_anything_v2_vitl_fp32.safetensors", dtype=torch.float32)
    (root / "controlnet_aux").mkdir()
    torch.save(load_file(str(st)), root / "controlnet_aux" / "depth_anything_v2_vitl.pth")
    return root, st


def _depth_reference(st: Path, frames: torch.Tensor, resolution: int) -> torch.Tensor:
    """DepthAnythingV2Detector's steps, on the safetensors copy loaded by the other pack's loader."""
    model, _ = load_depth_anything(st)
    out = []
    for frame in frames:
        u8 = np.asarray(frame.numpy() * 255.0, dtype=np.uint8)
        h, w = u8.shape[:2]
        image = u8 / 255.0
        scale = max(518 / h, 518 / w)

        def side(x):
            y = int(np.round(x / 14) * 14)
            return int(np.ceil(x / 14) * 14) if y < 518 else y

        nh, nw = side(scale * h), side(scale * w)
        x = torch.from_numpy(image).permute(2, 0, 1)[None]
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
        x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
        x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)).astype(np.float32))[None]
        with torch.no_grad():
            depth = model(pixel_values=x).predicted_depth
        depth = F.interpolate(depth[:, None], (h, w), mode="bilinear", align_corners=True)[0, 0].numpy()
        depth = ((depth - depth.min()) / (depth.max() - depth.min()) * 255.0).astype(np.uint8)
        k = resolution / min(h, w)
        th, tw = int(np.round(h * k)), int(np.round(w * k))
        assert k <= 1
        resized = np.clip(np.round(_area_reference(depth, th, tw)), 0, 255).astype(np.uint8)
        out.append(torch.from_numpy(np.repeat(resized[..., None], 3, axis=2).astype(np.float32) / 255.0))
    return torch.stack(out)


def test_depth_preprocessor_matches_the_pack_recipe(tiny_depth):
    # one frame: the network input is at least 518 pixels a side whatever the frame (the pack's)
    root, st = tiny_depth
    frames = _frames(1, 80, 72, seed=4)
    (got,) = node("DepthAnythingV2Preprocessor")(_ctx(root), image=frames, resolution=64)
    assert got.shape == (1, 71, 64, 3)  # 80 * 64 / 72 = 71.1
    want = _depth_reference(st, frames, 64)
    assert (got - want).abs().max() <= 1.5 / 255
    assert (got - want).abs().mean() < 0.1 / 255
    assert got.std() > 0.05 and got.max() > 0.9  # a real depth map, min-max scaled


def test_depth_preprocessor_errors(tiny_depth, tmp_path):
    with pytest.raises(NodeInputError) as err:
        node("DepthAnythingV2Preprocessor")(_ctx(tmp_path), image=_frames(1, 70, 70),
                                            ckpt_name="depth_anything_v2_vits.pth")
    assert err.value.input_name == "ckpt_name"
    assert "depth-anything/Depth-Anything-V2-Small" in err.value.hint and "controlnet_aux" in err.value.hint
    bad = tmp_path / "controlnet_aux" / "depth_anything_v2_vitb.pth"
    bad.parent.mkdir(parents=True)
    torch.save({"conv.weight": torch.zeros(2)}, bad)
    with pytest.raises(NodeInputError, match="not a Depth Anything V2"):
        node("DepthAnythingV2Preprocessor")(_ctx(tmp_path), image=_frames(1, 70, 70),
                                            ckpt_name="depth_anything_v2_vitb.pth")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One WFRUN_CACHE for the module: the tiny models are written once."""
    return tmp_path_factory.mktemp("wfrun-cache")


def test_depth_preprocessor_pth_gets_a_pth_standin(cache):
    from wfrun.models.standins import family_for, write_standins
    from wfrun.models.tiny import ensure_tiny_models

    standin = family_for("DepthAnythingV2Preprocessor", "ckpt_name", "controlnet_aux", "depth_anything_v2_vitl.pth")
    assert standin.family.kind == "depth_anything_v2"
    tiny = ensure_tiny_models(cache / "tiny-models")
    folder = write_standins([standin], tiny, cache=cache / "tiny-standins")
    written = folder / "controlnet_aux" / "depth_anything_v2_vitl.pth"
    assert torch.load(written, weights_only=True)["pretrained.cls_token"].shape[-1] == 32
    assert (tiny / "controlnet_aux" / "sk_model.pth").is_file() and (tiny / "controlnet_aux" / "sk_model2.pth").is_file()


#: The preprocessors as Fun-control and Animate workflows chain them (015, 021, 036), in the
#: API prompt format: the image's detect resolution from PixelPerfectResolution.
PROMPT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "person.png"}},
    "2": {"class_type": "PixelPerfectResolution", "inputs": {"original_image": ["1", 0], "image_gen_width": 64,
                                                             "image_gen_height": 64, "resize_mode": "Just Resize"}},
    "3": {"class_type": "DepthAnythingV2Preprocessor",
          "inputs": {"image": ["1", 0], "ckpt_name": "depth_anything_v2_vitl.pth", "resolution": ["2", 0]}},
    "4": {"class_type": "LineArtPreprocessor", "inputs": {"image": ["1", 0], "coarse": "enable", "resolution": ["2", 0]}},
    "5": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "depth"}},
    "6": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "lineart"}},
}


def test_preprocessors_run_in_a_smoke_run(tmp_path, cache):
    from click.testing import CliRunner

    from wfrun.cli import main

    path = tmp_path / "aux.json"
    path.write_text(json.dumps(PROMPT))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(cache)})
    assert result.exit_code == 0, result.output[-1500:]
    written = sorted(Path(p).name for p in json.loads(result.stdout)["written"])
    assert written == ["depth_00001_.png", "lineart_00001_.png"]
    for name in written:
        image = np.asarray(Image.open(tmp_path / "out" / name))
        # the 64x48 stand-in image enlarged (bicubic) to the detect resolution, 64 on its short side
        assert image.shape[:2] == (64, 85) and image.std() > 5


def test_lineart_without_its_file_is_one_clear_error(tmp_path):
    from click.testing import CliRunner

    from wfrun.cli import main

    prompt = {k: v for k, v in PROMPT.items() if k in ("1", "2", "4", "6")}
    (tmp_path / "input").mkdir()
    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(tmp_path / "input" / "person.png")
    path = tmp_path / "aux.json"
    path.write_text(json.dumps(prompt))
    (tmp_path / "models").mkdir()
    result = CliRunner().invoke(main, ["run", str(path), "--models", str(tmp_path / "models"), "--input",
                                       str(tmp_path / "input"), "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert "sk_model2.pth" in result.output and "controlnet_aux" in result.output
