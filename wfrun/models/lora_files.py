"""LoRA files for Wan transformers: reading their many key layouts, and merging them into a
loaded diffusers transformer for one sampling pass.

Wan LoRAs name the *original* Wan modules in several spellings:
``diffusion_model.blocks.0.self_attn.q.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha``
(ComfyUI, Kijai, lightx2v and CausVid step-distill LoRAs), ``lora_unet_blocks_0_self_attn_q``
(kohya), ``…lora_A.weight`` / ``…lora_B.weight`` (PEFT), or diffusers' own module names
(``transformer.blocks.0.attn1.to_q.lora_A.weight``). Some also carry full deltas:
``.diff`` for a weight (norms, small layers) and ``.diff_b`` for a bias. Each pair becomes
``W += strength · (alpha / rank) · up @ down`` on the matching diffusers module.

ComfyUI applies a LoRA as a *patch* while a sampler runs and keeps the patched weights
until another set of patches (or none) is asked for or the model leaves the GPU, so the
same loaded model can serve a LoRA branch and a plain one, and the next seed of the same
branch pays nothing. :func:`merged` does the same: it keeps the original parameter objects
(no copy: each merge makes a new parameter) and puts them back when a pass asks for other
LoRAs, when the pass fails, when the caller does not let the merge stay (``keep=False``),
or when the model is sent back (:func:`unmerge`, called by ``placement.offload``). Merging
took about 1 s of each pass's first step on the 14B experts (bench/RESULTS.md, issue 16),
which a kept merge saves every further seed.
"""

from __future__ import annotations

import contextlib
import re
import threading
import weakref
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from wfrun.models import convert_transformer, lora_read
from wfrun.models.comfy_quant_linear import PackedLinear
from wfrun.models.reader import open_checkpoint

_PREFIXES = ("diffusion_model.", "model.diffusion_model.", "transformer.", "base_model.model.", "unet.")
_PART = re.compile(r"^(?P<module>.+?)\.(?P<kind>lora_down|lora_up|lora_A|lora_B|alpha|diff_b|diff)(?:\.weight)?$")
_KOHYA_MODULE = re.compile(r"^lora_unet_blocks_(\d+)_(self_attn|cross_attn)_(q|k|v|o|k_img|v_img)$")
_KOHYA_FFN = re.compile(r"^lora_unet_blocks_(\d+)_ffn_(\d)$")
_KINDS = {"lora_down": "down", "lora_A": "down", "lora_up": "up", "lora_B": "up", "alpha": "alpha",
          "diff": "diff", "diff_b": "diff_b"}


class LoraError(ValueError):
    """A LoRA file that does not fit the model it is applied to."""


def module_name(name: str) -> str:
    """A LoRA key's module part without its prefix, kohya spelling made dotted."""
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
    if m := _KOHYA_MODULE.match(name):
        return f"blocks.{m.group(1)}.{m.group(2)}.{m.group(3)}"
    if m := _KOHYA_FFN.match(name):
        return f"blocks.{m.group(1)}.ffn.{m.group(2)}"
    return name


