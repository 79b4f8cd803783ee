"""The JSON Schemas in schemas/ are generated from the models and agree with them."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, all_workflow_files, is_api_prompt, ui_corpus_files
from wfrun.formats.document import FormatError, from_data
from wfrun.jobs.schema_export import SCHEMAS, generate, render
from wfrun.jobs.validate import schema_problems

SCHEMA_DIR = ROOT / "schemas"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_equals_generated(name):
    model, title = SCHEMAS[name]
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == render(generate(model, title, name)), (
        f"schemas/{name} is stale: run `python -m wfrun.jobs.schema_export`")


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schemas_are_valid_draft_2020_12(name):
    schema = json.loads((SCHEMA_DIR / name).read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_corpus_and_template_file_passes_the_schema():
    validators = {kind: jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / f"workflow-{kind}.schema.json")
                                                                   .read_text())) for kind in ("ui", "api")}
    failures = []
    for path in all_workflow_files():
        validator = validators["api" if is_api_prompt(path) else "ui"]
        errors = list(validator.iter_errors(json.loads(path.read_text(encoding="utf-8"))))
        if errors:
            failures.append((path.name, errors[0].message))
    assert failures == []


def test_node_spec_files_pass_their_schema():
    validator = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "node-spec.schema.json").read_text()))
    files = sorted((SCHEMA_DIR / "nodes").glob("*.json"))
    assert files, "no node spec files in schemas/nodes"
    for path in files:
        assert list(validator.iter_errors(json.loads(path.read_text()))) == [], path.name


def test_malformed_files_fail_with_a_path_to_the_bad_field():
    data = json.loads(ui_corpus_files()[0].read_text())
    data["nodes"][2]["inputs"] = [{"name": "x", "type": "INT", "link": "seven"}]
    data["links"][1] = data["links"][1][:3]
    paths = {d.path for d in schema_problems(data, "f.json")}
    assert paths == {"nodes[2].inputs[0].link", "links[1]"}


# Values that break a field's shape, to poke at random places of real files.
_BAD_VALUES = st.sampled_from(["7", 7, 7.5, None, True, [], {}, [1, 2], {"a": 1}])


def _pointers(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _pointers(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:4]):
            yield from _pointers(item, prefix + (index,))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_schema_and_models_agree_on_damaged_files(data):
    path = data.draw(st.sampled_from(ui_corpus_files()[::7]))
    doc = json.loads(path.read_text())
    pointers = [p for p in _pointers(doc) if p and p[0] in ("nodes", "links", "version")]
    pointer = data.draw(st.sampled_from(pointers))
    target = doc
    for key in pointer[:-1]:
        target = target[key]
    target[pointer[-1]] = data.draw(_BAD_VALUES)
    schema_ok = not schema_problems(doc, "f")
    try:
        from_data(doc)
        model_ok = True
    except FormatError:
        model_ok = False
    assert schema_ok == model_ok, pointer
