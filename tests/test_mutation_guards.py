"""Guards for behaviour that once could be broken without any test noticing.

Each test compares wfrun with a reference written here from the pack's definition
(ComfyUI-WanVideoWrapper ``nodes.py``/``utils.py`` at 2025-07, or ComfyUI's CLIP vision):

- CFG-Zero*: ``alpha = <cond, uncond> / (|uncond|^2 + 1e-8)`` per sample, guidance
  ``uncond*alpha + cfg*(cond - uncond*alpha)``; with ``use_zero_init`` the predictions of
  steps ``0..zero_star_steps`` are zero (the model is not called).
- FreSca: the guidance difference scaled in the centred 2-D spectrum, ``scale_low`` within
  ``freq_cutoff`` of the centre, ``scale_high`` elsewhere: ``uncond*alpha + cfg*F(cond -
  uncond)*alpha``.
- Context windows with several prompts: a window ending at latent frame ``m`` uses prompt
  ``min(int(m / (frames / prompts)), prompts - 1)``.
- Spec defaults: an input the saved workflow lacks reaches the executor with the spec's
  default.
- CLIP vision: the image embeddings are the output of all ViT layers but the last (the
  "penultimate hidden state"), before the final norm.

The sampler tests swap the transformer for a small function of its inputs and record what
the loop hands the scheduler, so the guidance arithmetic is seen exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from types import SimpleNamespace

import pytest
import torch

from node_helpers import node
from wfrun.engine import run as engine_run
from wfrun.engine.plan import make_plan
from wfrun.engine.run import run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, ExecutorInfo
from wfrun.engine.executors import get_executor
from wfrun.packs.wanvideo.types import ContextOptions, ExperimentalArgs, ImageEmbeds, SamplerOptions, TextEmbeds
from wfrun.specs.registry import schemas_dir
from wfrun.sampling import loop
from wfrun.sampling.loop import SamplingRequest, sample

DIM = 8  # text embedding width of the fake model


def pattern(frames: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(16, frames, h, w, generator=torch.Generator().manual_seed(123))


class FakeModel:
    """Stands in for ``transformer_forward``: output = sin(3 x) + (prompt sum / 48) * P.

    Cond and uncond differ by the prompt term only, so they are not proportional (CFG-Zero*'s
    alpha is not 1) and the difference has structure at every frequency (FreSca shows)."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.config = SimpleNamespace(in_channels=16, num_attention_heads=2, attention_head_dim=16)

    def __call__(self, tr, z, timestep, context, clip, options):
        x = z[:, :16].float()
        prompt = (context.float().sum(dim=(1, 2)) / 48).view(-1, 1, 1, 1, 1)  # about the mean of a 6x8 prompt
        out = torch.sin(3 * x) + prompt * pattern(*x.shape[2:])
        self.calls.append({"z": z.clone(), "context": context.clone(), "uncond": options.is_uncond, "out": out})
        return out, options.pred_id


@pytest.fixture
def fake(monkeypatch):
    """The fake model, and the list of predictions the loop passes to the scheduler."""
    model = FakeModel()
    preds: list[torch.Tensor] = []
    real_build = loop.build_schedule

    class Recording:
        def __init__(self, inner):
            self.inner = inner

        def step(self, model_output, t, sample_, generator=None):
            preds.append(model_output[0].clone())
            return self.inner.step(model_output, t, sample_, generator=generator)

    def build_schedule(*args, **kwargs):
        schedule = real_build(*args, **kwargs)
        return dataclasses.replace(schedule, stepper=Recording(schedule.stepper))

    monkeypatch.setattr(loop, "transformer_forward", model)
    monkeypatch.setattr(loop, "build_schedule", build_schedule)
    return model, preds


def text(prompts: int = 1) -> TextEmbeds:
    g = torch.Generator().manual_seed(5)
    return TextEmbeds(prompt_embeds=tuple(torch.randn(6, DIM, generator=g) + 1 + i for i in range(prompts)),
                      negative_prompt_embeds=(torch.randn(4, DIM, generator=g) - 1,))


