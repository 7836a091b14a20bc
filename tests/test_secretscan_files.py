"""Results that do not depend on how much is scanned, windows over large files, keyed fingerprints and
the report's secret scrubbing.

Secrets are generated at run time (``secretscan.samples``); no credential-shaped literal lives here.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.secretscan import environment
from cloudmake_pipelines.secretscan.content import _windows
from cloudmake_pipelines.secretscan.engine import Engine
from cloudmake_pipelines.secretscan.findings import Finding, fingerprint, redact
from cloudmake_pipelines.secretscan.report import scrub
from cloudmake_pipelines.secretscan.rules import load_rules
from cloudmake_pipelines.secretscan.samples import ALNUM, HEX, Forge
from cloudmake_pipelines.settings import load_settings

FORGE = Forge(77)


def cloudmake(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "secrets", *args], cwd=cwd,
                          capture_output=True, timeout=300, check=False)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True)


def reported(result: subprocess.CompletedProcess[bytes]) -> list[tuple[str, int, str]]:
    return [(f["file"], f["line"], f["rule"]) for f in json.loads(result.stdout)["findings"]]


@pytest.mark.parametrize("line", [
    'const ddApiKey = "{hex32}";',          # camelCase: no dd_ in it
    "cfApiToken: {urlsafe40}",              # cf + camelCase
    'this.datadogAppKey = "{hex40}";',
])
def test_the_same_secret_is_found_alone_in_a_large_tree_and_staged(tmp_path, line):
    text = line.format(hex32=FORGE.chars(HEX, 32), hex40=FORGE.chars(HEX, 40),
                       urlsafe40=FORGE.chars(ALNUM + "_-", 40)) + "\n"
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "app.ts").write_text(text)
    alone = cloudmake("scan", "--format", "json", "app.ts", cwd=repo)
    git(repo, "add", "app.ts")
    staged = cloudmake("scan", "--staged", "--format", "json", cwd=repo)
    (repo / "filler.py").write_bytes(b"value = compute(a, b)  # plain source line\n" * 80_000)  # 3.4 MB
    tree = cloudmake("scan", "--format", "json", ".", cwd=repo)
    assert reported(alone) == reported(staged) == reported(tree)
    assert len(reported(alone)) == 1 and alone.returncode == staged.returncode == tree.returncode == 1


@pytest.mark.parametrize("use_hyperscan", [True, False])
def test_keyword_prefilter_is_sound_for_camel_case_names(use_hyperscan):
    engine = Engine(load_rules(), use_hyperscan=use_hyperscan)
    secret = FORGE.chars(HEX, 32)
    for name in ("ddApiKey", "DDAPIKEY", "dd_api_key", "DdAppKey"):
        assert [f.secret for f in engine.scan(f'{name} = "{secret}"\n'.encode(), "a.ts")] == [secret], name


@pytest.mark.parametrize(("window", "overlap"), [(64, 32), (100, 48), (4096, 128)])
def test_windows_find_a_secret_across_every_edge_exactly_once(window, overlap):
    engine = Engine(load_rules())
    secrets, lines = [], []
    for i in range(60):
        lines.append(f"filler line {i} with ordinary words")
        if i % 7 == 3:
            secrets.append(FORGE.checksummed("ghp"))
            lines.append(f'TOKEN_{i} = "{secrets[-1]}"')
    data = ("\n".join(lines) + "\n").encode()
    found = []
    for piece in _windows("big.txt", io.BytesIO(data), window, overlap):
        found += engine.scan(piece.data, piece.path, first_line=piece.first_line, owned=piece.owned)
    whole = engine.scan(data, "big.txt")
    assert [(f.line, f.column, f.secret) for f in found] == [(f.line, f.column, f.secret) for f in whole]
    assert [f.secret for f in found] == secrets


def test_fingerprints_are_keyed_and_reports_show_no_length():
    secret = "Tr0ub4dor&3x"  # a short password (not a credential anywhere) secretscan:allow
    finding = Finding("generic-secret-assignment", "d", "app.py", 1, 1, 1, 13, secret, generic=True)
    first, second = finding.keyed(b"\1" * 32), finding.keyed(b"\2" * 32)
    assert first.fingerprint != second.fingerprint
    assert first.fingerprint == fingerprint(b"\1" * 32, finding.rule_id, "app.py", secret)
    assert str(len(secret)) not in first.redacted and first.redacted == "…"
    assert redact("ghp_" + "a1B2" * 9) == "ghp_…"
    with pytest.raises(ValueError, match="key"):
        _ = finding.fingerprint


def test_scrub_replaces_every_secret_in_one_pass():
    secrets = {FORGE.chars(ALNUM, 24) for _ in range(2000)}
    chosen = sorted(secrets)[::100]
    text = "".join(f"line {i}: {s} and more\n" for i, s in enumerate(chosen))
    clean = scrub(text, secrets)
    assert all(s not in clean for s in chosen)
    assert clean.count("[REDACTED]") == len(chosen)
    assert scrub("nothing here\n", secrets) == "nothing here\n"


def test_a_report_of_many_findings_renders_with_each_secret_scrubbed(tmp_path):
    """20,000 findings: the rendering that once checked each secret against the whole text."""
    lines = [f'api_key_{i} = "{FORGE.chars(ALNUM, 28)}"' for i in range(20_000)]
    (tmp_path / "many.py").write_text("\n".join(lines) + "\n")
    result = cloudmake("scan", "--format", "json", "many.py", cwd=tmp_path)
    doc = json.loads(result.stdout)
    assert result.returncode == 1 and doc["summary"]["findings"] == len(doc["findings"]) >= 19_900
    assert lines[123].split('"')[1].encode() not in result.stdout


def test_environment_fingerprint_key_must_be_64_hex_digits(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    result = subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "secrets", "scan", "a.py"],
                            cwd=tmp_path, capture_output=True, timeout=120, check=False,
                            env={**os.environ, "CLOUDMAKE_SECRETSCAN_FINGERPRINT_KEY": "not-hex-value"})
    assert result.returncode == 2 and b"expected 64 hex digits" in result.stderr
    assert b"not-hex-value" not in result.stderr
    # the settings model declares the variable and applies the scanner's own rule to it
    with pytest.raises(ConfigError, match="CLOUDMAKE_SECRETSCAN_FINGERPRINT_KEY") as error:
        load_settings({"CLOUDMAKE_SECRETSCAN_FINGERPRINT_KEY": "not-hex-value"})
    assert "64 hex digits" in str(error.value) and "not-hex-value" not in str(error.value)
    key = "ab" * 32
    settings = load_settings({"CLOUDMAKE_SECRETSCAN_FINGERPRINT_KEY": key, "XDG_CACHE_HOME": str(tmp_path)})
    assert environment.parse_fingerprint_key(settings.secretscan.fingerprint_key.reveal()) == bytes.fromhex(key)
    assert environment.cache_dir({"XDG_CACHE_HOME": str(settings.secretscan.cache_home)}) == \
        tmp_path / "cloudmake" / "secretscan"


def test_compiled_rules_are_cached_under_xdg_cache_home(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "secrets", "scan", "a.py"], cwd=tmp_path,
                   capture_output=True, timeout=120, check=True, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "c")})
    cached = sorted(p.name.split("-")[0] for p in (tmp_path / "c" / "cloudmake" / "secretscan").iterdir())
    assert cached == ["hyperscan", "rules"]
