"""Reports in three formats: text for people, JSON for scripts, SARIF 2.1.0 for GitHub code scanning.

None of them contains a secret: a finding is shown as its rule, place, redacted prefix and fingerprint,
and :func:`render` checks the finished text against every secret before it is written anywhere, in one
pass over the text whatever the number of findings. Each format lists what was not scanned, and why.
"""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import quote

from .findings import ScanResult
from .rules import RuleSet

FORMATS = ("text", "json", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "cloudmake-secretscan"


def render(result: ScanResult, ruleset: RuleSet, fmt: str, *, source: str) -> str:
    """The report as text; never contains any finding's secret."""
    text = {"text": _text, "json": _json, "sarif": _sarif}[fmt](result, ruleset, source)
    return scrub(text, {f.secret for f in result.findings})  # defence in depth: no format may carry one


def scrub(text: str, secrets: set[str]) -> str:
    """``text`` with every occurrence of any of ``secrets`` replaced, in one pass over the text (a
    hyperscan literal database of the secrets); a loop over the secrets without hyperscan."""
    secrets = {s for s in secrets if s}
    if not secrets:
        return text
    try:
        import hyperscan
    except ImportError:
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "[REDACTED]")
        return text
    data = text.encode("utf-8", "surrogateescape")
    needles = sorted(s.encode("utf-8", "surrogateescape") for s in secrets)
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=needles, ids=list(range(len(needles))),
                     flags=hyperscan.HS_FLAG_SOM_LEFTMOST, literal=True)
    spans: list[tuple[int, int]] = []
    database.scan(data, match_event_handler=lambda _id, start, end, _flags, _ctx: spans.append((start, end)))
    if not spans:
        return text
    out, position = [], 0
    for start, end in sorted(spans):
        if end <= position:
            continue
        out += [data[position:start] if start > position else b"", b"[REDACTED]"]
        position = max(position, end)
    out.append(data[position:])
    return b"".join(out).decode("utf-8", "surrogateescape")


def summary(result: ScanResult) -> dict[str, object]:
    reasons = Counter(s.reason for s in result.skipped)
    return {"findings": len(result.findings), "baselined": result.baselined, "files": result.files,
            "bytes": result.bytes, "seconds": round(result.seconds, 3), "not_scanned": len(result.skipped),
            "skipped": dict(sorted(reasons.items()))}


def _text(result: ScanResult, ruleset: RuleSet, source: str) -> str:
    lines = []
    for f in result.findings:
        where = f"{f.path}:{f.line}:{f.column}" + (f" (commit {f.commit[:12]})" if f.commit else "")
        lines.append(f"{where}: {f.rule_id}: {f.description}: {f.redacted} fingerprint {f.fingerprint}")
    for skipped in result.skipped:
        lines.append(f"{skipped.path}: not scanned: {skipped.reason}")
    count = len(result.findings)
    mb = result.bytes / 1e6
    tail = f"{result.files} files, {mb:.1f} MB in {result.seconds:.2f} s"
    if result.baselined:
        tail += f"; {result.baselined} acknowledged in the baseline"
    if result.skipped:
        tail += f"; {len(result.skipped)} not scanned (listed above)"
    lines.append(f"{count} secret{'s' if count != 1 else ''} found ({source}: {tail})" if count
                 else f"No secrets found ({source}: {tail})")
    return "\n".join(lines) + "\n"


def _json(result: ScanResult, ruleset: RuleSet, source: str) -> str:
    doc = {"source": source, "summary": summary(result), "findings": [f.to_dict() for f in result.findings],
           "skipped": [{"file": s.path, "reason": s.reason} for s in result.skipped]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _sarif(result: ScanResult, ruleset: RuleSet, source: str) -> str:
    rules = [{
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.description},
        "fullDescription": {"text": f"{rule.description} committed to the repository."},
        "help": {"text": "Revoke the credential, remove it from the code (and history), and load it from the "
                         "environment or a secret manager instead."},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["security", "secret"], "precision": "medium" if rule.generic else "high",
                       "security-severity": "7.5" if rule.generic else "9.0"},
    } for rule in ruleset.rules]
    index = {rule.id: i for i, rule in enumerate(ruleset.rules)}
    results = []
    for f in result.findings:
        entry = {
            "ruleId": f.rule_id,
            "ruleIndex": index[f.rule_id],
            "level": "error",
            "message": {"text": f"{f.description}: {f.redacted} (fingerprint {f.fingerprint})"
                                + (f" added in commit {f.commit}" if f.commit else "")},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": quote(f.path.replace("\\", "/")), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": f.line, "startColumn": f.column, "endLine": max(f.end_line, f.line),
                           "endColumn": f.end_column},
            }}],
            "partialFingerprints": {"secretFingerprint/v2": f.fingerprint},
        }
        if f.commit:
            entry["properties"] = {"commit": f.commit}
        results.append(entry)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "version": _version(),
                                "rules": rules}},
            "automationDetails": {"id": f"secretscan/{source}/"},
            "columnKind": "unicodeCodePoints",
            "results": results,
            "invocations": [{
                "executionSuccessful": True,
                "toolExecutionNotifications": [{
                    "level": "warning",
                    "message": {"text": f"not scanned: {s.reason}"},
                    "locations": [{"physicalLocation": {"artifactLocation": {
                        "uri": quote(s.path.replace("\\", "/")), "uriBaseId": "%SRCROOT%"}}}],
                    "descriptor": {"id": "not-scanned"},
                } for s in result.skipped],
            }],
            "properties": {"summary": summary(result)},
        }],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cloudmake-pipelines")
    except PackageNotFoundError:
        return "0"
