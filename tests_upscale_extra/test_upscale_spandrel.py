"""UpscaleModelLoader, ImageUpscaleWithModel and KJNodes' ImageUpscaleWithModelBatched on a
tiny random ESRGAN in the real (BasicSR) key layout, against spandrel's model called
directly on the whole image."""

from __future__ import annotations

import pickle

import pytest
import torch

import spandrel  # the `upscale` extra: this suite runs where it is installed (see README)

from node_helpers import node  # noqa: E402
from wfrun.models.paths import ModelRoots  # noqa: E402
from wfrun.models.reader import PickleRefused, open_checkpoint  # noqa: E402
from wfrun.models.tiny_upscale import save_weights, tiny_esrgan_state_dict  # noqa: E402
from wfrun.models.upscale import load_upscale_model, tile_positions, upscale_tiled  # noqa: E402
from wfrun.nodes.executor import ExecContext, NodeInputError  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    state = tiny_esrgan_state_dict()
    save_weights(state, root / "upscale_models" / "4x-Tiny.pth")
    save_weights(state, root / "upscale_models" / "4x-Tiny.safetensors")
    return root


@pytest.fixture
def ctx(models, tmp_path):
    return ExecContext(models=ModelRoots((models,)), output_dir=tmp_path)


def reference(model, image):
    """spandrel's own model, called on the whole image at once."""
    with torch.no_grad():
        return model.descriptor(image.movedim(-1, 1)).clamp(0, 1).movedim(1, -1)


def test_loader_reads_pth_and_safetensors_alike(ctx):
    (pth,) = node("UpscaleModelLoader")(ctx, model_name="4x-Tiny.pth")
    (sft,) = node("UpscaleModelLoader")(ctx, model_name="4x-Tiny.safetensors")
    assert pth.scale == sft.scale == 4
    assert pth.descriptor.architecture.name == "ESRGAN"
    for (name, a), b in zip(pth.module.state_dict().items(), sft.module.state_dict().values()):
        assert torch.equal(a, b), name


def test_upscale_shape_range_and_equals_the_untiled_model(ctx):
    (model,) = node("UpscaleModelLoader")(ctx, model_name="4x-Tiny.pth")
    image = torch.rand(1, 20, 28, 3)
    (out,) = node("ImageUpscaleWithModel")(ctx, upscale_model=model, image=image)
    assert out.shape == (1, 80, 112, 3) and out.dtype == torch.float32
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    assert torch.allclose(out, reference(model, image), atol=1e-5)  # fits one 512 tile: run whole


def test_tiled_upscale_matches_the_whole_image_within_tolerance(ctx):
    (model,) = node("UpscaleModelLoader")(ctx, model_name="4x-Tiny.pth")
    image = torch.rand(2, 40, 52, 3)
    tiled = upscale_tiled(model, image, "cpu", tile=24, overlap=8)
    whole = reference(model, image)
    assert tiled.shape == whole.shape == (2, 160, 208, 3)
    diff = (tiled - whole).abs()
    assert float(diff.mean()) < 2e-3 and float(diff.max()) < 0.05
    assert len(tile_positions(40, 24, 8)) > 1  # really tiled


def test_out_of_memory_halves_the_tile(ctx, monkeypatch):
    (model,) = node("UpscaleModelLoader")(ctx, model_name="4x-Tiny.pth")
    image = torch.rand(1, 20, 20, 3)
    sizes = []
    real = model.descriptor.__class__.__call__

    def flaky(self, x):
        sizes.append(x.shape[-1])
        if len(sizes) == 1:
            raise torch.OutOfMemoryError("tiny test")
        return real(self, x)

    monkeypatch.setattr(model.descriptor.__class__, "__call__", flaky)
    out = upscale_tiled(model, image, "cpu", tile=256, overlap=8, min_tile=128)
    assert out.shape == (1, 80, 80, 3) and len(sizes) == 2
    with pytest.raises(torch.OutOfMemoryError):
        sizes.clear()
        monkeypatch.setattr(model.descriptor.__class__, "__call__",
                            lambda self, x: (_ for _ in ()).throw(torch.OutOfMemoryError("always")))
        upscale_tiled(model, image, "cpu", tile=256, overlap=8, min_tile=128)


def test_batched_node_runs_chunks_without_tiles(ctx):
    (model,) = node("UpscaleModelLoader")(ctx, model_name="4x-Tiny.pth")
    images = torch.rand(3, 12, 16, 3)
    (out,) = node("ImageUpscaleWithModelBatched")(ctx, upscale_model=model, images=images, per_batch=2)
    with torch.no_grad():
        whole = model.descriptor(images.movedim(-1, 1)).movedim(1, -1)
    assert out.shape == (3, 48, 64, 3)
    assert torch.allclose(out, whole, atol=1e-5)
    (small,) = node("ImageUpscaleWithModelBatched")(ctx, upscale_model=model, images=images, per_batch=2,
                                                    downscale_ratio=0.5, downscale_method="bilinear")
    assert small.shape == (3, 24, 32, 3)


