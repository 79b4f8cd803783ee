"""VACE on the wrapper's path: WanVideoVACEModelSelect and the loader's module merge,
WanVideoVACEEncode, WanVideoVACEStartToEndFrame and the sampler's hints.

References are independent of the code under test: ComfyUI's WanVaceToVideo (wfrun's core
pack, which follows the same official VACE code) for the context, the official mask fold
written out pixel by pixel, diffusers' ``WanVACETransformer3DModel.forward`` for the hints,
the pack's StartToEndFrame rules written out as expected tensors, and the all-in-one file
for the split one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from node_helpers import node
from run_helpers import CORPUS_WAN
from wfrun.models.detect import detect
from wfrun.models.header import CheckpointError
from wfrun.models.load import load_transformer
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny import transformer_weights, vace_module_weights
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import ImageEmbeds, TextEmbeds, VaceEmbeds, VacePath
from wfrun.packs.wanvideo.vace import fold_mask
from wfrun.sampling import loop
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample

vace_encode = node("WanVideoVACEEncode")
start_to_end = node("WanVideoVACEStartToEndFrame")
SEED = 1234


# --- the split file -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def split_files(tmp_path_factory) -> dict[str, Path]:
    """The same tiny VACE model as one file (original names) and as a ComfyUI-layout T2V
    model plus a separate module (original names, as Kijai's modules are)."""
    root = tmp_path_factory.mktemp("vace-split")
    folder = root / "diffusion_models"
    folder.mkdir()
    whole = {k: v.to(torch.bfloat16) for k, v in transformer_weights("vace", SEED).items()}
    main = {f"model.diffusion_model.{k}": v.to(torch.bfloat16) for k, v in transformer_weights("t2v", SEED).items()}
    module = {k: v.to(torch.bfloat16) for k, v in vace_module_weights(SEED).items()}
    i2v = {k: v.to(torch.bfloat16) for k, v in transformer_weights("i2v", SEED).items()}
    meta = {"wfrun.num_heads": "2"}
    paths = {"root": root}
    for name, sd in (("whole", whole), ("main", main), ("module", module), ("i2v", i2v)):
        paths[name] = folder / f"{name}_tiny_bf16.safetensors"
        save_file(sd, str(paths[name]), metadata=meta)
    return paths


def test_module_file_is_detected_as_a_vace_module(split_files):
    info = detect(split_files["module"])
    assert info.kind == "wan_vace_module" and info.config["vace_layers"] == 2 and info.config["vace_in_dim"] == 96
    assert set(vace_module_weights(SEED)) == {k for k in transformer_weights("vace", SEED) if k.startswith("vace_")}


def test_module_passes_the_preflight_of_a_diffusion_models_input(split_files):
    from wfrun.models.preflight import check_model_file

    assert check_model_file(split_files["module"], "diffusion_models").kind == "wan_vace_module"


def test_split_files_load_the_same_weights_as_the_all_in_one_file(split_files):
    whole = load_transformer(split_files["whole"], dtype=torch.float32)
    split = load_transformer(split_files["main"], dtype=torch.float32, vace_modules=(split_files["module"],))
    assert type(split).__name__ == "WanVACETransformer3DModel" == type(whole).__name__
    assert split.config.vace_layers == whole.config.vace_layers == [0, 1]
    a, b = whole.state_dict(), split.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=0, msg=key)


def test_module_alone_or_on_an_image_model_is_refused(split_files):
    with pytest.raises(CheckpointError, match="is a VACE module"):
        load_transformer(split_files["module"])
    with pytest.raises(CheckpointError, match="text-to-video"):
        load_transformer(split_files["i2v"], vace_modules=(split_files["module"],))
    with pytest.raises(CheckpointError, match="not a VACE module"):
        load_transformer(split_files["main"], vace_modules=(split_files["whole"],))


