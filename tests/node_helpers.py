"""Calling one executor directly, the way the engine calls it.

Executors keep no defaults of their own (one place for one fact: the spec); the engine fills
a widget input the workflow does not set from :meth:`NodeSpec.widget_defaults`. A test that
calls an executor with a few inputs gets the rest the same way through :func:`node`.
"""

from __future__ import annotations

from typing import Any, Callable

from wfrun.engine.executors import get_executor
from wfrun.specs.registry import default_registry


def spec_defaults(class_type: str) -> dict[str, Any]:
    """The widget defaults the engine fills for ``class_type`` (newest signature); each a
    list of one for a node that takes its inputs as lists (``INPUT_IS_LIST``), as the
    engine hands them (``wfrun.engine.lists``)."""
    spec = default_registry().get(class_type)
    assert spec is not None, f"no spec for {class_type}"
    defaults = spec.widget_defaults()
    if spec.latest.input_is_list:
        return {name: [value] for name, value in defaults.items()}
    return defaults


def node(class_type: str) -> Callable[..., tuple]:
    """``class_type``'s executor, called as ``node(X)(ctx, **inputs)`` with the spec's
    defaults under the given inputs (a node that takes lists gets lists: pass lists)."""
    fn = get_executor(class_type)
    assert fn is not None, f"no executor for {class_type}"
    defaults = spec_defaults(class_type)

    def call(ctx: Any, **inputs: Any) -> tuple:
        return fn(ctx, **{**defaults, **inputs})

    return call


def empty_text() -> list:
    """A CONDITIONING of one empty UMT5 embedding at the tiny models' width."""
    import torch

    return [[torch.zeros(1, 512, 8), {}]]


def saved_as(ctx: Any, class_type: str, aux_id: str, ver: str | None, node_id: str = "7") -> Any:
    """``ctx`` for node ``node_id`` of a workflow that saved it with ``aux_id`` and, when
    given, the pack's release ``ver`` (``properties``, where executors read the release)."""
    import dataclasses

    props = {"aux_id": aux_id} | ({"ver": ver} if ver else {})
    workflow = {"nodes": [{"id": int(node_id), "type": class_type, "properties": props}]}
    return dataclasses.replace(ctx, node_id=node_id, workflow_json=workflow)


def refused_before_loading(tmp_path: Any, prompt: dict) -> str:
    """``wfrun run --smoke --tiny-models`` on an API prompt that must be refused before any
    model loads (exit 1, no traceback); the run's output, for the test to read the reasons."""
    import json

    from click.testing import CliRunner

    from wfrun.cli import main

    path = tmp_path / "wf.json"
    path.write_text(json.dumps(prompt))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--tiny-models", "-o", str(tmp_path / "out")],
                                env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 1, result.output
    assert "nothing was loaded" in result.output and "Traceback" not in result.output
    return result.output


def tiny_core(tiny_models: Any) -> tuple:
    """(context, MODEL, positive, negative) for the core samplers' tests: the tiny Wan 2.1 T2V
    checkpoint through UNETLoader and two random text conditionings (seed 0) of its width."""
    import torch

    from wfrun.models.paths import ModelRoots
    from wfrun.nodes.executor import ExecContext

    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    dim = model.transformer.config.text_dim
    g = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, 512, dim, generator=g), {}]]
    negative = [[torch.randn(1, 512, dim, generator=g), {}]]
    return ctx, model, positive, negative
