"""Writes ``fixture.safetensors`` for tests/test_inspyrenet.py (documentation: tests never import it).

The reference is the ``transparent-background`` library's own network code (MIT), run from a
scratch folder outside the project::

    mkdir /tmp/tbref && cd /tmp/tbref
    pip download --no-deps transparent-background==1.3.4
    unzip -q transparent_background-1.3.4-py3-none-any.whl -d tb
    python tests/data/inspyrenet/make_fixture.py /tmp/tbref/tb tests/data/inspyrenet/fixture.safetensors

Only the model modules are imported (``InSPyReNet.py``, ``modules/``, ``backbones/``); the
package's ``__init__`` (the Remover, with its downloads) is skipped. What those modules import
besides torch is stubbed here, in this script only: timm's three helpers (drop path and the
initialiser are unused at inference), OpenCV's Gaussian kernel from its documented formula, and
an all-ones stand-in for OpenCV's ellipse (it serves only the high-resolution blending, which
the library's Remover turns off).

The network is a small config of the same architecture (Swin: 4 wide, depths 2-2-2-1, heads
1-1-2-2, 3-token windows, so every stage pads and the third merges an odd size; decoder depth
8; base size 48x64), every parameter and BatchNorm statistic random (weights at 0.7 / sqrt(fan-in):
larger ones saturate the logits in the thousands, where 1e-6 in the input moves the normalised
output by 1e-4; at 0.7 the logits stay within about ±16 and the output moves by ~2e-6), run in
float32 eval mode on a random normalised 48x64 input. Parameters are rounded to float16 first
and stored so (BatchNorm statistics in float32), to keep the file small. Saved: ``params`` (every parameter, flat, float16), ``stats`` (BatchNorm running means
and variances, flat, float32), the metadata ``layout`` ([key, which flat tensor, shape] in
state-dict order), ``relative_position_index`` of one 3-token window (the int64 buffer the
released files carry per block), ``input`` and ``output``.
"""

import importlib
import sys
import types
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

root = Path(sys.argv[1]) / "transparent_background"
out = Path(sys.argv[2])

timm_layers = types.ModuleType("timm.layers")
timm_layers.DropPath = lambda p: torch.nn.Identity()
timm_layers.to_2tuple = lambda x: tuple(x) if isinstance(x, (tuple, list)) else (x, x)
timm_layers.trunc_normal_ = lambda t, std=1.0: torch.nn.init.normal_(t, std=std)
sys.modules.update({"timm": types.ModuleType("timm"), "timm.layers": timm_layers,
                    "timm.models": types.ModuleType("timm.models"), "timm.models.layers": timm_layers})


def gaussian(ksize, sigma):  # cv2.getGaussianKernel: sampled, normalised to sum 1, float64 column
    x = np.arange(ksize) - (ksize - 1) / 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    return (g / g.sum())[:, None]


def ellipse(shape, size):  # cv2.getStructuringElement(MORPH_ELLIPSE, ...): unused here
    return np.ones(size, np.uint8)


cv2 = types.ModuleType("cv2")
cv2.getGaussianKernel, cv2.getStructuringElement, cv2.MORPH_ELLIPSE = gaussian, ellipse, 2
sys.modules["cv2"] = cv2
package = types.ModuleType("transparent_background")
package.__path__ = [str(root)]
sys.modules["transparent_background"] = package

# by name: the library is a scratch download given on the command line, never a project dependency
InSPyReNet = importlib.import_module("transparent_background.InSPyReNet").InSPyReNet
SwinTransformer = importlib.import_module("transparent_background.backbones.SwinTransformer").SwinTransformer

torch.manual_seed(0)
backbone = SwinTransformer(embed_dim=4, depths=[2, 2, 2, 1], num_heads=[1, 1, 2, 2], window_size=3)
model = InSPyReNet(backbone, [4, 4, 8, 16, 32], depth=8, base_size=[48, 64], threshold=None)
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith(("norm.weight", "norm1.weight", "norm2.weight")) or "backbone.norm" in name and name.endswith("weight"):
            p.copy_(1 + 0.2 * torch.randn_like(p))
        elif name.endswith(("threshold", "gamma")):
            p.copy_(0.5 + 0.3 * torch.randn_like(p))
        elif name.endswith("bn.weight"):
            p.copy_(1 + 0.2 * torch.randn_like(p))
        else:
            fan_in = p[0].numel() if p.ndim > 1 else 1
            p.copy_(0.7 * torch.randn_like(p) / fan_in ** 0.5 if p.ndim > 1 else 0.1 * torch.randn_like(p))
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            b.copy_(0.1 * torch.randn_like(b))
        elif name.endswith("running_var"):
            b.copy_(0.5 + torch.rand_like(b))
    for p in model.parameters():  # stored in float16 (a smaller file): use exactly those values
        p.copy_(p.half().float())
model.eval()
x = torch.randn(1, 3, 48, 64)
with torch.no_grad():
    y = model(x)
import json  # noqa: E402

# ~1,400 named tensors would make a 150 KB safetensors header: pack them into two flat tensors
# instead, with the names and shapes in the metadata (in state dict order).
params, stats, layout = [], [], []
for k, v in model.state_dict().items():
    if v.is_floating_point():
        into = stats if "running" in k else params
        into.append(v.flatten())
        layout.append([k, "stats" if "running" in k else "params", list(v.shape)])
index = model.backbone.layers[0].blocks[0].attn.relative_position_index
tensors = {"params": torch.cat(params).half(), "stats": torch.cat(stats), "input": x, "output": y.contiguous(),
           "relative_position_index": index.contiguous()}
save_file(tensors, str(out), metadata={"layout": json.dumps(layout, separators=(",", ":"))})
print(out, sum(t.numel() for t in params), "parameters; output range", float(y.min()), float(y.max()))