def test_model_loader_takes_the_module_select_as_vace_model_or_extra_model(split_files):
    ctx = ExecContext(models=ModelRoots.from_options(str(split_files["root"])))
    (path,) = node("WanVideoVACEModelSelect")(ctx, vace_model="module_tiny_bf16.safetensors")
    assert isinstance(path, VacePath) and [p.resolve() for p in path.paths] == [split_files["module"].resolve()]
    loader = node("WanVideoModelLoader")
    for name in ("vace_model", "extra_model"):
        (model,) = loader(ctx, model="main_tiny_bf16.safetensors", base_precision="fp32", quantization="disabled",
                          load_device="main_device", **{name: path})
        assert model.model_type == "t2v" and len(model.transformer.vace_blocks) == 2
    with pytest.raises(NodeInputError) as err:
        loader(ctx, model="i2v_tiny_bf16.safetensors", base_precision="fp32", quantization="disabled",
               load_device="main_device", vace_model=path)
    assert err.value.input_name == "model" and "VACE only works with text-to-video" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        loader(ctx, model="module_tiny_bf16.safetensors", base_precision="fp32", quantization="disabled",
               load_device="main_device")
    assert err.value.input_name == "model" and "VACE module" in str(err.value)


def test_module_select_gets_a_module_standin():
    from wfrun.models.standins import family_for

    standin = family_for("WanVideoVACEModelSelect", "vace_model", "diffusion_models",
                         "WanVideo\\Wan2_1-VACE_module_14B_fp8_e4m3fn.safetensors")
    assert standin.family.kind == "wan_vace_module"


# --- WanVideoVACEEncode ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def vaes(ctx):
    (wrapper,) = node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")
    (core,) = node("VAELoader")(ctx, vae_name="Wan2_1_VAE_tiny_fp32.safetensors")
    return wrapper, core


def _binary(*shape: int, seed: int) -> torch.Tensor:
    """0/1 pixels: exact through ComfyUI's 8-bit lanczos round trip, which the pack always takes."""
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


