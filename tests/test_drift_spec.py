"""Reading specs, configs and allowlists: malformed input is a clear error naming the file and line."""

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest

from cloudmake_pipelines.drift import SpecError, run_check

FIXTURES = Path(__file__).parent / "fixtures" / "drift"


def _target(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def _error(tmp_path, files) -> str:
    with pytest.raises(SpecError) as err:
        run_check(_target(tmp_path, files))
    assert err.value.exit_code == 2
    return str(err.value)


MODEL = "specs/001-core/data-model.md"


@pytest.mark.parametrize(("text", "message"), [
    ("# M\n\n```yaml\nentity: t\nfields:\n  id: bigint pk\n  a: [unclosed\n```\n",
     f"{MODEL}:8: not valid YAML"),
    ("# M\n\ntext\n\n```yaml\nentity: t\nfields:\n  id: bigint pk\n  name: varchar(20)\n```\n",
     f"{MODEL}:9: unknown type 'varchar(20)'"),
    ("# M\n\n```yaml\nentity: t\nfields:\n  id: bigint pk\n  a: string(20) maybe\n```\n",
     f"{MODEL}:7: field a: 'string(20) maybe' is not 'type', 'type?' or 'type pk'"),
    ("# M\n\n```yaml\nentity: t\nfields:\n  id: {type: bigint, primary: true}\n```\n",
     f"{MODEL}:6: field id: unknown key(s) primary"),
    ("# M\n\n```yaml\nentity: t\n```\n", f"{MODEL}:4: entity t: 'fields' must map each field to its type"),
])
def test_data_model_errors_name_file_and_line(tmp_path, text, message):
    assert message in _error(tmp_path, {MODEL: text})


def test_duplicate_entity_across_features_names_both(tmp_path):
    block = "```yaml\nentity: t\nfields: {id: bigint pk}\n```\n"
    message = _error(tmp_path, {MODEL: block, "specs/002-more/data-model.md": "# x\n" + block})
    assert "specs/002-more/data-model.md:2: entity t is also declared at specs/001-core/data-model.md:1" in message


@pytest.mark.parametrize(("name", "text", "message"), [
    ("api.yaml", "swagger: '2.0'\npaths: {}\n", "api.yaml: expected an OpenAPI 3.0 or 3.1 document"),
    ("api.yaml", "openapi: 3.1.0\npaths:\n  /a: {get: {}\n", "api.yaml:4: not valid YAML"),
    ("api.json", '{"openapi": "3.0.3",\n "paths": {,}}', "api.json:2: not valid JSON"),
    ("api.yaml", "openapi: 3.0.3\npaths: [a]\n", "api.yaml: 'paths' must be a mapping"),
])
def test_contract_errors(tmp_path, name, text, message):
    assert message in _error(tmp_path, {f"specs/001-core/contracts/{name}": text})


@pytest.mark.parametrize(("text", "message"), [
    ('{\n  "color": {\n    "a": {"$value": "#fff",}\n  }\n}', "design.tokens.json:3: not valid JSON"),
    ('{"color": {"a": "#fff"}}', "design.tokens.json:1: color.a: expected a token (with $value) or a group"),
    ('{"color": {"$type": "color",\n "a": {"$value": "{color.b}"},\n "b": {"$value": "{color.a}"}}}',
     "alias cycle: color.a -> color.b -> color.a"),
    ('{"color": {"a": {"$value": "{color.nope}"}}}', "token color.a refers to unknown token {color.nope}"),
])
def test_token_errors(tmp_path, text, message):
    assert message in _error(tmp_path, {"specs/001-core/design.tokens.json": text, "a.css": ":root{}"})


def test_layout_and_config_errors(tmp_path):
    assert "no specs folder" in _error(tmp_path / "a", {"x.txt": ""})
    assert "no feature folders: expected specs/NNN-feature-name/" in _error(tmp_path / "b", {"specs/core/spec.md": ""})
    assert "drift.yaml:1: databse: unknown key: expected one of specs, python_path, allowlist, database" in _error(tmp_path / "c", {"drift.yaml": "databse: {}\n",
                                                                            MODEL: ""})
    assert "drift.yaml:3: not valid YAML" in _error(tmp_path / "d", {"drift.yaml": "database: {}\nspecs: [x\n", MODEL: ""})
    assert "database={'url': 'sqlite://', 'sql': ['a.sql']}: expected one of url, migrations or sql" in _error(
        tmp_path / "e", {"drift.yaml": "database: {url: sqlite://, sql: [a.sql]}\n", MODEL: ""})
    message = _error(tmp_path / "f", {MODEL: "```yaml\nentity: t\nfields: {id: bigint pk}\n```\n"})
    assert "the spec declares 1 entities but the target has no database" in message
    assert "${NOPE_NOT_SET} is used but the environment variable is not set" in _error(
        tmp_path / "g", {"drift.yaml": "database: {url: '${NOPE_NOT_SET}'}\n", MODEL: ""})
    bad_sql = _error(tmp_path / "h", {"drift.yaml": "database: {sql: [s.sql]}\n", "s.sql": "CREATE TABLE (;",
                                      MODEL: ""})
    assert "s.sql: SQL failed on SQLite" in bad_sql


def test_app_that_cannot_be_imported_is_a_spec_error(tmp_path):
    message = _error(tmp_path, {"drift.yaml": "routes: {openapi: {app: 'nowhere.app:app'}}\n", MODEL: ""})
    assert "cannot import 'nowhere.app:app': ModuleNotFoundError" in message


ALLOWLIST_TARGET = {
    "drift.yaml": "database: {sql: [s.sql]}\n",
    "s.sql": "CREATE TABLE t (id BIGINT PRIMARY KEY, extra_col TEXT);",
    MODEL: "```yaml\nentity: t\nfields: {id: bigint pk}\n```\n",
}


def test_allowlist_accepts_until_expiry_then_blocks_again(tmp_path):
    files = {**ALLOWLIST_TARGET, "drift-allowlist.yaml": textwrap.dedent("""\
        accepted:
          - item: "entities:extra:t.extra_col"
            reason: "read by the legacy exporter until it is retired"
            expires: 2026-12-31
          - item: "routes:extra:GET /gone"
            reason: "stale"
            expires: 2027-01-01
        """)}
    target = _target(tmp_path, files)
    before = run_check(target, clock=lambda: dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC))
    assert not before.has_drift and before.counts["accepted"] == 1
    assert before.accepted[0]["reason"].startswith("read by the legacy exporter")
    assert any("routes:extra:GET /gone" in w and "matches no drift" in w for w in before.warnings)
    after = run_check(target, clock=lambda: dt.datetime(2027, 1, 1, 0, 0, tzinfo=dt.UTC))
    assert [i.key for i in after.items] == ["entities:extra:t.extra_col"]
    assert any("expired on 2026-12-31" in w and "blocks again" in w for w in after.warnings)


