"""Nodes added for the seventh public set: princepainter's PainterVRAM (a clean-up that hands
``anything`` on) and endman100's LoadContditioning (a SaveConditioning file read back, only
with the pickle opt-in and only weights-only). References: the values put in, and the file
torch.save wrote."""

from __future__ import annotations

import pytest
import torch

from wfrun.engine.executors import load_packs
from wfrun.models import residency
from wfrun.models.paths import ModelRoots
from wfrun.models.reader import pickle_files_allowed
from wfrun.nodes.executor import ExecContext, NodeInputError, registered
from wfrun.packs.painter_i2v.vram import BLOCKED

load_packs()


class NotATensor:
    """Pickled by reference: a weights-only load must refuse to build it."""

    def __init__(self, value: int = 1):
        self.value = value


# --- PainterVRAM ------------------------------------------------------------------------

@pytest.mark.parametrize("clean", [True, False])
def test_painter_vram_hands_anything_on_and_cleans_only_when_asked(monkeypatch, clean):
    calls = []
    monkeypatch.setattr(residency, "release_all", lambda *a, **k: calls.append("models"))
    monkeypatch.setattr(residency, "release_cached_memory", lambda *a, **k: calls.append("cache"))
    value = {"samples": torch.ones(1, 16, 2, 4, 4)}
    (out,) = registered("PainterVRAM")(ExecContext(), reserved=0.6, mode="auto", clean_gpu_before=clean,
                                       anything=value)
    assert out is value
    assert calls == (["models", "cache"] if clean else [])


def test_painter_vram_without_anything_gives_the_blocked_value(monkeypatch):
    monkeypatch.setattr(residency, "release_all", lambda *a, **k: None)
    (out,) = registered("PainterVRAM")(ExecContext(), reserved=1.0, mode="manual", clean_gpu_before=False)
    assert out is BLOCKED and "PainterVRAM" in repr(out)


# --- LoadContditioning -----------------------------------------------------------------

def saved(tmp_path, entry, name="00000_conditionings.bin"):
    folder = tmp_path / "models" / "conditionings"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(entry, folder / name)
    return ExecContext(models=ModelRoots.from_options(str(tmp_path / "models")))


def load(ctx, name="00000_conditionings.bin"):
    return registered("LoadContditioning")(ctx, conditioning=name)


def test_load_conditioning_gives_back_the_saved_entry(tmp_path):
    cond = torch.randn(1, 7, 32)
    extra = torch.arange(6.0).reshape(2, 3)
    ctx = saved(tmp_path, [cond, {"pooled_output": None, "guidance": extra, "strength": 0.5}])
    with pickle_files_allowed():
        (out,) = load(ctx)
    assert len(out) == 1 and len(out[0]) == 2
    got, opts = out[0]
    assert torch.equal(got, cond) and got.device.type == "cpu"
    assert opts["pooled_output"] is None and opts["strength"] == 0.5
    assert torch.equal(opts["guidance"], extra)


def test_load_conditioning_needs_the_pickle_opt_in(tmp_path):
    ctx = saved(tmp_path, [torch.zeros(1, 2, 4), {"pooled_output": None}])
    with pickle_files_allowed(False), pytest.raises(NodeInputError) as err:
        load(ctx)
    assert err.value.input_name == "conditioning" and "--allow-pickle" in err.value.hint


def test_load_conditioning_refuses_what_a_weights_only_load_would_not_build(tmp_path):
    ctx = saved(tmp_path, [torch.zeros(1, 2, 4), {"pooled_output": NotATensor()}])
    with pickle_files_allowed(), pytest.raises(NodeInputError) as err:
        load(ctx)
    assert err.value.input_name == "conditioning" and "weights-only" in str(err.value)


@pytest.mark.parametrize("entry", [{"cond": torch.zeros(1)}, [torch.zeros(1, 2, 4)], ["text", {}]])
def test_load_conditioning_refuses_other_shapes_of_file(tmp_path, entry):
    ctx = saved(tmp_path, entry)
    with pickle_files_allowed(), pytest.raises(NodeInputError) as err:
        load(ctx)
    assert err.value.input_name == "conditioning" and "[tensor, dict]" in str(err.value)


def test_load_conditioning_lists_only_bin_files_and_finds_no_missing_one(tmp_path):
    ctx = saved(tmp_path, [torch.zeros(1, 2, 4), {}], name="a.pt")
    with pickle_files_allowed(), pytest.raises(NodeInputError) as err:
        load(ctx, "a.pt")
    assert ".bin" in str(err.value)
    with pickle_files_allowed(), pytest.raises(NodeInputError) as err:
        load(ctx, "missing.bin")
    assert err.value.input_name == "conditioning"


# --- refusal notes ----------------------------------------------------------------------

def test_rtx_super_resolution_and_flow2_nodes_are_refused_with_why(tmp_path):
    import json

    from click.testing import CliRunner

    from wfrun.cli import main

    path = tmp_path / "wf.json"
    path.write_text(json.dumps({
        "1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
        "2": {"class_type": "RTXVideoSuperResolution", "inputs": {"images": ["1", 0], "resize_type": "scale by multiplier",
                                                                  "resize_type.scale": 2, "quality": "ULTRA"}},
        "3": {"class_type": "WanVideoSampler_F2", "inputs": {"seed": 1}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": ["3", 0]}}}))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--tiny-models", "-o", str(tmp_path / "out")],
                                env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 1 and "nothing was loaded" in result.output and "Traceback" not in result.output
    assert "closed RTX Video SDK" in result.output and "flow2-wan-video's all-in-one pipeline" in result.output


# --- core ComfyNumberConvert ------------------------------------------------------------

@pytest.mark.parametrize("value, want", [
    (True, (1.0, 1)), (False, (0.0, 0)), (7, (7.0, 7)), (-2.75, (-2.75, -2)), (2.999, (2.999, 2)),
    (" 42 ", (42.0, 42)), ("3.9", (3.9, 3)), ("-3.9", (-3.9, -3)), ("1e3", (1000.0, 1000)),
    ("12345678901234567890", (12345678901234567890.0, 12345678901234567890))])
def test_number_convert_as_comfyui(value, want):
    got = registered("ComfyNumberConvert")(ExecContext(), value=value)
    assert got == want and type(got[0]) is float and type(got[1]) is int


@pytest.mark.parametrize("value", ["", "  ", "twelve", "nan", "inf", float("inf"), [1], 10 ** 400])
def test_number_convert_refuses_what_comfyui_refuses(value):
    with pytest.raises(NodeInputError) as err:
        registered("ComfyNumberConvert")(ExecContext(), value=value)
    assert err.value.input_name == "value"
