"""`cloudmake a11y targets|audit`: accessibility audits of design systems (SC-003 ≥ 98 % AA compliance)."""

from __future__ import annotations

import click
from rich.table import Table
from sqlalchemy import Engine

from ..a11y import Target, TargetRegistry
from ..a11y.report import as_json, render_html, to_json_bytes
from ..a11y.service import Auditor, open_auditor
from ..alerts import Alerter
from ..db.engine import make_engine
from ..db.helpers import require_tables
from ..db.tables import a11y_audits, a11y_findings, a11y_targets
from ..errors import CheckFailed
from ..fsio import write_output
from .common import BoundedInt, FiniteFloat, emit_json, json_option, progress, setup
from .output import print_table


def _engine(settings, *, create: bool = True) -> Engine:
    engine = make_engine(settings.database_url, create=create)
    require_tables(engine, a11y_targets, a11y_audits, a11y_findings)
    return engine


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} %"


@click.group("a11y")
def group() -> None:
    """Accessibility audits: Storybook stories and pages in headless Chromium with axe-core (SC-003 ≥ 98 % AA)."""


@group.group("targets")
def targets() -> None:
    """What is audited: a design system's Storybook and/or page URLs."""


def _target_json(target: Target) -> dict:
    return {"name": target.name, "storybook": target.storybook_url, "pages": list(target.page_urls),
            "auth_header": target.auth_header, "auth": target.auth_secret_ref, "created_at": target.created_at}


@targets.command("add")
@click.argument("name")
@click.option("--storybook", "storybook_url", metavar="URL",
              help="The Storybook's base URL (where index.json and iframe.html are): every story is audited.")
@click.option("--page", "pages", metavar="URL", multiple=True, help="A page to audit (repeat for more).")
@click.option("--auth", "auth_ref", metavar="env:VAR|secret:NAME", help="Where the credential lives (never the value).")
@click.option("--auth-header", default="Authorization", show_default=True, help="Header that carries the credential.")
@click.option("--replace", is_flag=True, help="Update the target if it is already registered.")
@json_option
def add_target(name, storybook_url, pages, auth_ref, auth_header, replace, as_json):
    """Register the target NAME: a Storybook (--storybook URL) and/or pages (--page URL ...)."""
    settings = setup(as_json)
    target = Target(name, storybook_url, tuple(pages), auth_header if auth_ref else None, auth_ref).validate()
    saved = TargetRegistry(_engine(settings)).add(target, replace=replace)
    if as_json:
        emit_json(_target_json(saved))
    else:
        what = ", ".join(filter(None, [f"Storybook {saved.storybook_url}" if saved.storybook_url else None,
                                       f"{len(saved.page_urls)} page(s)" if saved.page_urls else None]))
        click.echo(f"registered {saved.name} ({what})")


@targets.command("list")
@json_option
def list_targets(as_json):
    """List the registered targets."""
    settings = setup(as_json)
    found = TargetRegistry(_engine(settings, create=False)).list()
    if as_json:
        emit_json([_target_json(t) for t in found])
        return
    if not found:
        click.echo("no targets registered (add one: cloudmake a11y targets add NAME --storybook URL)")
        return
    table = Table("name", "storybook", "pages", "auth")
    for t in found:
        table.add_row(t.name, t.storybook_url or "-", "\n".join(t.page_urls) or "-",
                      f"{t.auth_header} from {t.auth_secret_ref}" if t.auth_secret_ref else "-")
    print_table(table)


@targets.command("remove")
@click.argument("name")
@json_option
def remove_target(name, as_json):
    """Unregister the target NAME (its audits are kept)."""
    settings = setup(as_json)
    TargetRegistry(_engine(settings)).remove(name)
    emit_json({"removed": name}) if as_json else click.echo(f"removed {name}")


@group.command("audit")
@click.option("--target", "target_name", metavar="NAME", help="Audit only this target (default: every one).")
@click.option("--html", "html_path", metavar="FILE", help="Write the self-contained HTML report here ('-': stdout).")
@click.option("--report-json", "json_path", metavar="FILE", help="Write the full JSON report here ('-': stdout).")
@click.option("--threshold", type=FiniteFloat(0, 100), default=None,
              help="SC-003 threshold in percent (default CLOUDMAKE_A11Y_THRESHOLD, 98).")
@click.option("--contexts", type=BoundedInt(1, 32), default=None,
              help="Browser contexts auditing at once (default CLOUDMAKE_A11Y_CONTEXTS, 4).")