def read_lora(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The file's parts by module name: ``{"down", "up", "alpha", "diff", "diff_b"}`` as
    present; what was read ahead for this run when there is (:func:`prefetch`), else read now."""
    tensors = lora_read.take(path)
    if tensors is None:
        tensors = lora_read.read_all(path)
    parts: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for key, tensor in tensors.items():
        m = _PART.match(key)
        if m:
            parts[module_name(m["module"])][_KINDS[m["kind"]]] = tensor
    return dict(parts)


def prefetch(path: Path, strength: object = None) -> Callable[[], None]:
    """Read ``path`` ahead for a pass that will merge it (``lora_read.prefetch``; returns the
    release), unless its strength is 0 (never read) or a kept merge already holds it (the
    next seed's pass merges nothing)."""
    if isinstance(strength, (int, float)) and strength == 0:
        return lora_read.no_release
    key = lora_read.file_key(path)
    # a kept merge's key holds (path, strength, (size, mtime)) for each of its files (_key)
    if key is None or any((entry[0], *entry[2]) == key for kept in _KEPT.values() for entry in kept[0]):
        return lora_read.no_release
    return lora_read.prefetch(path)


def prefetch_many(reads: Iterable[tuple[Path, object]]) -> Callable[[], None]:
    """:func:`prefetch` for several ``(path, strength)`` files (a node with several LoRA rows
    or slots), with one release for all of them."""
    releases = [each for path, strength in reads if (each := prefetch(path, strength)) is not lora_read.no_release]
    if not releases:
        return lora_read.no_release

    def release() -> None:
        for each in releases:
            each()

    return release


def target_module(modules: dict[str, nn.Module], name: str) -> nn.Module | None:
    """The diffusers module a LoRA's module name means: an original Wan name through the
    checkpoint loader's key map, else a diffusers name as it stands."""
    target = convert_transformer.rename(f"{name}.weight")
    if isinstance(target, str):
        found = modules.get(target.rpartition(".")[0])
        if found is not None:
            return found
    return modules.get(name)


def lora_delta(parts: dict[str, torch.Tensor], strength: float, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """``strength · (alpha / rank) · up @ down`` in fp32, shaped like the weight it changes
    (a conv's kernel dimensions are flattened into the factors)."""
    down, up = parts["down"].float(), parts["up"].float()
    rank = down.shape[0]
    alpha = float(parts["alpha"]) if "alpha" in parts else float(rank)
    delta = (up.flatten(1) @ down.flatten(1)) * (strength * alpha / rank)
    if delta.numel() != torch.Size(shape).numel():
        raise LoraError(f"LoRA layer shape {tuple(delta.shape)} does not fit weight {tuple(shape)}")
    return delta.reshape(shape)


def weight_shape(module: nn.Module) -> torch.Size:
    """The shape of ``module.weight`` as the layer uses it (a GGUF weight's ``quant_shape``,
    a packed NVFP4 / MXFP8 layer's ``logical_shape``, not the shape of its bytes)."""
    if isinstance(module, PackedLinear):
        return torch.Size(module.logical_shape)
    weight = module.weight
    return torch.Size(getattr(weight, "quant_shape", weight.shape))


def lora_patch(parts: dict[str, torch.Tensor], strength: float, shape: torch.Size) -> "LoraPatch":
    """A packed layer's LoRA patch (``comfy_quant_linear``), checked against ``shape`` now."""
    down, up = parts["down"].flatten(1), parts["up"].flatten(1)
    if up.shape[1] != down.shape[0] or up.shape[0] * down.shape[1] != shape.numel():
        raise LoraError(f"LoRA layer shape {(up.shape[0], down.shape[1])} does not fit weight {tuple(shape)}")
    return LoraPatch(dict(parts), float(strength), torch.Size(shape))


class LoraPatch:
    """:func:`lora_delta` made at each call, on the weight's device, from the factors alone.
    The factors move with the layer (``PackedLinear._apply`` calls :meth:`moved`): a model
    loaded into host memory and sampled on the GPU, or a block that block swap brings in,
    finds them on its device instead of copying them from host memory at every call (a
    blocking copy per layer)."""

    def __init__(self, parts: dict[str, torch.Tensor], strength: float, shape: torch.Size):
        self.parts, self.strength, self.shape = parts, strength, shape

    def __call__(self, device: torch.device) -> torch.Tensor:
        placed = {k: v if k == "alpha" else v.to(device) for k, v in self.parts.items()}
        return lora_delta(placed, self.strength, self.shape)

    def moved(self, fn) -> None:
        """Follow the layer's ``.to(device)`` (``fn`` as ``Module._apply`` got it; dtypes kept)."""
        from wfrun.models.fp8 import _moved

        self.parts = {k: v if k == "alpha" else _moved(v, fn) for k, v in self.parts.items()}


def with_delta(module: nn.Module, name: str, delta: torch.Tensor) -> nn.Parameter:
    """``module.<name> + delta`` as a new parameter in the stored format: an fp8 weight is
    up-cast, merged and quantized again (with its scale), as ComfyUI patches fp8 weights; a
    per-row scale grows where a merged row outgrows it (and is replaced on the module). A
    GGUF weight (diffusers' ``GGUFParameter``) cannot be quantized again here (no K-quant
    encoder): it becomes a plain weight in the layer's compute dtype, which ``GGUFLinear``
    uses as it is — ComfyUI-GGUF's numbers (dequantize, add the patch in fp32), kept for the
    sampling pass instead of recomputed at every forward."""
    current = getattr(module, name)
    if name == "weight" and isinstance(module, PackedLinear):  # that layer is dequantized, merged
        merged_weight = module.dequantized_weight(module.compute_dtype)
        return nn.Parameter((merged_weight.float() + delta.to(current.device)).to(module.compute_dtype),
                            requires_grad=False)
    if name == "weight" and hasattr(current, "quant_type"):
        from wfrun.models.load_gguf import dequantize

        full = dequantize(current).float() + delta.to(current.device)
        return nn.Parameter(full.to(getattr(module, "compute_dtype", None) or torch.float32), requires_grad=False)
    if name == "weight" and getattr(module, "storage", None) is not None:  # an Fp8Linear
        from wfrun.models.fp8 import quantize

        full = module.dequantized_weight(torch.float32) + delta.to(current.device)
        scale = module.weight_scale
        if scale is not None and scale.ndim == 1:  # per output row (``use_fp8_matmuls``): rows may grow
            from wfrun.models.fp8 import FP8_MAX

            scale = torch.maximum(scale.float(), full.abs().amax(dim=1) / FP8_MAX[module.storage])
            module.weight_scale = scale  # a buffer: ``merged`` puts the old one back with the weight
            full = full / scale[:, None]
        elif scale is not None:  # per tensor, kept as ComfyUI keeps it
            full = full / scale.float()
        return nn.Parameter(quantize(full, module.storage), requires_grad=False)
    return nn.Parameter((current.float() + delta.to(current.device)).to(current.dtype), requires_grad=False)


def lora_module_names(path: Path) -> set[str]:
    """The module names a LoRA file changes, read from its header only (no weights)."""
    with open_checkpoint(path) as reader:
        return {module_name(m["module"]) for key in reader.tensors if (m := _PART.match(key))}


def check_fits(transformer: nn.Module, path: Path) -> None:
    """LoraError unless some layer of the file is in ``transformer`` (cheap: names only)."""
    names = lora_module_names(path)
    if not names:
        raise LoraError(f"{path.name}: no LoRA weights (lora_down/lora_up, lora_A/lora_B or diff) found")
    modules = dict(transformer.named_modules())
    if not any(target_module(modules, n) is not None for n in names):
        raise LoraError(f"{path.name}: none of its {len(names)} layers match this model (first: {sorted(names)[0]}); "
                        "is it a LoRA for another model family?")


def lora_layers(transformer: nn.Module, path: Path, strength: float) -> Iterator[tuple[nn.Module, str, torch.Tensor]]:
    """(module, parameter name, delta) for each layer the file changes, one at a time (a
    14B LoRA's deltas together would be tens of GiB); modules not in this model are skipped
    (check :func:`check_fits` first)."""
    modules = dict(transformer.named_modules())
    # the delta is made where the weight lives: on a GPU its matmul and the fp8
    # re-quantization take ~1 s for a 14B model's 400 layers, on the CPU ~20 s a pass; the
    # factors go there together (``lora_read.moved``), the alphas stay host numbers
    targets = []
    by_device: dict[torch.device, dict[str, torch.Tensor]] = defaultdict(dict)
    for name, parts in read_lora(path).items():
        module = target_module(modules, name)
        if module is not None:
            device = _device_of(module)
            targets.append((name, module, device, parts))
            by_device[device].update((f"{name}\0{kind}", t) for kind, t in parts.items() if kind != "alpha")
    placed = {}
    for device, tensors in by_device.items():
        placed.update(lora_read.moved(tensors, device))
    del by_device
    for name, module, device, parts in targets:
        parts = {kind: t if kind == "alpha" else placed.pop(f"{name}\0{kind}").to(device) for kind, t in parts.items()}
        if "down" in parts and "up" in parts and isinstance(module, PackedLinear):  # added per call
            yield module, "weight", lora_patch(parts, strength, weight_shape(module))
        elif "down" in parts and "up" in parts:
            yield module, "weight", lora_delta(parts, strength, weight_shape(module))
        if "diff" in parts and getattr(module, "weight", None) is not None:
            diff = parts["diff"].float() * strength
            if diff.shape != weight_shape(module):
                raise LoraError(f"{path.name}: {name}.diff is {tuple(diff.shape)}, the weight {tuple(weight_shape(module))}")
            yield module, "weight", diff
        if "diff_b" in parts and getattr(module, "bias", None) is not None:
            yield module, "bias", parts["diff_b"].float().reshape(module.bias.shape) * strength


def _device_of(module: nn.Module) -> torch.device:
    return next((t.device for t in (getattr(module, "weight", None), getattr(module, "bias", None))
                 if isinstance(t, torch.Tensor)), torch.device("cpu"))


#: Merges left in place after their pass: transformer → (the LoRAs' key, originals, count).
_KEPT: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, dict, int]]" = weakref.WeakKeyDictionary()


def _key(loras: Sequence[tuple[Path, float]]) -> tuple:
    """What makes two LoRA lists the same merge: each file (and its size and time, so a file
    replaced on disk counts as new) with its strength, in order; strength 0 left out."""
    key = []
    for path, strength in loras:
        if strength == 0:
            continue
        path = Path(path)
        try:
            stat = path.stat()
            stamp: tuple = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = ()
        key.append((str(path.resolve()), float(strength), stamp))
    return tuple(key)


#: One lock a transformer: a merge started ahead on a worker (:func:`merge_ahead`) is
#: finished before a pass, an offload or another merge touches the same parameters.
_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def merge_lock(transformer: nn.Module) -> threading.RLock:
    """The lock that guards ``transformer``'s merged parameters (re-entrant: an offload holds
    it around its :func:`unmerge` and its move)."""
    with _LOCKS_LOCK:
        lock = _LOCKS.get(transformer)
        if lock is None:
            lock = _LOCKS[transformer] = threading.RLock()
        return lock


def _merge_all(transformer: nn.Module, loras: Sequence[tuple[Path, float]],
               originals: dict[tuple[int, str], tuple[nn.Module, str, nn.Parameter]]) -> int:
    """Merge each LoRA into ``transformer``, recording in ``originals`` what it replaced (the
    caller restores them if this fails); the number of layer changes."""
    count = 0
    for path, strength in loras:
        if strength == 0:
            continue
        check_fits(transformer, Path(path))
        for module, name, delta in lora_layers(transformer, Path(path), float(strength)):
            if name == "weight" and isinstance(module, PackedLinear):  # a patch, its bytes stay packed
                originals.setdefault((id(module), "patches"), (module, "patches", module.patches))
                module.patches = (*module.patches, delta if callable(delta) else _fixed(delta))
                count += 1
                continue
            originals.setdefault((id(module), name), (module, name, getattr(module, name)))
            if name == "weight" and getattr(module, "weight_scale", None) is not None:
                originals.setdefault((id(module), "weight_scale"), (module, "weight_scale", module.weight_scale))
            setattr(module, name, with_delta(module, name, delta))
            count += 1
    return count


@contextlib.contextmanager
def merged(transformer: nn.Module, loras: Sequence[tuple[Path, float]], *, keep: bool = False) -> Iterator[int]:
    """Inside: ``transformer`` with every LoRA merged. After: the merge stays for the next
    pass with the same LoRAs when ``keep`` (a pass with others, or none, undoes it first)
    and every replaced weight was a plain tensor (a quantized GGUF weight would be kept
    dequantized); otherwise, and after a failed pass, the original parameters are back.
    A merge of the same LoRAs made ahead (:func:`merge_ahead`) is waited for and used.

    Yields the number of layer changes in place. Strength 0 LoRAs are skipped."""
    key = _key(loras)
    lock = merge_lock(transformer)
    with lock:
        kept = _KEPT.get(transformer)
        reuse = kept is not None and kept[0] == key and bool(key)
        originals: dict[tuple[int, str], tuple[nn.Module, str, nn.Parameter]] = {}
        if not reuse:
            unmerge(transformer)
            try:
                count = _merge_all(transformer, loras, originals)
            except BaseException:
                _restore(originals)
                raise
    if reuse:
        ok = False
        try:
            yield kept[2]
            ok = True
        finally:
            if not (ok and keep):
                unmerge(transformer)
        return
    ok = False
    try:
        yield count
        ok = True
    finally:
        with lock:
            if ok and keep and originals and all(_plain(p) or isinstance(p, tuple) for _, _, p in originals.values()):
                _KEPT[transformer] = (key, originals, count)
            else:
                _restore(originals)


def merge_ahead(transformer: nn.Module, loras: Sequence[tuple[Path, float]]) -> int | None:
    """Merge ``loras`` into ``transformer`` now and keep the merge, as a pass with ``keep``
    would, so that the pass that asks for them finds it made (:func:`merged`): the engine calls
    this on a worker once the model is loaded, while the main thread encodes the prompts and
    the start image (about 1 s of a 14B expert's first step, bench/RESULTS.md, session 21).

    Only where it cannot cost the run anything: every weight the LoRAs change is a plain tensor
    on a CUDA device (a GGUF merge is not kept; a CPU merge would take the cores the main thread
    works on), and the merged copies fit with a quarter of the device's memory to spare (the
    originals stay beside them until the merge is undone, as in a pass; within ``--gpu-memory``'s
    budget where one is set). Returns the number
    of layer changes, or None where it merged nothing."""
    key = _key(loras)
    if not key:
        return None
    with merge_lock(transformer):
        kept = _KEPT.get(transformer)
        if kept is not None and kept[0] == key:
            return kept[2]
        if not _room_for(transformer, loras):
            return None
        unmerge(transformer)
        originals: dict[tuple[int, str], tuple[nn.Module, str, nn.Parameter]] = {}
        try:
            count = _merge_all(transformer, loras, originals)
        except BaseException:
            _restore(originals)
            raise
        if not originals:
            return None
        _KEPT[transformer] = (key, originals, count)
        return count


def _room_for(transformer: nn.Module, loras: Sequence[tuple[Path, float]]) -> bool:
    """Whether a merge of ``loras`` ahead of its pass fits (:func:`merge_ahead`)."""
    modules = dict(transformer.named_modules())
    needed: dict[torch.device, int] = defaultdict(int)
    for path, strength in loras:
        if strength == 0:
            continue
        for name in lora_module_names(Path(path)):
            module = target_module(modules, name)
            if module is None:
                continue
            for tensor in (getattr(module, "weight", None), getattr(module, "bias", None)):
                if not isinstance(tensor, torch.Tensor):
                    continue
                if not _plain(tensor) or tensor.device.type != "cuda":
                    return False
                needed[tensor.device] += tensor.nbytes
        if needed:  # the file's factors come to the GPU too (``lora_read.moved``)
            needed[next(iter(needed))] += Path(path).stat().st_size
    from wfrun.models.residency import free_memory  # the card's, or within --gpu-memory's budget

    return fits_with_a_quarter_spare(needed, free_memory)


def fits_with_a_quarter_spare(needed: dict[Any, int], free_memory: Callable[[Any], tuple[int, int]]) -> bool:
    """Whether ``needed[device]`` bytes fit on each device with a quarter of its memory left
    (``free_memory(device)`` gives free and total bytes); False for nothing needed."""
    for device, nbytes in needed.items():
        free, total = free_memory(device)
        if free - nbytes < total // 4:
            return False
    return bool(needed)


def unmerge(transformer: nn.Module) -> bool:
    """Put back the original parameters of a merge kept on ``transformer``; whether there was one."""
    with merge_lock(transformer):
        kept = _KEPT.pop(transformer, None)
        if kept is None:
            return False
        _restore(kept[1])
        return True


def _fixed(delta: torch.Tensor) -> Callable:
    """A patch of a full delta (a LoRA's ``diff`` on a packed layer)."""
    return lambda device: delta.to(device)


def _plain(tensor: Any) -> bool:
    return type(tensor) in (nn.Parameter, torch.Tensor)


def _restore(originals: dict) -> None:
    for module, name, parameter in originals.values():
        setattr(module, name, parameter)


def lora_paths(loras: Iterable[Any]) -> list[tuple[Path, float]]:
    """``(path, strength)`` of LoRA patches given as objects with ``path`` and ``strength``."""
    return [(Path(l.path), float(l.strength)) for l in loras]
