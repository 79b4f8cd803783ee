"""A VACE module file loaded beside a text-to-video transformer, as one VACE model.

Kijai's releases ship VACE both ways: all in one file (``Wan2_1-VACE_1_3B_preview_bf16``,
``wan2.1_vace_14B_fp16``) and as a separate module (``Wan2_1-VACE_module_14B_bf16``,
``Wan2_1-VACE_module_1_3B_bf16``) holding only ``vace_blocks.*`` and
``vace_patch_embedding.*``, meant for a matching T2V model. ComfyUI-WanVideoWrapper's
loader reads the main file, then the module (its ``vace_model`` / later ``extra_model``
input, one or more files) and lays the module's tensors over the main ones
(``sd.update``), refusing a module on a model that is not T2V ("VACE only works properly
with T2V models").

wfrun does the same without building a merged state dict: :class:`MergedReader` is a
checkpoint reader over several files whose name table is the main file's with each
module's tensors renamed under the main file's prefix (a ComfyUI-layout main model with
an original-layout module works) — later files win, as with ``update``. Detection then
sees a VACE model (``models.families``: a 16-channel backbone with VACE parts) and the
ordinary loader (``load.load_transformer``) plans, checks and streams every tensor from
the file that holds it.

GGUF releases of the modules (Kijai's ``Wan2_2_Fun_VACE_module_A14B_HIGH_Q4_K_M.gguf``:
the same ``vace_blocks.*`` and ``vace_patch_embedding.*`` tensors, the blocks' matrices
quantized) go on a GGUF main model the same way (:func:`open_gguf_with_modules`, for
``load_gguf.load_gguf_transformer``), their quantized tensors read as raw blocks and kept
quantized. The pack takes a GGUF module with a GGUF main model only and a safetensors
module with a safetensors model only (its loader reads the module with the main file's
reader); wfrun refuses the mixed pairs with the same rule (:func:`check_formats`), though
its readers could merge them.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import torch

from wfrun.models.detect import MARKER_KEYS, ModelInfo, identify
from wfrun.models.header import CheckpointError, TensorInfo, sniff
from wfrun.models.reader import CheckpointReader, open_checkpoint

#: The key groups a VACE module holds (the pack's check: ``vace_blocks.0.after_proj.weight``).
MODULE_GROUPS = ("vace_blocks.", "vace_patch_embedding.")


def module_keys(keys: Sequence[str], prefix: str) -> bool:
    """Whether every key under ``prefix`` (markers aside) belongs to a VACE module."""
    found = False
    for key in keys:
        if key in MARKER_KEYS or key == f"{prefix}scaled_fp8":
            continue
        if not key.startswith(prefix) or not key[len(prefix):].startswith(MODULE_GROUPS):
            return False
        found = True
    return found


class MergedReader:
    """A checkpoint reader over a main transformer file and VACE module files."""

    def __init__(self, main: CheckpointReader, main_prefix: str, modules: Sequence[tuple[CheckpointReader, str]]):
        self._main = main
        self.path = main.path
        self.metadata = main.metadata
        self._owner: dict[str, tuple[CheckpointReader, str]] = {name: (main, name) for name in main.tensors}
        self.tensors: dict[str, TensorInfo] = dict(main.tensors)
        for reader, prefix in modules:
            for name, info in reader.tensors.items():
                if name in MARKER_KEYS or name == f"{prefix}scaled_fp8":
                    continue
                target = main_prefix + name[len(prefix):]
                self.tensors[target] = info
                self._owner[target] = (reader, name)

    @property
    def architecture(self) -> str | None:
        """The main file's ``general.architecture`` (GGUF files; None for others)."""
        return getattr(self._main, "architecture", None)

    def read(self, name: str, device: torch.device | str = "cpu") -> torch.Tensor:
        reader, source = self._owner[name]
        return reader.read(source, device)

    def iter_tensors(self, names=None, device="cpu") -> Iterator[tuple[str, torch.Tensor]]:
        """Each file's tensors through its own reader (read ahead on several threads), the
        main file's first; the order of ``names`` is kept within each file."""
        by_reader: dict[int, tuple[CheckpointReader, list[tuple[str, str]]]] = {}
        for name in names if names is not None else self.tensors:
            reader, source = self._owner[name]
            by_reader.setdefault(id(reader), (reader, []))[1].append((name, source))
        for reader, pairs in by_reader.values():
            targets = dict((source, name) for name, source in pairs)
            for source, tensor in reader.iter_tensors([source for _, source in pairs], device):
                yield targets[source], tensor


