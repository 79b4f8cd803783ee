"""The Wan transformer families, told apart by their patch embedding's input channels, the
width of the latents they denoise, and the parts they carry, and what each needs from the
sampler.

Every released Wan transformer is the same ``WanModel`` backbone (``patch_embedding.weight``
is ``[dim, in_channels, 1, 2, 2]``, ``head.head`` gives ``4 * latent_channels``) plus some of:

- ``img_emb`` — the CLIP ViT-H projection (Wan 2.1 I2V/FLF2V/Fun; no Wan 2.2 model has it),
  with ``img_emb.emb_pos`` (two images' tokens) for FLF2V;
- ``vace_patch_embedding`` + ``vace_blocks`` — VACE (96 context channels: inactive and
  reactive video latents, 16 + 16, and the 8x8 mask folded into 64);
- ``control_adapter`` — Fun Camera's Plücker-ray adapter (24 channels per pixel, folded
  by the VAE stride and patched like the latents);
- ``ref_conv`` — Fun 1.1 / Wan 2.2 Fun Control's reference-image patch embedding;
- ``fps`` — SkyReels-V2's sample-info embedding (``fps_embedding``, ``fps_projection``:
  one of two learned vectors, "16 fps" or not, projected to six modulation vectors added
  to every frame's time projection). Only the 1.3B diffusion-forcing release carries it;
  its 14B releases are plain T2V backbones. The wrapper uses it in its diffusion-forcing
  sampler only;
- ``recam`` — ReCamMaster's camera layers in every block (``cam_encoder``: the 12 numbers
  of a latent frame's relative camera pose to the model width, added to the self-attention
  input; ``projector``: a linear after the self-attention output);
- ``animate`` — Wan 2.2 Animate's parts: ``pose_patch_embedding`` (the pose video's
  latents, added to the patch embedding of every frame but the first), ``motion_encoder``
  (a StyleGAN-like encoder of 512x512 face crops to motion vectors), ``face_encoder`` (a
  causal 1-D conv stack over time) and ``face_adapter.fuser_blocks`` (a cross-attention of
  each latent frame's tokens to that frame's face tokens, after every fifth block);
- ``s2v`` — Wan 2.2 S2V's speech parts (:mod:`wfrun.models.s2v_parts`): ``casual_audio_encoder``
  (wav2vec2 layers weighted and run through causal 1-D convs to a few audio tokens per
  latent frame, plus a global one), ``audio_injector`` (per-frame cross-attention of the
  video tokens to those audio tokens after some blocks, with an AdaIN of the global token),
  ``frame_packer`` (the previous chunk's last 19 latents patched at three scales),
  ``trainable_cond_mask`` (three learned vectors telling video, reference and motion
  tokens apart) and ``cond_encoder`` (a pose/control video's latents, added to the patch
  embedding);
- ``humo`` — HuMo's audio parts (:mod:`wfrun.models.humo_parts`): ``audio_proj`` (windows
  of Whisper features to a few audio tokens per latent frame) and an audio cross-attention
  in every block (``blocks.N.audio_cross_attn_wrapper``, each latent frame's tokens attending
  to that frame's audio tokens). HuMo 17B is a Wan 2.1 T2V 14B backbone taking 2L + 4 input
  channels as I2V does (noise, 4 mask channels, image latents; no CLIP), HuMo 1.7B a 1.3B one
  taking L; the reference image's tokens follow the video's in the sequence;
- ``causal_ar`` — not a module but a mark in the file's metadata (``config``:
  ``{"transformer": {"causal_ar": true}}``, as the Causal Forcing repack carries it): the
  weights are a plain Wan 2.1 T2V backbone trained for autoregressive, frame-by-frame
  denoising with a KV cache (ComfyUI ``WAN21_CausalAR_T2V`` / ``CausalWanModel``, sampled
  by its ``ar_video`` sampler; other samplers run it as a bidirectional T2V, as there);
- ``no_text`` — not a module but one missing: MiniMax-Remover (a video object remover
  trained from the Wan 2.1 1.3B backbone) has no text embedding and no cross-attention in
  its blocks (nor their ``norm3``); each block is self-attention then feed-forward. Its 48
  input channels are the noisy latents, the (masked) video's latents and the mask video's
  latents, 16 each (the wrapper's ``no_cross_attn`` model type, told by the missing
  ``text_embedding.0.weight``; the original ``Transformer3DModel`` of zibojia/MiniMax-Remover).

Input channels are the noise latents plus what the sampler concatenates (L = latent
channels): T2V and VACE take L; I2V, FLF2V and Fun-InP 2L + 4 (noise, 4 mask channels,
image latents); Wan 2.1 Fun-Control 3L (noise, control, image latents); Wan 2.2 Fun-Control
3L + 4 (noise, control, mask, image latents: ComfyUI's ``Wan22FunControlToVideo`` puts the
mask at index 16); Wan 2.1 Fun-Camera 2L; Wan 2.2 Fun-Camera 2L + 4; Wan 2.2 Animate 2L + 4
(noise, mask, reference and background latents, as I2V; with CLIP, as Wan 2.1 I2V). Wan 2.2's TI2V-5B and
its Fun models denoise L = 48 latents of the Wan 2.2 VAE. Sources: ComfyUI
``comfy/model_detection.py``, ``comfy/ldm/wan/model.py``, ``comfy_extras/nodes_wan.py``;
VideoX-Fun's ``WanTransformer3DModel``; DiffSynth-Studio's table of released configs
(Wan2.2-I2V-A14B 36 in/no CLIP; Wan2.2-Fun-A14B-Control 52 with ``ref_conv``;
Wan2.2-Fun-A14B-Control-Camera 36 with ``control_adapter``; Wan2.1-Fun-V1.1 Control-Camera
32 with CLIP). The 5B Fun widths follow the same rules with L = 48 (100 and 148).

Some families have exactly the same parts: Wan 2.1 I2V and Fun-InP, Wan 2.2 I2V A14B and
Fun-InP A14B, Wan 2.1 T2V 14B and Wan 2.2 T2V A14B. Only the file name (or, for Fun-InP
1.3B, the width) tells them apart, so each such family carries a ``name_pattern``.

Wan 2.2 A14B is a pair of experts (``high_noise``/``low_noise``) of one family; a workflow
samples them with two sampler nodes, so each file is one model here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Conditioning = Literal["text", "image", "control", "camera", "vace", "image-latent", "animate", "s2v", "humo",
                       "remover"]

#: Optional parts a transformer file may carry beyond the backbone (see the module docs).
PARTS = ("emb_pos", "vace", "control_adapter", "ref_conv", "fps", "recam", "animate", "s2v", "humo", "causal_ar",
         "no_text")

#: The metadata mark of a causal (autoregressive) Wan model: ComfyUI reads the file's
#: ``config`` JSON and picks ``WAN21_CausalAR_T2V`` when its transformer says this.
CAUSAL_AR_CONFIG = {"transformer": {"causal_ar": True}}

#: The top-level modules of Wan 2.2 Animate's part (ComfyUI ``AnimateWanModel``).
ANIMATE_MODULES = ("pose_patch_embedding", "motion_encoder", "face_encoder", "face_adapter")
#: Animate runs one face adapter after every this many blocks (0, 5, 10, …).
ANIMATE_FACE_EVERY = 5
#: The face crops Animate's motion encoder takes (pixels a side).
ANIMATE_FACE_SIZE = 512

#: The top-level modules of Wan 2.2 S2V's part (ComfyUI ``WanModel_S2V``; the official
#: ``wan/modules/s2v/model_s2v.py``).
S2V_MODULES = ("casual_audio_encoder", "audio_injector", "frame_packer", "trainable_cond_mask", "cond_encoder")
#: The blocks after which S2V's audio injectors run, in injector order. Files do not record
#: them; ComfyUI and the official config (``wan_s2v_14B.py``) fix this list, and a model with
#: fewer blocks simply never reaches the later entries.
S2V_INJECT_LAYERS = (0, 4, 8, 12, 16, 20, 24, 27, 30, 33, 36, 39)
#: Audio feature frames per latent frame (wav2vec2 features resampled to the 4 pixel frames
#: a latent frame holds; the encoder's two stride-2 convs bring them back to one).
S2V_AUDIO_PER_LATENT = 4
#: The motion latents the frame packer reads, nearest first: 1 patched 1x2x2, 2 patched
#: 2x4x4, 16 patched 4x8x8 (ComfyUI ``zip_frame_buckets``), and where their RoPE frames start.
S2V_MOTION_BUCKETS = (1, 2, 16)
S2V_MOTION_FRAMES = sum(S2V_MOTION_BUCKETS)

#: The top-level module of HuMo's part (ComfyUI ``HumoWanModel``; its per-block
#: ``audio_cross_attn_wrapper`` lives inside the blocks).
HUMO_MODULES = ("audio_proj",)
#: Whisper feature frames a latent frame sees, and the layer groups of each (ComfyUI's
#: ``AudioProjModel(seq_len=8, blocks=5)``: the means of layers 0-7, 8-15, 16-23, 24-31, and
#: the last hidden state).
HUMO_AUDIO_WINDOW, HUMO_AUDIO_GROUPS = 8, 5

#: VACE's context channels: inactive + reactive video latents (16 + 16) and the 8x8 mask (64).
VACE_CONTEXT_CHANNELS = 96
#: Fun Camera's Plücker embedding: 24 numbers per pixel (ComfyUI ``in_dim_control_adapter``).
CAMERA_CHANNELS = 24

_WAN22 = r"wan[-_. ]?2[-_. ]?2|wan22"
_FUN_INP = r"fun.*inp|inp.*fun"


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
    runs: bool = True         # wfrun can sample it (its forward, with the conditioning it needs)
    generation: str = "2.1"   # Wan 2.1 or 2.2
    parts: frozenset[str] = frozenset()           # parts it always carries (``PARTS``)
    optional_parts: frozenset[str] = frozenset()  # parts some of its releases carry
    name_pattern: str | None = None  # picks it among families with the same parts (file name)
    widths: tuple[int, ...] = ()     # …or the only family with these parts at these widths
    samples_as: str = ""      # the Wan 2.1 task whose sampler inputs it takes ("": its own)
    diffusers_class: str | None = "WanTransformer3DModel"  # None: diffusers has no module for it
    #: ComfyUI's sampling shift for it (its supported-models entry's ``sampling_settings``);
    #: None: Wan's default (8.0, ``sampling.ksampler.WAN_DEFAULT_SHIFT``).
    shift: float | None = None

    @property
    def takes_image_latents(self) -> bool:
        """Whether the sampler concatenates mask and image latents to the noise (2L + 4 channels)."""
        return self.conditioning == "image"

    @property
    def vae(self) -> str:
        """The VAE family of its latents (``families.wan_vae``)."""
        return "wan2.2" if self.latent_channels == 48 else "wan2.1"

    @property
    def camera_downscale(self) -> int:
        """Pixels per latent of the VAE, which Fun Camera's adapter folds into channels."""
        return 16 if self.latent_channels == 48 else 8

    def accepts(self, in_channels: int, latent_channels: int, clip_projection: bool, parts: frozenset[str]) -> bool:
        """Whether a transformer with these shapes and parts is of this family."""
        return (self.in_channels == in_channels and self.latent_channels == latent_channels
                and self.clip_projection in (clip_projection, None)
                and self.parts <= parts <= self.parts | self.optional_parts)


