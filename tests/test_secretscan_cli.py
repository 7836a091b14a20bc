"""`cloudmake secrets` end to end: real git repositories, every output format checked byte by byte for
the secret, baselines, allow comments, binary, huge and non-UTF-8 files, exit codes.

The command runs as a real subprocess (`python -m cloudmake_pipelines.cli`), so what is asserted on is
exactly what a pre-commit hook or CI job would see on stdout and stderr.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from cloudmake_pipelines.secretscan import sources
from cloudmake_pipelines.secretscan.findings import fingerprint
from cloudmake_pipelines.secretscan.rules import load_rules
from cloudmake_pipelines.secretscan.samples import ALNUM, Forge, positives
from cloudmake_pipelines.secretscan.scan import make_engine, scan_files

FORGE = Forge(2024)
KEY = bytes(range(32))  # the fingerprint key of the runs that set it (tests only)
KEYED = {"CLOUDMAKE_SECRETSCAN_FINGERPRINT_KEY": KEY.hex()}


def cloudmake(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "secrets", *args], cwd=cwd,
                          capture_output=True, timeout=120, check=False, env={**os.environ, **(env or {})})


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "dev@example.invalid")
    git(path, "config", "user.name", "Dev")
    git(path, "config", "commit.gpgsign", "false")
    return path


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def token(prefix: str = "ghp") -> str:
    return FORGE.checksummed(prefix)


def findings(result: subprocess.CompletedProcess[bytes]) -> list[tuple[str, int, str]]:
    doc = json.loads(result.stdout)
    return [(f["file"], f["line"], f["rule"]) for f in doc["findings"]]


def assert_never_leaked(secret: str, *outputs: bytes) -> None:
    """No run of 12 characters of the secret (beyond its shown 4-character prefix) in any output, in any
    line of a multi-line secret, raw or JSON-escaped."""
    blob = b"\n".join(outputs)
    assert secret.encode() not in blob
    for number, line in enumerate(secret.replace("\\n", "\n").splitlines()):
        for start in range(4 if number == 0 else 0, len(line) - 11, 3):
            piece = line[start:start + 12]
            if "-----" not in piece:  # PEM armour lines are not secret
                assert piece.encode() not in blob, f"output contains part of a secret: {piece[:2]}…"


# --- staged, ranges, history -------------------------------------------------------------------------


def test_staged_reports_only_added_lines_at_their_new_line_numbers(repo):
    old, new, unstaged = token(), token("gho"), token("ghu")
    (repo / "app.py").write_text(f'import os\nOLD = "{old}"\n')
    commit(repo, "first")
    assert cloudmake("scan", "--staged", cwd=repo).returncode == 0  # nothing staged

    (repo / "app.py").write_text(f'import os\n\n\n\nNEW = "{new}"\n')  # old secret deleted, new at line 5
    git(repo, "add", "app.py")
    (repo / "app.py").write_text(f'import os\n\n\n\nNEW = "{new}"\nX = "{unstaged}"\n')  # not staged
    result = cloudmake("scan", "--staged", "--format", "json", cwd=repo)
    assert result.returncode == 1, result.stderr
    assert findings(result) == [("app.py", 5, "github-oauth-token")]
    assert_never_leaked(new, result.stdout, result.stderr)


def test_staged_in_a_repository_without_commits(repo):
    secret, bare = token(), FORGE.chars(ALNUM, 36) + "7"
    (repo / "first.env").write_text(f"GITHUB_TOKEN={secret}\n")
    (repo / "second.env").write_text(f"\nSESSION_SECRET={bare}")  # no newline at the end
    git(repo, "add", "first.env", "second.env")
    result = cloudmake("scan", "--staged", "--format", "json", cwd=repo)
    assert result.returncode == 1
    assert findings(result) == [("first.env", 1, "github-pat"), ("second.env", 2, "generic-secret-assignment")]


def test_empty_repository_with_nothing_staged_is_clean(repo):
    result = cloudmake("scan", "--staged", cwd=repo)
    assert result.returncode == 0 and b"No secrets found" in result.stdout


def test_git_diff_range_follows_renames_and_ignores_deleted_lines(repo):
    removed, added = token(), token("ghs")
    (repo / "old_name.py").write_text("a = 1\nb = 2\n" + f'KEY = "{removed}"\n')
    commit(repo, "one")
    git(repo, "mv", "old_name.py", "new_name.py")
    (repo / "new_name.py").write_text("a = 1\nb = 2\n" + f'TOKEN = "{added}"\n')
    commit(repo, "two: rename, replace the key")
    result = cloudmake("scan", "--git-diff", "HEAD~1..HEAD", "--format", "json", cwd=repo)
    assert result.returncode == 1, result.stderr
    assert findings(result) == [("new_name.py", 3, "github-app-token")]
    assert cloudmake("scan", "--git-diff", "HEAD~2..HEAD~1", cwd=repo).returncode == 2  # no such revision


def test_log_finds_a_secret_removed_in_a_later_commit(repo):
    secret = token("ghr")
    (repo / "deploy.sh").write_text(f"export REFRESH={secret}\n")
    first = commit(repo, "add")
    (repo / "deploy.sh").write_text("export REFRESH=$REFRESH\n")
    commit(repo, "remove")
    assert cloudmake("scan", "--git-diff", "HEAD~1..HEAD", cwd=repo).returncode == 0
    assert cloudmake("scan", "deploy.sh", cwd=repo).returncode == 0
    result = cloudmake("scan", "--log", "--format", "json", cwd=repo)
    assert result.returncode == 1
    (found,) = json.loads(result.stdout)["findings"]
    assert (found["file"], found["line"], found["commit"]) == ("deploy.sh", 1, first)
    assert_never_leaked(secret, result.stdout, result.stderr)


def test_log_reports_branch_secrets_once_and_secrets_written_by_a_merge(repo):
    on_branch, in_resolution = token(), token("gho")
    (repo / "f.txt").write_text("a\nb\nc\n")
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "f.txt").write_text("a\nSIDE\nc\n")
    (repo / "side.env").write_text(f"TOKEN={on_branch}\n")
    side = commit(repo, "side")
    git(repo, "checkout", "-q", "main")
    (repo / "f.txt").write_text("a\nMAIN\nc\n")
    commit(repo, "main")
    subprocess.run(["git", "merge", "-q", "side"], cwd=repo, capture_output=True, check=False)  # conflicts
    (repo / "f.txt").write_text(f'a\nTOKEN = "{in_resolution}"\nc\n')
    merge = commit(repo, "merge, resolving the conflict with a token")
    result = cloudmake("scan", "--log", "--format", "json", cwd=repo)
    reported = [(f["file"], f["line"], f["rule"], f["commit"]) for f in json.loads(result.stdout)["findings"]]
    assert sorted(reported) == sorted([("side.env", 1, "github-pat", side),
                                       ("f.txt", 2, "github-oauth-token", merge)])


def test_unusual_file_names_are_reported_as_git_shows_them(repo):
    secret = token()
    (repo / "dir with space").mkdir()
    (repo / "dir with space" / "ünï\tcode.env").write_text(f"\n\nTOKEN={secret}\n")
    git(repo, "add", "-A")
    result = cloudmake("scan", "--staged", "--format", "json", cwd=repo)
    assert findings(result) == [("dir with space/ünï\tcode.env", 3, "github-pat")]


@pytest.mark.parametrize("args", [
    ["--git-diff", "nope..HEAD"],
    ["--git-diff", "--output=x"],
    ["--staged", "somefile"],
    ["--staged", "--log"],
    ["--format", "xml"],
    ["no/such/path"],
    ["--baseline", "absent.json"],
    ["--config", "absent.yaml"],
])
def test_usage_and_git_errors_exit_2(repo, args):
    commit_file = repo / "a.txt"
    commit_file.write_text("hello\n")
    commit(repo, "one")
    result = cloudmake("scan", *args, cwd=repo)
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert result.stderr.strip()


def test_staged_outside_a_git_repository_exits_2(tmp_path):
    result = cloudmake("scan", "--staged", cwd=tmp_path)
    assert result.returncode == 2
    assert b"git rev-parse failed" in result.stderr


# --- outputs ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, list]:
    """A directory holding every positive sample, one file each."""
    root = tmp_path_factory.mktemp("tree")
    samples = positives(seed=99)
    for i, sample in enumerate(samples):
        (root / f"{i:02d}_{sample.filename.lstrip('.')}").write_text(sample.text)
    return root, samples


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_no_output_format_contains_any_secret(tree, tmp_path, fmt):
    root, samples = tree
    report = tmp_path / f"report.{fmt}"
    printed = cloudmake("scan", "--format", fmt, ".", cwd=root, env=KEYED)
    written = cloudmake("scan", "--format", fmt, "--output", str(report), ".", cwd=root, env=KEYED)
    baseline = tmp_path / "baseline.json"
    made = cloudmake("baseline", "--output", str(baseline), ".", cwd=root)
    assert printed.returncode == written.returncode == 1 and made.returncode == 0
    outputs = [printed.stdout, printed.stderr, written.stdout, written.stderr, report.read_bytes(),
               made.stdout, made.stderr, baseline.read_bytes()]
    untimed = re.compile(rb"[0-9.]+ s\)|\"seconds\": [0-9.]+")
    assert untimed.sub(b"", printed.stdout) == untimed.sub(b"", report.read_bytes())
    for sample in samples:
        assert_never_leaked(sample.secret, *outputs)
    if fmt != "text":
        doc = json.loads(printed.stdout)
        reported = doc["findings"] if fmt == "json" else doc["runs"][0]["results"]
        assert len(reported) == len(samples)


def test_text_report_shows_rule_file_line_prefix_and_fingerprint(tmp_path):
    secret = token()
    (tmp_path / "app.py").write_text(f'\nTOKEN = "{secret}"\n')
    result = cloudmake("scan", "app.py", cwd=tmp_path, env=KEYED)
    assert result.returncode == 1
    first = result.stdout.decode().splitlines()[0]
    assert first == (f"app.py:2:10: github-pat: GitHub personal access token (classic): ghp_… "
                     f"fingerprint {fingerprint(KEY, 'github-pat', 'app.py', secret)}")
    found, finished = (json.loads(line) for line in result.stderr.decode().splitlines())  # Pino lines on stderr
    assert (found["msg"], found["level"], found["rule"], found["file"], found["line"]) == (
        "secret found", 40, "github-pat", "app.py", 2)
    assert found["fingerprint"] == fingerprint(KEY, "github-pat", "app.py", secret)
    assert finished["msg"] == "secret scan finished" and finished["findings"] == 1 and finished["level"] == 30


def test_sarif_is_2_1_0_with_rules_locations_and_fingerprints(tmp_path):
    secret = token("gho")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "client.py").write_text(f'x = 1\nOAUTH = "{secret}"\n')
    result = cloudmake("scan", "--format", "sarif", "src", cwd=tmp_path, env=KEYED)
    doc = json.loads(result.stdout)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    (entry,) = run["results"]
    assert rules[entry["ruleIndex"]]["id"] == entry["ruleId"] == "github-oauth-token"
    location = entry["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "src/client.py"
    assert location["region"]["startLine"] == 2 and location["region"]["startColumn"] == 10
    assert entry["partialFingerprints"]["secretFingerprint/v2"] == fingerprint(KEY, "github-oauth-token",
                                                                               "src/client.py", secret)
    assert all(r["properties"]["tags"] == ["security", "secret"] for r in rules)


# --- baseline and allow comments -----------------------------------------------------------------------


def test_baseline_acknowledges_old_findings_and_still_fails_on_new_ones(repo):
    first, second = token(), token("ghs")
    (repo / "legacy.py").write_text(f'A = "{first}"\nB = "{second}"\n')
    made = cloudmake("baseline", "legacy.py", cwd=repo)
    assert made.returncode == 0 and b"Wrote 2 fingerprints to .secrets-baseline.json" in made.stdout
    baseline = json.loads((repo / ".secrets-baseline.json").read_text())
    assert baseline["version"] == 2 and {e["rule"] for e in baseline["findings"]} == {"github-pat", "github-app-token"}
    assert len(bytes.fromhex(baseline["key"])) == 32
    assert set(baseline["findings"][0]) == {"fingerprint", "rule", "file"}

    clean = cloudmake("scan", "--baseline", ".secrets-baseline.json", "legacy.py", cwd=repo)
    assert clean.returncode == 0 and b"2 acknowledged in the baseline" in clean.stdout

    # moving an acknowledged secret keeps it acknowledged; a new secret is reported
    fresh = token("npm")
    (repo / "legacy.py").write_text(f'\n\n\nB = "{second}"\nA = "{first}"\nC = "{fresh}"\n')
    result = cloudmake("scan", "--baseline", ".secrets-baseline.json", "--format", "json", "legacy.py", cwd=repo)
    assert result.returncode == 1
    assert findings(result) == [("legacy.py", 6, "npm-access-token")]
    assert json.loads(result.stdout)["summary"]["baselined"] == 2


def test_bad_baseline_is_a_usage_error(tmp_path):
    (tmp_path / "b.json").write_text('{"findings": []}')
    result = cloudmake("scan", "--baseline", "b.json", ".", cwd=tmp_path)
    assert result.returncode == 2 and b'"version": 2' in result.stderr


def test_allow_comment(tmp_path):
    secret = token()
    (tmp_path / "t.py").write_text(f'EXAMPLE_TOKEN = "{secret}"  # secretscan:allow revoked\n')
    assert cloudmake("scan", "t.py", cwd=tmp_path).returncode == 0


# --- binary, huge, non-UTF-8 ------------------------------------------------------------------------------


def _png_with_text(keyword: bytes, text: bytes) -> bytes:
    """A 1x1 PNG whose tEXt chunk holds ``keyword``/``text`` (the chunk layout of the PNG spec)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", keyword + b"\0" + text)
            + chunk(b"IDAT", zlib.compress(b"\0\0")) + chunk(b"IEND", b""))


