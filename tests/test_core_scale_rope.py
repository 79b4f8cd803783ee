"""ComfyUI core's ScaleROPE: each axis's rotary positions at ``shift + i * scale``.

The reference is ComfyUI's rule worked out with diffusers' own ``get_1d_rotary_pos_embed``
at those (fractional) positions, one axis at a time; an identity ScaleROPE gives the plain
tables, an integer scale picks the plain table's rows, and ChronoEdit's template (which
stretches time by 7) runs end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed

from node_helpers import node
from tiny_transformer import tiny_wan
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.forward import ForwardOptions, rotary_embedding, transformer_forward

CTX = ExecContext()


def chrono_template() -> Path:
    import comfyui_workflow_templates_json as templates

    return Path(templates.__file__).parent / "templates" / "image_chrono_edit_14B.json"


def comfy_positions(count: int, scale: float, shift: float) -> torch.Tensor:
    """ComfyUI's ``linspace(start, start + (len - 1), steps)`` with ``len = (n - 1) * scale + 1``."""
    length = (count - 1) * scale + 1.0
    return torch.linspace(shift, shift + (length - 1), count, dtype=torch.float64)


def reference(model, ppf: int, pph: int, ppw: int, scale) -> tuple[torch.Tensor, torch.Tensor]:
    scale_x, shift_x, scale_y, shift_y, scale_t, shift_t = scale
    rope = model.rope
    axes = [(rope.t_dim, comfy_positions(ppf, scale_t, shift_t)), (rope.h_dim, comfy_positions(pph, scale_y, shift_y)),
            (rope.w_dim, comfy_positions(ppw, scale_x, shift_x))]
    tables = [get_1d_rotary_pos_embed(dim, pos, 10000.0, use_real=True, repeat_interleave_real=True,
                                      freqs_dtype=torch.float64) for dim, pos in axes]
    out = []
    for which in (0, 1):
        f, h, w = (t[which].float() for t in tables)
        full = torch.cat([f.view(ppf, 1, 1, -1).expand(ppf, pph, ppw, -1),
                          h.view(1, pph, 1, -1).expand(ppf, pph, ppw, -1),
                          w.view(1, 1, ppw, -1).expand(ppf, pph, ppw, -1)], dim=-1)
        out.append(full.reshape(1, ppf * pph * ppw, 1, -1))
    return out[0], out[1]


@pytest.mark.parametrize("scale", [(1.0, 0.0, 1.0, 0.0, 7.0, 0.0), (0.5, 3.25, 1.5, -2.0, 2.5, 1.0),
                                   (1.0, 0.0, 1.0, 0.0, 0.0, 4.0)])
def test_positions_follow_comfyui_rule(scale):
    model = tiny_wan(1)
    cos, sin = rotary_embedding(model, 3, 4, 6, scale=scale)  # patched: 3 frames, 2 x 3 patches
    want_cos, want_sin = reference(model, 3, 2, 3, scale)
    torch.testing.assert_close(cos, want_cos)
    torch.testing.assert_close(sin, want_sin)


def test_identity_gives_the_plain_tables_and_an_integer_scale_picks_their_rows():
    model = tiny_wan(1)
    plain = rotary_embedding(model, 3, 4, 6)
    identity = rotary_embedding(model, 3, 4, 6, scale=(1.0, 0.0, 1.0, 0.0, 1.0, 0.0))
    for a, b in zip(plain, identity):
        torch.testing.assert_close(a, b)
    # the analytic path itself at identity (a fraction off 1 would take it) agrees with the table
    near = rotary_embedding(model, 3, 4, 6, scale=(1.0, 0.0, 1.0, 0.0, 1.0, 1e-12))
    torch.testing.assert_close(near[0], plain[0])
    cos, _ = rotary_embedding(model, 3, 4, 6, scale=(1.0, 0.0, 1.0, 0.0, 7.0, 0.0))
    t_dim = model.rope.t_dim
    rows = model.rope.freqs_cos[[0, 7, 14], :t_dim]
    per_frame = cos.reshape(3, 2 * 3, -1)[:, 0, :t_dim]
    torch.testing.assert_close(per_frame, rows)


@torch.no_grad()
def test_forward_uses_the_scaled_positions():
    model = tiny_wan(2)
    g = torch.Generator().manual_seed(3)
    x, context = torch.randn(1, 16, 3, 4, 4, generator=g), torch.randn(1, 512, 24, generator=g)
    t = torch.tensor([700.0])
    plain, _ = transformer_forward(model, x, t, context)
    same, _ = transformer_forward(model, x, t, context, options=ForwardOptions(rope_scale=(1, 0, 1, 0, 1, 0)))
    torch.testing.assert_close(plain, same)
    stretched, _ = transformer_forward(model, x, t, context, options=ForwardOptions(rope_scale=(1, 0, 1, 0, 7, 0)))
    assert not torch.allclose(plain, stretched, atol=1e-4)


def test_node_patches_the_model_and_names_a_bad_input(tmp_path):
    from wfrun.packs.comfy_core_models.types import CoreModel

    model = CoreModel(transformer=None, task="t2v", path=tmp_path / "m.safetensors", dtype=torch.float32,
                      latent_channels=16, shift=8.0)
    (patched,) = node("ScaleROPE")(CTX, model=model, scale_x=1.0, shift_x=0.0, scale_y=1.0, shift_y=0.5,
                                   scale_t=7.0, shift_t=0.0)
    assert patched.rope_scale == (1.0, 0.0, 1.0, 0.5, 7.0, 0.0) and model.rope_scale is None
    with pytest.raises(NodeInputError) as err:
        node("ScaleROPE")(CTX, model=model, scale_x=1.0, shift_x=0.0, scale_y=1.0, shift_y=0.0, scale_t="seven",
                          shift_t=0.0)
    assert err.value.input_name == "scale_t"


def test_chrono_edit_template_runs(tmp_path):
    from click.testing import CliRunner

    from wfrun.cli import main

    result = CliRunner().invoke(main, ["run", str(chrono_template()), "--smoke", "--tiny-models", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert list(tmp_path.glob("Chrono_Edit_14B_*.png"))
