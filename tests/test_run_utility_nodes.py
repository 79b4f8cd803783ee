"""The utility nodes of several packs in one workflow, through ``wfrun run``: a ComfyLiterals
Int, essentials' ImageFromBatch+, rgthree's Any Switch with an input fed by a muted node
(absent, as in ComfyUI), VideoHelperSuite's SelectEveryNthImage and Easy-Use's cleanGpuUsed."""

from __future__ import annotations

import json

from wfrun.jobs.run import RunOptions, run_file


def link(id_, origin, o_slot, target, t_slot, type_):
    return [id_, origin, o_slot, target, t_slot, type_]


def ui(id_, type_, inputs=(), outputs=(), widgets=(), mode=0):
    return {"id": id_, "type": type_, "mode": mode, "pos": [0, 0], "size": [100, 100], "flags": {}, "order": id_,
            "inputs": [{"name": n, "type": t, "link": l, **({"widget": {"name": n}} if t == "INT" else {})}
                       for n, t, l in inputs],
            "outputs": [{"name": n, "type": t, "links": ls} for n, t, ls in outputs],
            "widgets_values": list(widgets), "properties": {}}


WORKFLOW = {
    "last_node_id": 8, "last_link_id": 7, "version": 0.4,
    "nodes": [
        ui(1, "Int", outputs=[("INT", "INT", [1])], widgets=["5"]),
        ui(2, "EmptyImage", inputs=[("batch_size", "INT", 1)], outputs=[("IMAGE", "IMAGE", [2, 3])],
           widgets=[16, 8, 9, 0]),  # batch_size 9 in the widget, 5 from the linked Int
        ui(3, "ImageFromBatch+", inputs=[("image", "IMAGE", 2)], outputs=[("IMAGE", "IMAGE", [4])], widgets=[1, -1]),
        ui(4, "ImagePass", inputs=[("image", "IMAGE", 3)], outputs=[("IMAGE", "IMAGE", [5])], mode=2),
        ui(5, "Any Switch (rgthree)", inputs=[("any_01", "*", 5), ("any_02", "*", 4), ("any_03", "*", None)],
           outputs=[("*", "*", [6])]),
        ui(6, "VHS_SelectEveryNthImage", inputs=[("images", "IMAGE", 6)],
           outputs=[("IMAGE", "IMAGE", [7]), ("count", "INT", None)], widgets=[2, 0]),
        ui(7, "easy cleanGpuUsed", inputs=[("anything", "*", 7)], outputs=[("output", "*", [8])]),
        ui(8, "SaveImage", inputs=[("images", "IMAGE", 8)], widgets=["utility"]),
    ],
    "links": [link(1, 1, 0, 2, 0, "INT"), link(2, 2, 0, 3, 0, "IMAGE"), link(3, 2, 0, 4, 0, "IMAGE"),
              link(4, 3, 0, 5, 1, "IMAGE"), link(5, 4, 0, 5, 0, "IMAGE"), link(6, 5, 0, 6, 0, "*"),
              link(7, 6, 0, 7, 0, "IMAGE"), link(8, 7, 0, 8, 0, "*")],
}


def test_utility_nodes_run_end_to_end(tmp_path):
    path = tmp_path / "utility.json"
    path.write_text(json.dumps(WORKFLOW))
    report = run_file(path, RunOptions(output_dir=tmp_path / "out", device="cpu", models_dir=str(tmp_path)))
    pngs = sorted(p for p in report.result.written if str(p).endswith(".png"))
    # 5 frames (the Int), from frame 1: 4 frames; the muted pass-through is skipped by the
    # switch; every 2nd: frames 1 and 3
    assert len(pngs) == 2
