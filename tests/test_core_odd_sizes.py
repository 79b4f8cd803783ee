"""ComfyUI's own Wan nodes at frame sizes that are not multiples of 16 (840x488 and the like).

References, written here apart from wfrun's code, from ComfyUI's formulas:

- the nodes size the latent ``[B, 16, (length - 1) // 4 + 1, height // 8, width // 8]``, and
  the VAE centre-crops pixels to its 8-pixel grid before encoding (``vae_encode_crop_pixels``),
  so the encoded frames have the latent's size even when width/height are not multiples of 8;
- the model pads its input at the end of each axis to whole (1, 2, 2) patches *circularly*
  (``pad_to_patch_size``'s default mode: the padded row is a copy of the first row) and crops
  its output back to the latent (``WanModel._forward``): written here with ``torch.cat`` of the
  first rows, not with ``F.pad``;
- KSampler ``euler``, one step, cfg 1 on a flow model from sigma 1: the start is the seed's
  noise (``torch.randn`` of the latent's shape on a CPU generator seeded with the seed) and
  the result is the model's denoised prediction ``x - sigma * v``, handed back through the
  Wan 2.1 latent format (``x * std + mean``).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from tests.node_helpers import node
from tests.test_core_wan_nodes import _wan21_stats
from wfrun.diagnostics import Severity
from wfrun.graph.model import NodeInstance
from wfrun.nodes.executor import NodeInputError
from wfrun.packs.comfy_core_models.model_input import WanPredictor, concat_channels
from wfrun.packs.wanvideo.checks import wan_shape

#: Both latent sides odd (25 x 17), as 840x488's (105 x 61): small enough for a CPU test.
WIDTH, HEIGHT, LENGTH = 200, 136, 5


@pytest.fixture(scope="module")
def i2v(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_i2v_480p_14B_tiny_fp8_scaled.safetensors",
                                  weight_dtype="default")
    return model


def _text(model, seed=11):
    return [[torch.randn(1, 512, model.transformer.config.text_dim, generator=torch.Generator().manual_seed(seed)),
             {}]]


def _pad_circular_2x2(x: torch.Tensor) -> torch.Tensor:
    """Height and width up to even sizes, the added row/column a copy of the first."""
    if x.shape[-2] % 2:
        x = torch.cat([x, x[..., :1, :]], dim=-2)
    if x.shape[-1] % 2:
        x = torch.cat([x, x[..., :1]], dim=-1)
    return x


@pytest.mark.parametrize("width,height", [(WIDTH, HEIGHT), (WIDTH + 4, HEIGHT + 4)])
def test_image_to_video_latent_and_concat_have_comfyuis_sizes(ctx, vae, width, height):
    positive = [[torch.zeros(1, 512, 8), {}]]
    start = torch.rand(1, 100, 150, 3, generator=torch.Generator().manual_seed(2))
    pos, _, latent = node("WanImageToVideo")(ctx, positive=positive, negative=positive, vae=vae, width=width,
                                             height=height, length=LENGTH, batch_size=1, start_image=start)
    frames = (LENGTH - 1) // 4 + 1
    assert latent["samples"].shape == (1, 16, frames, height // 8, width // 8)
    opts = pos[0][1]
    assert opts["concat_latent_image"].shape == (1, 16, frames, height // 8, width // 8)
    assert opts["concat_mask"].shape == (1, 1, frames, height // 8, width // 8)


@torch.no_grad()
def test_image_to_video_ksampler_at_odd_latent_sides_is_the_padded_forward_cropped(ctx, vae, i2v):
    text = _text(i2v)
    start = torch.rand(1, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(4))
    pos, neg, latent = node("WanImageToVideo")(ctx, positive=text, negative=text, vae=vae, width=WIDTH,
                                               height=HEIGHT, length=LENGTH, batch_size=1, start_image=start)
    (out,) = node("KSampler")(ctx, model=i2v, seed=3, steps=1, cfg=1.0, sampler_name="euler", scheduler="simple",
                              positive=pos, negative=neg, latent_image=latent, denoise=1.0)
    got = out["samples"]
    shape = latent["samples"].shape
    assert got.shape == shape == (1, 16, 2, 17, 25)

    noise = torch.randn(shape, generator=torch.Generator(device="cpu").manual_seed(3))
    hidden = torch.cat([noise, concat_channels(i2v, pos[0][1], noise)], dim=1)
    padded = _pad_circular_2x2(hidden)
    assert padded.shape[-2:] == (18, 26)
    tr = i2v.transformer
    v = tr(hidden_states=padded.to(i2v.dtype), timestep=torch.tensor([1000.0]),
           encoder_hidden_states=text[0][0].to(i2v.dtype), return_dict=False)[0].float()
    mean, std = _wan21_stats()
    want = (noise - v[:, :, :, :17, :25]) * std + mean  # the sampler hands back process_out(x0)
    assert torch.allclose(got, want, atol=2e-3, rtol=1e-3), (got - want).abs().max()


@torch.no_grad()
def test_predictor_on_an_odd_latent_crops_a_forward_that_saw_the_wrapped_rows(ctx, i2v):
    """The padded row is the first row (circular), not zeros or a reflection: changing the
    first latent row changes the output near the bottom edge through attention only, so the
    check is on the forward's input, seen by a hook."""
    text = _text(i2v, 5)
    x = torch.randn(1, 16, 2, 7, 9, generator=torch.Generator().manual_seed(8))
    seen = []
    handle = i2v.transformer.patch_embedding.register_forward_pre_hook(lambda m, a: seen.append(a[0].float()))
    try:
        out = WanPredictor(i2v, text, text, "cpu")(x, torch.tensor([600.0]), "cond")
    finally:
        handle.remove()
    assert out.shape == x.shape
    (hidden,) = seen
    assert hidden.shape[-2:] == (8, 10)
    latent_part = hidden[:, :16]
    assert torch.allclose(latent_part, _pad_circular_2x2(x).to(i2v.dtype).float())


