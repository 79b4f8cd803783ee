"""welltop-cn's TeaCache on the core KSampler, against the pack's rule written out here from
its ``teacache_wanmodel_forward``: per prompt, each call adds the polynomial of the relative
L1 change of the time embedding (``e``; ``e0``, its projection, in ret_mode) since the last
call; under the threshold the call may skip, at or above it the sum restarts; the state
moves on every call, and calls outside the step window always compute. The embeddings are
read from the model's own calls (a hook on the condition embedder), the computed calls from
a hook on the first block."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError

STEPS = 6
#: The pack's table, copied from its nodes.py (SUPPORTED_MODELS_COEFFICIENTS).
COEFFICIENTS = {
    "wan2.1_t2v_1.3B": [2.39676752e+03, -1.31110545e+03, 2.01331979e+02, -8.29855975e+00, 1.37887774e-01],
    "wan2.1_t2v_1.3B_ret_mode": [-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01, -4.99875664e-02],
}


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def setup(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    dim = model.transformer.config.text_dim
    g = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, 512, dim, generator=g), {}]]
    negative = [[torch.randn(1, 512, dim, generator=g), {}]]
    return model, positive, negative


def observe(ctx, model, positive, negative):
    """Per model call: (e, e0, whether the blocks ran)."""
    calls: list[list] = []
    t = model.transformer
    hooks = [t.condition_embedder.register_forward_hook(
                 lambda m, a, out: calls.append([out[0].detach().float().clone(), out[1].detach().float().clone(),
                                                 False])),
             t.blocks[0].register_forward_hook(lambda *a: calls[-1].__setitem__(2, True))]
    try:
        node("KSampler")(ctx, model=model, seed=3, steps=STEPS, cfg=4.0, sampler_name="euler", scheduler="simple",
                         positive=positive, negative=negative, latent_image={"samples": torch.zeros(1, 16, 3, 4, 4)},
                         denoise=1.0)
    finally:
        for h in hooks:
            h.remove()
    return calls


def packs_rule(calls, coefficients, thresh, window, ret_mode):
    """Which calls compute, by the pack's rule (the module docs); calls alternate cond, uncond."""
    poly = np.poly1d(coefficients)
    out = []
    for prompt in (0, 1):
        prev, acc = None, 0.0
        for step, call in enumerate(calls[prompt::2]):
            current = call[1] if ret_mode else call[0]
            flag = True
            if prev is not None:
                acc += float(poly(float((current - prev).abs().mean() / prev.abs().mean())))
                if acc < thresh:
                    flag = False
                else:
                    acc = 0.0
            prev = current
            out.append((step, prompt, flag or not window[0] <= step / STEPS <= window[1]))
    return sorted(out)


@pytest.mark.parametrize("model_type, thresh, skips", [("wan2.1_t2v_1.3B", 0.3, False),
                                                       ("wan2.1_t2v_1.3B", 1e9, True),
                                                       ("wan2.1_t2v_1.3B_ret_mode", 0.3, True)])
def test_teacache_skips_where_the_packs_rule_says(ctx, setup, model_type, thresh, skips):
    model, positive, negative = setup
    window = (0.5, 1.0)
    (cached,) = node("TeaCache")(ctx, model=model, model_type=model_type, rel_l1_thresh=thresh,
                                 start_percent=window[0], end_percent=window[1], cache_device="cpu")
    assert model.teacache is None and cached.transformer is model.transformer
    calls = observe(ctx, cached, positive, negative)
    assert len(calls) == 2 * STEPS
    want = packs_rule(calls, COEFFICIENTS[model_type], thresh, window, model_type.endswith("ret_mode"))
    got = sorted((i // 2, i % 2, c[2]) for i, c in enumerate(calls))
    assert got == want
    # the tiny model's embeddings change a lot: 0.3 is never reached by e's polynomial;
    # where calls skip, the first call in the window (step 3) skips too, on the state the
    # calls outside it carried (a cache tracking inside the window only would compute it)
    assert (not all(c for _, _, c in want)) == skips
    if skips:
        assert not any(c for step, _, c in want if step == 3)


def test_teacache_off_and_refusals(ctx, setup):
    model, _, _ = setup
    (same,) = node("TeaCache")(ctx, model=model, model_type="wan2.1_t2v_14B", rel_l1_thresh=0.0, start_percent=0.0,
                               end_percent=1.0, cache_device="cuda")
    assert same is model
    for inputs, name in (({"model_type": "flux"}, "model_type"), ({"max_skip_steps": 3}, "max_skip_steps")):
        args = dict(model=model, model_type="wan2.1_t2v_14B", rel_l1_thresh=0.4, start_percent=0.0, end_percent=1.0,
                    cache_device="cpu")
        args.update(inputs)
        with pytest.raises(NodeInputError) as err:
            node("TeaCache")(ctx, **args)
        assert err.value.input_name == name
