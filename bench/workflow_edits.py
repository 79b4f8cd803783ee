"""Edits the benchmarks make to the corpus workflows before running them."""

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
