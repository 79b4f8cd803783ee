"""A pydantic base that loses nothing: unknown fields kept, key order kept.

Workflow files are user documents (positions, colours, notes, fields from frontends we
have never seen). A load → dump round trip must give back the same JSON value, and a
migrated file should diff cleanly against its original, so we also keep key order.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_serializer, model_validator


class KeptModel(BaseModel):
    """Base for every file-format model: ``extra="allow"``, strict types, order kept.

    Strict so that a value is never silently coerced (``"5"`` stays a string and is
    reported, rather than becoming ``5`` in a re-saved file).
    """

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)

    _key_order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_key_order(cls, data: Any, handler: Any) -> Any:
        obj = handler(data)
        if isinstance(data, dict):
            obj._key_order = tuple(data.keys())
        return obj

    @model_serializer(mode="wrap")
    def _dump_in_saved_order(self, handler: Any) -> Any:
        out = handler(self)
        if not self._key_order or not isinstance(out, dict):
            return out
        ordered = {k: out[k] for k in self._key_order if k in out}
        ordered.update((k, v) for k, v in out.items() if k not in ordered)
        return ordered

    def dump(self) -> Any:
        """The JSON value of this model as it would be written to a file."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)
