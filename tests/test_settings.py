import pytest

from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.settings import load_settings


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


def test_credentials_are_masked_everywhere():
    token = "ghp_" + "A" * 36
    settings = load_settings({"GITHUB_TOKEN": token, "CLOUDFLARE_API_TOKEN": "cf-token-value-123",
                              "ENVIRONMENT": "production"})
    assert settings.is_production
    assert settings.credential("GITHUB_TOKEN").reveal() == token
    for shown in (repr(settings), str(settings), repr(settings.credentials), str(settings.credential("GITHUB_TOKEN"))):
        assert token not in shown and "cf-token-value-123" not in shown
    assert settings.credential("POLAR_API_KEY") is None


def test_alert_webhook_must_be_http():
    with pytest.raises(ConfigError, match="ALERT_WEBHOOK_URL"):
        load_settings({"ALERT_WEBHOOK_URL": "ftp://example"})
