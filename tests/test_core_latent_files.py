"""ComfyUI's SaveLatent / LoadLatent: the file is safetensors with ``latent_tensor`` and the
empty ``latent_format_version_0`` marker, ``prompt``/``workflow`` JSON metadata, named
``<prefix>_<counter:05>_.latent``; a file without the marker loads scaled by 1/0.18215.
Files are read back with the safetensors library itself."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

UI = {"nodes": [{"id": 1, "type": "SaveLatent"}], "links": [], "version": 0.4}


@pytest.fixture
def ctx(tmp_path) -> ExecContext:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    return ExecContext(input_dir=str(tmp_path / "in"), output_dir=str(tmp_path / "out"), workflow_json=UI)


def test_save_latent_writes_comfyuis_layout_and_never_overwrites(ctx, tmp_path):
    samples = torch.randn(1, 16, 3, 4, 4)
    (tmp_path / "out" / "latents").mkdir()
    (tmp_path / "out" / "latents" / "part3_00001_.latent").write_bytes(b"earlier")
    node("SaveLatent")(ctx, samples={"samples": samples}, filename_prefix="latents/part3")
    node("SaveLatent")(ctx, samples={"samples": samples * 2}, filename_prefix="latents/part3")
    names = sorted(p.name for p in (tmp_path / "out" / "latents").iterdir())
    assert names == ["part3_00001_.latent", "part3_00002_.latent", "part3_00003_.latent"]
    assert (tmp_path / "out" / "latents" / "part3_00001_.latent").read_bytes() == b"earlier"
    with safe_open(str(tmp_path / "out" / "latents" / "part3_00002_.latent"), "pt") as f:
        assert sorted(f.keys()) == ["latent_format_version_0", "latent_tensor"]
        assert torch.equal(f.get_tensor("latent_tensor"), samples)
        assert f.get_tensor("latent_format_version_0").numel() == 0
        meta = f.metadata()
    assert meta["prompt"] == "" and json.loads(meta["workflow"]) == UI


def test_an_api_prompt_is_the_prompt_metadata(tmp_path):
    prompt = {"1": {"class_type": "SaveLatent", "inputs": {"filename_prefix": "x"}}}
    ctx = ExecContext(output_dir=str(tmp_path), workflow_json=prompt)
    node("SaveLatent")(ctx, samples={"samples": torch.zeros(1, 4, 2, 2)}, filename_prefix="x")
    with safe_open(str(tmp_path / "x_00001_.latent"), "pt") as f:
        assert json.loads(f.metadata()["prompt"]) == prompt and "workflow" not in f.metadata()


def test_load_latent_round_trip_and_legacy_scale(ctx, tmp_path):
    samples = torch.randn(1, 16, 2, 4, 4)
    node("SaveLatent")(ctx, samples={"samples": samples}, filename_prefix="a")
    (tmp_path / "in" / "a.latent").write_bytes((tmp_path / "out" / "a_00001_.latent").read_bytes())
    (loaded,) = node("LoadLatent")(ctx, latent="a.latent")
    assert torch.equal(loaded["samples"], samples)
    save_file({"latent_tensor": torch.ones(1, 4, 2, 2, dtype=torch.float16)}, str(tmp_path / "in" / "old.latent"))
    (old,) = node("LoadLatent")(ctx, latent="old.latent")
    assert old["samples"].dtype == torch.float32
    assert torch.allclose(old["samples"], torch.full((1, 4, 2, 2), 1.0 / 0.18215))


@pytest.mark.parametrize("name, content", [("../escape.latent", None), ("pickle.latent", b"\x80\x04K\x01."),
                                           ("x.png", b"\x89PNG")])
def test_load_latent_refuses_what_is_not_a_latent_in_the_input_folder(ctx, tmp_path, name, content):
    if content is not None:
        (tmp_path / "in" / name).write_bytes(content)
    else:
        (tmp_path / "escape.latent").write_bytes(b"")
    with pytest.raises(NodeInputError) as err:
        node("LoadLatent")(ctx, latent=name)
    assert err.value.input_name == "latent"


def test_save_latent_refuses_a_prefix_outside_the_output_folder(ctx):
    with pytest.raises(NodeInputError) as err:
        node("SaveLatent")(ctx, samples={"samples": torch.zeros(1)}, filename_prefix="../x")
    assert err.value.input_name == "filename_prefix"
