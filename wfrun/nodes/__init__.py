"""The executor API the packs are written against: the ``executor`` decorator keyed by
``class_type`` with typed metadata (``ExecutorInfo``), ``ExecContext``, ``NodeInputError``,
the ``graph_check``/``value_check`` decorators for a pack's checks (``checks.py``), and
helpers for the files and model files an executor reads. Packs live in ``wfrun.packs``;
the engine loads them."""
