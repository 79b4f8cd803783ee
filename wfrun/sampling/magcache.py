"""MagCache (Zehong-Ma/MagCache): skip the transformer blocks while the calibrated output
magnitude says they would change little, reusing the residual of the last blocks that ran.

The rule, the same in both places it appears: for each prediction (positive, negative, each
context window) a state holds ``ratio`` (1), ``err`` (0) and ``steps`` (0). On a step where
the cache decides, the step's entry of the model's ratio table (:mod:`.magcache_ratios`)
multiplies ``ratio``, ``steps`` grows by one and ``|1 - ratio|`` is added to ``err``; while
``err <= magcache_thresh`` and ``steps <= magcache_K`` the blocks are skipped and their input
plus the residual (blocks' output minus input) of the last call that ran them is used;
otherwise the state goes back to (1, 0, 0) and the blocks run. The table is read, not
interpolated: only which entry a step reads differs between the two packs.

- **WanVideoWrapper** (:class:`MagCache`, ``WanVideoMagCache`` → ``cache_args``; the pack's
  ``wanvideo/modules/model.py`` from ad43eed, 2025-06-13, unchanged to 2026-05): steps
  ``start_step..end_step`` (-1: the last); the first call of a prediction in that range
  runs the blocks and opens its state; later ones decide. Every prediction reads entry
  ``int(step * ((len(table) // 2) / 50))`` — the sampler never passes the model its step
  count, so the model's default of 50 stands, and the interleaved table is indexed as if it
  were one entry a step, the same entry for the positive and the negative prediction.
  Arithmetic in float64 (numpy). The table comes from the model file (the pack's loader):
  the TeaCache variant (1.3B by width, I2V 480/720 by file name, else 14B), and from
  2025-09-16 a file name with "high" or "low" takes the Wan 2.2 tables ("i2v" in it: the
  I2V one). wfrun applies that last rule whatever the save date (the node's one signature
  cannot tell): a Wan 2.2 file sampled with the pack before 2025-09-16 read the 2.1 tables.
  Past the table's end (over 100 steps) the pack fails; wfrun says so before sampling.
- **ComfyUI-MagCache** (:class:`CoreMagCache`, the ``MagCache`` MODEL patch): decides on
  every call whose step (the KSampler's sigma position, as KJNodes finds it) is at or after
  ``int(steps * retention_ratio)`` and inside ``start_step..end_step`` (negative end: counted
  from ``steps``); other calls run the blocks and keep their residual. Its step is mapped
  onto the table's ``L = len(table) // 2`` steps: itself when the run has ``L`` steps, else
  ``int(step * ((L - 1) / (steps - 1)))``; the entry read is ``2 * mapped + position``, the
  position of the prompt in ComfyUI's batched call (negative first: 0, positive: 1; the
  positive alone at cfg 1.0: 0). The positive and negative prompt are decided together: if
  either state says skip, both skip (each with its own residual). States start fresh at
  step 0 when the negative prompt is run. Arithmetic in float32, as its torch table.

Differences, written down: ComfyUI batches the two prompts into one call when memory
allows; wfrun always runs two calls and applies the batched call's rule (entry positions,
joint decision). A SkipLayerGuidanceDiT pass and the CFG++ samplers' forced negative pass at
cfg 1.0 are other calls there; here the skip-layer pass is not cached and that negative pass
decides alone at position 0. Where a skip would find no residual yet (the first decided
call, when ``int(steps * retention_ratio)`` is 0), the core pack fails (7d4e982) or skips
the blocks with nothing added (from dc1f88e); wfrun runs the blocks. The core pack keeps its
states on the model between runs at cfg 1.0; wfrun starts each sampler run fresh. Its
one-step runs divide by zero in the mapping; wfrun reads the first entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from wfrun.sampling import magcache_ratios as R
from wfrun.sampling.cache_store import back, keep

log = logging.getLogger(__name__)

#: The wrapper's tables by its model variant names (``magcache_ratios_map``).
WRAPPER_RATIOS: dict[str, tuple[float, ...]] = {
    "1_3B": R.WAN21_T2V_1_3B, "14B": R.WAN21_T2V_14B, "i2v_480": R.WAN21_I2V_480P_14B,
    "i2v_720": R.WAN21_I2V_720P_14B, "14B_2.2": R.WAN22_TI2V_5B, "i2v_14B_2.2": R.WRAPPER_WAN22_I2V_14B,
}
#: The core node's ``model_type`` choices for Wan and their tables (the others — Flux,
#: Chroma, HunyuanVideo, Qwen-Image — are not Wan models).
CORE_RATIOS: dict[str, tuple[float, ...]] = {
    "wan2.1_t2v_1.3B": R.WAN21_T2V_1_3B, "wan2.1_t2v_14B": R.WAN21_T2V_14B,
    "wan2.1_i2v_480p_14B": R.WAN21_I2V_480P_14B, "wan2.1_i2v_720p_14B": R.WAN21_I2V_720P_14B,
    "wan2.1_vace_1.3B": R.WAN21_VACE_1_3B, "wan2.1_vace_14B": R.WAN21_T2V_14B,
    "wan2.2_t2v_14B": R.WAN22_T2V_14B, "wan2.2_ti2v_5B": R.WAN22_TI2V_5B, "wan2.2_i2v_14B": R.WAN22_I2V_14B,
}
#: The step count the wrapper's model assumes (its forward's ``total_steps`` default).
WRAPPER_TOTAL_STEPS = 50


class MagCacheError(ValueError):
    """A MagCache setting that cannot run; ``input_name`` is the input to blame."""

    def __init__(self, input_name: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.input_name = input_name
        self.hint = hint


@dataclass(frozen=True)
class MagCacheArgs:
    """CACHEARGS from WanVideoMagCache."""

    magcache_thresh: float
    magcache_K: int
    start_step: int
    end_step: int
    cache_device: str = "cpu"


@dataclass
class MagState:
    """One prediction's accumulators and its last residual."""

    ratio: Any = 1.0
    err: Any = 0.0
    steps: int = 0
    residual: torch.Tensor | None = None
    skip: bool = False
    skipped_steps: list[int] = field(default_factory=list)

    def reset(self) -> None:
        self.ratio, self.err, self.steps = 1.0, 0.0, 0


