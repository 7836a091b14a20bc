"""The accessibility audit in a real browser: a static design system served on 127.0.0.1, audited in Debian's
Chromium with axe-core; exactly the known violations, the failures reported as such, and the same per-page
counts as axe-core's own library run independently on the same pages.

One audit (module-scoped: one browser run) feeds the assertions; the peer runs axe-playwright-python's
``Axe.run`` in a plain synchronous Playwright page of its own.
"""

from __future__ import annotations

from collections import Counter

import pytest

from cloudmake_pipelines.a11y import AuditOptions, Target, audit_target
from cloudmake_pipelines.a11y.browser import launch_args
from cloudmake_pipelines.a11y.results import WCAG_TAGS
from tests.support.storybook import STORIES, StaticStorybook, build

PAGE_TIMEOUT = 10.0  # generous on a loaded machine; the hanging story costs this once, in parallel with others


@pytest.fixture(scope="module")
def storybook(tmp_path_factory):
    with StaticStorybook(build(tmp_path_factory.mktemp("storybook"))) as fake:
        yield fake


@pytest.fixture(scope="module")
def audit(storybook, chromium):
    target = Target("ds", f"{storybook.url}/", (f"{storybook.url}/pages/home.html", f"{storybook.url}/pages/gone.html"))
    done = []
    result = audit_target(target, AuditOptions(chromium, contexts=4, page_timeout=PAGE_TIMEOUT), on_page=done.append)
    assert len(done) == len(result.pages)  # progress heard of every page
    return result


def test_every_story_is_listed_and_docs_pages_are_not(audit):
    stories = [p for p in audit.pages if p.kind == "story"]
    assert [p.id for p in stories] == [s.id for s in STORIES]
    assert {p.component for p in stories} == {"Button", "Card", "Forms/Input", "Layout", "Status"}
    assert all(p.url.endswith(f"iframe.html?id={p.id}&viewMode=story") for p in stories)


def test_the_audit_reports_exactly_the_known_violations_and_failures(audit):
    by_id = {p.id: p for p in audit.pages}
    for story in STORIES:
        page = by_id[story.id]
        if story.fails:
            assert not page.audited and story.fails in page.error, (story.id, page.error)
            assert page.passed == 0 and not page.violations  # never counted, never compliant
            continue
        assert page.audited, (story.id, page.error)
        assert dict(Counter(f.rule for f in page.violations)) == story.violations, story.id
        assert dict(Counter(f.rule for f in page.incomplete)) == story.needs_review, story.id
        assert page.passed > 0
    assert "HTTP 404" in by_id["status--missing-module"].error
    home, gone = by_id[audit.pages[-2].id], by_id[audit.pages[-1].id]
    assert home.audited and not home.violations and home.passed > 0
    assert gone.error == f"HTTP 404 for {gone.url}"
    figures = audit.figures
    assert (figures.pages, figures.failed, figures.violations, figures.incomplete) == (
        len(STORIES) + 2, 4, sum(sum(s.violations.values()) for s in STORIES), 2)
    assert not audit.passes(98.0)  # pages failed: never compliant, whatever the percentage


def test_findings_carry_how_to_fix_and_axes_help_url(audit):
    finding = next(f for p in audit.pages for f in p.violations if f.rule == "color-contrast")
    assert finding.component == "Card" and finding.impact == "serious" and finding.selector == "p"
    assert finding.help_url.startswith("https://dequeuniversity.com/rules/axe/4.12/color-contrast")
    assert "contrast" in finding.summary and finding.html.startswith("<p")
    assert audit.engine == "4.12.1"


def test_per_page_counts_match_axe_cores_own_library_run_on_the_same_pages(audit, chromium):
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    peer = Axe()
    audited = [p for p in audit.pages if p.audited]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=launch_args())
        try:
            page = browser.new_page()
            for result in audited:
                page.goto(result.url, wait_until="load")
                if result.kind == "story":
                    page.wait_for_selector("body.sb-show-main", timeout=PAGE_TIMEOUT * 1000)
                response = peer.run(page, options={"runOnly": {"type": "tag", "values": list(WCAG_TAGS)}}).response
                nodes = {kind: sum(len(rule["nodes"]) for rule in response[kind])
                         for kind in ("violations", "passes", "incomplete")}
                assert (nodes["violations"], nodes["passes"], nodes["incomplete"]) == (
                    len(result.violations), result.passed, len(result.incomplete)), result.id
        finally:
            browser.close()
