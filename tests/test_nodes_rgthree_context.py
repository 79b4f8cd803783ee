"""rgthree's Context and Context Switch, against the pack's rules (py/context_utils.py):
a field is its input unless that is ``None``, else the base context's; the switch passes
the first context, by input name, that has a non-``None`` field."""

from __future__ import annotations

import json

import pytest

from node_helpers import node
from test_run_utility_nodes import link, ui
from wfrun.jobs.run import RunOptions, run_file
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.rgthree.context import ALL_FIELDS

CTX = ExecContext()


def test_context_fills_fields_from_inputs_then_from_the_base():
    (base, *fields) = node("Context (rgthree)")(CTX, model="m", seed=7)
    assert set(base) == set(ALL_FIELDS) and len(ALL_FIELDS) == 23
    assert fields == ["m", None, None, None, None, None, None, 7]
    base["steps"] = 30  # a field the "original" context has no input for
    (ctx2, model, clip, *_rest, seed) = node("Context (rgthree)")(CTX, base_ctx=base, clip="c", seed=None)
    assert (model, clip, seed) == ("m", "c", 7)  # None never overrides the base
    assert ctx2["steps"] == 30  # fields beyond the original ones carry over
    assert base["clip"] is None  # the base is not changed


def test_context_switch_takes_the_first_non_empty_context_by_name():
    make = node("Context (rgthree)")
    empty, a, b = make(CTX)[0], make(CTX, model="a")[0], make(CTX, vae="b")[0]
    switch = node("Context Switch (rgthree)")
    assert switch(CTX, ctx_02=a, ctx_01=empty, ctx_03=b)[:2] == (a, "a")
    assert switch(CTX, ctx_03=b, ctx_02=None)[3] == "b"
    assert switch(CTX, ctx_01=empty) == (None,) * 9
    assert switch(CTX) == (None,) * 9


def test_a_non_context_is_refused_with_its_input_name():
    with pytest.raises(NodeInputError) as err:
        node("Context Switch (rgthree)")(CTX, ctx_01="not a context")
    assert err.value.input_name == "ctx_01"


WORKFLOW = {
    "last_node_id": 7, "last_link_id": 7, "version": 0.4,
    "nodes": [
        ui(1, "EmptyImage", outputs=[("IMAGE", "IMAGE", [1, 2])], widgets=[16, 8, 3, 0]),
        ui(2, "ImagePass", inputs=[("image", "IMAGE", 1)], outputs=[("IMAGE", "IMAGE", [3])], mode=2),
        ui(3, "Context (rgthree)", inputs=[("base_ctx", "RGTHREE_CONTEXT", None), ("images", "IMAGE", 3)],
           outputs=[("CONTEXT", "RGTHREE_CONTEXT", [5])]),
        ui(4, "ImageFromBatch+", inputs=[("image", "IMAGE", 2)], outputs=[("IMAGE", "IMAGE", [4])], widgets=[1, -1]),
        ui(5, "Context (rgthree)", inputs=[("base_ctx", "RGTHREE_CONTEXT", None), ("images", "IMAGE", 4)],
           outputs=[("CONTEXT", "RGTHREE_CONTEXT", [6])]),
        ui(6, "Context Switch (rgthree)", inputs=[("ctx_01", "RGTHREE_CONTEXT", 5), ("ctx_02", "RGTHREE_CONTEXT", 6)],
           outputs=[("CONTEXT", "RGTHREE_CONTEXT", None), ("MODEL", "MODEL", None), ("CLIP", "CLIP", None),
                    ("VAE", "VAE", None), ("POSITIVE", "CONDITIONING", None), ("NEGATIVE", "CONDITIONING", None),
                    ("LATENT", "LATENT", None), ("IMAGE", "IMAGE", [7]), ("SEED", "INT", None)]),
        ui(7, "SaveImage", inputs=[("images", "IMAGE", 7)], widgets=["ctx"]),
    ],
    "links": [link(1, 1, 0, 2, 0, "IMAGE"), link(2, 1, 0, 4, 0, "IMAGE"), link(3, 2, 0, 3, 1, "IMAGE"),
              link(4, 4, 0, 5, 1, "IMAGE"), link(5, 3, 0, 6, 0, "RGTHREE_CONTEXT"),
              link(6, 5, 0, 6, 1, "RGTHREE_CONTEXT"), link(7, 6, 7, 7, 0, "IMAGE")],
}


def test_the_switch_skips_the_context_of_a_muted_branch(tmp_path):
    path = tmp_path / "ctx.json"
    path.write_text(json.dumps(WORKFLOW))
    report = run_file(path, RunOptions(output_dir=tmp_path / "out", device="cpu", models_dir=str(tmp_path)))
    pngs = [p for p in report.result.written if str(p).endswith(".png")]
    # ctx_01's image comes from a muted node (absent, so its context is empty); ctx_02 holds
    # the 3-frame batch from frame 1: 2 frames
    assert len(pngs) == 2
