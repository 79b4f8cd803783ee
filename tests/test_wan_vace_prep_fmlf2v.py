"""WanFMLF2V / WanFirstLastMiddleFrameToVideo on the tiny Wan 2.1 VAE: the mask slots worked
by hand, the concat latent against VAEEncode of the grey video assembled here, the CLIP
vision outputs joined in start, middle, end order."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.types import ClipVisionOutput


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def vae(ctx):
    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def frames(count: int, value: float) -> torch.Tensor:
    return torch.full((count, 32, 32, 3), value)


@pytest.mark.parametrize("class_type", ["WanFMLF2V", "WanFirstLastMiddleFrameToVideo"])
def test_mask_and_concat_latent(ctx, vae, class_type):
    positive = [[torch.zeros(1, 512, 8), {}]]
    start, middle, end = frames(1, 0.1), frames(2, 0.3), frames(1, 0.9)
    pos, neg, latent = node(class_type)(ctx, positive=positive, negative=positive, vae=vae, width=32, height=32,
                                        length=17, batch_size=1, start_image=start, middle_image=middle,
                                        end_image=end, middle_frame=0.5)
    assert latent["samples"].shape == (1, 16, 5, 4, 4) and not latent["samples"].any()
    # 17 frames, 5 latents, 20 slots; frame i in slot i + 3. start: slots 0..3; middle starts at
    # (0.5 * 17) // 4 * 4 = 8, frames 8 and 9 -> slots 11, 12; end: frame 16 -> slot 19
    slots = torch.ones(20)
    slots[[0, 1, 2, 3, 11, 12, 19]] = 0
    mask = pos[0][1]["concat_mask"]
    assert mask.shape == (1, 4, 5, 4, 4)
    assert torch.equal(mask[0, :, :, 0, 0].transpose(0, 1).reshape(-1), slots)
    video = torch.full((17, 32, 32, 3), 0.5)
    video[0], video[8:10], video[16] = 0.1, 0.3, 0.9
    (want,) = node("VAEEncode")(ctx, pixels=video, vae=vae)
    assert torch.allclose(pos[0][1]["concat_latent_image"], want["samples"], atol=1e-5)
    assert neg[0][1]["concat_mask"] is mask and "clip_vision_output" not in pos[0][1]


def test_middle_frame_at_the_end_is_clamped_and_clip_outputs_join(ctx, vae):
    positive = [[torch.zeros(1, 512, 8), {}]]
    a, b = ClipVisionOutput(torch.zeros(1, 3, 4)), ClipVisionOutput(torch.ones(1, 2, 4))
    pos, _, _ = node("WanFMLF2V")(ctx, positive=positive, negative=positive, vae=vae, width=32, height=32,
                                  length=9, batch_size=1, middle_image=frames(3, 0.2), middle_frame=1.0,
                                  clip_vision_start_image=a, clip_vision_end_image=b)
    # begin = min((1.0 * 9) // 4 * 4, 8) = 8: one frame fits, slot 11 (the last)
    slots = torch.ones(12)
    slots[11] = 0
    assert torch.equal(pos[0][1]["concat_mask"][0, :, :, 0, 0].transpose(0, 1).reshape(-1), slots)
    joined = pos[0][1]["clip_vision_output"]
    assert isinstance(joined, ClipVisionOutput) and joined.penultimate_hidden_states.shape == (1, 5, 4)
    assert joined.penultimate_hidden_states[0, 3:].eq(1).all()


def test_a_wrong_vae_names_the_input(ctx):
    with pytest.raises(NodeInputError) as err:
        node("WanFMLF2V")(ctx, positive=[], negative=[], vae="vae")
    assert err.value.input_name == "vae"
