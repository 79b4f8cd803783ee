"""The LoRA nodes' ``ahead`` hook (``ExecutorInfo.ahead``): merge the LoRAs a core MODEL
carries into its loaded transformer on a worker, before the sampler's turn.

A LoRA node only notes its file on the MODEL; the sampler merges at its pass's start (about
1 s of a 14B expert's first step: 400 layers up-cast, added to and re-quantized). The engine
calls this as soon as the model's loader is done, while the main thread encodes the prompt
and the start image, and the pass then finds the merge made (``lora_files.merged``). Where
it does not fit (``lora_files.merge_ahead``), nothing happens and the pass merges as before.
"""

from __future__ import annotations

from wfrun.models.handles import CoreModel
from wfrun.models.lora_files import lora_paths, merge_ahead
from wfrun.nodes.executor import ExecContext


def merge_model_loras_ahead(ctx: ExecContext, outputs: tuple) -> None:
    """The LoRAs on the node's MODEL output (its first), merged now where that fits."""
    model = outputs[0] if outputs else None
    if isinstance(model, CoreModel) and model.loras:
        merge_ahead(model.transformer, lora_paths(model.loras))
