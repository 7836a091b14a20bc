"""The reports people read: one self-contained HTML file (no external CSS, script or font) and JSON.

Per target: the figures (AA compliance as defined in :mod:`.results`), failed pages with why, then per
component its stories and each violation (rule, impact, element, how to fix, axe's help link), the checks
that need review, and what is new since the previous audit.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import jinja2

from .results import WCAG_TAGS, TargetAudit

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Accessibility audit {{ generated }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1a1a1a}
h1,h2,h3{line-height:1.2}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border:1px solid #c8c8c8;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f0f0f0}
code{font-size:13px;word-break:break-all}.bad{color:#a40000;font-weight:600}.ok{color:#1d6b1d;font-weight:600}
.critical,.serious{color:#a40000}.moderate{color:#7a4b00}details{margin:.3rem 0}
pre{white-space:pre-wrap;margin:0;font-size:13px}.findings td:nth-child(3){width:35%}
</style></head><body><main>
<h1>Accessibility audit</h1>
<p>{{ generated }} &middot; engine axe-core {{ engine }} &middot; rules tagged {{ tags }} &middot; threshold {{ threshold }} %
(SC-003). AA compliance = passed / (passed + violations) over the applicable WCAG A and AA checks (rule &times;
element); checks that need review are counted separately, and a page that failed is never compliant.</p>
{% for t in targets %}
<section><h2>{{ t.name }}</h2>
<table><tr><th>pages</th><th>audited</th><th>failed</th><th>passed checks</th><th>violations</th><th>needs review</th>
<th>AA compliance</th><th>new violations</th></tr>
<tr><td>{{ t.f.pages }}</td><td>{{ t.f.audited }}</td><td class="{{ 'bad' if t.f.failed }}">{{ t.f.failed }}</td>
<td>{{ t.f.passed }}</td><td>{{ t.f.violations }}</td><td>{{ t.f.incomplete }}</td>
<td class="{{ 'ok' if t.ok else 'bad' }}">{{ t.compliance }}</td><td>{{ t.new_count }}</td></tr></table>
{% for p in t.problems %}<p class="bad">{{ p }}</p>{% endfor %}
{% if t.failed %}<h3>Failed pages (not audited, never compliant)</h3>
<table><tr><th>story / page</th><th>why</th></tr>
{% for p in t.failed %}<tr><td><a href="{{ p.url }}">{{ p.id }}</a></td><td>{{ p.error }}</td></tr>{% endfor %}</table>{% endif %}
{% if t.new %}<h3>New since the previous audit</h3><table><tr><th>page</th><th>rule</th><th>impact</th><th>element</th></tr>
{% for f in t.new %}<tr><td>{{ f.page_id }}</td><td>{{ f.rule }}</td><td class="{{ f.impact }}">{{ f.impact }}</td>
<td><code>{{ f.selector }}</code></td></tr>{% endfor %}</table>{% endif %}
{% if t.top_rules %}<h3>Most violated rules</h3><table><tr><th>rule</th><th>checks failed</th></tr>
{% for rule, n in t.top_rules %}<tr><td>{{ rule }}</td><td>{{ n }}</td></tr>{% endfor %}</table>{% endif %}
<h3>Components</h3>
{% for c in t.components %}
<details {{ 'open' if c.f.violations or c.f.failed }}><summary><strong>{{ c.name }}</strong> &mdash;
{{ c.compliance }} ({{ c.f.violations }} violation{{ '' if c.f.violations == 1 else 's' }}, {{ c.f.incomplete }} to review,
{{ c.f.failed }} failed, {{ c.f.audited }} of {{ c.f.pages }} audited)</summary>
{% for p in c.pages %}{% if p.violations or p.incomplete %}
<h4><a href="{{ p.url }}">{{ p.name }}</a> <small>{{ p.id }} &middot; {{ percent(p.compliance) }}</small></h4>
<table class="findings"><tr><th>rule</th><th>impact</th><th>element</th><th>how to fix</th></tr>
{% for f in p.violations %}<tr><td><a href="{{ f.help_url }}">{{ f.rule }}</a><br>{{ f.help }}</td>
<td class="{{ f.impact }}">{{ f.impact }}</td><td><code>{{ f.selector }}</code><br><code>{{ f.html }}</code></td>
<td><pre>{{ f.summary }}</pre></td></tr>{% endfor %}
{% for f in p.incomplete %}<tr><td><a href="{{ f.help_url }}">{{ f.rule }}</a> (needs review)<br>{{ f.help }}</td>
<td>{{ f.impact }}</td><td><code>{{ f.selector }}</code><br><code>{{ f.html }}</code></td><td><pre>{{ f.summary }}</pre></td></tr>{% endfor %}
</table>{% endif %}{% endfor %}
</details>
{% endfor %}
</section>
{% endfor %}
</main></body></html>
"""
_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def _percent(value: float | None) -> str:
    return "n/a (nothing applicable)" if value is None else f"{value:.2f} %"


def engine_version(audits: list[TargetAudit]) -> str:
    return next((a.engine for a in audits if a.engine), "")


def render_html(audits: list[TargetAudit], *, threshold: float, new: dict[str, list] | None = None,
                generated: datetime | None = None) -> str:
    new = new or {}
    targets = []
    for audit in audits:
        figures = audit.figures
        components = []
        for name, f in audit.by_component().items():
            components.append({"name": name, "f": f, "compliance": _percent(f.compliance),
                               "pages": [p for p in audit.pages if p.component == name]})
        targets.append({"name": audit.target, "f": figures, "compliance": _percent(figures.compliance),
                        "ok": audit.passes(threshold), "problems": audit.problems, "failed": audit.failed,
                        "new": new.get(audit.target) or [], "new_count": len(new.get(audit.target) or []),
                        "top_rules": audit.top_rules(), "components": components})
    when = (generated or (audits[0].finished_at if audits else datetime.now())).isoformat(timespec="seconds")
    return _ENV.from_string(_TEMPLATE).render(generated=when, engine=engine_version(audits), percent=_percent,
                                              tags=", ".join(WCAG_TAGS), threshold=f"{threshold:g}", targets=targets)


def as_json(audits: list[TargetAudit], *, threshold: float, new: dict[str, list] | None = None,
            records: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything in the HTML report, for machines (``--json``, the JSON report file)."""
    new, records = new or {}, records or {}
    out = []
    for audit in audits:
        findings = new.get(audit.target)
        out.append({
            "target": audit.target, "started_at": audit.started_at, "finished_at": audit.finished_at,
            **audit.figures.as_dict(), "sc_003_passed": audit.passes(threshold), "problems": audit.problems,
            "new_violations": None if findings is None else [f.as_dict() for f in findings],
            "audit_id": records.get(audit.target),
            "components": {name: f.as_dict() for name, f in audit.by_component().items()},
            "top_rules": [{"rule": r, "count": n} for r, n in audit.top_rules()],
            "results": [{**p.as_dict(), "findings": [f.as_dict() for f in p.violations],
                       "needs_review": [f.as_dict() for f in p.incomplete]} for p in audit.pages],
        })
    return {"threshold": threshold, "engine": f"axe-core {engine_version(audits)}".strip(), "tags": list(WCAG_TAGS),
            "passed": all(a.passes(threshold) for a in audits), "targets": out}


def to_json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, default=str).encode()
