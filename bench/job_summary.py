"""One screen of what a job benchmark measured: ``python bench/job_summary.py REPORT.json ...``.

Reads the JSON that ``bench/wan22_i2v_template.py`` or ``bench/i2v_endframe_14b.py`` wrote and
prints, per variant, the whole job, its clock marks (``prepared``, ``executing``), each seed,
the slowest nodes with their start on the job's clock, the step times and the peak GPU
memory: what a device run's short output tail has room for, so a session reads its numbers
without fetching files.
"""

from __future__ import annotations

import json
import sys


def _nodes(seconds: dict, started: dict | None, top: int) -> str:
    slow = sorted(seconds.items(), key=lambda kv: -kv[1])[:top]
    parts = []
    for name, s in slow:
        at = started.get(name) if started else None
        parts.append(f"{name} {s:.2f}" + (f"@{at:.1f}" if isinstance(at, (int, float)) else ""))
    return ", ".join(parts)


def summarize(path: str, top: int = 8) -> list[str]:
    report = json.load(open(path, encoding="utf-8"))
    lines = [f"== {path}: {report.get('gpu')} {report.get('versions')}"]
    for name, run in report.items():
        if not isinstance(run, dict) or "wall_s" not in run:
            continue
        timeline = run.get("timeline", {})
        marks = timeline if all(isinstance(v, (int, float)) for v in timeline.values()) else timeline.get("1", {})
        lines.append(f"{name}: wall {run['wall_s']} s; " + ", ".join(f"{k} {v}" for k, v in marks.items()))
        seeds = run.get("seed_seconds")
        if seeds:
            lines.append("  seeds: " + ", ".join(f"{k}: {v}" for k, v in seeds.items()))
            for seed, seconds in run.get("node_seconds", {}).items():
                lines.append(f"  seed {seed} nodes: " + _nodes(seconds, run.get("node_started", {}).get(seed), top))
            for seed, steps in run.get("step_seconds", {}).items():
                lines.append(f"  seed {seed} steps: {steps}")
            lines.append(f"  peak GiB: {run.get('peak_gpu_gib')}")
        else:
            lines.append("  nodes: " + _nodes(run.get("node_seconds", {}), run.get("node_started"), top))
            for key in ("step_seconds", "steps_s", "first_step_s", "median_step_s", "peak_gpu_gib", "sampler_s"):
                if key in run:
                    value = run[key]
                    lines.append(f"  {key}: {value if not isinstance(value, list) else [round(v, 2) for v in value]}")
    return lines


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        try:
            print("\n".join(summarize(argument)))
        except (OSError, ValueError) as err:
            print(f"{argument}: {err}")
