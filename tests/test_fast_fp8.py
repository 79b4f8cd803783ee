"""Fast fp8 (``fp8_e4m3fn_fast``, ``wfrun run --fast``): block matmuls as fp8 x fp8 with
per-token activation scales, checked against the dequantized-matmul formula, against the
unquantized layer, and through the loaders and a whole run."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from test_models_support import reference_transformer, tiny_models_root, transformer_inputs

from wfrun.cli import main
from wfrun.models.fast import make_fast, wants_fast
from wfrun.models.fp8 import FP8_MAX, Fp8Linear, quantize, scaled_fp8_linear, use_fp8_matmuls
from wfrun.models.lora_files import with_delta
from wfrun.models.load import load_transformer

E4M3 = torch.float8_e4m3fn
LIMIT = FP8_MAX[E4M3]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_models_root(tmp_path_factory)


def _reference(x, weight, weight_scale, bias):
    """The formula, in float64: x quantized per row by its amax, times the stored weight
    times its scale."""
    rows = x.reshape(-1, x.shape[-1]).double()
    scale_a = rows.abs().amax(dim=1, keepdim=True) / LIMIT
    xq = (rows / scale_a).to(E4M3).double() * scale_a
    w = weight.double() * (1.0 if weight_scale is None else weight_scale.double().reshape(-1, 1))
    out = xq @ w.T + (0 if bias is None else bias.double())
    return out.reshape(*x.shape[:-1], -1)


@pytest.mark.parametrize("scale", ["none", "tensor", "row"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_scaled_fp8_linear_is_the_dequantized_matmul(scale, dtype):
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 7, 64, generator=gen) * torch.logspace(-3, 1, 7)[None, :, None]).to(dtype)  # rows 1e-3..10
    weight = quantize(torch.randn(48, 64, generator=gen) * 4, E4M3)
    weight_scale = {"none": None, "tensor": torch.tensor(0.03), "row": torch.rand(48, generator=gen) / 10}[scale]
    bias = torch.randn(48, generator=gen).to(dtype)
    out = scaled_fp8_linear(x, weight, weight_scale, bias)
    expected = _reference(x, weight, weight_scale, bias)
    assert out.dtype == dtype and out.shape == (2, 7, 48)
    # the only differences: the bf16 result (8 bits of mantissa) and the bias added in bf16
    err = (out.double() - expected).abs() / expected.abs().amax(dim=-1, keepdim=True)
    assert err.max() < 2 ** -7


def test_per_token_scales_keep_small_activations():
    """The packs clamp activations into fp8's range unscaled: a row of values around 1e-3
    falls into fp8's subnormals there. One scale per token keeps every row to fp8's 3-bit
    mantissa, as the large rows."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 64, generator=gen, dtype=torch.float64) * torch.tensor([[1e-3], [1e-2], [1.0], [30.0]])
    weight = quantize(torch.randn(32, 64, generator=gen), E4M3)
    exact = x @ weight.double().T
    ours = scaled_fp8_linear(x.float(), weight, None, None).double()
    clamped = x.clamp(-LIMIT, LIMIT).to(E4M3).double() @ weight.double().T  # the packs' activations
    rel = lambda y: ((y - exact).norm(dim=1) / exact.norm(dim=1))  # noqa: E731
    assert rel(ours).max() < 0.06
    assert rel(clamped)[0] > 0.2 > rel(ours)[0] * 3


def test_bf16_model_made_fast_stays_close_to_bf16(tiny, tmp_path):
    path = tiny / "diffusion_models" / "Wan2_1-T2V-1_3B_tiny_bf16.safetensors"
    model = load_transformer(path)
    reference = reference_transformer(path, "t2v", torch.bfloat16, tmp_path)
    count = use_fp8_matmuls(model)
    layers = [m for m in model.modules() if isinstance(m, Fp8Linear)]
    assert count == len(layers) == 2 * 10 and all(m.fast and m.weight_scale.shape == (m.out_features,) for m in layers)
    assert all(type(m) is torch.nn.Linear for n, m in model.named_modules() if n in ("proj_out",))
    inputs = transformer_inputs("t2v", torch.bfloat16)
    with torch.no_grad():
        out, ref = model(**inputs)[0].float(), reference(**inputs)[0].float()
    assert (out - ref).norm() / ref.norm() < 0.05
    # the per-row weight: each row's largest value lands on fp8's largest
    layer = layers[0]
    assert torch.allclose(layer.weight.float().abs().amax(dim=1), torch.full((layer.out_features,), LIMIT))


def test_fp8_file_keeps_its_weights_and_skips_the_ffn_when_asked(tiny):
    path = tiny / "diffusion_models" / "Wan2_1-T2V-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors"
    model = load_transformer(path)
    before = {n: m.weight.clone() for n, m in model.named_modules() if isinstance(m, Fp8Linear)}
    assert use_fp8_matmuls(model, skip_ffn=True) == 2 * 8
    for name, module in model.named_modules():
        if isinstance(module, Fp8Linear):
            assert torch.equal(module.weight.view(torch.uint8), before[name].view(torch.uint8))
            assert module.fast == (".ffn." not in name)


