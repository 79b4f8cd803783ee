"""How big a workflow wfrun agrees to read, and how large a loop count it agrees to run.

Workflows are files from the internet. A 23 KB file of subgraphs nested twelve deep,
each holding three instances of the next, expands to 531,441 nodes; a link slot of 10**30
or a ``steps`` of 10**7 is one edit away. Each limit below sits far above anything a real
workflow uses (the largest of the 800-odd corpus files and ComfyUI templates has 230
nodes and 425 links) and is checked *before* the work it guards is done, so a hostile
file is refused early with a diagnostic with a named code, never a hang, a
RecursionError or a crash.
"""

from __future__ import annotations

#: Nodes in a UI file (root graph plus every subgraph definition), or in an API prompt.
MAX_FILE_NODES = 20_000
#: Links in a UI file (root graph plus every subgraph definition), or link inputs in an
#: API prompt.
MAX_FILE_LINKS = 100_000
#: Nodes after every subgraph instance is expanded (checked while expanding).
MAX_EXPANDED_NODES = 20_000
#: Subgraphs inside subgraphs: the frontend's own nesting never comes near this.
MAX_SUBGRAPH_DEPTH = 32
#: A link slot is an index into a node's inputs or outputs; no node has thousands.
MAX_SLOT = 1_000

#: Build problems after which the graph is incomplete (reading stopped at a limit): no
#: further checks run on it, since thousands of follow-on diagnostics about the nodes
#: left half-read would bury the one that matters.
TRUNCATING_CODES = frozenset({"too-many-nodes", "too-many-links"})

#: Counts a node loops over, by input name, and the largest value wfrun runs: what
#: ComfyUI's own sampling and Wan nodes accept (KSampler ``steps`` ≤ 10,000,
#: WanImageToVideo ``length`` ≤ 16,384, EmptyLatentImage ``batch_size`` ≤ 4,096). The
#: wrapper's sampler has no max at all, so without this ``steps: 10000000`` passes every
#: check. A few nodes wfrun does not run allow more (LoRA training, a context-window
#: visualiser); the check applies to every node with such an input.
COUNT_LIMITS: dict[str, int] = {
    "steps": 10_000,
    "num_frames": 16_384,
    "length": 16_384,
    "frames": 16_384,
    "frame_count": 16_384,
    "video_frames": 16_384,
    "batch_size": 4_096,
}


def count_limit(input_name: str) -> int | None:
    """The upper bound for a loop count input, or None when the input is not one."""
    return COUNT_LIMITS.get(input_name)