def _f(*args, **kw) -> TransformerFamily:
    for key in ("parts", "optional_parts"):
        if key in kw:
            kw[key] = frozenset(kw[key])
    return TransformerFamily(*args, **kw)


TRANSFORMER_FAMILIES: tuple[TransformerFamily, ...] = (
    # Wan 2.1: 16 latent channels, CLIP projection on the image-conditioned ones
    _f("t2v", "Wan 2.1 text-to-video", 16, 16, False, "text"),
    _f("t2v-causal", "Causal Forcing / Self-Forcing (Wan 2.1 T2V, autoregressive with a KV cache)", 16, 16, False,
       "text", parts={"causal_ar"}, samples_as="t2v", shift=5.0),
    _f("t2v-fps", "SkyReels-V2 DF 1.3B (Wan 2.1 T2V with an fps embedding)", 16, 16, False, "text",
       parts={"fps"}, samples_as="t2v"),
    _f("recammaster", "ReCamMaster (Wan 2.1 T2V with camera layers)", 16, 16, False, "text", parts={"recam"},
       samples_as="t2v"),
    _f("vace", "Wan 2.1 VACE", 16, 16, False, "vace", parts={"vace"},
       diffusers_class="WanVACETransformer3DModel"),
    _f("i2v", "Wan 2.1 image-to-video", 36, 16, True, "image"),
    _f("flf2v", "Wan 2.1 first-last-frame-to-video", 36, 16, True, "image", parts={"emb_pos"}),
    _f("fun-inp", "Wan 2.1 Fun InP", 36, 16, True, "image", image_optional=True, name_pattern=_FUN_INP,
       widths=(1536,)),
    _f("fun-control", "Wan 2.1 Fun Control", 48, 16, True, "control", optional_parts={"ref_conv"}),
    _f("fun-camera", "Wan 2.1 Fun Camera", 32, 16, True, "camera", parts={"control_adapter"}),
    # Wan 2.2 A14B (one expert of the high/low-noise pair): Wan 2.1 VAE latents, no CLIP
    _f("t2v-a14b", "Wan 2.2 T2V A14B", 16, 16, False, "text", generation="2.2", name_pattern=_WAN22,
       samples_as="t2v"),
    _f("i2v-a14b", "Wan 2.2 I2V A14B", 36, 16, False, "image", generation="2.2", samples_as="i2v"),
    _f("fun-inp-a14b", "Wan 2.2 Fun InP A14B", 36, 16, False, "image", image_optional=True, generation="2.2",
       name_pattern=_FUN_INP, samples_as="fun-inp"),
    _f("fun-control-a14b", "Wan 2.2 Fun Control A14B", 52, 16, False, "control", generation="2.2",
       optional_parts={"ref_conv"}),
    _f("fun-camera-a14b", "Wan 2.2 Fun Camera A14B", 36, 16, False, "camera", generation="2.2",
       parts={"control_adapter"}),
    # Wan 2.2 Animate 14B: a Wan 2.1 I2V backbone (CLIP included) plus its pose and face parts
    _f("animate-14b", "Wan 2.2 Animate 14B", 36, 16, True, "animate", generation="2.2", parts={"animate"},
       diffusers_class="WanAnimateTransformer3DModel"),
    # Wan 2.2 S2V 14B: a Wan 2.1 T2V backbone (no CLIP) plus its audio, reference and motion parts
    _f("s2v-14b", "Wan 2.2 S2V 14B (speech to video)", 16, 16, False, "s2v", generation="2.2", parts={"s2v"}),
    # HuMo: a Wan 2.1 T2V backbone plus its audio projection and per-block audio attention; the
    # 17B (14B backbone) takes I2V-like mask and image channels (no CLIP), the 1.7B (1.3B) none
    _f("humo-17b", "HuMo 17B (human video from text, image and audio)", 36, 16, False, "humo", parts={"humo"}),
    _f("humo-1.7b", "HuMo 1.7B (human video from text, image and audio)", 16, 16, False, "humo", parts={"humo"}),
    # MiniMax-Remover: a Wan 2.1 1.3B backbone without text, its input the noise, video and mask latents
    _f("minimax-remover", "MiniMax-Remover (Wan 2.1 1.3B video object remover, no text)", 48, 16, False, "remover",
       parts={"no_text"}),
    # Wan 2.2 5B: 48-channel latents of the Wan 2.2 VAE
    _f("ti2v-5b", "Wan 2.2 TI2V-5B", 48, 48, False, "image-latent", generation="2.2"),
    _f("fun-inp-5b", "Wan 2.2 Fun InP 5B", 100, 48, False, "image", image_optional=True,
       generation="2.2"),
    _f("fun-control-5b", "Wan 2.2 Fun Control 5B", 148, 48, False, "control", generation="2.2",
       optional_parts={"ref_conv"}),
    _f("fun-camera-5b", "Wan 2.2 Fun Camera 5B", 100, 48, False, "camera", generation="2.2",
       parts={"control_adapter"}),
)