def test_text_inside_binaries_archives_and_utf16_is_scanned(tmp_path):
    secrets = [token() for _ in range(7)]
    (tmp_path / "blob.dat").write_bytes(b"\x00\x01\x02" + f"TOKEN={secrets[0]}".encode())
    (tmp_path / "image.png").write_bytes(_png_with_text(b"Comment", f"token={secrets[1]}".encode()))
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(f"x = 1\nTOKEN = '{secrets[2]}'\n".encode()))
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conf/app.env", f"\n\nGITHUB_TOKEN={secrets[3]}\n")
        inner = io.BytesIO()
        with tarfile.open(fileobj=inner, mode="w:gz") as tar:  # a .tar.gz inside the zip
            data = f"token: {secrets[4]}\n".encode()
            info = tarfile.TarInfo("deploy/values.yaml")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        archive.writestr("release.tgz", inner.getvalue())
    (tmp_path / "no-bom.ps1").write_bytes(f'$token = "{secrets[5]}"\r\n'.encode("utf-16-le"))
    (tmp_path / "be.txt").write_bytes(f'\ntoken = "{secrets[6]}"\n'.encode("utf-16-be"))
    result = cloudmake("scan", "--format", "json", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert sorted(findings(result), key=str) == [
        ("be.txt", 2, "github-pat"), ("blob.dat", None, "github-pat"),  # binaries: a byte offset, no line
        ("bundle.zip!conf/app.env", 3, "github-pat"),
        ("bundle.zip!release.tgz!release.tar!deploy/values.yaml", 1, "github-pat"),
        ("image.png", None, "github-pat"), ("no-bom.ps1", 1, "github-pat"),
        ("notes.txt.gz!notes.txt", 2, "github-pat")]
    offsets = {f["file"]: f.get("offset") for f in json.loads(result.stdout)["findings"]}
    for name, secret in (("blob.dat", secrets[0]), ("image.png", secrets[1])):  # where `xxd -s` finds it
        assert offsets[name] == (tmp_path / name).read_bytes().index(secret.encode())
    assert offsets["be.txt"] is None and json.loads(result.stdout)["summary"]["not_scanned"] == 0
    text = cloudmake("scan", ".", cwd=tmp_path).stdout.decode()
    assert f"blob.dat@byte {offsets['blob.dat']}: github-pat" in text and "be.txt:2:" in text
    sarif = cloudmake("scan", "--format", "sarif", ".", cwd=tmp_path).stdout
    regions = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]:
               r["locations"][0]["physicalLocation"]["region"] for r in json.loads(sarif)["runs"][0]["results"]}
    assert regions["image.png"] == {"startLine": 1, "byteOffset": offsets["image.png"]} and regions["be.txt"]["startLine"] == 2
    for secret in secrets:
        assert_never_leaked(secret, result.stdout, result.stderr, text.encode(), sarif)


