"""Every config file goes through configfile.load_model: one error shape, never a traceback (exit 2)."""

import pytest

from cloudmake_pipelines.configfile import ConfigFileError, load_model
from cloudmake_pipelines.drift.check import run_check
from cloudmake_pipelines.drift.model import SpecError
from cloudmake_pipelines.loadtest.thresholds import load_thresholds
from cloudmake_pipelines.outages.fallbacks import Fallbacks

GOOD_DEFAULTS = '"sc021_p95_ms": 500, "alert_p95_ms": 750, "alert_error_rate": 0.05'


@pytest.mark.parametrize(("load", "name"), [
    (load_thresholds, "loadTestThresholds.json"),
    (Fallbacks.load, "fallbacks.yaml"),
])
def test_non_utf8_and_unparseable_files_are_clear_errors(tmp_path, load, name):
    path = tmp_path / name
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigFileError) as err:
        load(path)
    assert str(err.value) == f"{path}:1: not UTF-8 text (byte 0xff at offset 0): expected a UTF-8 text file"
    assert err.value.exit_code == 2 and err.value.__cause__ is None
    path.write_text("{defaults: [" if name.endswith(".json") else "servers: [\n")
    with pytest.raises(ConfigFileError, match=rf"{name}(:\d+)?: not valid (JSON|YAML)"):
        load(path)


@pytest.mark.parametrize(("content", "message"), [
    ("servers:\n  a:\n    cache_max_age_seconds: .nan\n", "fallbacks.yaml:3: servers.a.cache_max_age_seconds=nan: expected"),
    ("servers:\n  a:\n    cache_max_age_seconds: .inf\n", "fallbacks.yaml:3: servers.a.cache_max_age_seconds=inf: expected"),
    ("default:\n  cached_results: maybe\n", "fallbacks.yaml:2: default.cached_results='maybe': expected true or false"),
    ("- a\n- b\n", "fallbacks.yaml: (top level)=['a', 'b']: expected a mapping"),
    ("servers:\n  a:\n    mesage: hi\n", "fallbacks.yaml:3: servers.a.mesage: unknown key: expected one of "
                                         "alternative_server, cached_results"),
])
def test_fallback_file_values_name_file_line_field_value_and_expectation(tmp_path, content, message):
    path = tmp_path / "fallbacks.yaml"
    path.write_text(content)
    with pytest.raises(ConfigFileError) as err:
        Fallbacks.load(path)
    assert message in str(err.value)


def test_drift_config_errors_are_spec_errors_with_file_line_and_field(tmp_path):
    (tmp_path / "specs/001-core").mkdir(parents=True)
    (tmp_path / "drift.yaml").write_text("specs: specs\ndatabase:\n  ignore_tables: 5\n")
    with pytest.raises(SpecError) as err:
        run_check(tmp_path)
    assert "drift.yaml:3: database.ignore_tables=5: expected a list" in str(err.value)
    (tmp_path / "drift.yaml").write_bytes(b"specs: \xe9\n")
    with pytest.raises(SpecError, match=r"drift.yaml:1: not UTF-8 text \(byte 0xe9 at offset 7\)"):
        run_check(tmp_path)


def test_load_model_reads_json_and_yaml_into_the_model(tmp_path):
    from pydantic import BaseModel, ConfigDict

    class Shape(BaseModel):
        model_config = ConfigDict(allow_inf_nan=False)
        size: float

    (tmp_path / "a.json").write_text('{"size": 2}')
    (tmp_path / "a.yaml").write_text("size: 3\n")
    assert load_model(tmp_path / "a.json", Shape).size == 2 and load_model(tmp_path / "a.yaml", Shape).size == 3
    (tmp_path / "b.json").write_text('{"size": NaN}')
    with pytest.raises(ConfigFileError, match=r"b.json: size=nan: expected a finite number"):
        load_model(tmp_path / "b.json", Shape)
    with pytest.raises(ConfigFileError, match="c.yaml: file not found"):
        load_model(tmp_path / "c.yaml", Shape)