@pytest.mark.parametrize("with_ref", [False, True])
def test_encode_equals_core_wan_vace_to_video(ctx, vaes, with_ref):
    from wfrun.packs.comfy_core_models.latent_format import latent_format

    wrapper_vae, core_vae = vaes
    frames, masks = _binary(9, 32, 48, 3, seed=1), _binary(9, 32, 48, seed=2)
    ref = _binary(1, 32, 48, 3, seed=3) if with_ref else None
    (embeds,) = vace_encode(ctx, vae=wrapper_vae, width=48, height=32, num_frames=9, strength=0.8,
                            vace_start_percent=0.1, vace_end_percent=0.9, input_frames=frames, input_masks=masks,
                            ref_images=ref)
    cond = [[torch.zeros(1, 4, 8), {}]]
    pos, _neg, latent, trim = node("WanVaceToVideo")(ctx, positive=cond, negative=cond, vae=core_vae, width=48,
                                                     height=32, length=9, batch_size=1, strength=0.8,
                                                     control_video=frames, control_masks=masks, reference_image=ref)
    values = pos[0][1]
    core_latents = latent_format(16).process_in(values["vace_frames"][0][:, :16])
    core_latents = torch.cat([core_latents, latent_format(16).process_in(values["vace_frames"][0][:, 16:])], dim=1)
    (vace,) = embeds.vace
    assert vace.context.shape == (96, 3 + int(with_ref), 4, 6)
    torch.testing.assert_close(vace.context[:32], core_latents[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(vace.context[32:], values["vace_mask"][0][0], rtol=0, atol=0)
    assert embeds.target_shape == (16, 3, 4, 6) and embeds.has_ref == with_ref == vace.has_ref
    assert latent["samples"].shape[2] == 3 + trim == 3 + int(with_ref)
    assert (vace.scale, vace.start_percent, vace.end_percent) == (0.8, 0.1, 0.9)


def test_mask_fold_is_the_official_per_pixel_layout():
    mask = torch.rand(9, 16, 24, generator=torch.Generator().manual_seed(5))
    folded = fold_mask(mask, ref_frames=1)
    assert folded.shape == (64, 4, 2, 3)
    assert (folded[:, 0] == 0).all()
    for t_out in range(3):  # nearest-exact from 9 to 3 frames: source frame floor((t + 0.5) * 9 / 3)
        src = int((t_out + 0.5) * 9 / 3)
        for dy in range(8):
            for dx in range(8):
                expected = mask[src, dy::8, dx::8]
                assert torch.equal(folded[dy * 8 + dx, 1 + t_out], expected)


def test_encode_defaults_chain_and_reference_padding(ctx, vaes):
    wrapper_vae, _ = vaes
    (first,) = vace_encode(ctx, vae=wrapper_vae, width=40, height=36, num_frames=5, strength=1.0,
                           vace_start_percent=0.0, vace_end_percent=1.0)
    # the size is rounded down to 16s; no frames: zeros (grey) everywhere, an all-ones mask
    assert first.target_shape == (16, 2, 4, 4) and first.vace[0].context.shape == (96, 2, 4, 4)
    assert (first.vace[0].context[32:] == 1).all()
    torch.testing.assert_close(first.vace[0].context[:16], first.vace[0].context[16:32])
    (second,) = vace_encode(ctx, vae=wrapper_vae, width=32, height=32, num_frames=5, strength=0.5,
                            vace_start_percent=0.0, vace_end_percent=0.5, prev_vace_embeds=first)
    (third,) = vace_encode(ctx, vae=wrapper_vae, width=32, height=32, num_frames=5, strength=0.25,
                           vace_start_percent=0.0, vace_end_percent=1.0, prev_vace_embeds=second,
                           ref_images=torch.ones(1, 16, 32, 3))
    # the pack's order: this input, the earlier ones' additional inputs, then the earlier one
    assert [v.scale for v in third.vace] == [0.25, 1.0, 0.5]
    assert third.has_ref and not second.has_ref
    with pytest.raises(NodeInputError) as err:
        vace_encode(ctx, vae=wrapper_vae, width=32, height=32, num_frames=5, strength=1.0, vace_start_percent=0.0,
                    vace_end_percent=1.0, input_frames=torch.zeros(5, 32, 32, 3), input_masks=torch.ones(3, 32, 32))
    assert err.value.input_name == "input_masks"


def test_reference_is_padded_with_white_to_the_video_aspect():
    from wfrun.packs.wanvideo.vace import reference_frame

    wide = torch.zeros(1, 16, 64, 3)  # 4:1 into a 2:1 video: white bands above and below
    frame = reference_frame(wide, 64, 32)
    assert frame.shape == (3, 1, 32, 64)
    assert (frame[:, 0, :8] == 1).all() and (frame[:, 0, -8:] == 1).all() and (frame[:, 0, 8:24] == -1).all()
    two = reference_frame(torch.zeros(2, 32, 32, 3), 64, 32)  # two refs side by side fill a 2:1 frame
    assert (two == -1).all()


# --- the sampler's hints ---------------------------------------------------------------------

def tiny_vace():
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(0)
    return WanVACETransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16,
                                     in_channels=16, out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48,
                                     num_layers=2, cross_attn_norm=True, vace_layers=[0, 1],
                                     vace_in_channels=96).eval()


def text():
    g = torch.Generator().manual_seed(3)
    return TextEmbeds(prompt_embeds=(torch.randn(7, 24, generator=g),),
                      negative_prompt_embeds=(torch.randn(5, 24, generator=g),))


def vace_embeds(*entries: VaceEmbeds, frames=9, size=32) -> ImageEmbeds:
    t = (frames - 1) // 4 + 1
    return ImageEmbeds(num_frames=frames, target_shape=(16, t, size // 8, size // 8), vace=entries,
                       has_ref=any(e.has_ref for e in entries))


def context(frames=3, seed=7, size=4):
    return torch.randn(96, frames, size, size, generator=torch.Generator().manual_seed(seed))


def record_forwards(monkeypatch) -> list:
    calls = []
    real = loop.transformer_forward

    def recording(transformer, z, t, ctx, clip, options):
        out = real(transformer, z, t, ctx, clip, options)
        calls.append((z.clone(), t.clone(), ctx.clone(), options, out[0].clone()))
        return out

    monkeypatch.setattr(loop, "transformer_forward", recording)
    return calls


@torch.no_grad()
def test_hints_equal_diffusers_vace_forward(monkeypatch):
    model = tiny_vace()
    calls = record_forwards(monkeypatch)
    c = context()
    req = SamplingRequest(transformer=model, image_embeds=vace_embeds(VaceEmbeds(c, 0.7)), text_embeds=text(),
                          steps=2, cfg=4.0, shift=5.0, seed=1, scheduler="unipc")
    sample(req)
    assert len(calls) == 4
    for z, t, ctx, options, out in calls:
        assert [s for _, s in options.vace] == [0.7]
        expected = model(z, t, ctx, control_hidden_states=c.unsqueeze(0),
                         control_hidden_states_scale=torch.full((2,), 0.7), return_dict=False)[0]
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    without = model(calls[0][0], calls[0][1], calls[0][2], control_hidden_states=c.unsqueeze(0),
                    control_hidden_states_scale=torch.zeros(2), return_dict=False)[0]
    assert not torch.allclose(without, calls[0][4], atol=1e-3)  # the hints do change the prediction


@torch.no_grad()
def test_each_input_acts_in_its_step_window_with_its_strength(monkeypatch):
    model = tiny_vace()
    calls = record_forwards(monkeypatch)
    early = VaceEmbeds(context(seed=1), 0.5, start_percent=0.0, end_percent=0.3)
    late = VaceEmbeds(context(seed=2), (0.1, 0.2, 0.3, 0.4), start_percent=0.5, end_percent=1.0)
    req = SamplingRequest(transformer=model, image_embeds=vace_embeds(early, late), text_embeds=text(), steps=4,
                          cfg=1.0, shift=5.0, seed=1, scheduler="unipc")
    sample(req)
    # one call per step (cfg 1): percent 0, .25, .5, .75
    assert [[s for _, s in call[3].vace] for call in calls] == [[0.5], [0.5], [0.3], [0.4]]


@torch.no_grad()
def test_reference_frame_adds_a_latent_and_shorter_contexts_get_zeros_in_front(monkeypatch):
    model = tiny_vace()
    calls = record_forwards(monkeypatch)
    seen = []
    hook = model.vace_blocks[0].register_forward_pre_hook(lambda mod, args: seen.append(args[2].clone()))
    with_ref = VaceEmbeds(context(frames=4, seed=1), 1.0, has_ref=True)
    no_ref = VaceEmbeds(context(frames=3, seed=2), 1.0)
    req = SamplingRequest(transformer=model, image_embeds=vace_embeds(with_ref, no_ref), text_embeds=text(),
                          steps=1, cfg=1.0, shift=5.0, seed=1, scheduler="unipc")
    out = sample(req)
    hook.remove()
    assert out["has_ref"] and out["samples"].shape[2] == 4 and calls[0][0].shape[2] == 4
    tokens = 4  # (32/8/2)^2 per latent frame
    padded = seen[1][0]  # the second context, 3 frames, for a 4-frame video
    assert (padded[:tokens] == 0).all()
    embedded = model.vace_patch_embedding(no_ref.context.unsqueeze(0)).flatten(2).transpose(1, 2)[0]
    torch.testing.assert_close(padded[tokens:], embedded)


@torch.no_grad()
def test_context_windows_cut_each_context_and_keep_the_reference_first(monkeypatch):
    from wfrun.packs.wanvideo.types import ContextOptions, SamplerOptions

    model = tiny_vace()
    calls = record_forwards(monkeypatch)
    c = context(frames=6, seed=3)  # a reference frame and 5 video latents (17 frames)
    options = SamplerOptions(context=ContextOptions(context_frames=9, context_stride=4, context_overlap=4,
                                                    freenoise=False))
    req = SamplingRequest(transformer=model, image_embeds=vace_embeds(VaceEmbeds(c, 1.0, has_ref=True), frames=17),
                          text_embeds=text(), steps=1, cfg=1.0, shift=5.0, seed=1, scheduler="unipc", options=options)
    sample(req)
    assert len(calls) > 1
    for z, _t, _ctx, opts, _out in calls:
        (part, _), = opts.vace
        part = part[0]
        assert part.shape[1] == z.shape[2] == 3
        torch.testing.assert_close(part[:, 0], c[:, 0])  # the reference, whatever the window
        starts = [j for j in range(1, 5) if torch.equal(part[:, 1:], c[:, j:j + 2])]
        assert starts, "the rest of the window is a run of the context's frames"


def test_vace_embeds_without_a_vace_model_are_refused():
    from diffusers import WanTransformer3DModel

    model = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16,
                                  out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=2)
    req = SamplingRequest(transformer=model, image_embeds=vace_embeds(VaceEmbeds(context(), 1.0)), text_embeds=text(),
                          steps=1, cfg=1.0, shift=5.0, seed=1, scheduler="unipc")
    with pytest.raises(SamplingError, match="VACE model"):
        sample(req)


# --- WanVideoVACEStartToEndFrame ----------------------------------------------------------

def test_start_and_end_frames_with_grey_between_and_zero_masks_on_them(ctx):
    start, end = torch.full((1, 8, 16, 3), 0.2), torch.full((2, 8, 16, 3), 0.9)
    images, masks = start_to_end(ctx, num_frames=9, empty_frame_level=0.5, start_image=start, end_image=end)
    expected = torch.full((9, 8, 16, 3), 0.5)
    expected[0], expected[7:] = 0.2, 0.9
    expected_masks = torch.ones(9, 8, 16)
    expected_masks[0] = expected_masks[7:] = 0
    assert torch.equal(images, expected) and torch.equal(masks, expected_masks)


def test_indices_control_images_and_inpaint_mask(ctx):
    start = torch.full((1, 8, 8, 3), 0.1)
    control = torch.stack([torch.full((8, 8, 3), i / 10) for i in range(4)])
    inpaint = torch.zeros(2, 8, 8)
    inpaint[1] = 1
    images, masks = start_to_end(ctx, num_frames=6, empty_frame_level=0.0, start_image=start,
                                 end_image=torch.full((1, 8, 8, 3), 0.7), control_images=control,
                                 inpaint_mask=inpaint, start_index=2, end_index=-2)
    # start at 2, end at 6-2=4; control frames fill the empty ones it has (0, 1, 3); 5 stays level 0
    assert [round(float(images[i].mean()), 4) for i in range(6)] == [0.0, 0.1, 0.1, 0.3, 0.7, 0.0]
    # the inpaint mask (repeated to 6 frames: 0,1,0,1,0,1) times the anchors' zeros
    assert [float(masks[i].mean()) for i in range(6)] == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]


