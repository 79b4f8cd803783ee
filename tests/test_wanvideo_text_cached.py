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


def test_single_encodes_the_whole_prompt_as_one(ctx, monkeypatch):
    """WanVideoTextEncodeSingle: ``|`` and ``(text:weight)`` stay text (the pack hands
    ``[prompt]`` to its encoder); the reference is the T5 run by hand with transformers."""
    t5 = node("LoadWanVideoT5TextEncoder")(ctx, model_name=T5, precision="fp32")[0]
    prompt = "a fox | a (red:2.0) hat"
    (embeds,) = node("WanVideoTextEncodeSingle")(ctx, prompt=prompt, t5=t5, device="cpu")
    assert len(embeds.prompt_embeds) == 1 and embeds.negative_prompt_embeds == ()
    batch = t5.tokenizer([prompt], padding="max_length", truncation=True, max_length=512, return_tensors="pt")
    with torch.no_grad():
        hidden = t5.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    length = int(batch["attention_mask"].sum())
    torch.testing.assert_close(embeds.prompt_embeds[0], hidden[0, :length].float())
    (cached,) = node("WanVideoTextEncodeSingle")(ctx, prompt=prompt, t5=t5, use_disk_cache=True)
    monkeypatch.setattr(text_module, "encode_prompts", lambda *a, **k: pytest.fail("encoded again"))
    (again,) = node("WanVideoTextEncodeSingle")(ctx, prompt=prompt, t5=t5, use_disk_cache=True)
    torch.testing.assert_close(again.prompt_embeds[0], cached.prompt_embeds[0])
    with pytest.raises(NodeInputError) as err:
        node("WanVideoTextEncodeSingle")(ctx, prompt="never encoded", t5=None, use_disk_cache=True)
    assert err.value.input_name == "t5"
