"""Per-forward features as hooks attached to the transformer for one sampling pass.

``with sampling_pass(transformer, slg=..., teacache=..., on_block=..., control=...) as p:``
registers diffusers ``ModelHook`` objects (``models/module_hooks.py``) for the features the
pass uses, and removes them on exit, also when the pass raises, leaving the module as it
was (same ``vars``, same ``state_dict``). Their state lives in the hook objects:

- :class:`SamplingPass` on the transformer (``PASS``): the pass itself. It holds the
  per-call values of the forward now running (``call``: step, step percent, uncond; set by
  :func:`wfrun.sampling.forward.transformer_forward`) for the block hooks, and the
  TeaCache state of all the pass's predictions (``teacache``).
- :class:`SkipLayerGuidance` on each block SLG names (``SLG``): skips the block (returns
  its input) in uncond calls inside ``[start_percent, end_percent]``.
- :class:`BlockProbe` on each block (``PROBE``): calls ``on_block(index)`` when the block
  runs (tests and benchmarks count block calls with it); registered before SLG's hook, so a
  skipped block is not counted.
- the control LoRA (``module_hooks.CONTROL_LORA``, attached with the model): switched off
  when the pass ends, so a cached model is reused as loaded.
- :class:`~wfrun.sampling.audio.AudioCrossAttention` on each block's ``attn2`` that has
  FantasyTalking's audio maps (``AUDIO``, a pass with ``audio=True``): adds the audio
  cross-attention to the calls whose ``ForwardOptions.audio`` is set (the wrapper's
  ``fantasytalking_embeds``); masked by the windows' lengths under a flash backend, as the
  pack's flash modes do.
- :class:`SelfAttentionOverride` on each block an
  :class:`~wfrun.sampling.attention.AttentionOverride` names (``ATTENTION_OVERRIDE``): inside
  its steps, the block's self-attention runs with the override's backend (the wrapper's
  ``attention_mode_override``, which reaches the blocks' ``self_attn`` only).
- :class:`CompileWhenItPays` on the transformer's ``patch_embedding`` (``COMPILE``: it runs
  once per forward), for a pass that says how many forwards it will run: times the first
  forward and compiles the repeated blocks for the rest when that saves more than it costs
  (``models.compile.compile_pays``; ``wfrun run --compile``). The compiled blocks stay
  compiled after the pass.

What the pass does not own: block streaming (``models/block_stream.py``) is attached with
the model's placement and stays across passes; attention processors for FETA, split
prompts and NAG (``ForwardOptions.nag``, :mod:`wfrun.sampling.nag`) are swapped per call
inside the forward, since NAG guides some calls of a pass (the cond ones) and not others.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Callable, Iterator

from diffusers.hooks import ModelHook
import torch
from torch import nn

from wfrun.models import module_hooks
from wfrun.models.compile import compile_blocks, compile_pays, current_policy, is_compiled
from wfrun.sampling.attention import AttentionOverride
from wfrun.sampling.audio import MASKING_BACKENDS, AudioCrossAttention, block_has_audio_maps
from wfrun.sampling.conditioning import SLGArgs

log = logging.getLogger(__name__)

PASS = "wfrun.sampling_pass"
SLG = "wfrun.slg"
PROBE = "wfrun.block_probe"
COMPILE = "wfrun.compile_when_it_pays"
AUDIO = "wfrun.fantasytalking_audio"
ATTENTION_OVERRIDE = "wfrun.attention_override"
FFN_CHUNKS = "wfrun.ffn_chunks"


class SamplingPass(ModelHook):
    """The pass's state on the transformer: the running call's values and TeaCache."""

    _is_stateful = True

    def __init__(self, teacache: Any = None):
        super().__init__()
        self.teacache = teacache
        self.call: Any = None  # the ForwardOptions of the forward now running

    def reset_state(self, module: nn.Module) -> nn.Module:
        self.call = None
        return module


class SkipLayerGuidance(ModelHook):
    """SLG on one block: in an *uncond* call whose step percent is inside the window, the
    block returns its input unchanged (the pack skips it in its block loop)."""

    def __init__(self, owner: SamplingPass, slg: SLGArgs):
        super().__init__()
        self.owner = owner
        self.slg = slg

    @torch.compiler.disable
    def skips(self) -> bool:
        """Decided outside compiled code: traced, the call's ``is_uncond`` and ``step_percent``
        became guards of the compiled block, which compiled again at the second step (the
        first float seen again as another value) and where the window opened and closed (the
        end-frame job's steps 1, 5 and 17: 0.3-0.7 s each, bench/RESULTS.md, session 24).
        Opaque to the compiler, the block compiles once for each answer."""
        call = self.owner.call
        return call is not None and bool(call.is_uncond) and \
            self.slg.start_percent <= call.step_percent <= self.slg.end_percent

    def new_forward(self, module: nn.Module, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
        if self.skips():
            return hidden_states
        return self.fn_ref.original_forward(hidden_states, *args, **kwargs)


class SelfAttentionOverride(ModelHook):
    """On one block: while the running call's step is inside the override's steps, its
    self-attention processor (``attn1``) dispatches to the override's backend; the backend it
    had is put back after the block."""

    def __init__(self, owner: SamplingPass, override: AttentionOverride, index: int):
        super().__init__()
        self.owner = owner
        self.override = override
        self.index = index
        self.saved: list[Any] = []

    @torch.compiler.disable
    def _active(self) -> bool:
        """Whether the override applies to the running call, decided outside compiled code
        (as :meth:`SkipLayerGuidance.skips`: no guard on the step number)."""
        call = self.owner.call
        return call is not None and self.override.active(call.step)

    def pre_forward(self, module: nn.Module, *args: Any, **kwargs: Any):
        call = self.owner.call
        processor = getattr(getattr(module, "attn1", None), "processor", None)
        if processor is not None and self._active():
            self.saved.append((processor, getattr(processor, "_attention_backend", None)))
            processor._attention_backend = self.override.backend
            if self.override.verbose and self.index == min(self.override.blocks or (0,)):
                log.info("attention override: %s at step %d", self.override.backend, call.step)
        return args, kwargs

    def post_forward(self, module: nn.Module, output: Any) -> Any:
        while self.saved:
            processor, backend = self.saved.pop()
            processor._attention_backend = backend
        return output


class BlockProbe(ModelHook):
    """Calls ``on_block(index)`` before block ``index`` runs."""

    def __init__(self, index: int, on_block: Callable[[int], None]):
        super().__init__()
        self.index = index
        self.on_block = on_block

    def pre_forward(self, module: nn.Module, *args: Any, **kwargs: Any):
        self.on_block(self.index)
        return args, kwargs


class FeedForwardChunks(ModelHook):
    """KJNodes' WanChunkFeedForward on one block's ``ffn``: a token sequence longer than
    ``threshold`` goes through the feed-forward in ``chunks`` pieces along the token axis
    and is joined again. The feed-forward works on each token alone, so the output is the
    whole sequence's; only the hidden activation (13,824 wide on a 14B) is held for one
    piece at a time, which lowers the step's peak memory."""

    def __init__(self, chunks: int, threshold: int):
        super().__init__()
        self.chunks = int(chunks)
        self.threshold = int(threshold)

    def new_forward(self, module: nn.Module, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        forward = self.fn_ref.original_forward
        if hidden_states.shape[1] <= self.threshold:
            return forward(hidden_states, *args, **kwargs)
        return torch.cat([forward(piece, *args, **kwargs) for piece in hidden_states.chunk(self.chunks, dim=1)], dim=1)


class CompileWhenItPays(ModelHook):
    """Compiles the transformer's repeated blocks before its second forward when the
    forwards left would pay for it at the first one's measured time, or before the first
    under ``--compile on``. Only a model wholly on one CUDA device compiles: blocks that
    stream from the host (block swap) run as they are."""

    def __init__(self, transformer: nn.Module, planned: int, policy: str, clock: Callable[[], float] | None = None,
                 sync: Callable[[], None] | None = None, compile_now: Callable[[nn.Module], bool] | None = None):
        super().__init__()
        self.transformer = transformer
        self.planned = int(planned)
        self.policy = policy
        self.calls = 0
        self.started: float | None = None
        self.decided = False
        self._clock = clock or time.perf_counter
        self._sync = sync or _cuda_sync
        self._compile = compile_now or _compile_on_its_device

    def pre_forward(self, module: nn.Module, *args: Any, **kwargs: Any):
        self.calls += 1
        if not self.decided:
            if self.policy == "on":
                self._decide("--compile on")
            elif self.calls == 1:
                self._sync()
                self.started = self._clock()
            elif self.calls == 2 and self.started is not None:
                self._sync()
                forward_s = self._clock() - self.started
                remaining = self.planned - 1
                if compile_pays(remaining, forward_s):
                    self._decide(f"a forward takes {forward_s:.2f} s and {remaining} are left")
                else:
                    self.decided = True
        return args, kwargs

    def _decide(self, why: str) -> None:
        self.decided = True
        if self._compile(self.transformer):
            log.info("compiling the transformer's blocks (%s; `wfrun run --compile off` runs eagerly)", why)


def _compile_on_its_device(module: nn.Module) -> bool:
    """Compile ``module``'s blocks where all its parameters are on one CUDA device."""
    device = _only_device(module)
    return device is not None and compile_blocks(module, device)


def _only_device(module: nn.Module) -> Any:
    """The one device all of ``module``'s parameters are on, else None."""
    devices = {p.device for p in module.parameters()}
    return devices.pop() if len(devices) == 1 else None


def _cuda_sync() -> None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _active_backend() -> Any:
    """diffusers' process-wide attention backend (``set_attention_backend`` sets it as well as
    the model's processors; ``reset_attention_backend`` resets only the processors)."""
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    return _AttentionBackendRegistry.get_active_backend()[0]


def _restore_active_backend(backend: Any) -> None:
    """Put diffusers' process-wide backend back as the pass found it: left as the pass set it,
    the next model without an attention choice of its own (the next workflow of a
    ``wfrun run`` with several, a ``--gpus`` check) would silently use this one's."""
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    _AttentionBackendRegistry.set_active_backend(backend)


def active_pass(transformer: Any) -> SamplingPass | None:
    """The sampling pass attached to ``transformer``, or None outside one."""
    return module_hooks.find(transformer, PASS)


@contextlib.contextmanager
def sampling_pass(transformer: Any, *, slg: SLGArgs | None = None, teacache: Any = None,
                  on_block: Callable[[int], None] | None = None, control: Any = None,
                  attention: str = "native", forwards: int | None = None,
                  audio: bool = False, attention_override: AttentionOverride | None = None,
                  ffn_chunks: tuple[int, int] | None = None) -> Iterator[SamplingPass]:
    """Attach the pass's hooks to ``transformer`` and remove them when the block ends.

    A ``transformer`` that is not an ``nn.Module`` with ``blocks`` (a test's stand-in) gets
    no hooks; the pass object is still yielded. ``control`` (a control LoRA's switch, with
    ``set(enabled)``) is switched off at the end. ``attention`` (a diffusers attention
    backend: the loader's ``attention_mode``) holds for this pass only, through diffusers'
    ``set_attention_backend``/``reset_attention_backend``, so a model shared by several
    samplers runs each with its own choice and is left as loaded. ``forwards`` (the pass's
    planned transformer calls) lets :class:`CompileWhenItPays` weigh compiling; a pass with a
    step cache (``teacache``) runs fewer full forwards than planned and is not weighed.
    ``audio``: the blocks with FantasyTalking's audio maps get the audio cross-attention.
    ``attention_override``: another backend for some blocks' self-attention at some steps.
    ``ffn_chunks``: (chunks, token threshold) for every block's feed-forward
    (:class:`FeedForwardChunks`)."""
    state = SamplingPass(teacache)
    attached: list[tuple[Any, str]] = []
    hookable = isinstance(transformer, nn.Module) and hasattr(transformer, "blocks")
    backend_before = None
    try:
        if hookable and attention != "native" and hasattr(transformer, "set_attention_backend"):
            backend_before = _active_backend()
            transformer.set_attention_backend(attention)
        if hookable:
            module_hooks.attach(transformer, PASS, state)
            attached.append((transformer, PASS))
            policy = current_policy()
            embedding = getattr(transformer, "patch_embedding", None)
            if forwards and teacache is None and policy != "off" and not is_compiled(transformer) and \
                    isinstance(embedding, nn.Module):
                module_hooks.attach(embedding, COMPILE, CompileWhenItPays(transformer, forwards, policy))
                attached.append((embedding, COMPILE))
            skip = {int(b) for b in slg.blocks} if slg is not None else set()
            for index, block in enumerate(transformer.blocks):
                if on_block is not None:
                    module_hooks.attach(block, PROBE, BlockProbe(index, on_block))
                    attached.append((block, PROBE))
                if index in skip:
                    module_hooks.attach(block, SLG, SkipLayerGuidance(state, slg))
                    attached.append((block, SLG))
                if attention_override is not None and (attention_override.blocks is None
                                                       or index in attention_override.blocks):
                    module_hooks.attach(block, ATTENTION_OVERRIDE, SelfAttentionOverride(state, attention_override, index))
                    attached.append((block, ATTENTION_OVERRIDE))
                if ffn_chunks is not None and ffn_chunks[0] > 1 and isinstance(getattr(block, "ffn", None), nn.Module):
                    module_hooks.attach(block.ffn, FFN_CHUNKS, FeedForwardChunks(*ffn_chunks))
                    attached.append((block.ffn, FFN_CHUNKS))
                if audio and block_has_audio_maps(block):
                    module_hooks.attach(block.attn2, AUDIO, AudioCrossAttention(state, attention in MASKING_BACKENDS))
                    attached.append((block.attn2, AUDIO))
        yield state
    finally:
        try:
            if control is not None:
                control.set(False)  # a cached model is reused as loaded
        finally:
            for module, name in reversed(attached):
                module_hooks.detach(module, name)
            if backend_before is not None:
                transformer.reset_attention_backend()
                _restore_active_backend(backend_before)
