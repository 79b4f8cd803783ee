"""ComfyUI_essentials' SimpleCondition+, DisplayAny and ImageToDevice+ against the pack's code
(``misc.py``, ``image.py``): the branch handed on (and the blocker where the pack returns
ComfyUI's ``ExecutionBlocker``), the displayed text in both modes, the image copy's device."""

from __future__ import annotations

import json

import pytest
import torch

from node_helpers import node
from wfrun.jobs.run import RunOptions, run_file
from wfrun.nodes.blocked import Blocked
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.essentials.utility_nodes import CONDITION_BLOCKED

CTX = ExecContext(device="cpu")


def test_simple_condition_hands_on_the_chosen_side_or_the_blocker():
    assert node("SimpleCondition+")(CTX, evaluate=1, on_true="a", on_false="b") == ("a",)
    assert node("SimpleCondition+")(CTX, evaluate=0, on_true="a", on_false="b") == ("b",)
    assert node("SimpleCondition+")(CTX, evaluate=True, on_true="a") == ("a",)
    (blocked,) = node("SimpleCondition+")(CTX, evaluate="", on_true="a")
    assert blocked is CONDITION_BLOCKED and isinstance(blocked, Blocked) and "SimpleCondition+" in repr(blocked)
    assert node("SimpleCondition+")(CTX, evaluate=torch.tensor([0.0]), on_true="a", on_false="b") == ("b",)
    with pytest.raises(NodeInputError) as err:
        node("SimpleCondition+")(CTX, evaluate=torch.zeros(2), on_true="a", on_false="b")
    assert err.value.input_name == "evaluate"


def test_display_any_text_in_both_modes():
    value = {"samples": torch.zeros(1, 16, 2, 4, 4), "extra": [torch.zeros(3), 7]}
    # the pack: str(input); in tensor-shape mode str of the shapes found, dict values and list items in order
    assert node("DisplayAny")(CTX, input=value, mode="tensor shape") == ("[[1, 16, 2, 4, 4], [3]]",)
    assert node("DisplayAny")(CTX, input=42, mode="raw value") == ("42",)
    assert node("DisplayAny")(CTX, input={"a": 1}, mode="raw value") == ("{'a': 1}",)
    with pytest.raises(NodeInputError) as err:
        node("DisplayAny")(CTX, input=1, mode="json")
    assert err.value.input_name == "mode"


def test_image_to_device_hands_on_a_copy():
    image = torch.rand(2, 8, 8, 3)
    for device in ("auto", "cpu", "gpu"):  # gpu: the run's device, the CPU here
        (out,) = node("ImageToDevice+")(CTX, image=image, device=device)
        assert out is not image and out.device.type == "cpu" and torch.equal(out, image)
    with pytest.raises(NodeInputError) as err:
        node("ImageToDevice+")(CTX, image=image, device="tpu")
    assert err.value.input_name == "device"


def test_display_any_is_an_output_a_workflow_runs(tmp_path):
    prompt = {"1": {"class_type": "SimpleMathInt+", "inputs": {"value": 5}},
              "2": {"class_type": "SimpleCondition+", "inputs": {"evaluate": ["1", 0], "on_true": ["1", 0]}},
              "3": {"class_type": "DisplayAny", "inputs": {"input": ["2", 0], "mode": "raw value"}}}
    path = tmp_path / "display.json"
    path.write_text(json.dumps(prompt))
    report = run_file(path, RunOptions(output_dir=tmp_path / "out", device="cpu"))
    assert set(report.result.executed) == {"1", "2", "3"} and report.result.outputs["3"] == ("5",)


def test_mask_preview_writes_grey_pngs_into_the_temp_folder(tmp_path):
    import numpy as np
    from PIL import Image

    ctx = ExecContext(output_dir=tmp_path / "out")
    mask = torch.rand(2, 6, 10, generator=torch.Generator().manual_seed(3))
    assert node("MaskPreview+")(ctx, mask=mask) == ()
    assert len(ctx.written) == 2 and all(p.parent == tmp_path / "out" / "temp" for p in ctx.written)
    assert ctx.written[0].name.startswith("ComfyUI_temp_") and ctx.written[0].name.endswith("_00001_.png")
    with Image.open(ctx.written[1]) as png:
        pixels = torch.from_numpy(np.array(png.convert("RGB"))).float()
    # ComfyUI's SaveImage rounding: clip(255 * x) to uint8, the same value in each channel
    expected = (255.0 * mask[1]).clamp(0, 255).to(torch.uint8).float()
    assert torch.equal(pixels[..., 0], expected) and torch.equal(pixels[..., 2], expected)
    with pytest.raises(NodeInputError) as err:
        node("MaskPreview+")(ctx, mask=torch.rand(1, 2, 3, 4))
    assert err.value.input_name == "mask"
