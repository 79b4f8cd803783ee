"""Write the JSON Schemas in ``schemas/`` from the pydantic models.

The schemas are generated, not hand-kept, so they cannot drift from the models that
load files (a test regenerates them and compares). Run ``python -m
wfrun.jobs.schema_export`` after changing a model.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel, TypeAdapter

from wfrun.formats.api import ApiPrompt
from wfrun.formats.ui import UIWorkflow
from wfrun.migrate.rule import MigrationRule
from wfrun.specs.registry import schemas_dir
from wfrun.specs.spec import PackSpecs

DIALECT = "https://json-schema.org/draft/2020-12/schema"

SCHEMAS: dict[str, tuple[Any, str]] = {
    "workflow-ui.schema.json": (UIWorkflow, "A ComfyUI UI workflow (format 0.4 or 1.x, with subgraphs)"),
    "workflow-api.schema.json": (ApiPrompt, "A ComfyUI API prompt (what the frontend queues)"),
    "node-spec.schema.json": (PackSpecs, "wfrun node specs of one pack (schemas/nodes/<pack>.json)"),
    "migration.schema.json": (MigrationRule, "A wfrun migration rule (migrations/<pack>/NNNN_<what>.yaml)"),
}


def generate(model: Any, title: str, name: str) -> dict[str, Any]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        body = model.model_json_schema(mode="validation")
    else:
        body = TypeAdapter(model).json_schema(mode="validation")
    return {"$schema": DIALECT, "$id": f"https://wfrun.dev/schemas/{name}", "title": title,
            **{k: v for k, v in body.items() if k != "title"}}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    out = schemas_dir()
    for name, (model, title) in SCHEMAS.items():
        (out / name).write_text(render(generate(model, title, name)), encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
