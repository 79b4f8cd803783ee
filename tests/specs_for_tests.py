"""A small made-up node pack, so graph tests state exactly the signatures they rely on."""

from __future__ import annotations

from typing import Any

from wfrun.specs.registry import Registry
from wfrun.specs.spec import PackSpecs


def _i(name: str, type_: str, section: str = "required", **kw: Any) -> dict:
    return {"name": name, "type": type_, "section": section, **kw}


SIG_SAMPLER_OLD = {
    "first_commit": "a" * 40, "date": "2025-01-01",
    "inputs": [_i("image", "IMAGE"), _i("seed", "INT", default=0, min=0, max=2**64 - 1,
                                       control_after_generate=True),
               _i("steps", "INT", default=20, min=1, max=100)],
    "outputs": [{"type": "LATENT"}],
}
SIG_SAMPLER_NEW = {
    "first_commit": "b" * 40, "date": "2025-02-01",
    "inputs": [*SIG_SAMPLER_OLD["inputs"],
               _i("scheduler", "COMBO", options=["unipc", "dpm++", "euler"], default="unipc"),
               _i("cfg", "FLOAT", "optional", default=6.0, min=0.0, max=30.0)],
    "outputs": [{"type": "LATENT"}],
}

PACK = {
    "pack": "testpack", "cnr_id": "testpack",
    "source": {"commits": [["a" * 40, "2025-01-01"], ["c" * 40, "2025-01-15"], ["b" * 40, "2025-02-01"]]},
    "nodes": {
        "LoadImg": {"class_type": "LoadImg", "pack": "testpack", "signatures": [{
            "inputs": [_i("image", "COMBO", options_from="input", image_upload=True)],
            "outputs": [{"type": "IMAGE"}, {"type": "MASK"}]}]},
        "Filter": {"class_type": "Filter", "pack": "testpack", "signatures": [{
            "inputs": [_i("image", "IMAGE"), _i("amount", "FLOAT", default=1.0, min=0.0, max=2.0)],
            "outputs": [{"type": "IMAGE"}]}]},
        "Sampler": {"class_type": "Sampler", "pack": "testpack", "display_name": "My Sampler",
                    "signatures": [SIG_SAMPLER_OLD, SIG_SAMPLER_NEW]},
        "Save": {"class_type": "Save", "pack": "testpack", "signatures": [{
            "inputs": [_i("samples", "LATENT"), _i("prefix", "STRING", default="out")],
            "outputs": [], "output_node": True}]},
        "Resize": {"class_type": "Resize", "pack": "testpack", "signatures": [{
            "inputs": [_i("image", "IMAGE"), _i("width", "INT", default=512, min=0, max=8192),
                       _i("height", "INT", default=512, min=0, max=8192),
                       _i("width_input", "INT", "optional", force_input=True),
                       _i("keep", "BOOLEAN", "optional", default=False)],
            "outputs": [{"type": "IMAGE"}]}]},
        "IntOut": {"class_type": "IntOut", "pack": "testpack", "signatures": [{
            "inputs": [_i("value", "INT", default=0, min=0, max=100000)], "outputs": [{"type": "INT"}]}]},
        "WanVideoEmptyEmbeds": {"class_type": "WanVideoEmptyEmbeds", "pack": "testpack", "signatures": [{
            "inputs": [_i("width", "INT", default=832, min=64, max=8096),
                       _i("height", "INT", default=480, min=64, max=8096),
                       _i("num_frames", "INT", default=81, min=1, max=10000)],
            "outputs": [{"type": "WANVIDIMAGE_EMBEDS"}]}]},
        "WanVideoImageToVideoEncode": {"class_type": "WanVideoImageToVideoEncode", "pack": "testpack",
            "signatures": [{"inputs": [_i("start_image", "IMAGE", "optional")],
                            "outputs": [{"type": "WANVIDIMAGE_EMBEDS"}]}]},
        "WanVideoModelLoader": {"class_type": "WanVideoModelLoader", "pack": "testpack", "signatures": [{
            "inputs": [_i("model", "COMBO", options_from="diffusion_models")],
            "outputs": [{"type": "WANVIDEOMODEL"}]}]},
        "WanVideoSampler": {"class_type": "WanVideoSampler", "pack": "testpack", "signatures": [{
            "inputs": [_i("model", "WANVIDEOMODEL"), _i("image_embeds", "WANVIDIMAGE_EMBEDS")],
            "outputs": [{"type": "LATENT"}]}]},
        "VideoCombine": {"class_type": "VideoCombine", "pack": "testpack", "signatures": [{
            "inputs": [_i("images", "IMAGE"), _i("frame_rate", "FLOAT", default=8.0),
                       _i("format", "COMBO", options_dynamic=True)],
            "outputs": [], "output_node": True}]},
    },
}


def test_registry() -> Registry:
    return Registry([PackSpecs.model_validate(PACK)])


test_registry.__test__ = False  # a factory, not a test


def node(id_: int, type_: str, widgets: Any = None, inputs: list | None = None,
         outputs: list | None = None, mode: int = 0, **extra: Any) -> dict:
    out = {"id": id_, "type": type_, "mode": mode, "inputs": inputs or [], "outputs": outputs or []}
    if widgets is not None:
        out["widgets_values"] = widgets
    out.update(extra)
    return out


def inp(name: str, type_: str, link: int | None = None, widget: str | None = None) -> dict:
    out = {"name": name, "type": type_, "link": link}
    if widget:
        out["widget"] = {"name": widget}
    return out


def out(name: str, type_: str, links: list[int] | None = None) -> dict:
    return {"name": name, "type": type_, "links": links or []}


def workflow(nodes: list[dict], links: list[list], **extra: Any) -> dict:
    return {"last_node_id": max((n["id"] for n in nodes), default=0), "last_link_id": len(links),
            "nodes": nodes, "links": links, "groups": [], "config": {}, "extra": {}, "version": 0.4,
            **extra}