_BY_TASK = {f.task: f for f in TRANSFORMER_FAMILIES}

#: Model sizes by width, for variant names (``i2v-14B-480P``).
SIZES = {1536: "1.3B", 3072: "5B", 5120: "14B"}


def transformer_family(task: str) -> TransformerFamily | None:
    """The family detection named ``task`` (None for one wfrun does not know)."""
    return _BY_TASK.get(task)


def pick_family(in_channels: int, out_channels: int, clip_projection: bool, parts: frozenset[str] | set[str],
                dim: int, file_name: str) -> TransformerFamily | None:
    """The family of a transformer with these shapes and parts; among families with the same
    parts, the one whose name pattern the file name matches, else the one of that width,
    else the one without a pattern."""
    parts = frozenset(parts)
    candidates = [f for f in TRANSFORMER_FAMILIES if f.accepts(in_channels, out_channels, clip_projection, parts)]
    if len(candidates) > 1:
        name = file_name.lower()
        named = [f for f in candidates if f.name_pattern and re.search(f.name_pattern, name)]
        wide = [f for f in candidates if dim in f.widths]
        plain = [f for f in candidates if not f.name_pattern]
        candidates = named or wide or plain
    return candidates[0] if len(candidates) == 1 else None


def classify_transformer(in_channels: int, out_channels: int, clip_projection: bool, first_last: bool,
                         vace_blocks: bool, dim: int, file_name: str, parts: frozenset[str] | set[str] = frozenset(),
                         ) -> str:
    """The family's task for a transformer with these parts, or ``in<N>[-image]`` when no
    family fits. ``parts`` names any further parts (``control_adapter``, ``ref_conv``)."""
    found = set(parts) | ({"emb_pos"} if first_last else set()) | ({"vace"} if vace_blocks else set())
    family = pick_family(in_channels, out_channels, clip_projection, frozenset(found), dim, file_name)
    if family is not None:
        return family.task
    return f"in{in_channels}" + ("-image" if clip_projection else "")