@pytest.mark.parametrize(("entry", "message"), [
    ('- {item: "entities:extra:t.x", expires: 2027-01-01}',
     "drift-allowlist.yaml:2: accepted.0.reason: expected a value: it is required"),
    ('- {item: "entities:extra:t.x", reason: " ", expires: 2027-01-01}',
     "drift-allowlist.yaml:2: accepted.0.reason=' ': expected at least 1 character(s)"),
    ('- {item: "entities:gone:t.x", reason: r, expires: 2027-01-01}',
     "drift-allowlist.yaml:2: accepted.0.item='entities:gone:t.x': expected 'dimension:kind:name' with dimension"),
    ('- {item: "entities:extra:t.x", reason: r, expires: soon}',
     "drift-allowlist.yaml:2: accepted.0.expires='soon': expected a date (YYYY-MM-DD)"),
])
def test_allowlist_entries_are_validated(tmp_path, entry, message):
    files = {**ALLOWLIST_TARGET, "drift-allowlist.yaml": f"accepted:\n  {entry}\n"}
    assert message in _error(tmp_path, files)


def test_spec_digest_changes_with_any_spec_file(tmp_path):
    target = _target(tmp_path, {**ALLOWLIST_TARGET, "drift-allowlist.yaml": "accepted: []\n"})
    first = run_check(target).spec_digest
    assert run_check(target).spec_digest == first
    (target / "specs/001-core/spec.md").write_text("# changed\n")
    assert run_check(target).spec_digest != first
    assert json.dumps(run_check(target).as_dict())  # the report is JSON-serializable


def test_scaffolded_blocks_specify_the_extra_tables_exactly(tmp_path):
    import shutil

    from cloudmake_pipelines.drift.check import scaffold_entities

    target = tmp_path / "t"
    shutil.copytree(FIXTURES / "fastapi-drift", target, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(FIXTURES / "shop-spec", tmp_path / "shop-spec")
    [block] = scaffold_entities(target)
    assert block.startswith("## audit_events\n\n```yaml\nentity: audit_events\nfields:\n  id: integer pk\n")
    model = tmp_path / "shop-spec/specs/001-shop/data-model.md"
    model.write_text(model.read_text() + "\n" + block)
    keys = {item.key for item in run_check(target).items}
    assert "entities:extra:audit_events" not in keys and "entities:missing:orders" in keys
    assert scaffold_entities(target) == []
