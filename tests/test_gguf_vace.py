"""GGUF VACE modules (Kijai's ``Wan2_2_Fun_VACE_module_A14B_{HIGH,LOW}_Q4_K_M.gguf``) laid over a
GGUF Wan model, as the wrapper's loader does with its ``vace_model``/``extra_model`` input.

References are independent of the code under test:

- the module's values: the ``gguf`` package's own reader and ``gguf.quants.dequantize``
  (llama.cpp's numpy reference), held against the float weights the file was written from
  (its safetensors twin) within the tolerance of each storage type, worked out from the
  dequantized values themselves: ``Q8_0`` stores ``q = round(x / d)`` with ``d = max|x| / 127``
  rounded to fp16, so ``|x - d·q| <= d/2 + 127·|d - fp16(d)| <= d · (1/2 + 127·2^-11)``, and
  ``d`` is the block's largest dequantized magnitude over 127 (that value has ``|q| = 127``);
  ``F16`` is within 2^-11 of the value; ``F32`` is exact;
- the forward: the same two files dequantized by the ``gguf`` package, saved as plain
  safetensors files (main model and module) and loaded by wfrun's safetensors path with the
  safetensors module merge (``vace_module.open_with_modules``). diffusers' GGUF layers
  dequantize in fp16; a ``Q8_0`` weight is one fp16 scale times a small integer, which fp16
  rounds correctly, so against the reference rounded to fp16 the forward is identical, and
  within 2e-3 of the unrounded one (see ``test_models_gguf``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from node_helpers import node
from run_helpers import CORPUS_WAN
from wfrun.models.gguf_reader import DEQUANTIZED, read_gguf_header
from wfrun.models.header import CheckpointError
from wfrun.models.load import load_transformer
from wfrun.models.load_gguf import load_gguf_transformer
from wfrun.models.paths import ModelRoots
from wfrun.models.families.wan_transformer import VACE_CONTEXT_CHANNELS
from wfrun.models.tiny import TRANSFORMER, transformer_weights, vace_module_weights
from wfrun.models.tiny_gguf import write_vace_module_gguf, write_wan_gguf
from wfrun.nodes.executor import ExecContext, NodeInputError

SEED = 77
MAIN = "Wan2.2-T2V-A14B-HighNoise-Q8_0.gguf"
MODULE = "Wan2_2_Fun_VACE_module_A14B_HIGH_Q8_0.gguf"
#: Module tensors stored in the plain types, to check those too (the rest: the converter's rules).
PLAIN = {"vace_blocks.1.after_proj.weight": "F16", "vace_blocks.0.ffn.2.weight": "F32",
         "vace_blocks.1.self_attn.q.weight": "F16"}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gguf-vace")
    folder = root / "diffusion_models"
    paths = {"root": root}
    paths["main"] = write_wan_gguf(folder / MAIN, "t2v-a14b", "Q8_0", seed=SEED)
    paths["module"] = write_vace_module_gguf(folder / MODULE, "Q8_0", seed=SEED, overrides=PLAIN)
    paths["i2v"] = write_wan_gguf(folder / "Wan2.2-I2V-A14B-HighNoise-Q8_0.gguf", "i2v-a14b", "Q8_0", seed=SEED)
    paths["main_st"] = folder / "t2v_tiny_fp32.safetensors"
    save_file(transformer_weights("t2v-a14b", SEED), str(paths["main_st"]), metadata={"wfrun.num_heads": "2"})
    paths["module_st"] = folder / "vace_module_tiny_fp32.safetensors"
    save_file(vace_module_weights(SEED), str(paths["module_st"]))
    return paths


def dequantized(path: Path, round_fp16: bool = False) -> dict[str, torch.Tensor]:
    """Every tensor of a GGUF file by the gguf package alone, fp32 in its logical shape."""
    out = {}
    for tensor in gguf.GGUFReader(path).tensors:
        values = np.array(gguf.quants.dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        value = torch.from_numpy(values).reshape(tuple(int(d) for d in reversed(tensor.shape.tolist())))
        if round_fp16 and tensor.tensor_type.name in DEQUANTIZED:
            value = value.half().float()
        out[tensor.name] = value
    return out


def reference_files(files: dict, out: Path, round_fp16: bool) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    main, module = out / "main.safetensors", out / "module.safetensors"
    save_file(dequantized(files["main"], round_fp16), str(main), metadata={"wfrun.num_heads": "2"})
    save_file(dequantized(files["module"], round_fp16), str(module))
    return main, module


def vace_forward(model) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    given = dict(hidden_states=torch.randn(1, 16, 3, 8, 8, generator=g), timestep=torch.tensor([500.0]),
                 encoder_hidden_states=torch.randn(1, 12, TRANSFORMER["text_dim"], generator=g),
                 control_hidden_states=torch.randn(1, VACE_CONTEXT_CHANNELS, 3, 8, 8, generator=g),
                 control_hidden_states_scale=torch.tensor([1.0, 0.7]), return_dict=False)
    with torch.no_grad():
        return model(**given)[0]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


# --- the file -------------------------------------------------------------------------------


def test_the_module_file_holds_what_a_real_one_does(files):
    header = read_gguf_header(files["module"])
    assert header.architecture == "wan"
    assert set(header.tensors) == set(vace_module_weights(SEED))  # VACE blocks and their embedding only
    assert header.tensors["vace_patch_embedding.weight"].shape == (32, VACE_CONTEXT_CHANNELS, 1, 2, 2)
    assert header.tensors["vace_patch_embedding.weight"].dtype == "F32"  # 5-D, kept F32 as the converter does
    types = Counter(t.dtype for t in header.tensors.values())
    assert set(types) == {"Q8_0", "F16", "F32"} and types["F16"] == 2
    assert header.tensors["vace_blocks.0.before_proj.weight"].dtype == "Q8_0"


def test_the_dequantized_module_matches_its_safetensors_twin_within_the_storage_tolerance(files):
    from safetensors.torch import load_file

    twin = load_file(str(files["module_st"]))
    values = dequantized(files["module"])
    kinds = {t.name: t.tensor_type.name for t in gguf.GGUFReader(files["module"]).tensors}
    assert values.keys() == twin.keys()
    for name, got in values.items():
        want = twin[name]
        if kinds[name] == "F32":
            assert torch.equal(got, want), name
        elif kinds[name] == "F16":
            assert ((got - want).abs() <= 2 ** -11 * want.abs() + 2 ** -24).all(), name
        else:
            assert kinds[name] == "Q8_0", name
            blocks, exact = got.reshape(-1, 32), want.reshape(-1, 32)
            scale = blocks.abs().amax(dim=1, keepdim=True) / 127
            bound = scale * (0.5 + 127 * 2 ** -11) * (1 + 1e-6)
            assert ((blocks - exact).abs() <= bound).all(), name


# --- loading --------------------------------------------------------------------------------


def test_a_gguf_module_on_a_gguf_model_loads_a_vace_model_with_quantized_blocks(files):
    from diffusers.quantizers.gguf.utils import GGUFLinear, GGUFParameter

    header = read_gguf_header(files["module"])
    model = load_gguf_transformer(files["main"], dtype=torch.float32, vace_modules=(files["module"],))
    assert type(model).__name__ == "WanVACETransformer3DModel" and model.config.vace_layers == [0, 1]
    source = {"attn1.to_q": "self_attn.q", "attn2.to_k": "cross_attn.k", "ffn.net.0.proj": "ffn.0",
              "proj_out": "after_proj", "ffn.net.2": "ffn.2"}
    for i in range(2):
        for target, original in source.items():
            info = header.tensors[f"vace_blocks.{i}.{original}.weight"]
            layer = model.vace_blocks[i].get_submodule(target)
            if info.dtype == "Q8_0":  # the module file's own bytes, kept quantized
                assert isinstance(layer, GGUFLinear) and isinstance(layer.weight, GGUFParameter)
                assert layer.weight.quant_type.name == "Q8_0" and layer.weight.numel() == info.end - info.start
            else:
                assert not isinstance(layer, GGUFLinear) and layer.weight.dtype == torch.float32
    assert isinstance(model.vace_blocks[0].proj_in, GGUFLinear)  # before_proj
    assert isinstance(model.blocks[0].attn1.to_q.weight, GGUFParameter)  # the main model stays quantized too
    assert model.vace_patch_embedding.weight.shape == (32, VACE_CONTEXT_CHANNELS, 1, 2, 2)


def test_the_forward_equals_the_safetensors_load_of_the_same_weights(files, tmp_path):
    model = load_gguf_transformer(files["main"], dtype=torch.float32, vace_modules=(files["module"],))
    main, module = reference_files(files, tmp_path / "rounded", round_fp16=True)
    rounded = load_transformer(main, dtype=torch.float32, vace_modules=(module,))
    out = vace_forward(model)
    assert torch.equal(out, vace_forward(rounded))
    main, module = reference_files(files, tmp_path / "exact", round_fp16=False)
    assert rel(out, vace_forward(load_transformer(main, dtype=torch.float32, vace_modules=(module,)))) < 2e-3
    # and the VACE blocks matter: without the hints the output differs
    plain = load_gguf_transformer(files["main"], dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        base = plain(hidden_states=torch.randn(1, 16, 3, 8, 8, generator=g), timestep=torch.tensor([500.0]),
                     encoder_hidden_states=torch.randn(1, 12, TRANSFORMER["text_dim"], generator=g),
                     return_dict=False)[0]
    assert rel(out, base) > 1e-3


def test_a_module_goes_on_a_text_to_video_gguf_model_only(files):
    with pytest.raises(CheckpointError, match="text-to-video"):
        load_gguf_transformer(files["i2v"], vace_modules=(files["module"],))
    with pytest.raises(CheckpointError, match="is a VACE module"):
        load_gguf_transformer(files["module"])


# --- the nodes ------------------------------------------------------------------------------


def loader_call(files, model: str, module: str):
    ctx = ExecContext(models=ModelRoots.from_options(str(files["root"])))
    (path,) = node("WanVideoVACEModelSelect")(ctx, vace_model=module)
    return node("WanVideoModelLoader")(ctx, model=model, base_precision="fp32", quantization="disabled",
                                       load_device="main_device", vace_model=path)


def test_the_model_loader_takes_a_gguf_module_on_a_gguf_model(files):
    (model,) = loader_call(files, MAIN, MODULE)
    assert model.model_type == "t2v" and len(model.transformer.vace_blocks) == 2


@pytest.mark.parametrize("model, module", [(MAIN, "vace_module_tiny_fp32.safetensors"),
                                           ("t2v_tiny_fp32.safetensors", MODULE)])
def test_mixed_formats_are_refused_on_the_module_input_as_the_pack_does(files, model, module):
    with pytest.raises(NodeInputError) as err:
        loader_call(files, model, module)
    assert err.value.input_name == "vace_model" and "(the pack's rule)" in str(err.value) and module in str(err.value)


def test_the_dry_run_reads_the_module_select_file_as_gguf(files):
    from wfrun.engine.executors import executor_info
    from wfrun.models.preflight import check_model_file

    assert "vace_model" in executor_info("WanVideoVACEModelSelect", None).gguf_inputs
    assert check_model_file(files["module"], "diffusion_models", gguf=True).kind == "wan_vace_module"


# --- stand-ins and a run --------------------------------------------------------------------


def test_a_gguf_module_name_gets_a_gguf_module_standin_that_loads_on_the_model_standin(tmp_path):
    from wfrun.models.standins import family_for, write_standins

    module = family_for("WanVideoVACEModelSelect", "vace_model", "diffusion_models",
                        "wan2.2/Wan2_2_Fun_VACE_module_A14B_HIGH_Q4_K_M.gguf")
    main = family_for("WanVideoModelLoader", "model", "diffusion_models", "wan2.2/Wan2.2-T2V-A14B-HighNoise-Q6_K.gguf")
    assert module.family.kind == "wan_vace_module" and module.family.precision == "gguf-q4_k"
    root = write_standins([module, main], tmp_path / "tiny", cache=tmp_path / "cache")
    header = read_gguf_header(root / module.relpath)
    assert Counter(t.dtype for t in header.tensors.values())["Q4_0"] > 0  # Q4_K at tiny width
    model = load_gguf_transformer(root / main.relpath, dtype=torch.float32, vace_modules=(root / module.relpath,))
    assert model.config.vace_layers == [0, 1]


def test_a_vace_module_workflow_on_gguf_files_runs_with_smoke(tmp_path):
    """The pack's VACE example 03 (a T2V model with a VACE module, start and end frames) with
    the GGUF model and module of cseti007's endless VACE workflow: 028's structure, small."""
    from wfrun.jobs.run import RunOptions, run_file

    doc = json.loads((CORPUS_WAN / "2025-06-13_ad43eed_wanvideo_1_3B_VACE_examples_03.json").read_text())
    names = {"WanVideoModelLoader": "wan2.2/Wan2.2-T2V-A14B-HighNoise-Q6_K.gguf",
             "WanVideoVACEModelSelect": "wan2.2/Wan2_2_Fun_VACE_module_A14B_HIGH_Q4_K_M.gguf"}
    for entry in doc["nodes"]:
        if entry["type"] in names:
            entry["widgets_values"][0] = names[entry["type"]]
    path = tmp_path / "vace_gguf.json"
    path.write_text(json.dumps(doc))
    report = run_file(path, RunOptions(output_dir=tmp_path / "out", device="cpu", smoke=True))
    assert not report.result.interrupted and report.result.written
    executed = {report.prepared.graph.node(n).class_type for n in report.result.executed}
    assert {"WanVideoVACEModelSelect", "WanVideoModelLoader", "WanVideoSampler", "WanVideoDecode"} <= executed
    assert any(Path(p).suffix == ".mp4" for p in report.result.written)
