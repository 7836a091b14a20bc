"""Rendering a drift report: a text table for terminals, Markdown for PR comments and the UI, JSON."""

from __future__ import annotations

import json

from .model import DIMENSIONS, DriftReport

COLUMNS = ("dimension", "kind", "name", "expected", "actual", "location")


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def _rows(report: DriftReport) -> list[list[str]]:
    return [[_cell(getattr(item, column)) for column in COLUMNS] for item in report.items]


def summary(report: DriftReport) -> str:
    if not report.has_drift:
        accepted = f" ({len(report.accepted)} accepted)" if report.accepted else ""
        return f"no spec drift{accepted}"
    counts = report.counts
    parts = ", ".join(f"{counts[d]} {d}" for d in DIMENSIONS if counts[d])
    return f"spec drift: {counts['total']} item{'s' if counts['total'] != 1 else ''} ({parts})"


def as_text(report: DriftReport) -> str:
    lines = [f"target: {report.target}", summary(report)]
    rows = _rows(report)
    if rows:
        widths = [min(60, max(len(column), *(len(row[i]) for row in rows))) for i, column in enumerate(COLUMNS)]
        lines.append("  ".join(column.ljust(w) for column, w in zip(COLUMNS, widths, strict=True)).rstrip())
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines += [f"accepted: {a['key']} (until {a['expires']}: {a['reason']})" for a in report.accepted]
    lines += [f"warning: {warning}" for warning in report.warnings]
    lines += [f"{dimension}: {source}" for dimension, source in report.checked.items()]
    return "\n".join(lines)


def _md(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def as_markdown(report: DriftReport, *, limit: int = 200, budget: int = 60_000) -> str:
    """A GitHub-flavoured Markdown table of at most ``limit`` items and about ``budget`` characters
    (GitHub refuses comments over 65,536); the rest is counted, not shown."""
    lines = [f"### Spec drift (SC-008): {summary(report)}", ""]
    rows = _rows(report)
    if rows:
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
        size, shown = 0, 0
        for row in rows[:limit]:
            cells = [f"`{_md(c)}`" if c and i in (2, 3, 4) else _md(c) for i, c in enumerate(row)]
            line = "| " + " | ".join(cells) + " |"
            size += len(line) + 1
            if size > budget:
                break
            lines.append(line)
            shown += 1
        if shown < len(rows):
            lines.append(f"\n…and {len(rows) - shown} more: run `cloudmake drift check` for the full list.")
    if report.accepted:
        lines += ["", "<details><summary>Accepted drift</summary>", ""]
        lines += [f"- `{_md(a['key'])}` until {a['expires']}: {_md(a['reason'])}" for a in report.accepted]
        lines += ["", "</details>"]
    lines += ["", *[f"> warning: {_md(w)}" for w in report.warnings]] if report.warnings else []
    revision = f" at `{report.code_revision[:12]}`" if report.code_revision else ""
    lines += ["", f"<sub>spec digest `{report.spec_digest[:12]}`{revision}, {report.duration_ms:.0f} ms. "
                  "Fix the code or the spec, or accept an item in `drift-allowlist.yaml` with a reason and an "
                  "expiry date.</sub>"]
    return "\n".join(lines)


def as_json(report: DriftReport) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str)


RENDERERS = {"text": as_text, "markdown": as_markdown, "json": as_json}
