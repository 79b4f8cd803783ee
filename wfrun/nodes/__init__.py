"""The executor API the packs are written against: the ``executor`` decorator keyed by
``class_type``, ``ExecContext``, ``NodeInputError``, and helpers for the files and model
files an executor reads. Packs live in ``wfrun.packs``; the engine loads them."""