def test_control_images_alone_are_cut_or_padded(ctx):
    control = torch.full((3, 8, 8, 3), 0.25)
    images, masks = start_to_end(ctx, num_frames=5, empty_frame_level=0.5, control_images=control)
    assert images.shape == (5, 8, 8, 3) and (images[:3] == 0.25).all() and (images[3:] == 0.5).all()
    assert masks.shape == (5, 8, 8) and (masks == 0).all()
    with pytest.raises(NodeInputError):
        start_to_end(ctx, num_frames=5, empty_frame_level=0.5)


# --- the pack's examples ---------------------------------------------------------------------

#: The pack's VACE examples as saved, under ``--smoke``: 01 (an all-in-one VACE model, a
#: reference image padded by ImagePadKJ, whose 256 px are capped for the small stand-in image)
#: and 03 (a VACE module, start and end frames).
EXAMPLES = {
    "2025-04-06_131dad0_wanvideo_1_3B_VACE_examples_01": ([], {"WanVideoVACEEncode"}),
    "2025-06-13_ad43eed_wanvideo_1_3B_VACE_examples_03": ([], {"WanVideoVACEModelSelect", "WanVideoVACEEncode",
                                                              "WanVideoVACEStartToEndFrame"}),
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_pack_vace_examples_run_with_smoke(name, tmp_path):
    from wfrun.jobs.run import RunOptions, run_file

    overrides, nodes = EXAMPLES[name]
    report = run_file(CORPUS_WAN / f"{name}.json", RunOptions(output_dir=tmp_path / "out", device="cpu", smoke=True,
                                                              overrides=overrides))
    assert not report.result.interrupted and report.result.written
    executed = {report.prepared.graph.node(n).class_type for n in report.result.executed}
    assert nodes | {"WanVideoModelLoader", "WanVideoSampler", "WanVideoDecode"} <= executed
