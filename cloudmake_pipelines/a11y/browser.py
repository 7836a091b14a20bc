"""Audit one target in a real browser: headless Chromium driven by Playwright, checked by axe-core.

* The Storybook's ``index.json`` (Storybook 7+; ``stories.json`` for 6) lists the stories; each renders at
  ``iframe.html?id=…``. Storybook marks the body ``sb-show-main`` once the story rendered,
  ``sb-show-errordisplay`` when it threw (or its module failed to load) and ``sb-show-nopreview`` when there is
  no such story: the audit waits for one of them. Pages are audited once their ``load`` event fired.
* axe-core comes from the ``axe-playwright-python`` package (its ``axe.min.js``), injected into each page and
  run over the whole document with only the WCAG 2.0/2.1 A and AA rules (:data:`.results.WCAG_TAGS`).
* One browser, ``contexts`` browser contexts auditing pages at once from one queue (a bounded pool). A page
  that answers an HTTP error, does not load, times out or whose story threw is *failed*, with the reason.
* Chromium is the one on this machine (Debian's ``chromium``, or ``CLOUDMAKE_A11Y_CHROMIUM``): Playwright
  downloads no browser.

:func:`audit_target` is a plain function of one target (no database): the CLI, the asset, and any executor
fanning audits out per target call it the same way.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..db.types import utcnow
from ..errors import CloudMakeError, ConfigError
from ..http import HttpClient, RetryPolicy
from ..logs import get_logger
from ..mcp.registry import resolve_auth
from .results import WCAG_TAGS, PageResult, TargetAudit
from .targets import Target, _origin

log = get_logger("a11y")
MAX_STORIES = 10_000
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_STORY_STATE = """() => {
  const c = document.body && document.body.classList;
  if (!c) return false;
  if (c.contains('sb-show-errordisplay')) {
    const m = document.querySelector('#error-message');
    return 'error:' + (m ? m.textContent.trim() : '');
  }
  if (c.contains('sb-show-nopreview')) return 'nopreview';
  return c.contains('sb-show-main') ? 'main' : false;
}"""
_RUN_AXE = "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})"


@cache
def axe_script() -> str:
    """axe-core's ``axe.min.js``, as shipped by the ``axe-playwright-python`` package."""
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def axe_version() -> str:
    """The version in axe.min.js's licence header (``/*! axe v4.12.1``)."""
    match = re.match(r"/\*! axe v([0-9][^\s]*)", axe_script())
    return match[1] if match else "unknown"


def find_chromium(configured: str | os.PathLike[str] | None = None) -> str:
    """The Chromium executable to drive: ``configured`` (``CLOUDMAKE_A11Y_CHROMIUM``) or one on PATH."""
    if configured:
        path = shutil.which(str(configured))
        if path is None:
            raise ConfigError(f"CLOUDMAKE_A11Y_CHROMIUM={configured}: not an executable file; expected the path of a "
                              "Chromium or Chrome executable")
        return path
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    raise ConfigError("no Chromium on this machine: install Debian's `chromium` package (scripts/setup does, as "
                      "root) or set CLOUDMAKE_A11Y_CHROMIUM to a Chromium or Chrome executable")


@dataclass(frozen=True)
class AuditOptions:
    chromium: str
    contexts: int = 4
    page_timeout: float = 30.0
    tags: tuple[str, ...] = WCAG_TAGS


# -- what to audit ------------------------------------------------------------------------------------------
def discover(target: Target, headers: Mapping[str, str], *, timeout: float = 30.0,
             problems: list[str] | None = None) -> list[PageResult]:
    """Every story of the target's Storybook (from its index) and every page URL, not yet audited."""
    pages: list[PageResult] = []
    if target.storybook_base:
        pages += _stories(target, headers, timeout, problems if problems is not None else [])
    for url in target.page_urls:
        pages.append(PageResult(url, urlsplit(url).path or "/", url, url, kind="page"))
    return pages


def _stories(target: Target, headers: Mapping[str, str], timeout: float, problems: list[str]) -> list[PageResult]:
    base = target.storybook_base or ""
    index: Any = None
    with HttpClient(service=f"Storybook of {target.name}", timeout=timeout, headers=headers,
                    retry=RetryPolicy(attempts=2, backoff=0.5, deadline=2.5 * timeout)) as http:
        for name in ("index.json", "stories.json"):  # Storybook 7+, then 6
            response = http.get(base + name)
            if response.status_code == 404:
                continue
            if not response.is_success:
                raise ConfigError(f"target {target.name}: {base}{name}: HTTP {response.status_code}; expected 200")
            try:
                index = response.json()
            except ValueError:
                raise ConfigError(f"target {target.name}: {base}{name} is not JSON; expected Storybook's story "
                                  "index") from None
            break
    if not isinstance(index, dict) or not isinstance(index.get("entries", index.get("stories")), dict):
        raise ConfigError(f"target {target.name}: no story index at {base}index.json (or stories.json); expected "
                          'Storybook\'s {"v": 5, "entries": {...}}')
    stories = []
    for key, entry in index.get("entries", index.get("stories")).items():
        if not isinstance(entry, dict) or entry.get("type", "story") != "story":
            continue  # docs pages are not stories
        if (entry.get("parameters") or {}).get("docsOnly"):
            continue
        story_id = str(entry.get("id") or key)
        url = f"{base}iframe.html?{urlencode({'id': story_id, 'viewMode': 'story'})}"
        stories.append(PageResult(story_id, str(entry.get("title") or story_id.split("--")[0]),
                                  str(entry.get("name") or story_id), url, kind="story"))
    if len(stories) > MAX_STORIES:
        problems.append(f"target {target.name}: the index lists {len(stories)} stories; the first {MAX_STORIES} "
                        "were audited")
        stories = stories[:MAX_STORIES]
    return stories