def test_wrong_inputs_are_named(ctx):
    with pytest.raises(NodeInputError) as err:
        node("ImageUpscaleWithModel")(ctx, upscale_model="nope", image=torch.rand(1, 8, 8, 3))
    assert err.value.input_name == "upscale_model"
    with pytest.raises(NodeInputError) as err:
        node("UpscaleModelLoader")(ctx, model_name="missing.pth")
    assert err.value.input_name == "model_name"


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_hostile_pth_is_refused_and_runs_no_code(ctx, models, capfd):
    evil = models / "upscale_models" / "evil.pth"
    torch.save({"conv_first.weight": torch.zeros(1), "payload": Payload()}, evil)
    with pytest.raises(NodeInputError) as err:
        node("UpscaleModelLoader")(ctx, model_name="evil.pth")
    assert "weights-only" in str(err.value)
    raw = models / "upscale_models" / "raw.pth"
    raw.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(NodeInputError):
        node("UpscaleModelLoader")(ctx, model_name="raw.pth")
    assert "must never run" not in capfd.readouterr().out


def test_a_non_upscaler_is_refused_clearly(ctx, models):
    save_weights({"foo.weight": torch.zeros(2, 2)}, models / "upscale_models" / "other.safetensors")
    with pytest.raises(NodeInputError) as err:
        node("UpscaleModelLoader")(ctx, model_name="other.safetensors")
    assert "spandrel" in str(err.value) and err.value.input_name == "model_name"


def test_pth_stays_refused_everywhere_else(models):
    """Only these loaders read .pth without the run's opt-in: the shared reader still refuses."""
    path = models / "upscale_models" / "4x-Tiny.pth"
    with pytest.raises(PickleRefused):
        open_checkpoint(path)
    assert load_upscale_model(path).scale == 4


# --- with frame interpolation (moved here: they load an upscaler too) ---

import json  # noqa: E402

from wfrun.models.rife import load_ifnet, tiny_ifnet_state_dict  # noqa: E402


def _end_of_workflow(path, upscaler: str):
    import json

    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 3, "color": 0}},
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": upscaler}},
        "3": {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]}},
        "4": {"class_type": "RIFE VFI", "inputs": {
            "ckpt_name": "rife49.pth", "frames": ["3", 0], "clear_cache_after_n_frames": 10, "multiplier": 2,
            "fast_mode": True, "ensemble": True, "scale_factor": 1.0, "dtype": "float32", "torch_compile": False,
            "batch_size": 1}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "vfi"}},
    }
    path.write_text(json.dumps(prompt))
    return path


def test_pth_loaders_run_without_the_opt_in_and_other_loaders_still_refuse(models, tmp_path):
    from wfrun.jobs.run import RunOptions, run_file
    from wfrun.models.tiny_upscale import tiny_esrgan_state_dict

    save_weights(tiny_esrgan_state_dict(), models / "upscale_models" / "4xLSDIR.pth")
    save_weights(tiny_ifnet_state_dict("4.7"), models / "rife" / "rife49.pth")
    workflow = _end_of_workflow(tmp_path / "end.json", "4xLSDIR.pth")
    report = run_file(workflow, RunOptions(models_dir=str(models), output_dir=tmp_path / "out", device="cpu"))
    images = sorted(p.name for p in report.result.written)
    assert len(images) == (3 - 1) * 2 + 1, images

    # another loader, the same kind of file: refused, pointing at the opt-in
    save_weights({"decoder.conv1.weight": torch.zeros(1)}, models / "vae" / "vae.pth")
    with pytest.raises(NodeInputError) as err:
        node("VAELoader")(ExecContext(models=ModelRoots((models,))), vae_name="vae.pth")
    assert "--allow-pickle" in str(err.value)
    # and these loaders take .pth only: a .pt RIFE file still needs the opt-in
    save_weights(tiny_ifnet_state_dict("4.7"), models / "rife" / "rife49.pt")
    with pytest.raises(NodeInputError) as err:
        node("RIFE VFI")(ExecContext(models=ModelRoots((models,))), ckpt_name="rife49.pt",
                         frames=torch.rand(2, 8, 8, 3))
    assert "--allow-pickle" in str(err.value)


def test_tiny_model_standins_for_upscalers_and_rife(tmp_path):
    from wfrun.models.standins import NoStandin, family_for, write_standins
    from wfrun.models.upscale import load_upscale_model, read_release_state_dict

    up = family_for("UpscaleModelLoader", "model_name", "upscale_models", "4x-ClearRealityV1.pth")
    rife = family_for("RIFE VFI", "ckpt_name", "rife", "rife49.pth")
    with pytest.raises(NoStandin):
        family_for("VAELoader", "vae_name", "vae", "wan_vae.pth")
    root = write_standins([up, rife], tmp_path / "tiny", cache=tmp_path / "cache")
    assert load_upscale_model(root / "upscale_models" / "4x-ClearRealityV1.pth").scale == 4
    assert load_ifnet(read_release_state_dict(root / "rife" / "rife49.pth")).arch.name == "4.7"
