"""Rules, filters and the engine: a true positive and hard negatives for every rule, on both engines.

Every secret here is generated at run time (``secretscan.samples``), so this file holds no literal that
looks like a credential and the repository scans clean.
"""

from __future__ import annotations

import pytest

from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.secretscan.engine import Engine
from cloudmake_pipelines.secretscan.filters import (
    crc32_base62,
    crc32_base62_valid,
    is_non_secret_shape,
    is_placeholder,
    jwt_valid,
    shannon_entropy,
)
from cloudmake_pipelines.secretscan.rules import load_rules
from cloudmake_pipelines.secretscan.samples import (
    ALNUM,
    Forge,
    detect_secrets_style,
    gitleaks_style,
    negatives,
    positives,
)

RULES = load_rules()
POSITIVES = positives(seed=3)
NEGATIVES = negatives(seed=5)


@pytest.fixture(scope="module", params=["hyperscan", "keywords"])
def engine(request) -> Engine:
    engine = Engine(RULES, use_hyperscan=request.param == "hyperscan")
    assert engine.backend == ("hyperscan" if request.param == "hyperscan" else "keywords+re")
    return engine


def test_every_rule_has_a_true_positive():
    assert {s.rule for s in POSITIVES} == {r.id for r in RULES.rules}


@pytest.mark.parametrize("sample", POSITIVES, ids=lambda s: s.label)
def test_true_positive_is_reported_once_by_its_rule(engine, sample):
    findings = engine.scan(sample.text.encode(), sample.filename)
    assert [(f.rule_id, f.secret) for f in findings] == [(sample.rule, sample.secret)]
    line = sample.text[:sample.text.index(sample.secret)].count("\n") + 1
    assert findings[0].line == line


@pytest.mark.parametrize("sample", NEGATIVES, ids=lambda s: s.label)
def test_hard_negative_is_not_reported(engine, sample):
    assert engine.scan(sample.text.encode(), sample.filename) == []


def test_engines_agree_on_one_large_buffer():
    """Windowed confirmation at hyperscan's offsets finds what whole-buffer matching finds."""
    filler = b"x = compute(value, other)  # ordinary code\n" * 20000 + b"y" * 300000 + b"\n"
    parts = [filler]
    for sample in POSITIVES + NEGATIVES:
        parts += [sample.text.encode(), filler[:5000]]
    data = b"".join(parts)
    fast = Engine(RULES).scan(data, "big.txt")
    slow = Engine(RULES, use_hyperscan=False).scan(data, "big.txt")
    key = sorted((f.rule_id, f.line, f.secret) for f in fast)
    assert key == sorted((f.rule_id, f.line, f.secret) for f in slow)
    # each positive once; the lock-file sample's tokens are outside a lock file here, so reported too
    assert {(f.rule_id, f.secret) for f in fast} >= {(s.rule, s.secret) for s in POSITIVES}


def test_hyperscan_forms_find_what_the_patterns_find():
    """A rule's exact hyperscan form (no lookarounds) must report every match of its pattern: the engines
    agree on every sample of every labelled set, the peers' formats included."""
    assert any(r.hyperscan for r in RULES.rules)
    fast, slow = Engine(RULES), Engine(RULES, use_hyperscan=False)
    samples = [s for make in (gitleaks_style, detect_secrets_style) for group in make(seed=7) for s in group]
    for sample in POSITIVES + NEGATIVES + samples:
        data = sample.text.encode()
        key = [(f.rule_id, f.line, f.secret) for f in fast.scan(data, sample.filename)]
        assert key == [(f.rule_id, f.line, f.secret) for f in slow.scan(data, sample.filename)], sample.label


def test_github_checksum_is_verified():
    forge = Forge(1)
    token = forge.checksummed("ghp")
    assert crc32_base62_valid(token)
    body = token[4:34]
    wrong = "ghp_" + body + crc32_base62(body[::-1])
    assert not crc32_base62_valid(wrong)
    assert not crc32_base62_valid("ghp_" + body + "!!!!!!")
    engine = Engine(RULES, use_hyperscan=False)
    assert [f.rule_id for f in engine.scan(f"t = '{token}'".encode(), "a.py")] == ["github-pat"]
    assert engine.scan(f"t = '{wrong}'".encode(), "a.py") == []