def task_from_name(name: str) -> str | None:
    """The family a release's file name implies (``wan2.2_i2v_high_noise_14B_fp8_scaled`` →
    ``i2v-a14b``), or None when the name says no task. Used for stand-ins, where the name is
    all there is; detection goes by the file's parts."""
    name = name.replace("\\", "/").lower()
    wan22 = re.search(_WAN22, name) is not None
    size = "5b" if re.search(r"(?<![\d.])5b", name) else "a14b"
    if re.search(r"minimax[-_ ]?remover", name):
        return "minimax-remover"
    if "vace" in name:
        return "vace"
    if re.search(r"wan[-_ ]?move", name):  # Wan-Move: a Wan 2.1 I2V 14B fine-tune, no parts of its own
        return "i2v"
    if re.search(r"animate[-_ ]?2(?![.\d])", name):  # Wan Animate 2: Wan 2.1 I2V 14B's shapes, no parts of its own
        return "i2v"
    if re.search(r"animate", name) and wan22:
        return "animate-14b"
    if re.search(r"s2v", name) and wan22:
        return "s2v-14b"
    if re.search(r"causal[-_ ]?forcing", name):  # Causal Forcing's ComfyUI repack, which carries the mark
        return "t2v-causal"
    if re.search(r"humo", name):
        return "humo-1.7b" if re.search(r"1[._]7b", name) else "humo-17b"
    if "ti2v" in name:
        return "ti2v-5b"
    if "flf2v" in name or "fl2v" in name:
        return "flf2v"
    base = None
    if "fun" in name and "camera" in name:
        base = "fun-camera"
    elif "fun" in name and "control" in name:
        base = "fun-control"
    elif "fun" in name and "inp" in name:
        base = "fun-inp"
    elif "i2v" in name or re.search(r"skyreels[-_ ]?a2", name):
        base = "i2v"
    elif "recammaster" in name:
        return "recammaster"
    elif re.search(r"skyreels.*df.*1[._]3b", name):  # the only DF release with the fps embedding
        return "t2v-fps"
    elif re.search(r"t2v|phantom|recammaster|skyreels|mocha", name):  # MoCha: a Wan 2.1 T2V 14B fine-tune
        base = "t2v"
    elif wan22 and size == "5b":
        return "ti2v-5b"
    if base is None:
        return None
    return f"{base}-{size}" if wan22 else base


