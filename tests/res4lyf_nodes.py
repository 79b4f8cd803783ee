"""Shared by the RES4LYF tests: the tiny Wan model and prompt as module fixtures (import
them into a test module), an empty latent, and ClownsharKSampler_Beta / the chain sampler
called with their spec defaults and a few settings of the tests' own."""

from __future__ import annotations

import pytest

from node_helpers import spec_defaults
from wfrun.engine.executors import get_executor
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def model(ctx):
    return get_executor("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")[0]


@pytest.fixture(scope="module")
def cond(ctx):
    clip, = get_executor("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan")
    return get_executor("CLIPTextEncode")(ctx, text="a fox in the snow", clip=clip)[0]


def empty_latent(ctx, batch=1):
    return get_executor("EmptyHunyuanLatentVideo")(ctx, width=32, height=32, length=5, batch_size=batch)[0]


def clown(ctx, model, cond, latent, **changes):
    """ClownsharKSampler_Beta: 6 steps of "simple" at cfg 3, seed 11, unless ``changes`` say otherwise."""
    values = {**spec_defaults("ClownsharKSampler_Beta"), "steps": 6, "scheduler": "simple", "cfg": 3.0,
              "seed": 11, **changes}
    return get_executor("ClownsharKSampler_Beta")(ctx, model=model, positive=cond, negative=cond,
                                                  latent_image=latent, **values)


def chain(ctx, latent, **changes):
    values = {**spec_defaults("ClownsharkChainsampler_Beta"), "cfg": 3.0, **changes}
    return get_executor("ClownsharkChainsampler_Beta")(ctx, latent_image=latent, **values)