def test_checksum_round_trips_for_npm_tokens():
    token = Forge(2).checksummed("npm")
    assert crc32_base62_valid(token) and len(token) == 40


def test_jwt_check_needs_json_header_with_alg_and_registered_claims():
    forge = Forge(4)
    assert jwt_valid(forge.jwt())
    header, payload, signature = forge.jwt().split(".")
    assert not jwt_valid(f"{header}.{payload}")
    assert not jwt_valid(f"{header[:-2]}.{payload}.{signature}")  # header no longer JSON


def test_filters():
    secret = Forge(5).chars(ALNUM, 40)
    assert shannon_entropy(secret) > 4.5 > shannon_entropy("aaaaaaaabbbbbbbb")
    assert not is_placeholder(secret)
    for text in ("AKIAIOSFODNN7EXAMPLE", "your-api-key", "xxxxxxxxxxxx", "${TOKEN}", "<token>",
                 "process.env.TOKEN", "abc123abcdefghij9", "sk_live_000000000000"):
        assert is_placeholder(text), text
    for text in ("0" * 7 + "f" * 33, "123e4567-e89b-42d3-a456-426614174000", "https://x.example/a",
                 "./relative/path", "settings.database.password_field", "onlyletterslongvalue"):
        assert is_non_secret_shape(text), text
    assert not is_non_secret_shape(secret + "7")


def test_inline_allow_comment_silences_one_line_only(engine):
    token = Forge(6).checksummed("ghp")
    data = f'a = "{token}"  # secretscan:allow (revoked test token)\nb = "{token}"\n'.encode()
    assert [f.line for f in engine.scan(data, "x.py")] == [2]


def test_specific_rule_wins_over_the_generic_one(engine):
    token = Forge(7).checksummed("ghp")
    findings = engine.scan(f'github_token = "{token}"\n'.encode(), "x.py")
    assert [f.rule_id for f in findings] == ["github-pat"]


def test_non_utf8_bytes_around_a_secret(engine):
    token = Forge(8).checksummed("gho")
    data = b"caf\xe9 \xff\xfe\x80 = 1\n" + b"tok\xe9n = '" + token.encode() + b"'  # \xe9t\xe9\n"
    findings = engine.scan(data, "latin1.txt")
    assert [(f.rule_id, f.line, f.secret) for f in findings] == [("github-oauth-token", 2, token)]


def test_allowlist_by_digest_keeps_published_example_keys_out_of_the_rules_file(tmp_path):
    """Google's published Firebase example keys are allowlisted by SHA-256 prefix in rules.yaml; the
    same mechanism, through a config, for a key generated here."""
    import hashlib

    key = "AIza" + Forge(12).chars(ALNUM, 35)
    line = f'firebase = "{key}"\n'.encode()
    assert [f.rule_id for f in Engine(load_rules()).scan(line, "app.js")] == ["google-api-key"]
    config = tmp_path / "secrets.yaml"
    config.write_text(f"allowlist:\n  digests: [{hashlib.sha256(key.encode()).hexdigest()}]\n")
    assert Engine(load_rules(config)).scan(line, "app.js") == []
    assert len(load_rules().rule("google-api-key").allowlist.digests) == 16


def test_bounded_rules_are_confirmed_in_windows_not_over_whole_files():
    """A rule whose pattern can grow without bound (``\\d*``) is confirmed by Python's re over the whole
    file: the generic rule once did that and throughput fell sixfold. Only key blocks, JWTs and URLs may."""
    from cloudmake_pipelines.secretscan.engine import MAX_WINDOW, _max_width

    unbounded = {r.id for r in RULES.rules if _max_width(r) > MAX_WINDOW}
    assert unbounded == {"private-key", "putty-private-key", "jwt", "database-url-password"}


