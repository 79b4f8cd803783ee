"""ClownOptions_DetailBoost_Beta (RES4LYF ``beta/samplers_extensions.py``, 81fe5f4d).

The pack's node writes its settings into the OPTIONS dict its ClownsharKSampler reads
(``noise_scaling_weight`` / ``_type`` / ``_mode`` / ``_eta`` and per-step weight and eta
tables that are zero before ``start_step`` and from ``end_step`` on). Inside the sampler a
non-zero weight changes the sigma the model is told ("model": a lower, "lying" sigma from
a noise-mode step split; "sampler": rescaled stage updates), which is deep inside
RES4LYF's ``sample_rk_beta`` and not ported. So here the node passes neutral settings
through (weight 0: the sampler skips the boost at every step, as the pack does) and
refuses any setting that would change the result, naming the input, rather than run
without the boost silently.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: The OPTIONS key under which this node's (neutral) settings travel.
DETAIL_BOOST_KEY = "detail_boost"


def _merged(options: Any) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise NodeInputError("options", f"expected OPTIONS from another ClownOptions node, got {type(options).__name__}")
    return dict(options)


@executor("ClownOptions_DetailBoost_Beta")
def clown_options_detail_boost(ctx: ExecContext, weight: Any, method: Any, mode: Any, eta: Any, start_step: Any,
                               end_step: Any, weights: Any = None, etas: Any = None, options: Any = None,
                               **_: Any) -> tuple:
    if weights is not None:
        raise NodeInputError("weights", "a per-step detail-boost weight schedule is not supported in wfrun "
                             "(RES4LYF's detail boost is not ported)", "disconnect weights")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise NodeInputError("weight", f"expected a number, got {weight!r}")
    if float(weight) != 0.0:
        raise NodeInputError("weight", f"detail boost weight {weight} (method {method!r}) is not supported in wfrun: "
                             "RES4LYF's noise-scaling detail boost inside ClownsharKSampler is not ported",
                             "set weight to 0 or bypass the ClownOptions_DetailBoost_Beta node")
    out = _merged(options)
    out[DETAIL_BOOST_KEY] = {"weight": 0.0, "method": method, "mode": mode, "eta": eta,
                             "start_step": start_step, "end_step": end_step}
    return (out,)