@click.option("--page-timeout", type=FiniteFloat(0.1, 600), default=None,
              help="Seconds per story or page (default CLOUDMAKE_A11Y_PAGE_TIMEOUT, 30).")
@click.option("--fail-on-new", is_flag=True, help="Also exit 1 when a violation is new since the previous audit.")
@json_option
def audit(target_name, html_path, json_path, threshold, contexts, page_timeout, fail_on_new, as_json):
    """Audit the registered targets now: store the audit, alert, print compliance per target and the worst
    components. Exit 1 when a target is under the threshold or a page failed (SC-003)."""
    to_stdout = [name for name, on in (("--html -", html_path == "-"), ("--report-json -", json_path == "-"),
                                       ("--json", as_json)) if on]
    if len(to_stdout) > 1:
        raise click.UsageError(f"{' and '.join(to_stdout)} would both write to stdout: send one to a file")
    settings = setup(as_json)
    engine = _engine(settings)
    auditor: Auditor = open_auditor(engine, settings, Alerter(settings.alert_webhook_url, engine=engine),
                                    threshold_percent=threshold, contexts=contexts, page_timeout_seconds=page_timeout)
    chosen = auditor.targets(target_name)
    if not chosen:
        emit_json(as_json_report([], auditor)) if as_json else click.echo(
            "no targets registered (add one: cloudmake a11y targets add NAME --storybook URL)")
        return
    outcomes = []
    with progress(enabled=not as_json) as bar:
        for target in chosen:
            task = bar.add_task(f"auditing {target.name}", total=None)
            outcomes.append(auditor.audit(target, on_page=lambda _page, task=task: bar.advance(task)))
            bar.update(task, total=outcomes[-1].row.pages, completed=outcomes[-1].row.pages)
    audits = [o.audit for o in outcomes]
    new = {o.audit.target: o.new for o in outcomes}
    if html_path:
        write_output(html_path, render_html(audits, threshold=auditor.threshold, new=new).encode(), dash_is_stdout=True)
    document = as_json_report(outcomes, auditor)
    if json_path:
        write_output(json_path, to_json_bytes(document), dash_is_stdout=True)
    if as_json:
        emit_json(document)
    elif html_path != "-" and json_path != "-":
        _print_summary(outcomes, auditor.threshold)
    failing = [o.audit.target for o in outcomes if not o.audit.passes(auditor.threshold)]
    regressed = [o.audit.target for o in outcomes if o.new] if fail_on_new else []
    if failing or regressed:
        raise CheckFailed("; ".join(filter(None, [
            f"SC-003 failed for {', '.join(failing)} (under {auditor.threshold:g} % or pages failed)" if failing else "",
            f"new violations in {', '.join(regressed)}" if regressed else ""])))


def as_json_report(outcomes, auditor: Auditor) -> dict:
    document = as_json([o.audit for o in outcomes], threshold=auditor.threshold,
                       new={o.audit.target: o.new for o in outcomes}, records={o.audit.target: o.row.id for o in outcomes})
    for entry, outcome in zip(document["targets"], outcomes, strict=True):
        entry["report_path"] = outcome.row.report_path
    return document


def _print_summary(outcomes, threshold: float) -> None:
    table = Table("target", "pages", "audited", "failed", "violations", "needs review", "new", "AA compliance", "SC-003")
    for o in outcomes:
        f = o.audit.figures
        table.add_row(o.audit.target, str(f.pages), str(f.audited), str(f.failed), str(f.violations),
                      str(f.incomplete), "-" if o.new is None else str(len(o.new)), _percent(f.compliance),
                      "pass" if o.audit.passes(threshold) else "FAIL")
    print_table(table)
    worst = Table("target", "component", "AA compliance", "violations", "failed pages", "top rules")
    for o in outcomes:
        for name, f in o.audit.worst_components():
            rules = sorted({v.rule for p in o.audit.pages if p.component == name for v in p.violations})
            worst.add_row(o.audit.target, name, _percent(f.compliance), str(f.violations), str(f.failed),
                          ", ".join(rules[:5]) or "-")
    if worst.row_count:
        print_table(worst)
    for o in outcomes:
        for problem in o.audit.problems:
            click.echo(f"{o.audit.target}: {problem}", err=True)
        for page in o.audit.failed:
            click.echo(f"{o.audit.target}: {page.id}: {page.error}", err=True)
