import re
from pathlib import Path

import pytest

from cloudmake_pipelines.cli import main
from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.settings import SECRET_VARIABLES, get_settings, load_settings, variables


def test_defaults_to_dev_and_embedded_sqlite(tmp_path):
    settings = load_settings({"CLOUDMAKE_STATE_DIR": str(tmp_path)})
    assert settings.environment == "dev"
    assert settings.database_url == f"sqlite:///{tmp_path / 'cloudmake.db'}"
    assert settings.credentials == {}


@pytest.mark.parametrize("value", ["prod", "Production", "test", "qa"])
def test_unknown_environment_names_variable_and_allowed_values(value):
    with pytest.raises(ConfigError) as err:
        load_settings({"ENVIRONMENT": value})
    assert "ENVIRONMENT" in str(err.value)
    assert "dev, staging, production" in str(err.value)
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    "raw",
    ["postgres://neondb_owner:s3cretPassw0rd@ep-cool-1.eu.aws.neon.tech/neondb?sslmode=require",
     "postgresql://neondb_owner:s3cretPassw0rd@ep-cool-1.eu.aws.neon.tech/neondb?sslmode=require"],
)
def test_neon_urls_map_to_psycopg_and_repr_masks_password(raw):
    settings = load_settings({"DATABASE_URL": raw})
    assert settings.database_url.startswith("postgresql+psycopg://neondb_owner:s3cretPassw0rd@")
    assert "sslmode=require" in settings.database_url
    assert "s3cretPassw0rd" not in repr(settings)
    assert "s3cretPassw0rd" in settings.secret_values()


def test_unsupported_or_malformed_database_url_is_a_clear_error_without_the_password():
    with pytest.raises(ConfigError, match="DATABASE_URL uses 'mysql'"):
        load_settings({"DATABASE_URL": "mysql://u:hunter2hunter2@h/db"})
    with pytest.raises(ConfigError) as err:
        load_settings({"DATABASE_URL": "not a url hunter2hunter2"})
    assert "DATABASE_URL" in str(err.value) and "hunter2hunter2" not in str(err.value)
    assert err.value.__cause__ is None


def test_production_never_falls_back_to_the_embedded_sqlite_database(cloudmake_main, monkeypatch):
    """A production shell or unit without the settings file used to migrate an empty SQLite file and exit 0."""
    with pytest.raises(ConfigError, match="DATABASE_URL: expected a database URL when ENVIRONMENT=production"):
        load_settings({"ENVIRONMENT": "production"})
    assert load_settings({"ENVIRONMENT": "staging"}).is_sqlite  # a staging trial may use it
    assert load_settings({"ENVIRONMENT": "production", "DATABASE_URL": "sqlite:///x.db"}).is_sqlite  # if asked
    monkeypatch.setenv("ENVIRONMENT", "production")
    done = cloudmake_main("db", "upgrade")
    assert done.returncode == 2 and done.stdout == "" and "DATABASE_URL: expected a database URL" in done.stderr


def test_credentials_are_masked_everywhere():
    token = "ghp_" + "A" * 36
    settings = load_settings({"GITHUB_TOKEN": token, "CLOUDFLARE_API_TOKEN": "cf-token-value-123",
                              "ENVIRONMENT": "production", "DATABASE_URL": "postgresql://db.internal/platform"})
    assert settings.is_production
    assert settings.credential("GITHUB_TOKEN").reveal() == token
    for shown in (repr(settings), str(settings), repr(settings.credentials), str(settings.credential("GITHUB_TOKEN"))):
        assert token not in shown and "cf-token-value-123" not in shown
    assert settings.credential("POLAR_API_KEY") is None


def test_alert_webhook_must_be_http():
    with pytest.raises(ConfigError, match="ALERT_WEBHOOK_URL"):
        load_settings({"ALERT_WEBHOOK_URL": "ftp://example"})


