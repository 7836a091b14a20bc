"""`cloudmake secrets`: find hardcoded secrets in staged changes, a git range, the history, or files.

Start-up is kept short for pre-commit hooks: this module imports neither Dagster, SQLAlchemy nor the MCP
SDK (the progress bar's helpers load only when a long scan shows one).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import nullcontext

import click

from .. import logs
from ..fsio import write_output
from ..secretscan import baseline as baselines
from ..secretscan import environment, sources
from ..secretscan.findings import ScanResult
from ..secretscan.report import FORMATS, render, summary
from ..secretscan.rules import RuleSet, load_rules
from ..secretscan.scan import PARALLEL_THRESHOLD, make_engine, scan_blobs, scan_files

DEFAULT_BASELINE = ".secrets-baseline.json"
LOGGED_FINDINGS = 100
log = logs.get_logger("secret_scan")


@click.group()
def group() -> None:
    """Find hardcoded secrets (API keys, tokens, private keys) before they are committed or merged.

    Exit codes of `scan`: 0 clean, 1 secrets found, 2 usage, config or git error.
    """


def source_options(command: Callable) -> Callable:
    options = [
        click.argument("paths", nargs=-1, type=click.Path()),
        click.option("--staged", is_flag=True, help="Scan the lines added in the index (a pre-commit hook)."),
        click.option("--git-diff", "git_diff", metavar="RANGE",
                     help="Scan the lines added in a revision range, e.g. HEAD~1..HEAD or origin/main...HEAD."),
        click.option("--log", "history", is_flag=True, help="Scan every commit of every ref (whole history)."),
        click.option("--config", "config", type=click.Path(dir_okay=False),
                     help="YAML file with extra rules, disabled rules and allowlists."),
        click.option("--no-ignore", is_flag=True, help="In a git work tree, also scan files git ignores."),
        click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
                     help="Worker processes for large trees (default: the CPUs available)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@group.command()
@source_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Report format (sarif: SARIF 2.1.0 for GitHub code scanning).")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False),
              help="Baseline of acknowledged findings (by fingerprint) that are not reported.")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write the report here ('-': stdout; a device or FIFO is written in place).")
@click.option("--strict", is_flag=True,
              help="Exit 1 when any file or archive member could not be scanned (listed in the report).")
def scan(paths, staged, git_diff, history, config, no_ignore, jobs, fmt, baseline_file, output, strict) -> None:
    """Scan for secrets: PATHS (default: the current directory), or --staged, --git-diff RANGE, --log.

    A finding shows the rule, file, line, a redacted prefix and a fingerprint; never the secret.
    Fingerprints are keyed: with the --baseline's key, else $CLOUDMAKE_SECRETSCAN_FINGERPRINT_KEY (64 hex
    digits), else a key made for this run only.
    Silence one line with a `secretscan:allow` comment, or acknowledge findings with --baseline.
    Exit 0 clean, 1 secrets found (or, with --strict, something not scanned), 2 usage, config or git error.
    """
    logs.configure(sys.stderr)
    known = baselines.load(baseline_file) if baseline_file else None
    key = known.key if known else environment.fingerprint_key() or baselines.new_key()
    ruleset = load_rules(config)
    source, result = _run(ruleset, paths, staged, git_diff, history, no_ignore, jobs)
    result.findings = [f.keyed(key) for f in result.findings]
    if known:
        kept = [f for f in result.findings if f.fingerprint not in known.fingerprints]
        result.baselined = len(result.findings) - len(kept)
        result.findings = kept
    text = render(result, ruleset, fmt, source=source)
    if output:
        write_output(output, text.encode("utf-8", "surrogateescape"), dash_is_stdout=True)
    else:
        click.echo(text, nl=False)
    for finding in result.findings[:LOGGED_FINDINGS]:  # sanitized: the report's fields, never the secret
        log.warning("secret found", extra={k: v for k, v in finding.to_dict().items() if k != "description"})
    if len(result.findings) > LOGGED_FINDINGS:  # the report has them all; a log line each would drown it
        log.warning("more secrets found", extra={"not_logged": len(result.findings) - LOGGED_FINDINGS})
    for skipped in result.skipped:
        log.warning("file not scanned", extra={"file": skipped.path, "reason": skipped.reason})
    log.info("secret scan finished", extra={"source": source, **summary(result)})
    if result.findings or (strict and result.skipped):
        raise click.exceptions.Exit(1)


@group.command("baseline")
@source_options
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=DEFAULT_BASELINE, show_default=True,
              help="Baseline file to write (fingerprints only, never secrets).")
def write_baseline(paths, staged, git_diff, history, config, no_ignore, jobs, output) -> None:
    """Acknowledge every current finding: write their fingerprints to a baseline for `scan --baseline`."""
    logs.configure(sys.stderr)
    _, result = _run(load_rules(config), paths, staged, git_diff, history, no_ignore, jobs)
    key = baselines.existing_key(output) if output != "-" else None
    count = baselines.write(output, result.findings, key or environment.fingerprint_key() or baselines.new_key())
    click.echo(f"Wrote {count} fingerprint{'s' if count != 1 else ''} to {output}", err=output == "-")


@group.command("rules")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Include this config's rules.")
def list_rules(config) -> None:
    """List the rules in force (built-in plus the config's)."""
    for rule in load_rules(config).rules:
        click.echo(f"{rule.id:28} {rule.description}")


def _run(ruleset: RuleSet, paths, staged, git_diff, history, no_ignore, jobs) -> tuple[str, ScanResult]:
    chosen = [name for name, on in (("--staged", staged), ("--git-diff", git_diff is not None),
                                    ("--log", history), ("PATHS", bool(paths))) if on]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one of --staged, --git-diff, --log or PATHS (got {' and '.join(chosen)})")
    if staged or git_diff is not None:
        blobs = sources.staged() if staged else sources.diff_range(git_diff)
        engine = make_engine(ruleset, sum(len(b.data) for b in blobs))
        return ("staged" if staged else f"git-diff {git_diff}"), scan_blobs(engine, blobs)
    if history:
        total = sources.commit_count()
        with _progress(total > 50) as bar:
            task = bar.add_task("commits", total=total) if bar else None
            blobs = _count_commits(sources.history(), lambda n: bar.advance(task, n) if bar else None)
            return "log", scan_blobs(make_engine(ruleset), blobs)
    refs = list(sources.files(paths or ["."], respect_gitignore=not no_ignore))
    total = sum(ref.size for ref in refs)
    workers = jobs or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    with _progress(total >= PARALLEL_THRESHOLD) as bar:
        task = bar.add_task("scanning", total=total) if bar else None
        result = scan_files(make_engine(ruleset, total), refs, jobs=workers,
                            progress=(lambda n: bar.advance(task, n)) if bar else None)
    return "paths", result


def _progress(wanted: bool):
    """A rich progress bar on stderr for long scans on a terminal; nothing otherwise (no import cost)."""
    if not (wanted and sys.stderr.isatty()):
        return nullcontext(None)
    from .common import progress

    return progress()


def _count_commits(blobs: Iterator[sources.Blob], advance: Callable[[int], None]) -> Iterator[sources.Blob]:
    commit = None
    for blob in blobs:
        if blob.commit != commit:
            commit = blob.commit
            advance(1)
        yield blob

