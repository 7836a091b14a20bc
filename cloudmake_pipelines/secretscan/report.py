"""Reports in three formats: text for people, JSON for scripts, SARIF 2.1.0 for GitHub code scanning.

None of them contains a secret: a finding is shown as its rule, place, redacted prefix and fingerprint,
and :func:`render` checks every string taken from the input against every secret before the text is
written anywhere, in time linear in the findings. Each format lists what was not scanned, and why.
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
    fields = [source, *(f.path for f in result.findings), *(f.commit or "" for f in result.findings),
              *(s.path + "\0" + s.reason for s in result.skipped), *(r.description for r in ruleset.rules)]
    return scrub(text, {f.secret for f in result.findings}, fields)  # defence in depth


def scrub(text: str, secrets: set[str], fields: list[str] | None = None) -> str:
    """``text`` with every occurrence of any of ``secrets`` replaced.

    A report is made of fixed wording, numbers, fingerprints, redacted prefixes and a few strings taken
    from the input (paths, commits, reasons): only those ``fields`` (default: the whole text) can carry a
    secret. They are searched once, deduplicated; only a secret actually found costs a pass over the text.
    So rendering stays linear in the number of findings (it was one pass over the text per finding).
    """
    joined = "\0".join(set(fields)) if fields is not None else text
    for secret in sorted(_present({s for s in secrets if s}, joined), key=len, reverse=True):
        text = text.replace(secret, "[REDACTED]")
    return text


def _present(secrets: set[str], haystack: str) -> set[str]:
    """The secrets that occur in ``haystack``: substring search while that is cheap, else one pass of a
    hyperscan literal database over it."""
    if not secrets or not haystack:
        return set()
    if len(secrets) * len(haystack) <= 50_000_000:
        return {s for s in secrets if s in haystack}
    try:
        import hyperscan
    except ImportError:
        return {s for s in secrets if s in haystack}
    needles = sorted(secrets)
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=[n.encode("utf-8", "surrogateescape") for n in needles],
                     ids=list(range(len(needles))), flags=hyperscan.HS_FLAG_SINGLEMATCH, literal=True)
    found: set[str] = set()
    database.scan(haystack.encode("utf-8", "surrogateescape"),
                  match_event_handler=lambda index, _start, _end, _flags, _ctx: found.add(needles[index]))
    return found


def summary(result: ScanResult) -> dict[str, object]:
    reasons = Counter(s.reason for s in result.skipped)
    return {"findings": len(result.findings), "baselined": result.baselined, "files": result.files,
            "bytes": result.bytes, "seconds": round(result.seconds, 3), "not_scanned": len(result.skipped),
            "skipped": dict(sorted(reasons.items()))}


def _text(result: ScanResult, ruleset: RuleSet, source: str) -> str:
    lines = []
    for f in result.findings:
        where = f.place + (f" (commit {f.commit[:12]})" if f.commit else "")
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
    """One finding (and one skipped file) a line: readable, and encoded by json's C encoder (indent=
    falls back to the pure-Python one, seconds for 20,000 findings)."""
    def rows(items: list[dict[str, object]]) -> str:
        return "[]" if not items else "[\n    " + ",\n    ".join(_dump(i) for i in items) + "\n  ]"

    return (f'{{\n  "source": {_dump(source)},\n  "summary": {_dump(summary(result))},\n'
            f'  "findings": {rows([f.to_dict() for f in result.findings])},\n'
            f'  "skipped": {rows([{"file": s.path, "reason": s.reason} for s in result.skipped])}\n}}\n')


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


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
                                + (f" at byte {f.offset}" if f.line is None else "")
                                + (f" added in commit {f.commit}" if f.commit else "")},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": quote(f.path.replace("\\", "/")), "uriBaseId": "%SRCROOT%"},
                "region": _region(f),
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
    return json.dumps(doc, ensure_ascii=False) + "\n"  # one line: SARIF is read by tools, C-encoded


def _region(f) -> dict[str, int]:
    """Line and columns in text; the byte offset in a binary (SARIF 2.1.0 §3.30.2: a region may be given
    by bytes), with startLine 1 beside it because GitHub code scanning rejects a region without one (its
    SARIF rule GH1003). No end: a region's length would tell the secret's length."""
    if f.line is None:
        return {"startLine": 1, "byteOffset": f.offset}
    return {"startLine": f.line, "startColumn": f.column, "endLine": max(f.end_line, f.line),
            "endColumn": f.end_column}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cloudmake-pipelines")
    except PackageNotFoundError:
        return "0"