# --- one model: every variable declared once, numbers finite and in range, errors name the variable ----------

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_lists_exactly_the_variables_the_model_declares():
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = {m.group(1) for m in re.finditer(r"^\| `([A-Z0-9_<>n]+)` \|", section, re.MULTILINE)}
    declared = set(variables())
    assert documented - declared == set(), "in the README table but not in settings.py"
    assert declared - documented == set(), "declared in settings.py but missing from the README table"


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("GITHUB_SYNC_WRITE_INTERVAL", "nan", "GITHUB_SYNC_WRITE_INTERVAL='nan': expected a finite number"),
    ("GITHUB_SYNC_WRITE_INTERVAL", "inf", "GITHUB_SYNC_WRITE_INTERVAL='inf': expected a finite number"),
    ("GITHUB_SYNC_WRITE_INTERVAL", "-1", "GITHUB_SYNC_WRITE_INTERVAL='-1': expected a number >= 0"),
    ("GITHUB_SYNC_WRITE_INTERVAL", "soon", "GITHUB_SYNC_WRITE_INTERVAL='soon': expected a number"),
    ("GITHUB_SYNC_WRITES_PER_HOUR", "0", "GITHUB_SYNC_WRITES_PER_HOUR='0': expected a number > 0"),
    ("GITHUB_SYNC_WRITES_PER_HOUR", "2.5", "GITHUB_SYNC_WRITES_PER_HOUR='2.5': expected a whole number"),
    ("CLOUDMAKE_MCP_OUTAGE_THRESHOLD_SECONDS", "NaN", "CLOUDMAKE_MCP_OUTAGE_THRESHOLD_SECONDS='NaN': expected a finite"),
    ("CLOUDMAKE_MCP_FLAP_WINDOW_SECONDS", "-5", "CLOUDMAKE_MCP_FLAP_WINDOW_SECONDS='-5': expected a number >= 0"),
    ("CLOUDMAKE_MCP_FLAP_WINDOW_SECONDS", "1e9", "CLOUDMAKE_MCP_FLAP_WINDOW_SECONDS='1e9': expected a number <= 86400"),
    ("CLOUDMAKE_MCP_BREAKER_URL", "ftp://x", "CLOUDMAKE_MCP_BREAKER_URL='ftp://x': expected an http:// or https://"),
    ("NEON_API_URL", "neon.tech", "NEON_API_URL='neon.tech': expected an http:// or https:// URL"),
    ("CLOUDMAKE_JWT_ALGORITHM", "HS256", "CLOUDMAKE_JWT_ALGORITHM='HS256': expected one of ES256, RS256, EdDSA"),
    ("CLOUDMAKE_SECRETS_FORMAT", "rot13", "CLOUDMAKE_SECRETS_FORMAT='rot13': expected one of aes-256-gcm, pgcrypto"),
    ("CLOUDMAKE_EXECUTOR", "k8s", "CLOUDMAKE_EXECUTOR='k8s': expected one of in_process, celery"),
    ("CLOUDMAKE_CELERY_QUEUE", "load queue", "CLOUDMAKE_CELERY_QUEUE='load queue': expected string should match"),
])
def test_bad_values_are_config_errors_naming_variable_value_and_expectation(variable, value, expected):
    with pytest.raises(ConfigError) as err:
        load_settings({variable: value})
    assert expected in str(err.value) and err.value.exit_code == 2
    assert err.value.__cause__ is None


def test_a_bad_variable_is_exit_2_on_the_command_line_naming_it(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_SYNC_WRITE_INTERVAL", "nan")
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as exited:
        main(["mcp", "list"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "GITHUB_SYNC_WRITE_INTERVAL='nan': expected a finite number" in err and "Traceback" not in err


def test_secrets_are_known_as_such_and_masked_in_reprs_and_dumps():
    assert "CLOUDMAKE_MCP_BREAKER_TOKEN" in SECRET_VARIABLES and "GITHUB_TOKEN" in SECRET_VARIABLES
    settings = load_settings({"CLOUDMAKE_MASTER_KEY_V1": "master-key-material-1", "CLOUDMAKE_MCP_BREAKER_TOKEN": "brk-t0k3n"})  # secretscan:allow (test fixture)
    assert {"master-key-material-1", "brk-t0k3n"} <= set(settings.secret_values())
    dumped = repr(settings) + repr(settings.keys) + repr(settings.outages) + settings.model_dump_json()
    assert "master-key-material-1" not in dumped and "brk-t0k3n" not in dumped


def test_explicit_overrides_are_validated_like_the_environment():
    github = load_settings({"GITHUB_SYNC_WRITE_INTERVAL": "2"}).github
    assert github.merged(api_url="http://127.0.0.1:1").write_interval_seconds == 2.0
    assert github.merged(write_interval_seconds=None) is github
    with pytest.raises(ConfigError, match="write_interval_seconds='nan': expected a finite number"):
        github.merged(write_interval_seconds="nan")


def test_exclusions_keep_the_empty_value_and_variables_are_read_from_the_mapping():
    assert load_settings({"GITHUB_SYNC_EXCLUDE": ""}).github.exclude == ""
    assert load_settings({}).github.exclude is None
    settings = load_settings({"MY_SERVER_TOKEN": "Bearer abc-123"})
    assert settings.variable("MY_SERVER_TOKEN") == "Bearer abc-123" and settings.variable("NOPE") is None


def test_urls_that_may_carry_a_credential_are_named_without_their_value():
    with pytest.raises(ConfigError) as err:
        load_settings({"ALERT_WEBHOOK_URL": "ftp://hooks.example/T0/s3cr3t-hook"})
    assert str(err.value) == "ALERT_WEBHOOK_URL: expected an http:// or https:// URL"
    with pytest.raises(ConfigError) as err:
        load_settings({"CLOUDMAKE_CELERY_BROKER_URL": "http://cm:s3cr3t-broker@mq:5672/"})  # secretscan:allow
    assert str(err.value) == "CLOUDMAKE_CELERY_BROKER_URL: expected an amqp:// (RabbitMQ) or redis:// broker URL"