def test_zip_members_stream_from_disk_and_nested_zips_spool(tmp_path):
    """A large zip is read in place (not loaded whole), a zip inside a gzip is spooled; both scanned."""
    secret, other = token(), token()
    filler = os.urandom(12 * 1024 * 1024)  # incompressible: the archive itself is ~12 MB
    with zipfile.ZipFile(tmp_path / "big.zip", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("noise.bin", filler)
        archive.writestr("app/.env", f"GITHUB_TOKEN={secret}\n")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conf.ini", f"[auth]\ntoken = {other}\n")
    (tmp_path / "bundle.zip.gz").write_bytes(gzip.compress(inner.getvalue()))
    result = cloudmake("scan", "--format", "json", "big.zip", "bundle.zip.gz", cwd=tmp_path)
    assert sorted((f, line) for f, line, _ in findings(result)) == [
        ("big.zip!app/.env", 1), ("bundle.zip.gz!bundle.zip!conf.ini", 2)]
    with zipfile.ZipFile(tmp_path / "huge.zip", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("zeros.bin", bytes(64 * 1024 * 1024))
        archive.writestr("app/.env", f"GITHUB_TOKEN={secret}\n")
    refs = list(sources.files([str(tmp_path / "huge.zip")]))
    tracemalloc.start()
    try:
        found = scan_files(make_engine(load_rules()), refs).findings
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [f.path.rsplit("!", 1)[1] for f in found] == ["app/.env"]
    assert peak < 40 * 1024 * 1024, peak  # windows of 8 MiB, not the 64 MiB archive


def test_decompression_bombs_and_deep_nesting_are_reported_not_scanned_and_fail_strict(tmp_path):
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(b"\0" * 64 * 1024 * 1024, compresslevel=9))
    nested = f"token = '{token()}'\n".encode()
    for _ in range(4):
        nested = gzip.compress(nested)
    (tmp_path / "deep.gz").write_bytes(nested)
    with zipfile.ZipFile(tmp_path / "zipbomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.txt", b"0" * 32 * 1024 * 1024)
    result = cloudmake("scan", "--format", "json", ".", cwd=tmp_path)
    doc = json.loads(result.stdout)
    reasons = {s["file"]: s["reason"] for s in doc["skipped"]}
    assert "expands beyond 200x" in reasons["bomb.gz"]
    assert "expands" in reasons["zipbomb.zip"] and "limit 200x" in reasons["zipbomb.zip"]
    assert any(f.startswith("deep.gz!") and "nested deeper than 3" in r for f, r in reasons.items())
    assert result.returncode == 0 and doc["summary"]["not_scanned"] == 3
    notes = [json.loads(line) for line in result.stderr.decode().splitlines()]
    assert sum(n["msg"] == "file not scanned" for n in notes) == 3  # said on stderr too
    sarif = json.loads(cloudmake("scan", "--format", "sarif", ".", cwd=tmp_path).stdout)
    notifications = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert sorted(n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].split("%21")[0]
                  for n in notifications) == ["bomb.gz", "deep.gz", "zipbomb.zip"]
    assert cloudmake("scan", "--strict", ".", cwd=tmp_path).returncode == 1
    text = cloudmake("scan", ".", cwd=tmp_path).stdout
    assert b"bomb.gz: not scanned: archive expands beyond" in text and b"3 not scanned" in text


