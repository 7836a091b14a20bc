"""stdout carries the result only; log lines go to stderr (Pino JSON when not a terminal, readable with
`--log-format pretty`); tables fit the terminal and fold long cells instead of cutting them (issue #17)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cloudmake(state: Path, *args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    environment.update(CLOUDMAKE_STATE_DIR=str(state), ENVIRONMENT="dev", **env)
    return subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", *args], env=environment, cwd=ROOT,
                          input=input, capture_output=True, text=True, timeout=180)


def _no_json_lines(text: str) -> bool:
    return not any(line.lstrip().startswith('{"level"') for line in text.splitlines())


def _pino(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_commands_keep_logs_off_stdout(tmp_path):
    upgrade = _cloudmake(tmp_path, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stdout.startswith("applied ") and _no_json_lines(upgrade.stdout)
    assert any(r["msg"].startswith("applied migration") for r in _pino(upgrade.stderr)), "Pino lines on stderr"

    put = _cloudmake(tmp_path, "keys", "put-secret", "deploy_token", input="s3cret-value\n")
    assert put.returncode == 0 and put.stdout == "stored deploy_token\n"
    assert any(r["msg"] == "master key v1 created" for r in _pino(put.stderr))

    rotated = _cloudmake(tmp_path, "keys", "rotate-jwt", "--confirm")
    assert rotated.returncode == 0 and rotated.stdout.startswith("rotated: ") and _no_json_lines(rotated.stdout)
    assert any(r["msg"] == "JWT signing key rotated" for r in _pino(rotated.stderr))

    archived = _cloudmake(tmp_path, "previews", "archive")
    assert archived.returncode == 0 and archived.stdout.startswith("archived 0 preview")
    assert _no_json_lines(archived.stdout) and _pino(archived.stderr)

    drift = _cloudmake(tmp_path, "drift", "check")
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert drift.stdout.startswith("target: ") and _no_json_lines(drift.stdout)
    assert any(r["msg"] == "applying migrations" for r in _pino(drift.stderr))


def test_log_format_pretty_is_readable_and_json_is_pino(tmp_path):
    pretty = _cloudmake(tmp_path, "--log-format", "pretty", "db", "upgrade")
    assert pretty.returncode == 0 and _no_json_lines(pretty.stderr)
    assert "] INFO (migrations): applied migration 0001_foundation.py" in pretty.stderr
    again = _cloudmake(tmp_path, "--log-format", "json", "db", "upgrade")
    assert again.returncode == 0 and again.stdout.endswith("up to date at " + again.stdout.split(" at ", 1)[1])
    assert _pino(again.stderr) and all(line.startswith("{") for line in again.stderr.splitlines())


def _in_terminal(state: Path, columns: int, *args: str) -> str:
    """Run cloudmake with stdout on a pseudo-terminal ``columns`` wide; return what the terminal showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "COLUMNS", "LINES")}
    environment.update(CLOUDMAKE_STATE_DIR=str(state), ENVIRONMENT="dev", TERM="dumb", NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-m", "cloudmake_pipelines.cli", *args], env=environment, cwd=ROOT,
                            stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=10)
    os.close(master)
    return b"".join(chunks).decode()


@pytest.mark.parametrize("columns", [80, 120])
def test_mcp_list_fits_the_terminal_and_keeps_urls_whole(tmp_path, columns):
    url = "http://127.0.0.1:8765/mcp/with/a/rather/long/path/segment"
    assert _cloudmake(tmp_path, "db", "upgrade").returncode == 0
    assert _cloudmake(tmp_path, "mcp", "add", "docs", url, "--auth-header", "Authorization",
                      "--auth-secret", "env:DOCS_MCP_TOKEN").returncode == 0
    shown = _in_terminal(tmp_path, columns, "mcp", "list")
    lines = [line for line in shown.replace("\r", "").splitlines() if line.strip()]
    assert lines and max(len(line) for line in lines) <= columns, shown
    assert "…" not in shown
    url_column = "".join(line.split("│")[2].strip() for line in lines if line.count("│") > 2)
    assert url in url_column, shown


def test_piped_tables_are_not_wrapped(tmp_path):
    url = "http://127.0.0.1:8765/mcp/" + "x" * 150
    assert _cloudmake(tmp_path, "db", "upgrade").returncode == 0
    assert _cloudmake(tmp_path, "mcp", "add", "docs", url).returncode == 0
    listed = _cloudmake(tmp_path, "mcp", "list")
    assert listed.returncode == 0 and any(url in line for line in listed.stdout.splitlines())