def check_module(main: ModelInfo, module: ModelInfo) -> None:
    """The pack's rules, with the file names: a VACE module goes on a T2V model of its width."""
    if module.kind != "wan_vace_module":
        raise CheckpointError(f"{module.path}: is not a VACE module (only vace_blocks.* and vace_patch_embedding.* "
                              f"tensors); found {module.describe()}")
    if main.kind == "wan_vace_module":
        raise CheckpointError(f"{main.path}: is a VACE module, not a model: load a text-to-video model and give "
                              "this file as its VACE module")
    if main.config.get("in_dim") != 16 or main.config.get("out_dim") != 16:
        raise CheckpointError(f"{main.path}: VACE only works with text-to-video models (16 input channels); "
                              f"this one takes {main.config.get('in_dim')}")
    for name in ("dim", "ffn_dim"):
        if module.config.get(name) != main.config.get(name):
            raise CheckpointError(f"{module.path}: VACE module of {name} {module.config.get(name)} does not fit "
                                  f"{main.path.name} ({name} {main.config.get(name)}): use the module of the "
                                  "model's size (1.3B or 14B)")


def check_formats(path: str | Path, modules: Sequence[str | Path]) -> None:
    """The pack's rule on formats: a GGUF main model takes GGUF modules only, and a GGUF
    module goes on a GGUF main model only (read from the files' first bytes, as the readers do)."""
    main_gguf = sniff(path) == "gguf"
    for module in modules:
        if (sniff(module) == "gguf") == main_gguf:
            continue
        if main_gguf:
            raise CheckpointError(f"{module}: a GGUF main model ({Path(path).name}) takes GGUF VACE modules only "
                                  "(the pack's rule): use the module's GGUF release, or disconnect it if the model "
                                  "has VACE included")
        raise CheckpointError(f"{module}: a GGUF VACE module goes on a GGUF main model only (the pack's rule), not "
                              f"on {Path(path).name}: use the module's .safetensors release, or a GGUF main model")


@contextmanager
def open_with_modules(path: str | Path, modules: Sequence[str | Path], *,
                      allow_pickle: bool | None = None) -> Iterator[CheckpointReader | MergedReader]:
    """A reader of ``path`` with the VACE ``modules`` laid over it (the plain reader when
    there are none); every module is checked against the main file first."""
    check_formats(path, modules)
    with _merged(path, modules, lambda p: open_checkpoint(p, allow_pickle=allow_pickle)) as reader:
        yield reader


@contextmanager
def open_gguf_with_modules(path: str | Path, modules: Sequence[str | Path]) -> Iterator[CheckpointReader | MergedReader]:
    """``open_with_modules`` for a GGUF main model and GGUF modules (``gguf_reader``'s checked
    headers): quantized tensors are read as their raw blocks, from whichever file holds them."""
    from wfrun.models.gguf_reader import open_gguf

    check_formats(path, modules)
    with _merged(path, modules, open_gguf) as reader:
        yield reader


@contextmanager
def _merged(path: str | Path, modules: Sequence[str | Path], opener) -> Iterator[CheckpointReader | MergedReader]:
    with ExitStack() as stack:
        main = stack.enter_context(opener(path))
        if not modules:
            yield main
            return
        main_info = identify(main.path, main.tensors, main.metadata)
        opened = []
        for module_path in modules:
            reader = stack.enter_context(opener(module_path))
            info = identify(reader.path, reader.tensors, reader.metadata)
            check_module(main_info, info)
            opened.append((reader, info.prefix))
        yield MergedReader(main, main_info.prefix, opened)
