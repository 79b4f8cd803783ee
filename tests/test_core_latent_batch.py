"""ComfyUI core's EmptySD3LatentImage and RebatchLatents, against the pack's rules worked out
by hand (``comfy_extras/nodes_sd3.py``, ``comfy_extras/nodes_rebatch.py``)."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from specs_for_tests import inp, out, workflow
from specs_for_tests import node as ui_node
from wfrun.engine.plan import make_plan
from wfrun.engine.run import OutputCache, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.specs.registry import default_registry


def test_empty_sd3_latent_is_16_zero_channels_at_an_eighth():
    (latent,) = node("EmptySD3LatentImage")(None, width=2048, height=1016, batch_size=3)
    assert set(latent) == {"samples"}  # no downscale_ratio_spacial, unlike EmptyLatentImage
    assert latent["samples"].shape == (3, 16, 127, 256) and latent["samples"].eq(0).all()


def lat(batch: int, side: int, seed: int, **extra) -> dict:
    return {"samples": torch.randn(batch, 4, side, side, generator=torch.Generator().manual_seed(seed)), **extra}


def test_latents_are_joined_while_their_size_agrees_and_cut_into_batches():
    """3 + 2 latents of 4x4 then 1 of 6x6, batch 2, worked out as the pack's loop goes:
    A(3) > 2 -> [A0 A1], rest [A2]; + B -> [A2 B0 B1] > 2 -> [A2 B0], rest [B1]; C is
    another size -> [B1] closes, [C0] remains -> [C0]. Positions count over all inputs."""
    a, b, c = lat(3, 4, 1), lat(2, 4, 2), lat(1, 6, 3)
    (out_list,) = node("RebatchLatents")(None, latents=[a, b, c], batch_size=[2])
    want = [(torch.cat([a["samples"][:2]]), [0, 1]),
            (torch.cat([a["samples"][2:], b["samples"][:1]]), [2, 3]),
            (b["samples"][1:], [4]),
            (c["samples"], [5])]
    assert len(out_list) == len(want)
    for got, (samples, indices) in zip(out_list, want):
        assert set(got) == {"samples", "batch_index"}  # all-ones masks are dropped
        torch.testing.assert_close(got["samples"], samples, rtol=0, atol=0)
        assert got["batch_index"] == indices


def test_masks_travel_with_their_latents_and_saved_positions_are_kept():
    mask = torch.zeros(1, 1, 32, 32)  # one mask for B's two latents: repeated
    a, b = lat(1, 4, 4, batch_index=[7]), lat(2, 4, 5, noise_mask=mask)
    (out_list,) = node("RebatchLatents")(None, latents=[a, b], batch_size=[4])
    (only,) = out_list
    assert only["batch_index"] == [7, 1, 2]  # A's saved index, then B's positions after A's one latent
    want_mask = torch.cat([torch.ones(1, 1, 32, 32), mask, mask])  # A: the pack's ones at 8x
    torch.testing.assert_close(only["noise_mask"], want_mask)


def test_bad_lists_and_unjoinable_masks_are_named():
    with pytest.raises(NodeInputError) as err:
        node("RebatchLatents")(None, latents=[lat(1, 4, 1), {"samples": "x"}], batch_size=[1])
    assert err.value.input_name == "latents"
    with pytest.raises(NodeInputError, match="cannot be joined") as err:
        node("RebatchLatents")(None, latents=[lat(1, 4, 1, noise_mask=torch.zeros(1, 1, 16, 16)), lat(1, 4, 2)],
                               batch_size=[4])
    assert err.value.input_name == "latents"


def test_the_engine_runs_the_next_node_once_per_batch():
    """EmptySD3LatentImage (batch 5) -> RebatchLatents (2) -> LatentCut per item: three calls
    (2, 2 and 1 latents), their outputs a list of three."""
    nodes = [ui_node(1, "EmptySD3LatentImage", [64, 32, 5], outputs=[out("LATENT", "LATENT", [1])]),
             ui_node(2, "RebatchLatents", [2], inputs=[inp("latents", "LATENT", 1)],
                     outputs=[out("LATENT", "LATENT", [2])]),
             ui_node(3, "LatentCut", ["x", 0, 2], inputs=[inp("samples", "LATENT", 2)],
                     outputs=[out("LATENT", "LATENT")])]
    links = [[1, 1, 0, 2, 0, "LATENT"], [2, 2, 0, 3, 0, "LATENT"]]
    graph = build(from_data(workflow(nodes, links), "rebatch.json"), default_registry())
    assert not [p for p in graph.problems if p.severity.name == "ERROR"], graph.problems
    result = run_plan(graph, make_plan(graph, ["3"]), ExecContext(device="cpu"), OutputCache())
    cut = result.outputs["3"][0]
    assert [item["samples"].shape for item in cut] == [(2, 16, 4, 2), (2, 16, 4, 2), (1, 16, 4, 2)]
    assert [item["batch_index"] for item in cut] == [[0, 1], [2, 3], [4]]