# -- the audit ----------------------------------------------------------------------------------------------
def audit_target(target: Target, options: AuditOptions, *, secrets: Callable[[str], str] | None = None,
                 environ: Mapping[str, str] | None = None,
                 on_page: Callable[[PageResult], None] | None = None) -> TargetAudit:
    """Audit every story and page of ``target``. ``on_page`` hears of each page as it is done (a progress
    bar). A target whose credential or index cannot be read has no pages and a problem, never an exception
    (the other targets are still audited); a browser that cannot start raises :class:`ConfigError`."""
    started = utcnow()
    problems: list[str] = []
    try:
        headers = resolve_auth(target, environ, secrets)
        pages = discover(target, headers, timeout=options.page_timeout, problems=problems)
    except CloudMakeError as exc:
        return TargetAudit(target.name, started, utcnow(), [], axe_version(), problems=[str(exc)])
    if pages:
        _run(_audit_pages(pages, options, headers, target.origins, on_page))
    audit = TargetAudit(target.name, started, utcnow(), pages, axe_version(), problems=problems)
    figures = audit.figures
    log.info(f"audited {target.name}: {figures.audited} of {figures.pages} page(s), {figures.failed} failed",
             extra={"target": target.name, "pages": figures.pages, "failed": figures.failed,
                    "violations": figures.violations, "compliance": figures.compliance})
    return audit


def _run(coroutine: Any) -> Any:
    """``asyncio.run``, also from code already inside an event loop (then in a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def launch_args() -> list[str]:
    """Chromium refuses to start as root without ``--no-sandbox`` (CI, containers)."""
    return ["--disable-dev-shm-usage", *(["--no-sandbox"] if os.geteuid() == 0 else [])]


async def _audit_pages(pages: list[PageResult], options: AuditOptions, headers: Mapping[str, str],
                       origins: frozenset[str], on_page: Callable[[PageResult], None] | None) -> None:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    queue: asyncio.Queue[PageResult] = asyncio.Queue()
    for page in pages:
        queue.put_nowait(page)
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(executable_path=options.chromium, args=launch_args(),
                                                       timeout=60_000)
        except PlaywrightError as exc:
            raise ConfigError(f"Chromium at {options.chromium} did not start: {str(exc).splitlines()[0]}") from None

        async def worker() -> None:
            context = await browser.new_context()
            context.set_default_timeout(1000 * options.page_timeout + 5000)  # the page's own deadline comes first
            if headers:
                await context.route("**/*", _authorize(headers, origins))
            tab: Tab | None = None
            try:
                while not queue.empty():
                    page = queue.get_nowait()
                    tab = tab or await Tab.open(context)
                    if not await tab.audit(page, options):
                        await tab.close()  # a tab that timed out may be stuck: the next page gets a new one
                        tab = None
                    if on_page is not None:
                        on_page(page)
            finally:
                await context.close()

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, min(options.contexts, len(pages))))))
        finally:
            await browser.close()


def _authorize(headers: Mapping[str, str], origins: frozenset[str]):
    """A route handler adding the credential to requests for the target's own origins only."""

    async def handle(route: Any, request: Any) -> None:
        if _origin(request.url) in origins:
            await route.continue_(headers={**request.headers, **headers})
        else:
            await route.continue_()

    return handle


class Tab:
    """One browser tab, reused from page to page: a navigation in the same tab keeps the renderer and V8's
    compilation cache, so axe-core's 570 kB are compiled once per tab, not once per page (measured: about a
    third of the time of a new tab per page)."""

    def __init__(self, tab: Any):
        self.tab = tab
        self.failed_responses: list[str] = []
        tab.on("response", self._response)

    @classmethod
    async def open(cls, context: Any) -> Tab:
        return cls(await context.new_page())

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed_responses.append(f"HTTP {response.status} for {response.url}")

    async def close(self) -> None:
        from playwright.async_api import Error as PlaywrightError

        try:
            await asyncio.wait_for(self.tab.close(), 10)
        except (TimeoutError, PlaywrightError):
            pass

    async def audit(self, page: PageResult, options: AuditOptions) -> bool:
        """Render ``page``, run axe-core, count; on any failure record why. False: the tab is unusable."""
        from playwright.async_api import Error as PlaywrightError

        started = time.monotonic()
        stage = ["loading"]
        self.failed_responses = []
        try:
            await asyncio.wait_for(self._render_and_check(page, options, stage), options.page_timeout)
            return True
        except TimeoutError:
            page.error = f"timed out after {options.page_timeout:g} s ({stage[0]})"
        except PlaywrightError as exc:
            page.error = f"{stage[0]} failed: {str(exc).splitlines()[0][:300]}"
        finally:
            page.seconds = time.monotonic() - started
        return False

    async def _render_and_check(self, page: PageResult, options: AuditOptions, stage: list[str]) -> None:
        response = await self.tab.goto(page.url, wait_until="load")
        if response is None or response.status >= 400:
            page.error = f"HTTP {response.status if response else 'no response'} for {page.url}"
            return
        if page.kind == "story":
            stage[0] = "waiting for the story to render"
            state = await (await self.tab.wait_for_function(_STORY_STATE, polling=100)).json_value()
            if state != "main":
                reason = "no such story" if state == "nopreview" else f"the story threw: {state[6:][:300] or 'error'}"
                page.error = "; ".join([reason, *self.failed_responses[:3]])
                return
        stage[0] = "running axe-core"
        await self.tab.evaluate(axe_script())
        PageResult.from_axe(page, await self.tab.evaluate(_RUN_AXE, list(options.tags)))
