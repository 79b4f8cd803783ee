"""Hardware video encoders a run's writers need, checked before anything loads.

VideoHelperSuite's NVENC formats write with NVIDIA's hardware encoders: ffmpeg has them
compiled in everywhere but they open only on an NVIDIA GPU that has NVENC, with NVIDIA's
driver (compute GPUs such as the H100 and H200 have none). ComfyUI finds out when the video
is written, after the sampling; wfrun asks ffmpeg once (``media.video.encoder_problem``) while
the run is prepared, so a format that cannot be written costs seconds, not the job. A format
fed by a link is found out by the writer itself, which refuses it the same way. ``--smoke``
writes the software twin instead (``jobs.smoke.RuntimeCaps``).
"""

from __future__ import annotations

from pathlib import Path

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.engine.plan import Plan
from wfrun.graph import WorkflowGraph

#: Nodes whose ``format`` may name a hardware video format (VHS's NVENC ones).
HARDWARE_ENCODER_NODES = frozenset({"VHS_VideoCombine"})


def encoder_problems(graph: WorkflowGraph, plan: Plan, path: Path) -> list[Diagnostic]:
    """A diagnostic for each planned writer whose saved format's encoder does not start here."""
    from wfrun.media.video import encoder_problem
    from wfrun.packs.vhs.formats import hardware_encoder_message, hardware_format, software_twin_inputs

    problems = []
    for node_id in plan.order:
        node = graph.node(node_id)
        if node.class_type not in HARDWARE_ENCODER_NODES:
            continue
        value = node.inputs.get("format")
        video_format = hardware_format(value) if isinstance(value, str) else None
        if video_format is None or not (problem := encoder_problem(str(video_format.encoder))):
            continue
        swapped = software_twin_inputs(node.inputs)
        changed = [f"{node.id}.{name}={value}" for name, value in (swapped[0] if swapped else {}).items()
                   if isinstance(value, str) and node.inputs.get(name) != value]
        problems.append(Diagnostic(
            "missing-encoder", Severity.ERROR, hardware_encoder_message(value, video_format, problem),
            file=str(path), node_id=node.id, node_title=node.title, class_type=node.class_type, input="format",
            found=value, expected="a format this machine's ffmpeg can write",
            hint=f"use video/{video_format.software_twin}, its software twin: "
                 + " ".join(f"--set {c}" for c in changed)))
    return problems
