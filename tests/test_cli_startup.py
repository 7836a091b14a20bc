"""Trivial commands import only what they use (issue #17: `mcp list` imported the load tester, aiohttp,
httpx and the outage code). Checked by module name (``sys.modules`` after the command), which does not depend on
machine load; benchmarks/cli_startup.py gives the CPU figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Modules none of the list/status/show commands needs.
HEAVY = ("aiohttp", "httpx", "dagster", "jsonschema", "prometheus_client", "nacl", "hdrh", "yaml", "starlette",
         "jwt", "cryptography", "cloudmake_pipelines.loadtest.protocol", "cloudmake_pipelines.outages.detector",
         "cloudmake_pipelines.previews.neon", "cloudmake_pipelines.alerts")
#: On SQLite, SQLAlchemy's PostgreSQL dialect is needed only by `db status` (Alembic imports it) and by what
#: reads the environments table (its partial indexes name both dialects): db/tables.py, db/types.py JSONDoc.
POSTGRES = "sqlalchemy.dialects.postgresql"
COMMANDS = {"mcp list": (POSTGRES,), "mcp breaker list": (POSTGRES,), "mcp outages": (POSTGRES,), "db status": (),
            "previews list": (), "keys jwks": (POSTGRES,), "keys status": (POSTGRES,),
            "keys list-secrets": (POSTGRES,), "github targets list": (POSTGRES,)}


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    env = _env(state)
    subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=180)
    return state


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    return {**env, "CLOUDMAKE_STATE_DIR": str(state), "ENVIRONMENT": "dev"}


def _imported(state: Path, command: str) -> set[str]:
    """The modules loaded once ``cloudmake COMMAND`` has run (in a fresh interpreter, as from the console)."""
    code = ("import json, sys\nfrom cloudmake_pipelines.cli import main\n"
            f"try:\n    main({command.split()!r})\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], env=_env(state), cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("command", "also_unused"), COMMANDS.items())
def test_trivial_commands_do_not_import_what_they_do_not_use(state, command, also_unused):
    imported = _imported(state, command)
    assert "sqlalchemy" in imported, "sanity: the module list was read"
    # Reading keys needs neither the Cloudflare client (keys/cloudflare.py, httpx) nor PyJWT and cryptography
    # (keys/jwk.py: new keys, signing, verifying; keyring.seal/open: values).
    assert sorted(m for m in (*HEAVY, *also_unused) if m in imported) == []


def test_setup_compiled_the_installed_modules_to_bytecode():
    """scripts/setup compiles site-packages once: where Python cannot write __pycache__ (PYTHONDONTWRITEBYTECODE,
    a read-only install) every command otherwise compiled SQLAlchemy, pydantic and click at each start
    (`cloudmake mcp list`: 1.7 s of CPU instead of 0.76 s, benchmarks/cli_startup.py)."""
    import importlib.util

    import click
    import pydantic_settings
    import sqlalchemy

    for module in (sqlalchemy, pydantic_settings, click):
        assert Path(importlib.util.cache_from_source(module.__file__)).is_file(), f"{module.__name__}: run scripts/setup"


def test_what_a_command_loads_is_frozen_out_of_the_collectors_reach(state):
    """lazy.loading(): the modules a command imports are built with the collector paused and then frozen
    (gc.freeze), so neither later collections nor the one at exit walk them; the collector runs again for the
    command itself. A second command in the same process imports nothing new and freezes nothing more (objects
    leave the frozen set when freed, so its count only shrinks)."""
    code = ("import gc\nfrom cloudmake_pipelines.cli import main\n"
            "def run():\n    try:\n        main(['mcp', 'list'])\n    except SystemExit:\n        pass\n"
            "    return gc.get_freeze_count()\n"
            "first, second = run(), run()\nprint(first > 0, second <= first, gc.isenabled())")
    done = subprocess.run([sys.executable, "-c", code], env=_env(state), cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "True True True"


def test_loading_the_definitions_leaves_out_what_only_runs_use(state):
    """`cloudmake status` (and every code server and run worker) loads the definitions: the load tester
    (aiohttp), the drift checker (markdown-it) and the audit report's templates (jinja2) load in the runs that
    use them."""
    probe = ("import sys, cloudmake_pipelines.definitions\n"
             "print(sorted(m for m in ('aiohttp', 'markdown_it', 'jinja2') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], env=_env(state), cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
