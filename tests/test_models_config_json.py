"""Model folders' JSON files are read with a bound and give one clear error each way."""

from __future__ import annotations

import pytest

from wfrun.models import config_json


class FolderError(Exception):
    pass


def test_a_json_object_is_read_and_everything_else_is_a_clear_error(tmp_path, monkeypatch):
    good = tmp_path / "config.json"
    good.write_text('{"hidden_size": 8}', encoding="utf-8")
    assert config_json.read_json_object(good, FolderError) == {"hidden_size": 8}
    with pytest.raises(FolderError, match="no missing.json"):
        config_json.read_json_object(tmp_path / "missing.json", FolderError)
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(FolderError, match="not a JSON object"):
        config_json.read_json_object(tmp_path / "list.json", FolderError)
    (tmp_path / "bad.json").write_bytes(b"\xff{")
    with pytest.raises(FolderError, match="not readable JSON"):
        config_json.read_json_object(tmp_path / "bad.json", FolderError)
    monkeypatch.setattr(config_json, "MAX_JSON_BYTES", 10)
    with pytest.raises(FolderError, match="larger than 10 bytes; not a tokenizer"):
        config_json.read_json_object(good, FolderError, "a tokenizer")
