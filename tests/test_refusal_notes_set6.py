"""Refusals the sixth public set asked for: stavsap's Ollama nodes are named as network API
nodes (they post the workflow's text and images to an Ollama server), and a node a file
claims for ComfyUI's core (``cnr_id`` comfy-core) that no core node is (tool-written files
invent ``EmptyWanLatentVideo``) is said to be unknown to ComfyUI too; both before anything
loads, without a traceback."""

from __future__ import annotations

from node_helpers import refused_before_loading


def test_ollama_nodes_are_refused_as_network_api_nodes(tmp_path):
    out = refused_before_loading(tmp_path, {
        "1": {"class_type": "OllamaConnectivityV2", "inputs": {"url": "http://127.0.0.1:11434", "model": "llama3",
                                                                "keep_alive": 5, "keep_alive_unit": "minutes"}},
        "2": {"class_type": "OllamaGenerateV2", "inputs": {"connectivity": ["1", 0], "system": "", "prompt": "hi",
                                                            "think": False, "keep_context": False, "format": "text"}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["7", 0], "filename_prefix": ["2", 0]}},
        "7": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 64, "height": 64, "length": 5,
                                                                   "batch_size": 1}},
    })
    assert "OllamaGenerateV2" in out and "Ollama server's HTTP API" in out
    assert "OllamaConnectivityV2, OllamaGenerateV2 call(s) a network API" in out


def test_a_core_node_no_core_version_has_is_named_as_unknown_to_comfyui(tmp_path):
    out = refused_before_loading(tmp_path, {"last_node_id": 2, "last_link_id": 1, "version": 0.4, "links": [[1, 1, 0, 2, 0, "LATENT"]],
                          "nodes": [
        {"id": 1, "type": "EmptyWanLatentVideo", "mode": 0, "widgets_values": [832, 480, 81, 1],
         "properties": {"cnr_id": "comfy-core", "ver": "0.3.34"}, "inputs": [],
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [1]}]},
        {"id": 2, "type": "SaveLatent", "mode": 0, "widgets_values": ["x"], "properties": {"cnr_id": "comfy-core"},
         "inputs": [{"name": "samples", "type": "LATENT", "link": 1}], "outputs": []}]})
    assert "EmptyWanLatentVideo" in out and "ComfyUI's core (read at 0a92ed1, 2026-06-23) has no node of this name" in out