def _core_node(class_type: str, registry) -> NodeInstance:
    return NodeInstance(id="5", class_type=class_type, spec=registry.get(class_type), inputs={})


def _size_diags(class_type, value, registry, spec_name="width"):
    inst = _core_node(class_type, registry)
    spec = next(i for i in inst.spec.latest.inputs if i.name == spec_name)
    return list(wan_shape(SimpleNamespace(source="w.json"), inst, spec, value))


@pytest.mark.parametrize("class_type", ["WanImageToVideo", "WanFirstLastFrameToVideo", "WanFunControlToVideo",
                                        "WanFunInpaintToVideo", "Wan22ImageToVideoLatent", "WanAnimateToVideo"])
def test_core_nodes_warn_at_840_and_run(class_type, registry):
    (diag,) = _size_diags(class_type, 840, registry)
    assert diag.code == "size-multiple" and diag.severity is Severity.WARNING
    assert "pad the latent" in diag.message


def test_vace_and_s2v_nodes_still_refuse_where_comfyui_fails(registry):
    (vace,) = _size_diags("WanVaceToVideo", 840, registry)
    assert vace.severity is Severity.ERROR and "VACE" in vace.message
    (s2v,) = _size_diags("WanSoundImageToVideo", 840, registry)  # 105 latent columns: odd
    assert s2v.severity is Severity.ERROR and "S2V" in s2v.message
    (even,) = _size_diags("WanSoundImageToVideo", 836, registry)  # 104: whole patches, no mismatch
    assert even.severity is Severity.WARNING


def test_wrapper_nodes_still_refuse(registry):
    (diag,) = _size_diags("WanVideoEmptyEmbeds", 840, registry)
    assert diag.severity is Severity.ERROR and "use 832 or 848" in diag.hint


@torch.no_grad()
def test_vace_model_on_an_odd_latent_is_refused_by_name(ctx):
    (vace,) = node("UNETLoader")(ctx, unet_name="wan2.1_vace_1.3B_tiny_fp16.safetensors", weight_dtype="default")
    text = _text(vace)
    x = torch.randn(1, 16, 2, 7, 9)
    with pytest.raises(NodeInputError) as err:
        WanPredictor(vace, text, text, "cpu")(x, torch.tensor([600.0]), "cond")
    assert err.value.input_name == "positive" and "VACE" in str(err.value) and "9x7" in str(err.value)
    even = WanPredictor(vace, text, text, "cpu")(torch.randn(1, 16, 2, 8, 10), torch.tensor([600.0]), "cond")
    assert even.shape == (1, 16, 2, 8, 10)


def test_smoke_run_of_a_core_workflow_at_a_size_not_a_multiple_of_16(tmp_path):
    """ComfyUI's image-to-video template with WanImageToVideo set (``--set`` outlives
    ``--smoke``'s caps) to 120x72: latent sides 15 x 9, both odd. The run samples, decodes
    the latent's 8x size and writes the video; the estimate counts padded patches."""
    from click.testing import CliRunner

    from conftest import CORPUS
    from wfrun.cli import main
    from wfrun.media.video import iter_frames

    path = CORPUS / "templates" / "image_to_video_wan.json"
    args = ["run", str(path), "--smoke", "--device", "cpu", "--format", "json", "-o", str(tmp_path / "out"),
            "--set", "50.width=120", "--set", "50.height=72"]
    env = {"WFRUN_CACHE": str(tmp_path / "cache")}
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["estimate"]["max_tokens"] == 3 * 5 * 8  # 9 frames -> 3 latents; 9x15 padded to 10x16
    (video,) = (tmp_path / "out").rglob("*.mp4")
    frames = list(iter_frames(video))
    assert len(frames) == 9 and frames[0].shape[:2] == (72, 120)
