"""``--gpus N``: the transformer's tokens split over N processes (Ulysses, diffusers' attention)
give the one-process forward; here two CPU processes on the gloo backend, tiny models, fp32.

Tolerance: 1e-5 absolute on outputs of magnitude ~1 (the split changes only how matmuls
and the attention's softmax are blocked, not what they compute)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from diffusers import WanTransformer3DModel, WanVACETransformer3DModel
from safetensors.torch import load_file, save_file

from wfrun.sampling import context_parallel
from wfrun.sampling.forward import ForwardOptions, transformer_forward
from wfrun.sampling.nag import NAGContext, NAGParams

ATOL = 1e-5


def tiny(image: bool = False) -> WanTransformer3DModel:
    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16,
                                 in_channels=36 if image else 16, out_channels=16, text_dim=24, freq_dim=16,
                                 ffn_dim=48, num_layers=2, cross_attn_norm=True, image_dim=20 if image else None,
                                 added_kv_proj_dim=32 if image else None).eval()


def tiny_vace() -> WanVACETransformer3DModel:
    torch.manual_seed(0)
    return WanVACETransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16,
                                     in_channels=16, out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48,
                                     num_layers=3, vace_layers=[0, 2], vace_in_channels=96).eval()


def cases() -> dict[str, tuple]:
    """name -> (model kind, hidden, timestep, context, clip, ForwardOptions)."""
    g = torch.Generator().manual_seed(1)

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    return {
        # 3 frames of 2x3 patches = 18 tokens: an even split (plain Ulysses), batch 2 as batched CFG
        "t2v_batch2": ("plain", randn(2, 16, 3, 4, 6), torch.tensor([900.0, 250.0]), randn(2, 512, 24), None, None),
        # 3 x 1 x 3 = 9 tokens: an uneven split (diffusers' "Ulysses anything")
        "t2v_uneven": ("plain", randn(1, 16, 3, 2, 6), torch.tensor([500.0]), randn(1, 512, 24), None, None),
        # per-frame timesteps (per-token modulation), Enhance-A-Video and RIFLEx
        "per_frame_feta_riflex": ("plain", randn(1, 16, 3, 4, 6), torch.tensor([[900.0, 600.0, 300.0]]),
                                  randn(1, 512, 24), None,
                                  ForwardOptions(feta_weight=2.0, feta_frames=3, riflex_k=2, riflex_frames=3)),
        # image to video: 36 input channels and CLIP tokens in the cross-attention
        "i2v_clip": ("image", randn(1, 36, 2, 4, 4), torch.tensor([700.0]), randn(1, 512, 24), randn(1, 7, 20), None),
        # two prompts over one video: a rank's tokens cross-attend to their own frames' prompt
        "two_prompts": ("plain", randn(1, 16, 3, 4, 6), torch.tensor([400.0]), randn(2, 512, 24), None, None),
        # VACE: a context with fewer frames than the video (zeros after), its hints split too
        "vace": ("vace", randn(1, 16, 3, 4, 6), torch.tensor([600.0]), randn(1, 512, 24), None,
                 ForwardOptions(vace=((randn(1, 96, 2, 4, 6), 0.7),))),
        # two prompts with the wrapper's frame-chunked self-attention on this step (chunks cross the shares)
        "two_prompts_chunked": ("plain", randn(1, 16, 3, 4, 6), torch.tensor([400.0]), randn(2, 512, 24), None,
                                ForwardOptions(step=1, split_attn_steps=(1,))),
        # NAG: each cross-attention guided per token, on the rank's own tokens
        "nag": ("plain", randn(1, 16, 3, 4, 6), torch.tensor([800.0]), randn(1, 512, 24), None,
                ForwardOptions(nag=NAGContext(randn(1, 512, 24), NAGParams(scale=11.0, tau=2.5, alpha=0.25)))),
    }


def forward_all() -> dict[str, torch.Tensor]:
    models = {"plain": tiny(), "image": tiny(image=True), "vace": tiny_vace()}
    out = {}
    with torch.inference_mode():
        for name, (kind, x, t, ctx, clip, opt) in cases().items():
            out[name] = transformer_forward(models[kind], x, t, ctx, clip, opt)[0]
    return out


def _rank(rank: int, world: int, port: int, folder: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        context_parallel.activate("ulysses")
        save_file({k: v.contiguous() for k, v in forward_all().items()},
                  os.path.join(folder, f"rank{rank}.safetensors"))
    finally:
        context_parallel.deactivate()
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_give_the_one_process_forward(tmp_path: Path):
    mp.start_processes(_rank, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    expected = forward_all()
    ranks = [load_file(tmp_path / f"rank{r}.safetensors") for r in range(2)]
    for name, want in expected.items():
        for got in ranks:  # every rank ends with the whole prediction
            assert got[name].shape == want.shape
            torch.testing.assert_close(got[name], want, rtol=0, atol=ATOL, msg=name)
        assert want.abs().mean() > 0.1  # a real output, not zeros on both sides


def test_split_and_gather_sizes_follow_tensor_split():
    cp = context_parallel.ContextParallel(rank=1, world=3, mode="ulysses", device_type="cpu")
    assert cp.sizes(10) == [4, 3, 3]
    x = torch.arange(10.0).view(1, 10, 1)
    assert cp.split(x).flatten().tolist() == [4.0, 5.0, 6.0]


def test_ring_on_cpu_and_unknown_modes_are_refused():
    cp = context_parallel.ContextParallel(rank=0, world=2, mode="ring", device_type="cpu")
    model = tiny()
    with pytest.raises(context_parallel.ContextParallelError, match="Ulysses"):
        context_parallel._check_backend(model.blocks[0].attn1.processor, "ring", "cpu")
    assert cp.mode == "ring"
    with pytest.raises(context_parallel.ContextParallelError, match="ulysses, ring"):
        context_parallel.activate("stripes")


def test_gpus_2_on_the_cpu_makes_the_one_process_video(tmp_path, monkeypatch):
    """``wfrun run --gpus 2`` end to end (the wrapper's sampler, TeaCache and Enhance-A-Video
    on): rank 0 is this process and splits its forwards; the video equals the one-process
    run's up to the video codec's rounding (decoded 8-bit frames)."""
    import numpy as np
    from click.testing import CliRunner

    from wfrun.cli import main
    from wfrun.media.video import iter_frames

    workflow = Path(__file__).resolve().parents[1] / "workflows" / "wan_t2v_tiny.json"
    splits = []
    real_split = context_parallel.ContextParallel.split
    monkeypatch.setattr(context_parallel.ContextParallel, "split",
                        lambda self, t, dim=1: splits.append(t.shape) or real_split(self, t, dim))

    def video(extra: list[str], out: Path) -> list:
        result = CliRunner().invoke(main, ["run", str(workflow), "--smoke", "--device", "cpu", "--seed", "5",
                                           "-o", str(out), *extra])
        assert result.exit_code == 0, result.output
        return [np.asarray(f, dtype=np.int16) for f in iter_frames(out / "wfrun_t2v_tiny_00001.mp4")]

    split = video(["--gpus", "2"], tmp_path / "two")
    assert splits  # the forwards of rank 0 were split
    assert not list((tmp_path / "two").glob("*_00002.*"))  # only rank 0 wrote
    alone = video([], tmp_path / "one")
    assert len(split) == len(alone) == 9
    diff = np.abs(np.stack(split) - np.stack(alone))
    assert diff.mean() < 0.5 and diff.max() <= 16
    assert np.stack(alone).std() > 5  # a real picture


def test_local_spans_cut_global_ranges_to_a_share():
    cp = context_parallel.ContextParallel(rank=1, world=2, mode="ulysses", device_type="cpu")
    # 18 tokens: rank 1 holds 9..17; prompt 0 covers 0..5, prompt 1 covers 6..17
    assert cp.local_spans([(0, 6, 0), (6, 18, 1)], 18) == [(0, 9, 1)]
    cp.rank = 0
    assert cp.local_spans([(0, 6, 0), (6, 18, 1)], 18) == [(0, 6, 0), (6, 9, 1)]
