"""The pack's text-to-video examples (latest corpus versions) end to end on tiny models.

Each workflow runs as saved apart from ``--set`` overrides that shrink the video: the model
loaders, block swap, TeaCache, context windows and the VHS writer all run their real code.
"""

from __future__ import annotations

import pytest

from run_helpers import CORPUS_WAN, linked_models, run_workflow, videos

T2V = CORPUS_WAN / "2025-06-13_ad43eed_wanvideo_T2V_example_02.json"
LONG_T2V = CORPUS_WAN / "2025-06-13_ad43eed_wanvideo_long_T2V_example_01.json"

#: The corpus's file names, each served by the tiny file of the same kind, task and precision.
NAMES = {
    "diffusion_models/WanVideo\\Wan2_1-T2V-14B_fp8_e4m3fn.safetensors":
        "diffusion_models/Wan2_1-T2V-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors",
    "diffusion_models/WanVideo\\wan2.1_t2v_1.3B_fp16.safetensors":
        "diffusion_models/Wan2_1-T2V-1_3B_tiny_bf16.safetensors",
    "vae/wanvideo\\Wan2_1_VAE_bf16.safetensors": "vae/Wan2_1_VAE_tiny_bf16.safetensors",
    "text_encoders/umt5-xxl-enc-bf16.safetensors": "text_encoders/umt5-xxl-enc-tiny-bf16.safetensors",
}


@pytest.fixture(scope="module")
def models(tiny_models, tmp_path_factory):
    return linked_models(tiny_models, tmp_path_factory.mktemp("models"), NAMES)


def test_t2v_example_runs_with_block_swap_and_teacache(models, tmp_path):
    # 37 EmptyEmbeds, 27 Sampler, 38 VAE loader (fp32: bf16 conv3d is slow on CPUs);
    # block swap (20 of the model's 2 blocks), TeaCache and the fp8 quantization stay as saved.
    report = run_workflow(T2V, models, tmp_path, ["37.width=80", "37.height=64", "37.num_frames=9",
                                                  "27.steps=3", "38.precision=fp32"])
    assert not report.result.interrupted
    assert list(videos(report).values()) == [(9, 80, 64)]
    executed = {report.prepared.graph.node(n).class_type for n in report.result.executed}
    assert {"WanVideoBlockSwap", "WanVideoTeaCache", "WanVideoModelLoader", "VHS_VideoCombine"} <= executed


def test_long_t2v_example_runs_context_windows(models, tmp_path, monkeypatch):
    from wfrun.sampling import context

    windows = []
    real_mask = context.window_mask

    def recording_mask(pred, window, *args, **kw):
        windows.append(tuple(window))
        return real_mask(pred, window, *args, **kw)

    monkeypatch.setattr(context, "window_mask", recording_mask)
    # 37 EmptyEmbeds to 33 frames (9 latents); 43 context windows of 17 frames (5 latents)
    # overlapping by 4 (1 latent): several windows, blended. 42 GetImageSizeAndCount feeds VHS.
    report = run_workflow(LONG_T2V, models, tmp_path, ["37.width=64", "37.height=64", "37.num_frames=33",
                                                       "43.context_frames=17", "43.context_overlap=4",
                                                       "27.steps=2", "38.precision=fp32"])
    assert list(videos(report).values()) == [(33, 64, 64)]
    assert len(set(windows)) > 1 and {len(w) for w in windows} == {5}
    assert set().union(*windows) == set(range(9))
    count = report.result.outputs.get("42")
    assert count is None or (count[1], count[2], count[3]) == (64, 64, 33)
