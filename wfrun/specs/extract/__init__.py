"""Regenerate node input-signature specs (``schemas/nodes/<pack>.json``) from a pack's git
history, statically: the pack's code is parsed with ``ast`` and never imported or run.

- :mod:`.static_eval` evaluates the data-building subset of Python;
- :mod:`.project` makes the files of one commit importable by that interpreter;
- :mod:`.v1_nodes` / :mod:`.v3_nodes` read ``INPUT_TYPES`` classes and ``io.Schema``
  definitions into :class:`~wfrun.specs.spec.Signature`;
- :mod:`.snapshot` finds the registered nodes of one commit;
- :mod:`.gitrepo` / :mod:`.history` walk the commits and keep every signature change.

Command line: ``python -m wfrun.specs.extract --git-dir DIR --pack NAME -o FILE``.
"""

from .gitrepo import ExtractArgumentError, GitError
from .history import extract_pack, write_pack

__all__ = ["ExtractArgumentError", "GitError", "extract_pack", "write_pack"]
