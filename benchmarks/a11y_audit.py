"""Accessibility audit: 200 Storybook stories in headless Chromium with axe-core, in one run.

One command: ``.venv/bin/python benchmarks/a11y_audit.py`` (options: --help). Everything is local: a generated
static Storybook (tests/support/storybook.py: 20 components, one story in five with an unlabeled field) served
on 127.0.0.1, and the machine's Chromium.

1. **Ours**, one audit of every story (:func:`cloudmake_pipelines.a11y.audit_target`: one browser, C browser
   contexts, one reused tab each) for C = 1, 2 and 4: wall time, pages/s, and the peak RSS of this process
   plus every Chromium process (sampled every 20 ms).
2. **Peer "one browser launch per page"**: what a script calling a one-shot audit per URL does (e.g. a CLI
   per page): launch Chromium, render, inject axe-core, run it, quit. Same page work, same options; run on
   the first --naive-pages stories (bounded), its pages/s compared with ours.

Every run must report the same violations per story (printed: ``same results``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.secret_scan import _PeakRss  # noqa: E402
from cloudmake_pipelines.a11y import AuditOptions, PageResult, Target, audit_target  # noqa: E402
from cloudmake_pipelines.a11y.browser import _audit_pages, _run  # noqa: E402
from tests.support.storybook import StaticStorybook, build, generated  # noqa: E402


def signature(pages: list[PageResult]) -> list[tuple[str, str | None, int, int]]:
    return [(p.id, p.error, p.passed, len(p.violations)) for p in pages]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=200, choices=range(1, 2001), metavar="N (1-2000)")
    parser.add_argument("--contexts", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--naive-pages", type=int, default=40, help="stories for the one-launch-per-page peer (40)")
    parser.add_argument("--page-timeout", type=float, default=60.0)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no chromium on PATH: run scripts/setup as root, or apt-get install chromium")

    with tempfile.TemporaryDirectory() as scratch, StaticStorybook(build(Path(scratch), generated(args.stories))) as sb:
        target = Target("bench", f"{sb.url}/")
        print(f"{args.stories} stories, {chromium}, axe-core via axe-playwright-python")
        print(f"{'run':<34}{'wall s':>9}{'pages/s':>9}{'peak MB':>9}{'failed':>8}{'violations':>11}")
        reference, ours = None, {}
        for contexts in args.contexts:
            memory = _PeakRss(__import__("os").getpid())
            started = time.perf_counter()
            audit = audit_target(target, AuditOptions(chromium, contexts=contexts, page_timeout=args.page_timeout))
            wall = time.perf_counter() - started
            peak = memory.stop()
            figures = audit.figures
            ours[contexts] = len(audit.pages) / wall
            print(f"{f'ours, {contexts} context(s)':<34}{wall:>9.1f}{ours[contexts]:>9.2f}{peak:>9.0f}"
                  f"{figures.failed:>8}{figures.violations:>11}")
            reference = reference or signature(audit.pages)
            assert signature(audit.pages) == reference, "different results with another number of contexts"

        naive = [PageResult(p[0], "", p[0], f"{sb.url}/iframe.html?id={p[0]}&viewMode=story", "story")
                 for p in reference[: args.naive_pages]]
        memory = _PeakRss(__import__("os").getpid())
        started = time.perf_counter()
        for page in naive:  # a browser launch per page
            _run(_audit_pages([page], AuditOptions(chromium, contexts=1, page_timeout=args.page_timeout), {},
                              frozenset(), None))
        wall = time.perf_counter() - started
        peak = memory.stop()
        rate = len(naive) / wall
        print(f"{f'peer, 1 launch per page ({len(naive)})':<34}{wall:>9.1f}{rate:>9.2f}{peak:>9.0f}"
              f"{sum(1 for p in naive if p.error):>8}{sum(len(p.violations) for p in naive):>11}")
        assert signature(naive) == reference[: len(naive)], "the one-launch-per-page peer found something else"
        print("same results in every run")
        for contexts, pages_per_second in ours.items():
            print(f"ours with {contexts} context(s) / one launch per page: {pages_per_second / rate:.1f}x pages/s")


if __name__ == "__main__":
    main()