def run_sampler(model, steps=3, cfg=5.0, frames=9, size=32, **options) -> None:
    embeds = ImageEmbeds(num_frames=frames, target_shape=(16, (frames - 1) // 4 + 1, size // 8, size // 8))
    prompts = options.pop("prompts", 1)
    sample(SamplingRequest(transformer=model, image_embeds=embeds, text_embeds=text(prompts), steps=steps, cfg=cfg,
                           shift=5.0, seed=11, scheduler="euler", options=SamplerOptions(**options)))


def cond_uncond(model: FakeModel, step_calls: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    cond = next(c["out"][0] for c in step_calls if not c["uncond"])
    uncond = next(c["out"][0] for c in step_calls if c["uncond"])
    return cond, uncond


def zero_star_alpha(cond: torch.Tensor, uncond: torch.Tensor) -> torch.Tensor:
    c, u = cond.reshape(1, -1), uncond.reshape(1, -1)
    return (c * u).sum() / ((u * u).sum() + 1e-8)


def fresca_filter(x: torch.Tensor, low: float, high: float, cutoff: int) -> torch.Tensor:
    """FreSca from its definition: scale the centred spectrum's low box and the rest."""
    h, w = x.shape[-2:]
    spectrum = torch.fft.fftshift(torch.fft.fft2(x.double()), dim=(-2, -1))
    rows = torch.arange(h).view(-1, 1)
    cols = torch.arange(w).view(1, -1)
    in_box = ((rows >= h // 2 - cutoff) & (rows < h // 2 + cutoff) & (cols >= w // 2 - cutoff)
              & (cols < w // 2 + cutoff))
    scale = torch.where(in_box, torch.tensor(low, dtype=torch.double), torch.tensor(high, dtype=torch.double))
    return torch.fft.ifft2(torch.fft.ifftshift(spectrum * scale, dim=(-2, -1))).real.float()


# --- CFG-Zero* ----------------------------------------------------------------------------

def test_cfg_zero_star_uses_the_optimised_scale(fake):
    model, preds = fake
    run_sampler(model, steps=2, cfg=5.0, experimental=ExperimentalArgs(cfg_zero_star=True))
    assert len(model.calls) == 4 and len(preds) == 2
    for step in range(2):
        cond, uncond = cond_uncond(model, model.calls[2 * step:2 * step + 2])
        alpha = zero_star_alpha(cond, uncond)
        assert abs(float(alpha) - 1.0) > 0.05  # else the test could not tell
        expected = uncond * alpha + 5.0 * (cond - uncond * alpha)
        torch.testing.assert_close(preds[step], expected, rtol=1e-5, atol=1e-5)
        plain = uncond + 5.0 * (cond - uncond)
        assert not torch.allclose(preds[step], plain, atol=1e-3)


def test_plain_cfg_without_zero_star(fake):
    model, preds = fake
    run_sampler(model, steps=1, cfg=4.0)
    cond, uncond = cond_uncond(model, model.calls)
    torch.testing.assert_close(preds[0], uncond + 4.0 * (cond - uncond), rtol=1e-5, atol=1e-5)


def test_cfg_zero_init_zeroes_the_first_steps(fake):
    model, preds = fake
    run_sampler(model, steps=4, cfg=5.0, experimental=ExperimentalArgs(cfg_zero_star=True, use_zero_init=True,
                                                                      zero_star_steps=1))
    assert len(preds) == 4
    assert torch.count_nonzero(preds[0]) == 0 and torch.count_nonzero(preds[1]) == 0
    assert len(model.calls) == 2 * 2  # the model ran only on steps 2 and 3
    cond, uncond = cond_uncond(model, model.calls[:2])
    alpha = zero_star_alpha(cond, uncond)
    torch.testing.assert_close(preds[2], uncond * alpha + 5.0 * (cond - uncond * alpha), rtol=1e-5, atol=1e-5)


# --- FreSca -------------------------------------------------------------------------------

@pytest.mark.parametrize("zero_star", [False, True])
def test_fresca_scales_the_guidance_by_frequency(fake, zero_star):
    model, preds = fake
    args = ExperimentalArgs(cfg_zero_star=zero_star, use_fresca=True, fresca_scale_low=0.5, fresca_scale_high=1.5,
                            fresca_freq_cutoff=2)
    run_sampler(model, steps=1, cfg=5.0, size=64, experimental=args)
    cond, uncond = cond_uncond(model, model.calls)
    alpha = zero_star_alpha(cond, uncond) if zero_star else torch.tensor(1.0)
    expected = uncond * alpha + 5.0 * fresca_filter(cond - uncond, 0.5, 1.5, 2) * alpha
    torch.testing.assert_close(preds[0], expected, rtol=1e-4, atol=1e-4)
    unfiltered = uncond * alpha + 5.0 * (cond - uncond * alpha)
    assert not torch.allclose(preds[0], unfiltered, atol=1e-2)


def test_fresca_without_cfg_filters_the_prediction(fake):
    model, preds = fake
    args = ExperimentalArgs(use_fresca=True, fresca_scale_low=1.0, fresca_scale_high=2.0, fresca_freq_cutoff=1)
    run_sampler(model, steps=1, cfg=1.0, size=64, experimental=args)
    assert len(model.calls) == 1
    torch.testing.assert_close(preds[0], fresca_filter(model.calls[0]["out"][0], 1.0, 2.0, 1), rtol=1e-4, atol=1e-4)


# --- context windows and prompts --------------------------------------------------------------

def test_each_context_window_gets_the_prompt_of_its_section(fake):
    model, _ = fake
    prompts = 3
    context = ContextOptions(context_schedule="static_standard", context_frames=9, context_stride=4,
                             context_overlap=4, freenoise=False)
    run_sampler(model, steps=1, cfg=1.0, frames=25, prompts=prompts, context=context)
    latent_frames = 7
    noise = torch.randn(16, latent_frames, 4, 4, generator=torch.Generator("cpu").manual_seed(11))
    embeds = text(prompts).prompt_embeds
    used = []
    for call in model.calls:
        z = call["z"][0, :16]
        window = [next(i for i in range(latent_frames) if torch.equal(z[:, k], noise[:, i]))
                  for k in range(z.shape[1])]
        expected = min(int(max(window) / (latent_frames / prompts)), prompts - 1)
        assert call["context"].shape[0] == 1
        got = next(p for p in range(prompts) if torch.equal(call["context"][0, :6], embeds[p]))
        assert got == expected, f"window {window} used prompt {got}, the pack's section gives {expected}"
        used.append(got)
    assert sorted(set(used)) == [0, 1, 2]  # every section's prompt was used by some window


# --- spec defaults -------------------------------------------------------------------------------

def spec_file_default(pack_file: str, class_type: str, name: str):
    """The default straight from the spec data (the newest signature)."""
    data = json.loads((schemas_dir() / "nodes" / pack_file).read_text(encoding="utf-8"))
    inputs = data["nodes"][class_type]["signatures"][-1]["inputs"]
    return next(i["default"] for i in inputs if i["name"] == name)


def record_kwargs(monkeypatch) -> list[dict]:
    seen: list[dict] = []

    def recorder(ctx, **kwargs):  # no defaults of its own: only what the engine passes
        seen.append(kwargs)
        return (None,)

    monkeypatch.setattr(engine_run, "executor_info", lambda class_type, spec=None: ExecutorInfo(recorder))
    return seen


def test_missing_widget_gets_the_spec_default_ui(monkeypatch):
    """A WanVideoExperimentalArgs saved without its last widget (fresca_freq_cutoff)."""
    saved = ["", True, False, 0, True, 1.0, 1.25]
    node = {"id": 1, "type": "WanVideoExperimentalArgs", "pos": [0, 0], "size": [300, 200], "flags": {}, "order": 0,
            "mode": 0, "inputs": [], "outputs": [{"name": "exp_args", "type": "EXPERIMENTALARGS", "links": []}],
            "properties": {}, "widgets_values": saved}
    doc = from_data({"last_node_id": 1, "last_link_id": 0, "nodes": [node], "links": [], "groups": [], "config": {},
                     "extra": {}, "version": 0.4}, "wf.json")
    graph = build(doc)
    seen = record_kwargs(monkeypatch)
    result = run_plan(graph, make_plan(graph, ["1"]), ExecContext())
    assert result.executed == ["1"]
    assert seen[0]["fresca_freq_cutoff"] == spec_file_default("ComfyUI-WanVideoWrapper.json",
                                                              "WanVideoExperimentalArgs", "fresca_freq_cutoff") == 20
    assert seen[0]["cfg_zero_star"] is True and seen[0]["use_fresca"] is True  # saved values kept


def test_missing_widget_gets_the_spec_default_api(monkeypatch):
    """An API prompt without WanVideoTeaCache's optional ``mode``."""
    prompt = {"5": {"class_type": "WanVideoTeaCache", "inputs": {"rel_l1_thresh": 0.25, "start_step": 2,
                                                                 "end_step": -1, "cache_device": "offload_device",
                                                                 "use_coefficients": False}}}
    graph = build(from_data(prompt, "prompt.json"))
    seen = record_kwargs(monkeypatch)
    run_plan(graph, make_plan(graph, ["5"]), ExecContext())
    assert seen[0]["mode"] == spec_file_default("ComfyUI-WanVideoWrapper.json", "WanVideoTeaCache", "mode") == "e"
    assert seen[0]["rel_l1_thresh"] == 0.25 and seen[0]["use_coefficients"] is False


# --- CLIP vision: the penultimate layer --------------------------------------------------------

OPENAI_CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
OPENAI_CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def test_clip_vision_encode_returns_the_penultimate_layer(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    clip = node("LoadWanVideoClipTextEncoder")(
        ctx, model_name="open-clip-xlm-roberta-large-vit-huge-14_visual_tiny_fp16.safetensors", precision="fp32")[0]
    size = int(clip.model.config.image_size)
    image = torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(4))
    embeds = node("WanVideoClipVisionEncode")(ctx, clip_vision=clip, image_1=image)[0].clip_embeds
    # reference: the same model with its last layer removed, its final hidden state
    # (before post_layernorm), on ComfyUI's preprocessing of an image already at size
    truncated = copy.deepcopy(clip.model)
    truncated.vision_model.encoder.layers = truncated.vision_model.encoder.layers[:-1]
    pixels = ((image.movedim(-1, 1) * 255).round() / 255 - OPENAI_CLIP_MEAN) / OPENAI_CLIP_STD
    with torch.no_grad():
        expected = truncated(pixel_values=pixels).last_hidden_state
        last = clip.model(pixel_values=pixels).last_hidden_state
    torch.testing.assert_close(embeds, expected, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(embeds, last, atol=1e-3)  # the last layer's output is not it