def _by_channels(in_channels: int, latent_channels: int) -> list[TransformerFamily]:
    """Runnable families a caller holding only the patch embedding can mean: VACE, camera,
    Animate, S2V and HuMo models are told by the modules they carry, MiniMax-Remover by the
    text embedding it lacks, not by their channels."""
    return [f for f in TRANSFORMER_FAMILIES if f.in_channels == in_channels and f.latent_channels == latent_channels
            and f.runs and f.conditioning not in ("vace", "camera", "animate", "s2v", "humo", "remover")]


def conditioning_by_channels(in_channels: int, latent_channels: int = 16) -> Conditioning | None:
    """What a transformer with ``in_channels`` inputs (denoising ``latent_channels``) is
    conditioned on, when every such family agrees (16: text; 36: image; 48: Fun control) —
    for callers that only have the patch embedding."""
    kinds = {f.conditioning for f in _by_channels(in_channels, latent_channels)}
    return kinds.pop() if len(kinds) == 1 else None


@dataclass(frozen=True)
class SamplerChannels:
    """How a sampler fills a transformer's input channels, in this order: the noisy latents,
    the control latents (Fun control; 0 otherwise), then the image conditioning (mask and
    image latents for image families; Fun control's image latents). Text-only: 16, 0, 0."""

    latent: int
    control: int
    image: int


def sampler_channels(in_channels: int, latent: int = 16) -> SamplerChannels | None:
    """The channel layout of the families with ``in_channels`` inputs denoising ``latent``
    channels (see :func:`conditioning_by_channels`), when they agree (None otherwise)."""
    conditioning = conditioning_by_channels(in_channels, latent)
    if conditioning is None:
        return None
    control = latent if conditioning == "control" else 0
    return SamplerChannels(latent, control, in_channels - latent - control)


def camera_sampler_channels(in_channels: int, latent: int = 16) -> SamplerChannels | None:
    """The channel layout of a Fun-Camera family with ``in_channels`` inputs (its camera
    comes through ``control_adapter``, not channels: the noisy latents, then the image
    conditioning), or None when no camera family has that width."""
    if not any(f.conditioning == "camera" and f.in_channels == in_channels and f.latent_channels == latent
               for f in TRANSFORMER_FAMILIES):
        return None
    return SamplerChannels(latent, 0, in_channels - latent)
