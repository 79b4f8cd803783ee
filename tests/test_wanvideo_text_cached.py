"""WanVideoTextEncodeCached: the same embeddings as LoadWanVideoT5TextEncoder +
WanVideoTextEncode, from the disk cache on the second call without loading the T5, and the
negative prompt's embeddings on their own for NAG."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo import text as text_module

T5 = "umt5-xxl-enc-tiny-bf16.safetensors"


@pytest.fixture
def ctx(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path / "cache"))
    return ExecContext(models=ModelRoots.from_options(tiny_models))


def test_cached_node_equals_the_two_node_encoding_and_reuses_its_cache(ctx, monkeypatch):
    t5 = node("LoadWanVideoT5TextEncoder")(ctx, model_name=T5, precision="fp32")[0]
    (reference,) = node("WanVideoTextEncode")(ctx, positive_prompt="a red fox", negative_prompt="blurry", t5=t5,
                                              use_disk_cache=False)
    embeds, negative, prompt = node("WanVideoTextEncodeCached")(ctx, model_name=T5, precision="fp32",
                                                                positive_prompt="a red fox", negative_prompt="blurry",
                                                                use_disk_cache=True, device="cpu")
    assert prompt == "a red fox"
    for a, b in zip(embeds.prompt_embeds + embeds.negative_prompt_embeds,
                    reference.prompt_embeds + reference.negative_prompt_embeds):
        torch.testing.assert_close(a, b)
    assert negative.prompt_embeds == embeds.negative_prompt_embeds
    # second call: served from the disk cache, the T5 is not loaded
    monkeypatch.setattr(text_module, "load_t5", lambda *a, **k: pytest.fail("the T5 was loaded again"))
    again, _, _ = node("WanVideoTextEncodeCached")(ctx, model_name=T5, precision="fp32", positive_prompt="a red fox",
                                                   negative_prompt="blurry", use_disk_cache=True, device="cpu")
    torch.testing.assert_close(again.prompt_embeds[0], embeds.prompt_embeds[0])


def test_the_prompt_extender_is_refused_by_name(ctx):
    with pytest.raises(NodeInputError) as err:
        node("WanVideoTextEncodeCached")(ctx, model_name=T5, positive_prompt="x", negative_prompt="",
                                         extender_args={"model": "qwen"})
    assert err.value.input_name == "extender_args"