def accumulate(state: MagState, ratio: float, thresh: float, k: int, dtype: type = np.float64) -> bool:
    """Advance ``state`` by one table entry; True when the blocks may be skipped (the state
    is reset otherwise). ``dtype`` is the pack's arithmetic (float64 wrapper, float32 core)."""
    state.ratio = dtype(dtype(state.ratio) * dtype(ratio))
    state.steps += 1
    state.err = dtype(dtype(state.err) + dtype(abs(dtype(1.0) - state.ratio)))
    if state.err <= dtype(thresh) and state.steps <= int(k):
        return True
    state.reset()
    return False


def wrapper_index(step: int, table_len: int) -> int:
    """The entry the wrapper reads at ``step`` (see the module: its model's 50 steps)."""
    return int(step * ((table_len // 2) / WRAPPER_TOTAL_STEPS))


def core_step(step: int, steps: int, table_len: int) -> int:
    """The core pack's step on its table's own steps (``L = table_len // 2``)."""
    calibration = table_len // 2
    if steps == calibration:
        return step
    if steps < 2:
        return 0
    return int(step * ((calibration - 1) / (steps - 1)))


def wrapper_variant(teacache_variant: str, file_name: str) -> str:
    """The wrapper loader's MagCache table: its TeaCache variant, then Wan 2.2 by file name."""
    name = file_name.lower()
    if "high" in name or "low" in name:
        return "i2v_14B_2.2" if "i2v" in name else "14B_2.2"
    return teacache_variant


@dataclass
class MagCache:
    """The wrapper's MagCache for one sampling run (the forward's step-cache protocol:
    ``active``, ``decide``, ``reuse``, ``after_blocks``, ``after_step``)."""

    args: MagCacheArgs
    table: tuple[float, ...]
    end_step: int
    cache_device: str | torch.device = "cpu"
    states: dict[int, MagState] = field(default_factory=dict)

    @classmethod
    def create(cls, args: MagCacheArgs, num_timesteps: int, variant: str, cache_device: Any) -> "MagCache":
        table = WRAPPER_RATIOS[variant]
        end = num_timesteps - 1 if int(args.end_step) == -1 else int(args.end_step)
        last = min(end, num_timesteps - 1)
        if last >= int(args.start_step) and wrapper_index(last, len(table)) >= len(table):
            raise MagCacheError("cache_args", f"WanVideoMagCache's ratio table ({variant}) covers "
                                f"{len(table)} entries; step {last} would read past it",
                                "use fewer steps or set the MagCache end_step lower")
        return cls(args=args, table=table, end_step=end, cache_device=cache_device)

    def active(self, step: int) -> bool:
        return int(self.args.start_step) <= step <= self.end_step

    def new_prediction(self) -> int:
        pred_id = len(self.states)
        self.states[pred_id] = MagState()
        return pred_id

    def skipped_steps(self) -> dict[int, list[int]]:
        return {k: list(v.skipped_steps) for k, v in self.states.items()}

    def decide(self, pred_id: int | None, step: int, x: torch.Tensor, temb: torch.Tensor,
               proj: torch.Tensor) -> tuple[bool, int]:
        if pred_id is None or pred_id not in self.states:
            return True, self.new_prediction()
        ratio = self.table[wrapper_index(step, len(self.table))]
        skip = accumulate(self.states[pred_id], ratio, self.args.magcache_thresh, self.args.magcache_K)
        return not skip, pred_id

    def reuse(self, pred_id: int, step: int, x: torch.Tensor) -> torch.Tensor:
        state = self.states[pred_id]
        state.skipped_steps.append(step)
        return x + back(state.residual, x.device, x.dtype)

    def after_blocks(self, pred_id: int, original: torch.Tensor, x: torch.Tensor) -> None:
        self.states[pred_id].residual = keep(x - back(original, x.device), self.cache_device, owned=True)

    def after_step(self, pred_id: int, x: torch.Tensor) -> None:
        return None


@dataclass(frozen=True)
class CoreMagCacheSettings:
    """The core MagCache node's inputs, kept on the MODEL."""

    model_type: str
    magcache_thresh: float
    retention_ratio: float
    magcache_K: int
    start_step: int
    end_step: int


#: The prompts of the core samplers' calls this cache decides for.
ROLES = {"cond": 0, "uncond": 1}


class CoreMagCache:
    """The core MagCache for one sampler run over ``sigmas``: :meth:`wrap` the samplers'
    ``predict(x, timestep, which)`` (so the cache knows the prompt of each call) and attach
    the same object to the sampling pass as its step cache (see the module's rules)."""

    def __init__(self, settings: CoreMagCacheSettings, sigmas: torch.Tensor, runs_uncond: bool,
                 cache_device: Any = "cpu"):
        self.settings = settings
        self.table = np.asarray(CORE_RATIOS[settings.model_type], dtype=np.float32)
        self.steps = max(len(sigmas) - 1, 0)
        self.runs_uncond = bool(runs_uncond)
        self.cache_device = cache_device
        end = int(settings.end_step)
        self.end_step = self.steps + end if end < 0 else end
        self.first = int(self.steps * float(settings.retention_ratio))
        self.states = {role: MagState() for role in ROLES}
        self.role: str | None = None
        self.group: dict[str, bool] = {}  # the prompts still to come of the last call group → skip?
        self.calls = 0

    def wrap(self, predict: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]) -> Callable:
        def call(x: torch.Tensor, timestep: torch.Tensor, which: Any) -> torch.Tensor:
            self.role = which if isinstance(which, str) and which in ROLES else None
            try:
                return predict(x, timestep, which)
            finally:
                self.role = None
        return call

    def enabled(self, step: int) -> bool:
        return step >= self.first and int(self.settings.start_step) <= step <= self.end_step

    def active(self, step: int) -> bool:
        return self.role is not None

    def skipped_steps(self) -> dict[str, list[int]]:
        return {k: list(v.skipped_steps) for k, v in self.states.items()}

    def _open_group(self, step: int, members: list[str]) -> None:
        """One ComfyUI model call over ``members`` (in batch order): update their states and
        decide for all of them together."""
        if step == 0 and "uncond" in members:
            self.states = {role: MagState() for role in ROLES}
        skip = False
        if self.enabled(step):
            mapped = core_step(step, self.steps, len(self.table))
            for position, role in enumerate(members):
                state = self.states[role]
                state.skip = accumulate(state, self.table[2 * mapped + position], self.settings.magcache_thresh,
                                        self.settings.magcache_K, np.float32)
                skip = skip or state.skip
        self.group = {role: skip for role in members}

    def decide(self, pred_id: int | None, step: int, x: torch.Tensor, temb: torch.Tensor,
               proj: torch.Tensor) -> tuple[bool, int]:
        role = self.role
        if role == "cond":
            self.calls += 1
            self._open_group(step, ["uncond", "cond"] if self.runs_uncond else ["cond"])
        elif role not in self.group:
            self._open_group(step, [role])
        skip = self.group.pop(role)
        if skip and self.states[role].residual is None:
            skip = False  # nothing to reuse yet (see the module's differences)
        return not skip, ROLES[role]

    def reuse(self, pred_id: int, step: int, x: torch.Tensor) -> torch.Tensor:
        state = self.states[self.role]
        state.skipped_steps.append(step)
        return x + back(state.residual, x.device, x.dtype)

    def after_blocks(self, pred_id: int, original: torch.Tensor, x: torch.Tensor) -> None:
        self.states[self.role].residual = keep(x - back(original, x.device), self.cache_device, owned=True)

    def after_step(self, pred_id: int, x: torch.Tensor) -> None:
        return None

    def summary(self) -> str:
        skipped = {k: len(v.skipped_steps) for k, v in self.states.items()}
        return f"MagCache skipped {skipped['cond']} positive and {skipped['uncond']} negative calls of {self.calls}"
