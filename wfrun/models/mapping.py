"""The plan that maps a checkpoint's tensors onto a module's parameters, made from names only.

Each ``convert_*`` module says how one source key becomes one or more target keys (a rename,
or a split/reshape/transpose). ``build_plan`` applies that to a header, so every question a
load can fail on — an unknown tensor, a missing one, a wrong shape — is answered before a
single byte of weights is read, and answered with the file's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Iterable, Mapping

import torch

from wfrun.models.detect import DROPPED_SUFFIXES, MARKER_KEYS, SCALE_SUFFIXES
from wfrun.models.header import CheckpointError, TensorInfo

#: What a rename function returns for a key it does not know.
UNKNOWN = object()


def bundled_config(name: str) -> dict[str, Any]:
    """A config shipped in ``wfrun/models/configs/`` (no hub access), without its comment."""
    text = resources.files("wfrun.models").joinpath("configs", name).read_text(encoding="utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


@dataclass(frozen=True)
class Take:
    """One target tensor made from one source tensor."""

    target: str
    source: str
    op: str = "copy"  # copy | chunk | reshape | transpose | flatten | skip (drop the first ``index`` rows of dim 1)
    index: int = 0
    parts: int = 1
    shape: tuple[int, ...] = ()

    def apply(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.op == "chunk":
            return tensor.chunk(self.parts, dim=0)[self.index]
        if self.op == "reshape":
            return tensor.reshape(self.shape)
        if self.op == "transpose":
            return tensor.t().contiguous()
        if self.op == "flatten":
            return tensor.reshape(-1)
        if self.op == "skip":
            return tensor[:, self.index:].contiguous()
        return tensor

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.op == "chunk":
            return (shape[0] // self.parts, *shape[1:])
        if self.op == "reshape":
            return self.shape
        if self.op == "transpose":
            return tuple(reversed(shape))
        if self.op == "flatten":
            n = 1
            for size in shape:
                n *= size
            return (n,)
        if self.op == "skip":
            return (shape[0], shape[1] - self.index, *shape[2:])
        return shape


@dataclass
class Plan:
    """Targets to fill, each from a source key, plus the fp8 scale of each scaled weight."""

    takes: dict[str, Take] = field(default_factory=dict)
    scales: dict[str, tuple[str, Take]] = field(default_factory=dict)

    def sources(self) -> list[str]:
        """Source keys in first-use order (file order, as the plan was built from the header)."""
        return list(dict.fromkeys(t.source for t in self.takes.values()))


def build_plan(path, tensors: Mapping[str, TensorInfo], prefix: str,
               rename: Callable[[str], object], *, label: str) -> Plan:
    """Map every tensor under ``prefix`` through ``rename``; unknown tensors are an error."""
    plan = Plan()
    unknown: list[str] = []
    for key in tensors:
        if prefix and not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if name in MARKER_KEYS or key in MARKER_KEYS or name.endswith(DROPPED_SUFFIXES):
            continue
        scale = next((s for s in SCALE_SUFFIXES if name.endswith(s)), None)
        if scale:
            for take in _takes(rename(name[: -len(scale)] + ".weight"), key):
                plan.scales[take.target] = (key, take)
            continue
        result = rename(name)
        if result is UNKNOWN:
            unknown.append(name)
            continue
        for take in _takes(result, key):
            plan.takes[take.target] = take
    if unknown:
        shown = ", ".join(unknown[:4]) + (f" and {len(unknown) - 4} more" if len(unknown) > 4 else "")
        raise CheckpointError(f"{path}: has tensors {label} does not have: {shown}")
    return plan


def _takes(result, source: str) -> Iterable[Take]:
    if result is None or result is UNKNOWN:
        return ()
    if isinstance(result, str):
        return (Take(result, source),)
    if isinstance(result, Take):
        return (Take(result.target, source, result.op, result.index, result.parts, result.shape),)
    return tuple(Take(t.target, source, t.op, t.index, t.parts, t.shape) for t in result)


def check_plan(path, plan: Plan, tensors: Mapping[str, TensorInfo], expected: Mapping[str, tuple[int, ...]],
               *, label: str, optional: Iterable[str] = ()) -> None:
    """Every expected target is planned, with the shape the module wants."""
    optional = set(optional)
    missing = [k for k in expected if k not in plan.takes and k not in optional]
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise CheckpointError(f"{path}: lacks tensors {label} needs: {shown}")
    extra = [k for k in plan.takes if k not in expected]
    if extra:
        shown = ", ".join(plan.takes[k].source for k in extra[:4])
        raise CheckpointError(f"{path}: has tensors {label} does not have: {shown}")
    for target, take in plan.takes.items():
        got = take.out_shape(tensors[take.source].shape)
        if tuple(got) != tuple(expected[target]):
            raise CheckpointError(
                f"{path}: tensor {take.source!r} has shape {list(tensors[take.source].shape)}, "
                f"but {label} as configured from this file needs {list(expected[target])}")


def load_exactly(net: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> torch.nn.Module:
    """``net`` with ``state`` loaded in float32, evaluation mode, no gradients; ValueError
    naming the first missing, unexpected or misshapen keys when ``state`` is not ``what``
    exactly (a file that only resembles it is refused, never half loaded)."""
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    bad = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or extra or bad:
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra
                  else f"shape of {bad[:3]}")
        raise ValueError(f"looks like {what} but does not fit it ({detail})")
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval().requires_grad_(False)


def expected_shapes_with_point_rows(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """The shapes the module wants, with SAM's ``prompt_encoder.point_embed.weight`` as the
    one-row tensors (``…#N``) Meta's files keep it in (SAM 2 and SAM 3 alike)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict(keep_vars=True).items()}
    for name, shape in list(expected.items()):
        if name.endswith("prompt_encoder.point_embed.weight"):
            del expected[name]
            expected.update({f"{name}#{i}": (1, *shape[1:]) for i in range(shape[0])})
    return expected
