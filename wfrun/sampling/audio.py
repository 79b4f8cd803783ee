"""FantasyTalking's audio cross-attention in the transformer's blocks, as the wrapper adds it
to its cross-attention (``WanI2VCrossAttention.forward``, ``wanvideo/modules/model.py``,
2025-04-28 to 2025-07):

    q = norm_q(q(x))                                  (the text attention's own query)
    x_text = attention(q, text) + attention(q, CLIP image tokens)
    audio  = per latent frame f: attention(q of f's tokens, k_proj(w_f), v_proj(w_f))
    out    = o(x_text + audio_scale * audio)

where ``w_f`` is latent frame ``f``'s window of audio tokens (``models.fantasytalking``). No
rotary embedding, no norm on the audio keys. The attention runs over all of a window's
tokens, the zeros it was filled up with included, as the pack's default ``sdpa`` (and
``sageattn``) do; only the pack's flash-attention modes mask the fill with the windows'
lengths, and so does wfrun when the loader's ``attention_mode`` is a flash one.

:class:`AudioCrossAttention` is a hook on a block's ``attn2`` attached for a sampling pass
(``sampling.hooks.sampling_pass(audio=True)``); each call's audio comes from the pass's
running :class:`~wfrun.sampling.forward.ForwardOptions` (``audio``: a
:class:`FantasyAudio`, or None for a call without audio: the pack's no-audio passes of audio
CFG). The hook runs ``attn2`` as it is — the plain processor, NAG's or the split prompts'
— and adds ``o(scale * audio) - o(0)``, which is the pack's ``o(x + scale * audio) - o(x)``
for the linear ``o``: the audio term composes with every cross-attention variant at the cost
of one more query and one more output projection per block (about 2 of a block's ~11
matrix products of that size) in the calls that carry audio.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from diffusers.hooks import ModelHook
from torch import nn

from wfrun.models.fantasytalking import AUDIO_K, AUDIO_V
from wfrun.sampling import context_parallel

#: diffusers backends of the loader's flash-attention modes, which mask the windows' fill.
MASKING_BACKENDS = ("flash", "_flash_3", "flash_varlen", "_flash_varlen_3")


@dataclass(frozen=True)
class FantasyAudio:
    """FantasyTalking's audio for the sampler: ``tokens`` ``[1, F, L, C]`` (a window per latent
    frame), ``lens`` ``[F]`` (the audio tokens of each window, the rest is fill), the
    ``scale`` of the audio term and the audio CFG scale of each step (``cfg``)."""

    tokens: torch.Tensor
    lens: torch.Tensor
    scale: float = 1.0
    cfg: Sequence[float] = ()

    @property
    def frames(self) -> int:
        return int(self.tokens.shape[1])

    def frames_of(self, window: Sequence[int]) -> "FantasyAudio":
        """The windows of the latent frames ``window`` (a context window)."""
        index = torch.as_tensor(list(window), dtype=torch.long)
        return replace(self, tokens=self.tokens[:, index.to(self.tokens.device)], lens=self.lens[index])


def audio_attention(attn: Any, hidden_states: torch.Tensor, audio: FantasyAudio, masked: bool = False,
                    backend: Any = None) -> torch.Tensor:
    """The audio term before the output projection, ``[B, S, dim]`` (unscaled): each latent
    frame's ``S / F`` video tokens attend to that frame's window. ValueError when the tokens
    do not split into the audio's frames."""
    from diffusers.models.attention_dispatch import dispatch_attention_fn

    batch, seq, _ = hidden_states.shape
    frames = audio.frames
    if seq % frames:
        raise ValueError(f"{seq} video tokens do not split into the audio's {frames} latent frames")
    heads = attn.heads
    query = attn.norm_q(attn.to_q(hidden_states))
    query = query.unflatten(2, (heads, -1)).reshape(batch * frames, seq // frames, heads, -1)
    tokens = audio.tokens.to(query.device, query.dtype)
    key = getattr(attn, AUDIO_K)(tokens)
    value = getattr(attn, AUDIO_V)(tokens)
    if key.shape[0] != batch:
        key, value = key.expand(batch, *key.shape[1:]), value.expand(batch, *value.shape[1:])
    window = key.shape[2]
    key = key.reshape(batch * frames, window, heads, -1)
    value = value.reshape(batch * frames, window, heads, -1)
    if masked:
        valid = torch.arange(window, device=query.device)[None] < audio.lens.to(query.device)[:, None]  # [F, L]
        mask = valid.repeat(batch, 1)[:, None, None, :]
        out = F.scaled_dot_product_attention(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2),
                                             attn_mask=mask).transpose(1, 2)
    else:
        out = dispatch_attention_fn(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                    backend=backend)
    return out.reshape(batch, seq, -1).type_as(hidden_states)


def added_output(attn: Any, term: torch.Tensor) -> torch.Tensor:
    """``o(term) - o(0)``: what adding ``term`` before the output projection adds after it."""
    linear = attn.to_out[0]
    return linear(term) - linear(torch.zeros_like(term[:, :1]))


class AudioCrossAttention(ModelHook):
    """The audio term on one block's ``attn2`` for the calls of the pass that carry audio."""

    def __init__(self, owner: Any, masked: bool = False):
        super().__init__()
        self.owner = owner  # the pass (sampling.hooks.SamplingPass): its running call's values
        self.masked = masked

    def new_forward(self, module: nn.Module, hidden_states: torch.Tensor, encoder_hidden_states: Any = None,
                    attention_mask: Any = None, rotary_emb: Any = None, **kwargs: Any) -> torch.Tensor:
        out = self.fn_ref.original_forward(hidden_states, encoder_hidden_states, attention_mask, rotary_emb, **kwargs)
        call = self.owner.call
        audio = getattr(call, "audio", None) if call is not None else None
        if audio is None:
            return out
        if context_parallel.active() is not None:
            raise context_parallel.ContextParallelError(
                "FantasyTalking's audio attention is not supported with --gpus (each latent frame attends to its "
                "own audio window): run on one GPU")
        backend = getattr(module.processor, "_attention_backend", None)
        term = audio_attention(module, hidden_states, audio, self.masked, backend)
        return out + added_output(module, term * audio.scale).to(out.dtype)


def block_has_audio_maps(block: Any) -> bool:
    """Whether a block's cross-attention has FantasyTalking's audio maps (``models.fantasytalking.attach``)."""
    attn = getattr(block, "attn2", None)
    return attn is not None and getattr(attn, AUDIO_K, None) is not None
