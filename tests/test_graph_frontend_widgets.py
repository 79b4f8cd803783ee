"""Widgets the ComfyUI frontend keeps for itself, which bind to no input and are no problem:

- core CustomCombo saves the chosen index and the options the user typed after its one
  combo (``[choice, index, option1, …, ""]``): the choice binds, the rest is the
  frontend's, and the node is no widget mismatch (the Bernini-R and Wan Dancer templates);
- core ImageCompare's ``compare_view`` (``IMAGECOMPARE``, V3 ``io.ImageCompare``) is the
  frontend's slider: never linked, nothing saved, no missing input."""

from __future__ import annotations

import json
from pathlib import Path

import comfyui_workflow_templates_json
import pytest
from click.testing import CliRunner

from wfrun.cli import main
from wfrun.graph.widgets import bind, choose_signature, types_its_options
from wfrun.specs.registry import default_registry

TEMPLATES = Path(comfyui_workflow_templates_json.__file__).parent / "templates"


def test_custom_combo_typed_options_bind_to_nothing():
    spec = default_registry().get("CustomCombo")
    saved = ["Video Editing", 6, "Default", "Text to Video", "Video Editing", ""]
    choice = choose_signature(spec, saved)
    binding = bind(spec, saved, choice)
    assert binding.fit == "exact" and binding.values == {"choice": "Video Editing"} and binding.unbound == []
    assert types_its_options(spec.latest)


def test_other_combos_keep_their_surplus_check():
    spec = default_registry().get("KSamplerSelect")  # a fixed option list: a surplus is a mismatch
    assert not types_its_options(spec.latest)
    binding = bind(spec, ["euler", "extra", 3], choose_signature(spec, ["euler", "extra", 3]))
    assert binding.fit == "mismatch"


@pytest.mark.parametrize("name", ["video_bernini_r_image_editing", "video_bernini_r_video_editing",
                                  "video_wan_dancer"])
def test_templates_with_these_widgets_validate_without_errors(name):
    result = CliRunner().invoke(main, ["validate", str(TEMPLATES / f"{name}.json"), "--format", "json"])
    report = json.loads(result.stdout)
    errors = [d for f in report["files"] for d in f.get("diagnostics", []) if d.get("severity") == "error"]
    assert not errors, errors
    assert result.exit_code == 0, result.output
