"""spacepxl's control LoRAs for the 1.3B T2V model (the pack's ``1_3B_control_lora`` example).

A control LoRA teaches a text-to-video model to follow a control video (here a blurred copy
of the video: a "tile" LoRA) without a Fun model. It carries a LoRA for the patch embedding
whose input has 32 channels instead of 16: the noisy latents followed by the control
latents. The pack (nodes_model_loading.py, 2025-05) builds that wider patch embedding from
the model's own (the first 16 input channels keep their weights, the other 16 start at zero,
then the LoRA is merged into it), and in the sampler, per step:

- inside the control window (``WanVideoControlEmbeds`` ``start_percent``..``end_percent``):
  the LoRA is merged into the blocks, the model input is ``[latents, control latents]`` and
  goes through the wide patch embedding;
- outside it: the original weights are restored (kept aside when the LoRA was merged) and
  the model runs as plain text-to-video on the latents alone.

``ControlLora.set`` switches between the two; the restore is exact (a copy, not a subtraction).
The ``ControlLora`` lives in the transformer's hook registry under
``module_hooks.CONTROL_LORA`` (:func:`attach_control_lora`, :func:`control_lora_of`); the
sampler finds it there, switches it per step and switches it off when its pass ends.
The wide patch embedding is stored in the dtype of the model's own, as wfrun keeps it
(diffusers' choice); the pack keeps both patch embeddings in fp32.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.hooks import ModelHook
from torch import nn

from wfrun.models import module_hooks
from wfrun.models.lora_files import weight_shape
from wfrun.packs.wanvideo.lora_delta import add_delta, lora_delta

#: The module key of the patch embedding's LoRA, in original Wan names.
PATCH = "patch_embedding"


def is_control_lora(pairs: dict[str, dict[str, torch.Tensor]], in_channels: int) -> bool:
    """Whether a LoRA widens the patch embedding (its ``down`` takes more input channels)."""
    down = pairs.get(PATCH, {}).get("down")
    return down is not None and down.ndim >= 2 and down.shape[1] > in_channels


def control_lora_of(transformer: Any) -> "ControlLora | None":
    """The control LoRA attached to ``transformer`` (None without one)."""
    return module_hooks.find(transformer, module_hooks.CONTROL_LORA)


def attach_control_lora(transformer: Any, control: "ControlLora") -> None:
    """Keep ``control`` with ``transformer`` in its hook registry, where the sampler finds it."""
    module_hooks.attach(transformer, module_hooks.CONTROL_LORA, control)


class ControlLora(ModelHook):
    """The two states of a model with a control LoRA, and the switch between them.

    A ``ModelHook`` so it is kept in the transformer's hook registry; it leaves the
    transformer's forward as it is (the sampler calls :meth:`set`)."""

    def __init__(self, transformer: Any, layers: dict[nn.Module, dict[str, torch.Tensor]], strength: float,
                 patch_delta: torch.Tensor, patch_bias_delta: torch.Tensor | None = None):
        super().__init__()
        self.transformer = transformer
        self.layers = layers  # module -> its LoRA factors; the delta is made when merged (no
        self.strength = strength  # full-size copy of every layer is kept)
        self.original_patch = transformer.patch_embedding
        self.wide_patch = self._wide_patch(self.original_patch, patch_delta, patch_bias_delta)
        self.enabled = False
        self._backup: dict[nn.Module, torch.Tensor] = {}

    @staticmethod
    def _wide_patch(original: nn.Conv3d, delta: torch.Tensor, bias_delta: torch.Tensor | None) -> nn.Conv3d:
        channels = delta.shape[1]
        wide = nn.Conv3d(channels, original.out_channels, original.kernel_size, original.stride, original.padding)
        wide = wide.to(device=original.weight.device, dtype=original.weight.dtype).requires_grad_(False)
        with torch.no_grad():
            weight = torch.zeros_like(wide.weight, dtype=torch.float32)
            weight[:, :original.in_channels] = original.weight.float()
            wide.weight.copy_(weight + delta.to(weight.device))
            bias = original.bias.float() + (bias_delta.float().to(original.bias.device) if bias_delta is not None
                                            else 0)
            wide.bias.copy_(bias)
        return wide

    @property
    def extra_channels(self) -> int:
        return self.wide_patch.in_channels - self.original_patch.in_channels

    def set(self, enabled: bool) -> None:
        """Merge the LoRA and use the wide patch embedding, or restore the original model."""
        if enabled == self.enabled:
            return
        with torch.no_grad():
            if enabled:
                for module, parts in self.layers.items():
                    self._backup[module] = module.weight.detach().clone()
                    add_delta(module, lora_delta(parts, self.strength, weight_shape(module)))
                self.wide_patch.to(self.original_patch.weight.device)
                self.transformer.patch_embedding = self.wide_patch
            else:
                for module, weight in self._backup.items():
                    module.weight = nn.Parameter(weight, requires_grad=False)
                self._backup.clear()
                self.transformer.patch_embedding = self.original_patch
        self.enabled = enabled
