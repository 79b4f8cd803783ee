"""The diffusion-forcing step matrix (wfrun.sampling.df_schedule) against small cases worked
out by hand from SkyReels-V2's rules (counters into [999, t_0 … t_{n-1}, 0]; see the module)."""

from __future__ import annotations

import pytest
import torch

from wfrun.sampling.df_schedule import StepMatrixError, timestep_matrix


def _rows(t):
    return [list(map(int, r)) for r in t]


def _bools(t):
    return [[bool(x) for x in r] for r in t]


def test_synchronous_with_a_prefix_frame():
    """ar_step 0 (the wrapper's node): the prefix frame stays at timestep 0, the others step together."""
    m = timestep_matrix(3, torch.tensor([900, 500]), num_pre_ready=1)
    assert _rows(m.index) == [[3, 1, 1], [3, 2, 2]]
    assert _rows(m.timesteps) == [[0, 900, 900], [0, 500, 500]]
    assert _bools(m.update) == [[False, True, True], [False, True, True]]
    assert m.intervals == ((0, 3), (0, 3))


def test_fractional_timesteps_are_truncated():
    """The template is cast to int64 first (Euler's timesteps reach the model truncated)."""
    m = timestep_matrix(2, torch.tensor([999.7, 512.9, 3.2]))
    assert _rows(m.timesteps) == [[999, 999], [512, 512], [3, 3]]
    assert m.rows == 3


def test_autoregressive_staircase():
    """ar_step 1, three frames, three steps: each frame starts one iteration after the previous
    and takes exactly three steps; a finished frame reads timestep 0."""
    m = timestep_matrix(3, torch.tensor([900, 500, 100]), ar_step=1)
    assert _rows(m.index) == [[1, 0, 0], [2, 1, 0], [3, 2, 1], [4, 3, 2], [4, 4, 3]]
    assert _rows(m.timesteps) == [[900, 999, 999], [500, 900, 999], [100, 500, 900], [0, 100, 500], [0, 0, 100]]
    assert _bools(m.update) == [[True, False, False], [True, True, False], [True, True, True],
                                [False, True, True], [False, False, True]]
    assert m.update.sum(dim=0).tolist() == [3, 3, 3]
    assert m.intervals == ((0, 3),) * 5


def test_a_window_shorter_than_the_video_slides():
    """Four frames through a two-frame window (ar_step 1, two steps): the interval moves right
    when the frame just past it is updated."""
    m = timestep_matrix(4, torch.tensor([800, 300]), base_num_frames=2, ar_step=1)
    assert _rows(m.timesteps) == [[800, 999, 999, 999], [300, 800, 999, 999], [0, 300, 800, 999],
                                  [0, 0, 300, 800], [0, 0, 0, 300]]
    assert _bools(m.update) == [[True, False, False, False], [True, True, False, False],
                                [False, True, True, False], [False, False, True, True],
                                [False, False, False, True]]
    assert m.intervals == ((0, 2), (0, 2), (1, 3), (2, 4), (2, 4))


def test_causal_blocks_repeat_each_block_over_its_frames():
    """Blocks of two frames behave as the two-block case, each column doubled."""
    blocks = timestep_matrix(2, torch.tensor([900, 500, 100]), ar_step=1)
    frames = timestep_matrix(4, torch.tensor([900, 500, 100]), ar_step=1, causal_block_size=2)
    assert torch.equal(frames.timesteps, blocks.timesteps.repeat_interleave(2, dim=1))
    assert torch.equal(frames.update, blocks.update.repeat_interleave(2, dim=1))
    assert frames.intervals == tuple((2 * s, 2 * e) for s, e in blocks.intervals)
    assert _rows(blocks.timesteps) == [[900, 999], [500, 900], [100, 500], [0, 100]]


def test_too_small_an_ar_step_for_the_window_is_refused():
    with pytest.raises(StepMatrixError, match="at least 2"):
        timestep_matrix(6, torch.tensor([900, 600, 300]), base_num_frames=2, ar_step=1)


def test_a_prefix_covering_the_video_is_refused():
    with pytest.raises(StepMatrixError, match="nothing is left"):
        timestep_matrix(2, torch.tensor([900, 500]), num_pre_ready=2)