def test_lock_files_are_not_scanned(engine):
    token = Forge(9).checksummed("ghp")
    for name in ("poetry.lock", "web/package-lock.json", "uv.lock", "go.sum", "requirements.lock"):
        assert engine.scan(f'"{token}"'.encode(), name) == []


def test_custom_rules_disable_and_allowlist_from_config(tmp_path):
    config = tmp_path / "secrets.yaml"
    config.write_text(
        "rules:\n"
        "  - id: acme-deploy-token\n"
        "    description: ACME deploy token\n"
        "    pattern: '\\b(?P<secret>acmedt_[a-z0-9]{32})\\b'\n"
        "    keywords: [acmedt_]\n"
        "    entropy: 3.0\n"
        "disable: [generic-secret-assignment]\n"
        "allowlist:\n"
        "  paths: ['^fixtures/']\n"
        "max_file_size_mb: 2\n")
    rules = load_rules(config)
    assert "acme-deploy-token" in {r.id for r in rules.rules}
    assert "generic-secret-assignment" not in {r.id for r in rules.rules}
    assert rules.max_file_size == 2 * 1024 * 1024
    forge = Forge(10)
    acme = "acmedt_" + forge.chars("abcdefghijklmnopqrstuvwxyz0123456789", 32)
    generic = f'client_secret = "{forge.chars(ALNUM, 32)}"\n'
    for use_hyperscan in (True, False):
        engine = Engine(rules, use_hyperscan=use_hyperscan)
        assert [f.rule_id for f in engine.scan(f"deploy: {acme}\n".encode(), "ci.yml")] == ["acme-deploy-token"]
        assert engine.scan(f"deploy: {acme}\n".encode(), "fixtures/ci.yml") == []
        assert engine.scan(generic.encode(), "app.py") == []


@pytest.mark.parametrize(("content", "message"), [
    ("rules: [{id: x1, description: d, pattern: '(', keywords: [a]}]", "rules[0] (x1).pattern: not a valid regular"),
    ("rules: [{id: x1, description: d, pattern: 'a', keywords: []}]", "rules[0] (x1).keywords: expected at least one"),
    ("rules: [{id: x1, description: d, pattern: 'a', keywords: [a], check: luhn}]", "check: 'luhn' is not one of"),
    ("rules: [{id: X Y, description: d, pattern: 'a', keywords: [a]}]", "rules[0].id: 'X Y' must be lower-case"),
    ("rules: [{id: x1, description: d, pattern: 'a', keywords: [a], colour: red}]", "unknown field(s) ['colour']"),
    ("disable: [no-such-rule]", "disable names unknown rule(s) ['no-such-rule']"),
    ("allowlist: {paths: ['[']}", "allowlist.paths[0]: not a valid regular expression"),
    ("max_file_size_mb: -1", "max_file_size_mb must be a positive number"),
    ("rulez: []", "unknown field(s) ['rulez']"),
    ("- just a list", "expected a mapping at the top level"),
    ("rules: [{id: x1", "not valid YAML"),
    ("rules: [{id: x1, description: d, pattern: 'a', keywords: [a], entropy: .nan}]",
     "rules[0] (x1).entropy: expected a finite number of bits per character between 0 and 8, got nan"),
    ("rules: [{id: x1, description: d, pattern: 'a', keywords: [a], entropy: 9}]",
     "rules[0] (x1).entropy: expected a finite number of bits per character between 0 and 8, got 9"),
    ("max_file_size_mb: .inf", "max_file_size_mb must be a positive number"),
    ("allowlist: {digests: [nothex]}", "allowlist.digests[0]: "),
    ("rules: [{id: x1, description: d, keywords: [a]}]", "rules[0] (x1).pattern: required field missing"),
])
def test_bad_config_names_the_file_and_field(tmp_path, content, message):
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_rules(config)
    assert str(config) in str(error.value) and message in str(error.value)


def test_missing_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")
