"""Building a module with its parameters on the ``meta`` device, safely beside other threads.

Loaders build the (huge) module empty and assign the checkpoint's tensors afterwards. The
usual tool, accelerate's ``init_empty_weights``, patches ``nn.Module.register_parameter``
for the whole process while it is open: with model loaders running on worker threads
(``engine.run_plan(background=True)``), a module built at the same moment on another thread
would get meta parameters too, and two loaders opening and closing it out of order leave
the patch in place for good. This version patches the same hook, but moves a parameter to
``meta`` only on the thread that opened it, and one thread builds at a time. Buffers stay
where they are made (accelerate's ``include_buffers=False``): rope tables and position ids
are computed at construction and not in the files.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from torch import nn

from wfrun.long_lived import imports_then_freeze

_BUILDING = threading.RLock()  # re-entrant: a build inside a build nests its patch


@contextlib.contextmanager
def empty_weights() -> Iterator[None]:
    """Inside: parameters this thread registers are created on ``meta`` (no memory)."""
    owner = threading.get_ident()
    with _BUILDING:
        original = nn.Module.register_parameter

        def register_parameter(module: nn.Module, name: str, param) -> None:
            original(module, name, param)
            if param is None or threading.get_ident() != owner:
                return
            made = module._parameters[name]
            extra = dict(made.__dict__)
            extra["requires_grad"] = made.requires_grad
            module._parameters[name] = type(made)(made.to("meta"), **extra)

        nn.Module.register_parameter = register_parameter
        try:
            yield
        finally:
            nn.Module.register_parameter = original


def import_model_libraries() -> None:
    """Import, on the calling thread, the library classes the loaders build from.

    diffusers and transformers resolve their classes lazily on first use, and two threads
    doing that at once can see a half-initialised module ("cannot import name
    'PreTrainedModel'"). Loaders running in the background call nothing else that imports
    lazily, so importing these first is enough. The engine calls this before any model
    exists, so what the imports made is then frozen (``long_lived``)."""
    with imports_then_freeze("model libraries"):
        import diffusers
        import transformers

        for name in ("WanTransformer3DModel", "WanVACETransformer3DModel", "WanAnimateTransformer3DModel",
                     "AutoencoderKLWan"):
            getattr(diffusers, name, None)
        import diffusers.models.transformers.transformer_wan  # noqa: F401  (and its peft mixins)
        for name in ("PreTrainedModel", "UMT5Config", "UMT5EncoderModel", "CLIPVisionConfig", "CLIPVisionModel",
                     "CLIPVisionModelWithProjection", "AutoTokenizer", "T5TokenizerFast"):
            getattr(transformers, name, None)
