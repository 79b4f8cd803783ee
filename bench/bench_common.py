"""What the workflow benchmarks share: their options, and the edits they make to the corpus
workflows before running them."""

from __future__ import annotations


def link_compile_settings(data: dict) -> None:
    """Connect the workflow's (unlinked) WanVideoTorchCompileSettings to the model loader."""
    settings = next(n for n in data["nodes"] if n["type"] == "WanVideoTorchCompileSettings")
    loader = next(n for n in data["nodes"] if n["type"] == "WanVideoModelLoader")
    socket = next(i for i in loader["inputs"] if i["name"] == "compile_args")
    link_id = data["last_link_id"] = data["last_link_id"] + 1
    data["links"].append([link_id, settings["id"], 0, loader["id"], loader["inputs"].index(socket),
                          settings["outputs"][0]["type"]])
    socket["link"] = link_id
    settings["outputs"][0]["links"] = [link_id]
    settings["mode"] = 0


def add_job_arguments(parser, steps: int) -> None:
    """The options every workflow benchmark takes: which corpus file, where to work, the
    video's size and steps, the device, and --small for a CPU smoke run."""
    from pathlib import Path

    parser.add_argument("--workflow", required=True, type=Path, help="the corpus workflow to run")
    parser.add_argument("--out", required=True, type=Path, help="working folder (models, outputs)")
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="tiny widths, for a CPU smoke run")