def test_e5m2_weights_keep_the_up_cast_path(tiny):
    model = load_transformer(tiny / "diffusion_models" / "Wan2_1-I2V-14B-720P_tiny_fp8_e5m2.safetensors")
    assert use_fp8_matmuls(model) == 0
    assert not any(getattr(m, "fast", False) for m in model.modules())


def test_lora_merges_into_row_scaled_weights():
    gen = torch.Generator().manual_seed(2)
    linear = torch.nn.Linear(32, 16)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(16, 32, generator=gen) * torch.logspace(-2, 0, 16)[:, None])
    model = torch.nn.Module()
    model.blocks = torch.nn.ModuleList([torch.nn.Module()])
    model.blocks[0].ffn = torch.nn.Module()
    model.blocks[0].ffn.proj = linear
    assert use_fp8_matmuls(model) == 1
    layer = model.blocks[0].ffn.proj
    delta = torch.randn(16, 32, generator=gen) * 1e-2
    merged = with_delta(layer, "weight", delta)
    expected = linear.weight.detach() + delta
    got = merged.float() * layer.weight_scale[:, None]
    assert ((got - expected).abs() / expected.abs().amax(dim=1, keepdim=True)).max() < 2 ** -3


def test_which_choices_ask_for_fp8_matmuls():
    assert wants_fast("fp8_e4m3fn_fast", False) == (True, False)
    assert wants_fast("fp8_e4m3fn_fast_no_ffn", False) == (True, True)
    assert wants_fast("fp8_e4m3fn", False) == (False, False)
    assert wants_fast("disabled", True) == (True, False)


def test_make_fast_on_a_device_without_fp8_tensor_cores_changes_nothing(tiny, monkeypatch, caplog):
    import wfrun.models.fast as fast

    model = load_transformer(tiny / "diffusion_models" / "Wan2_1-T2V-1_3B_tiny_bf16.safetensors")
    monkeypatch.setattr(fast, "fp8_matmul_supported", lambda device: False)
    assert make_fast(model, "cuda") == 0
    assert not any(isinstance(m, Fp8Linear) for m in model.modules())
    assert "compute capability 8.9" in caplog.text


@pytest.mark.parametrize("workflow", ["wan_t2v_tiny.json"])  # a bf16 model quantized per row on load
def test_run_fast_writes_the_video_close_to_the_plain_run(workflow, tmp_path):
    """``--fast`` on a bundled workflow: the same frames written, changed by the fp8
    matmuls (so --fast took effect) yet following the plain run closely (random tiny models
    amplify every difference over the steps, so the bound is a correlation, not a tolerance)."""
    from pathlib import Path

    import numpy as np

    from wfrun.media.video import iter_frames

    path = Path(__file__).resolve().parents[1] / "workflows" / workflow
    outputs = {}
    for flag in ([], ["--fast"]):
        out = tmp_path / ("fast" if flag else "plain")
        result = CliRunner().invoke(main, ["run", str(path), "--tiny-models", "--device", "cpu", "--format", "json",
                                           "-o", str(out), *flag], env={"WFRUN_CACHE": str(tmp_path / "c")})
        assert result.exit_code == 0, result.output[-2000:]
        written = json.loads(result.stdout)["written"]
        video = next(w for w in written if w.endswith((".mp4", ".webm", ".mkv", ".mov")))
        outputs[bool(flag)] = np.stack(list(iter_frames(video))).astype(np.float64)
    plain, fast = outputs[False], outputs[True]
    assert plain.shape == fast.shape and plain.std() > 5
    assert not np.array_equal(plain, fast)
    assert np.corrcoef(plain.ravel(), fast.ravel())[0, 1] > 0.95


def test_run_fast_gives_self_attention_fp8_unless_told_not_to(tmp_path, monkeypatch):
    """``--fast`` hands the blocks' self-attention to models.fp8_attention where the device
    has it (here pretended: on the CPU its op runs the PyTorch fallback on the same fp8
    inputs), and ``--no-fp8-attention`` keeps PyTorch's attention; both runs write the video."""
    from pathlib import Path

    from wfrun.models import fast as fast_module
    from wfrun.models import fp8_attention

    given = []

    def counting(transformer):
        given.append(fp8_attention.use_fp8_attention(transformer))
        return given[-1]

    monkeypatch.setattr(fast_module, "fp8_attention_supported", lambda device: True)
    monkeypatch.setattr(fast_module, "use_fp8_attention", counting)
    path = Path(__file__).resolve().parents[1] / "workflows" / "wan_t2v_tiny.json"
    for flags, expected in ((["--fast"], 1), (["--fast", "--no-fp8-attention"], 0)):
        given.clear()
        out = tmp_path / str(len(flags))
        result = CliRunner().invoke(main, ["run", str(path), "--tiny-models", "--device", "cpu", "--format", "json",
                                           "-o", str(out), *flags], env={"WFRUN_CACHE": str(tmp_path / "c")})
        assert result.exit_code == 0, result.output[-2000:]
        assert len(given) == expected and all(n > 0 for n in given)
        assert any(w.endswith((".mp4", ".webm", ".mkv", ".mov")) for w in json.loads(result.stdout)["written"])
