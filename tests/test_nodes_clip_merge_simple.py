"""ComfyUI's CLIPMergeSimple on tiny UMT5 encoders, against the merge formula worked per tensor."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from node_helpers import node
from wfrun.models.handles import WanTextEncoder
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
merge = node("CLIPMergeSimple")


def _encoder(seed: int, tmp_path, dtype=torch.float32, file_dtype=None) -> WanTextEncoder:
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    config = UMT5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=4,
                        relative_attention_num_buckets=8)
    model = UMT5EncoderModel(config).to(dtype).eval()
    path = tmp_path / f"t5_{seed}.safetensors"
    stored = {k: v.to(file_dtype or dtype).contiguous() for k, v in model.state_dict().items()
              if k != "shared.weight"}
    save_file(stored, str(path))
    return WanTextEncoder(encoder=model, tokenizer=None, dtype=dtype, path=path)


def test_ratio_one_keeps_clip1(tmp_path):
    a, b = _encoder(0, tmp_path), _encoder(1, tmp_path)
    assert merge(CTX, clip1=a, clip2=b, ratio=1.0)[0] is a


@pytest.mark.parametrize("ratio,dtype", [(0.25, torch.float32), (0.6, torch.bfloat16), (0.0, torch.float32)])
def test_merge_follows_the_formula(tmp_path, ratio, dtype):
    a, b = _encoder(0, tmp_path, dtype), _encoder(1, tmp_path, dtype)
    before = {k: v.clone() for k, v in a.encoder.state_dict().items()}
    out = merge(CTX, clip1=a, clip2=b, ratio=ratio)[0]
    theirs = b.encoder.state_dict()
    for key, w in out.encoder.state_dict().items():
        expected = (before[key].float() * ratio + theirs[key].float() * (1 - ratio)).to(dtype)
        assert torch.equal(w, expected), key
    for key, w in a.encoder.state_dict().items():  # clip1 itself is untouched
        assert torch.equal(w, before[key])
    ids = torch.tensor([[3, 7, 9, 1]])
    with torch.no_grad():
        got = out.encoder(input_ids=ids).last_hidden_state
    assert got.shape == (1, 4, 16) and out.tokenizer is a.tokenizer


def test_fp8_files_are_refused_away_from_one(tmp_path):
    a, b = _encoder(0, tmp_path), _encoder(1, tmp_path, file_dtype=torch.float8_e4m3fn)
    with pytest.raises(NodeInputError) as err:
        merge(CTX, clip1=a, clip2=b, ratio=0.5)
    assert err.value.input_name == "ratio" and "F8_E4M3" in str(err.value)
    assert merge(CTX, clip1=a, clip2=b, ratio=1.0)[0] is a


def test_not_a_clip(tmp_path):
    with pytest.raises(NodeInputError) as err:
        merge(CTX, clip1=_encoder(0, tmp_path), clip2="clip", ratio=0.5)
    assert err.value.input_name == "clip2"
