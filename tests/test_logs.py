import io
import json
import logging

import pytest

from cloudmake_pipelines import logs
from cloudmake_pipelines.logs import PinoFormatter, Redactor, get_logger


@pytest.fixture
def captured():
    stream = io.StringIO()
    logs.configure(stream, level=logging.DEBUG)
    yield stream
    logs.configure(io.StringIO())


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_have_pino_shape_and_context(captured):
    log = get_logger("preview_archival")
    log.debug("debugging")
    log.info("archived environments", extra={"archived": 3, "ids": ["pr-1", "pr-2"]})
    log.warning("slow")
    log.error("failed")
    log.critical("fatal")
    out = lines(captured)
    assert [line["level"] for line in out] == [20, 30, 40, 50, 60]
    first = out[1]
    assert set(first) >= {"level", "time", "pid", "hostname", "msg", "task"}
    assert first["msg"] == "archived environments" and first["task"] == "preview_archival"
    assert first["archived"] == 3 and first["ids"] == ["pr-1", "pr-2"]
    assert isinstance(first["time"], int) and first["time"] > 1_700_000_000_000


def test_registered_secret_is_redacted_in_message_context_and_exception(captured):
    secret = "neon-api-key-7f3a9c2b1e"
    logs.redactor.add(secret)
    log = get_logger("t")
    log.info(f"calling with {secret}", extra={"header": f"Bearer {secret}", "nested": {"k": [secret]}})
    try:
        raise RuntimeError(f"request failed for key {secret}")
    except RuntimeError:
        log.exception("boom")
    text = captured.getvalue()
    assert secret not in text
    assert text.count(logs.REDACTED) >= 4
    assert lines(captured)[1]["err"]["type"] == "RuntimeError"


@pytest.mark.parametrize(
    "token",
    [
        "ghp_" + "a1B2c3D4e5" * 4,
        "github_pat_11ABCDEFG0123456789_" + "x" * 59,
        "AKIAQ3EGRXJ7DFEXAMPL",
        "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl",
        "xoxb-1234567890-abcdefghij",
    ],
)
def test_token_shapes_are_redacted_without_registration(token):
    out = Redactor()(f"value={token} end")
    assert token not in out and "[REDACTED]" in out


def test_url_passwords_and_bearer_tokens_are_redacted():
    r = Redactor()
    assert "hunter2" not in r("postgresql://user:hunter2@db.example/x")
    assert "abcdef123456" not in r("Authorization: Bearer abcdef123456")


def test_documented_url_format_is_not_redacted_but_real_passwords_are():
    """Help text such as "expected postgresql://user:pass@host/db" documents a format; it is not a secret."""
    r = Redactor()
    assert r("expected postgresql://user:pass@host/db or sqlite:///path") == (
        "expected postgresql://user:pass@host/db or sqlite:///path")
    assert "s3cret-pw" not in r("postgresql://user:s3cret-pw@db.example/x")
    assert "pass" not in r("postgresql://admin:pass@db.example/x").split("@")[0]


def test_database_url_error_shows_the_expected_format(tmp_path):
    """`DATABASE_URL=not-a-url cloudmake db status`: the message names the format, unmangled (exit 2)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": "not-a-url", "CLOUDMAKE_STATE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "db", "status"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "postgresql://user:pass@host/db" in done.stderr and "[REDACTED]" not in done.stderr


def test_dagster_records_lift_run_metadata():
    record = logging.LogRecord("dagster", logging.INFO, "", 0, "raw", (), None)
    record.dagster_meta = {"orig_message": "step started", "run_id": "abc", "job_name": "migrations_job",
                           "step_key": "apply_migrations"}
    line = json.loads(PinoFormatter().format(record))
    assert line["msg"] == "step started"
    assert (line["run_id"], line["job"], line["step_key"]) == ("abc", "migrations_job", "apply_migrations")
