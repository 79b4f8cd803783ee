"""KSampler's step noise at the largest seed its widget allows (0xffffffffffffffff).

ComfyUI seeds the CPU step noise of ancestral/SDE samplers with ``seed + 1``; torch's
generator refuses 2**64, so ComfyUI fails there. wfrun names the seed instead of an internal
error; one below still draws what a generator seeded with ``seed + 1`` draws."""

from __future__ import annotations

import pytest
import torch

from wfrun.sampling.ksampler.noise import MAX_SEED, SeedOverflowError, default_noise_sampler


def test_torch_refuses_the_seed_after_the_largest():
    torch.Generator().manual_seed(2 ** 64 - 1)
    with pytest.raises((RuntimeError, ValueError)):
        torch.Generator().manual_seed(2 ** 64)
    assert MAX_SEED == 2 ** 64 - 1


def test_largest_seed_on_the_cpu_is_named():
    x = torch.zeros(1, 4, 2, 2)
    with pytest.raises(SeedOverflowError, match="seed \\+ 1"):
        default_noise_sampler(x, seed=MAX_SEED)
    draw = default_noise_sampler(x, seed=MAX_SEED - 1)(None, None)
    expected = torch.randn(x.size(), generator=torch.Generator().manual_seed(MAX_SEED))
    torch.testing.assert_close(draw, expected, rtol=0, atol=0)
