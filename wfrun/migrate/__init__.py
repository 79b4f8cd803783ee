"""Repairing workflows broken by node API changes (``wfrun migrate``).

:func:`migrate_document` re-binds every node's saved widget values by name from its
pack's spec history (:mod:`history`, :mod:`rebind`), applies the pack's rules
(``migrations/<pack>/*.yaml``: :mod:`rules`, :mod:`replace`) and reports per node what
moved and why (:mod:`report`). :func:`migrate_file` does the same for a file on disk.
"""

from wfrun.migrate.apply import migrate_document, migrate_file
from wfrun.migrate.report import Change, MigrationResult, NodeReport

__all__ = ["migrate_document", "migrate_file", "MigrationResult", "NodeReport", "Change"]