def test_non_utf8_and_utf16_files(tmp_path):
    first, second = token(), token("gho")
    (tmp_path / "latin1.cfg").write_bytes(b"# r\xe9glages\xff\nTOKEN=" + first.encode() + b"\n")
    (tmp_path / "utf16.ps1").write_bytes(f'$token = "{second}"\r\n'.encode("utf-16"))
    result = cloudmake("scan", "--format", "json", ".", cwd=tmp_path)
    assert sorted(findings(result)) == [("latin1.cfg", 2, "github-pat"), ("utf16.ps1", 1, "github-oauth-token")]


def test_worker_processes_find_the_same_as_one_process(tmp_path):
    filler = b"def handler(event, context):\n    return event['body']\n" * 40_000  # ~2 MB per file
    secrets = {}
    for i in range(6):
        secret = FORGE.chars(ALNUM, 30) + "x9"
        secrets[str(tmp_path / f"mod{i}.py")] = secret
        (tmp_path / f"mod{i}.py").write_bytes(filler + f'client_secret = "{secret}"\n'.encode())
    refs = list(sources.files([str(tmp_path)]))
    engine = make_engine(load_rules(), sum(r.size for r in refs))
    serial = scan_files(engine, refs, jobs=1)
    parallel = scan_files(engine, refs, jobs=2, parallel_threshold=0)  # 3 batches over 2 processes
    assert [(f.path, f.line, f.secret) for f in parallel.findings] == [(f.path, f.line, f.secret) for f in serial.findings]
    assert {f.path: f.secret for f in parallel.findings} == secrets
    assert parallel.files == serial.files == 6 and parallel.bytes == serial.bytes


def test_respects_gitignore_inside_a_work_tree_unless_told_otherwise(repo):
    secret = token()
    (repo / ".gitignore").write_text("local/\n")
    (repo / "local").mkdir()
    (repo / "local" / "dev.env").write_text(f"GITHUB_TOKEN={secret}\n")
    assert cloudmake("scan", ".", cwd=repo).returncode == 0
    assert cloudmake("scan", "--no-ignore", ".", cwd=repo).returncode == 1


def test_help_and_rules_listing(tmp_path):
    assert b"--git-diff RANGE" in cloudmake("scan", "--help", cwd=tmp_path).stdout
    listing = cloudmake("rules", cwd=tmp_path).stdout.decode()
    assert "github-pat" in listing and "generic-secret-assignment" in listing


def test_the_command_does_not_import_heavy_modules(tmp_path):
    code = ("import sys; from cloudmake_pipelines.cli import main\n"
            "try:\n    main(['secrets', 'scan', '--staged'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('dagster', 'sqlalchemy', 'mcp', 'pandas') if m in sys.modules))")
    git(tmp_path, "init", "-q")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ}, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
