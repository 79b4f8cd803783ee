"""The Wan transformer families, told apart by their patch embedding's input channels and
the parts they carry (a CLIP projection ``img_emb``, FLF2V's ``img_emb.emb_pos``, VACE
blocks), and what each needs from the sampler.

Input channels (``patch_embedding.weight`` is ``[dim, in_channels, 1, 2, 2]``): T2V and VACE
take 16 latent channels; I2V, FLF2V and Fun-InP 36 (16 noise + 4 mask + 16 image latents);
Fun-Control 48 (16 noise + 16 control + 16 image latents) and Fun-Camera 32. Wan 2.2's
TI2V-5B also takes 48 channels, but its latents are 48 wide and it has no CLIP projection:
the channel count alone would read it as Fun-Control, which is why detection matches whole
families here instead of numbers elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Conditioning = Literal["text", "image", "control", "camera", "vace", "image-latent"]


@dataclass(frozen=True)
class TransformerFamily:
    """One family of Wan transformers and what it needs from the sampler."""

    task: str                 # the short name detection reports: t2v, i2v, flf2v, …
    label: str                # for people
    in_channels: int          # patch embedding input channels
    latent_channels: int      # channels of the latents it denoises (and of its output)
    clip_projection: bool | None  # carries ``img_emb`` (CLIP vision tokens); None: either way
    conditioning: Conditioning
    image_optional: bool = False  # an image-conditioned family that may run with an empty one
    runs: bool = True         # wfrun can sample it

    @property
    def takes_image_latents(self) -> bool:
        """Whether the sampler concatenates mask and image latents to the noise (36 channels)."""
        return self.conditioning == "image"


TRANSFORMER_FAMILIES: tuple[TransformerFamily, ...] = (
    TransformerFamily("t2v", "Wan 2.1 text-to-video", 16, 16, False, "text"),
    TransformerFamily("vace", "Wan 2.1 VACE", 16, 16, False, "vace", runs=False),
    TransformerFamily("i2v", "Wan 2.1 image-to-video", 36, 16, True, "image"),
    TransformerFamily("flf2v", "Wan 2.1 first-last-frame-to-video", 36, 16, True, "image"),
    TransformerFamily("fun-inp", "Wan 2.1 Fun InP", 36, 16, True, "image", image_optional=True),
    TransformerFamily("fun-control", "Wan 2.1 Fun Control", 48, 16, True, "control"),
    TransformerFamily("fun-camera", "Wan 2.1 Fun Camera", 32, 16, None, "camera", runs=False),
    TransformerFamily("ti2v-5b", "Wan 2.2 TI2V-5B", 48, 48, False, "image-latent", runs=False),
)

_BY_TASK = {f.task: f for f in TRANSFORMER_FAMILIES}


def transformer_family(task: str) -> TransformerFamily | None:
    """The family detection named ``task`` (None for one wfrun does not know)."""
    return _BY_TASK.get(task)


def classify_transformer(in_channels: int, out_channels: int, clip_projection: bool, first_last: bool,
                         vace_blocks: bool, dim: int, file_name: str) -> str:
    """The family's task for a transformer with these parts, or ``in<N>[-image]`` when no
    family fits. Fun-InP and I2V have the same parts: Fun-InP is the 1.3B one, or says
    ``fun`` and ``inp`` in its name."""
    candidates = [f for f in TRANSFORMER_FAMILIES
                  if f.in_channels == in_channels and f.clip_projection in (clip_projection, None)
                  and f.latent_channels == out_channels]
    if vace_blocks:
        candidates = [f for f in candidates if f.conditioning == "vace"]
    else:
        candidates = [f for f in candidates if f.conditioning != "vace"]
    if len(candidates) > 1 and all(f.conditioning == "image" for f in candidates):
        name = file_name.lower()
        if first_last:
            return "flf2v"
        return "fun-inp" if dim == 1536 or ("fun" in name and "inp" in name) else "i2v"
    if len(candidates) == 1:
        return candidates[0].task
    return f"in{in_channels}" + ("-image" if clip_projection else "")


def conditioning_by_channels(in_channels: int) -> Conditioning | None:
    """What a transformer with ``in_channels`` inputs is conditioned on, when every family of
    that width agrees (16: text; 36: image) — for callers that only have the patch embedding."""
    kinds = {f.conditioning for f in TRANSFORMER_FAMILIES if f.in_channels == in_channels and f.runs}
    return kinds.pop() if len(kinds) == 1 else None


@dataclass(frozen=True)
class SamplerChannels:
    """How a sampler fills a transformer's input channels, in this order: the noisy latents,
    the control latents (Fun control; 0 otherwise), then the image conditioning (mask and
    image latents for image families; Fun control's image latents). Text-only: 16, 0, 0."""

    latent: int
    control: int
    image: int


def sampler_channels(in_channels: int) -> SamplerChannels | None:
    """The channel layout of the runnable families with ``in_channels`` inputs, when they
    agree on their conditioning and latent width (None otherwise)."""
    conditioning = conditioning_by_channels(in_channels)
    latents = {f.latent_channels for f in TRANSFORMER_FAMILIES if f.in_channels == in_channels and f.runs}
    if conditioning is None or len(latents) != 1:
        return None
    latent = latents.pop()
    control = latent if conditioning == "control" else 0
    return SamplerChannels(latent, control, in_channels - latent - control)
