"""What one audit found, and the one definition of AA compliance (SC-003 ≥ 98 %).

A *check* is one axe-core rule applied to one element (rule × node). axe sorts every applicable check into
passes, violations and incomplete ("needs review": axe could not decide, e.g. text over a background image).
**AA compliance = passed / (passed + violations)** over the checks of the WCAG 2.0/2.1 level A and AA rules,
summed per story, per component (a story's title) and overall; incomplete checks are counted and shown
beside it, never in it. A page that did not load, timed out or threw is *failed*: it has no checks, is never
counted as compliant, and fails the audit on its own.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The axe-core tags audited: WCAG 2.0 and 2.1, levels A and AA.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
SERIOUS = ("serious", "critical")


def compliance(passed: int, violations: int) -> float | None:
    """Percent of applicable checks that passed; None when nothing applicable was checked."""
    total = passed + violations
    return None if total == 0 else 100.0 * passed / total


@dataclass(frozen=True)
class Finding:
    """One violated (or needs-review) check: a rule on one element of one page."""

    page_id: str
    component: str
    rule: str
    impact: str | None
    selector: str
    html: str
    help: str
    help_url: str
    summary: str

    @property
    def fingerprint(self) -> str:
        """Stable across audits while the page, the rule and the element's selector stay the same."""
        return hashlib.sha256(json.dumps([self.page_id, self.rule, self.selector]).encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {"page": self.page_id, "component": self.component, "rule": self.rule, "impact": self.impact,
                "element": self.selector, "html": self.html, "help": self.help, "help_url": self.help_url,
                "how_to_fix": self.summary}


@dataclass
class PageResult:
    """One story or page: audited (with its checks) or failed (with why)."""

    id: str
    component: str
    name: str
    url: str
    kind: str = "page"  # story | page
    error: str | None = None
    passed: int = 0
    violations: list[Finding] = field(default_factory=list)
    incomplete: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def audited(self) -> bool:
        return self.error is None

    @property
    def compliance(self) -> float | None:
        return compliance(self.passed, len(self.violations)) if self.audited else None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "component": self.component, "name": self.name, "url": self.url, "kind": self.kind,
                "status": "audited" if self.audited else "failed", "error": self.error, "passed": self.passed,
                "violations": len(self.violations), "incomplete": len(self.incomplete),
                "compliance": self.compliance, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_axe(cls, page: PageResult, results: dict[str, Any]) -> PageResult:
        """``page`` with axe.run's ``results`` counted by rule × node."""
        page.passed = sum(len(rule["nodes"]) for rule in results.get("passes", []))
        page.violations = _findings(page, results.get("violations", []))
        page.incomplete = _findings(page, results.get("incomplete", []))
        return page


def _findings(page: PageResult, rules: list[dict[str, Any]]) -> list[Finding]:
    found = []
    for rule in rules:
        for node in rule["nodes"]:
            selector = " ".join(" >>> ".join(t) if isinstance(t, list) else str(t) for t in node.get("target", []))
            found.append(Finding(page.id, page.component, rule["id"], node.get("impact") or rule.get("impact"),
                                 selector, (node.get("html") or "")[:500], rule.get("help", ""),
                                 rule.get("helpUrl", ""), node.get("failureSummary") or ""))
    return found


@dataclass
class Figures:
    """Sums over some pages: what the compliance of a story, a component or a whole audit is made of."""

    pages: int = 0
    audited: int = 0
    failed: int = 0
    passed: int = 0
    violations: int = 0
    incomplete: int = 0

    def add(self, page: PageResult) -> None:
        self.pages += 1
        if not page.audited:
            self.failed += 1
            return
        self.audited += 1
        self.passed += page.passed
        self.violations += len(page.violations)
        self.incomplete += len(page.incomplete)

    @property
    def compliance(self) -> float | None:
        return compliance(self.passed, self.violations)

    def as_dict(self) -> dict[str, Any]:
        return {"pages": self.pages, "audited": self.audited, "failed": self.failed, "passed": self.passed,
                "violations": self.violations, "incomplete": self.incomplete, "compliance": self.compliance}


@dataclass
class TargetAudit:
    """One audit of one target: every page's result, with the sums the checks and reports read."""

    target: str
    started_at: datetime
    finished_at: datetime
    pages: list[PageResult]
    engine: str = ""  # the axe-core version
    problems: list[str] = field(default_factory=list)  # the target itself could not be listed (no pages)

    @property
    def figures(self) -> Figures:
        total = Figures()
        for page in self.pages:
            total.add(page)
        return total

    def by_component(self) -> dict[str, Figures]:
        per: dict[str, Figures] = {}
        for page in self.pages:
            per.setdefault(page.component, Figures()).add(page)
        return dict(sorted(per.items()))

    def worst_components(self, limit: int = 10) -> list[tuple[str, Figures]]:
        """Components with violations or failed pages, lowest compliance first (failed pages first of all)."""
        bad = [(name, f) for name, f in self.by_component().items() if f.violations or f.failed]
        return sorted(bad, key=lambda item: (-item[1].failed, item[1].compliance if item[1].compliance is not None
                                             else -1.0, item[0]))[:limit]

    def top_rules(self, limit: int = 10) -> list[tuple[str, int]]:
        counts = Counter(f.rule for page in self.pages for f in page.violations)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]

    @property
    def violations(self) -> list[Finding]:
        return [f for page in self.pages for f in page.violations]

    @property
    def failed(self) -> list[PageResult]:
        return [p for p in self.pages if not p.audited]

    def passes(self, threshold: float) -> bool:
        """SC-003 for this target: every page audited, and compliance at or above ``threshold`` percent."""
        figures = self.figures
        return not self.problems and not figures.failed and (figures.compliance is None
                                                             or figures.compliance >= threshold)
