"""A static design system as Storybook serves it, without a Storybook build: real HTTP on 127.0.0.1.

``index.json`` in Storybook 7+'s format lists the stories (and one docs page, which is not a story);
``iframe.html?id=…`` renders one story the way Storybook's preview does: it imports the story's module
(``importPath``), renders what its default export returns into ``#storybook-root`` and marks the body
``sb-show-main``; a story that throws, or whose module does not load, gets ``sb-show-errordisplay`` with the
message in ``#error-message``; an unknown id gets ``sb-show-nopreview``.

:data:`STORIES` holds known violations (axe-core 4.12 rule ids; ``needs_review`` where axe reports the check
as incomplete) and clean stories, plus a story that hangs, one whose module 404s and one that throws.
:func:`generated` makes any number of stories for the benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from .fakes import FakeServer

IFRAME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Storybook</title>
<style>.sb-errordisplay{display:none}.sb-show-errordisplay .sb-errordisplay{display:block}</style></head>
<body class="sb-show-preparing-story"><div id="storybook-root"></div>
<div class="sb-errordisplay"><div id="error-message"></div><pre><code id="error-stack"></code></pre></div>
<script type="module">
const id = new URLSearchParams(location.search).get('id');
const index = await (await fetch('./index.json')).json();
const entry = index.entries[id];
const show = (state) => { document.body.className = 'sb-show-' + state; };
if (!entry || entry.type !== 'story') {
  show('nopreview');
} else {
  try {
    const module = await import(entry.importPath);
    document.getElementById('storybook-root').innerHTML = await module.default();
    show('main');
  } catch (error) {
    document.getElementById('error-message').textContent = error.message;
    document.getElementById('error-stack').textContent = String(error.stack || '');
    show('errordisplay');
  }
}
</script></body></html>
"""


@dataclass(frozen=True)
class Story:
    """One story: its title (component), name, the HTML it renders (or the JS body of its render function)."""

    title: str
    name: str
    html: str = ""
    js: str | None = None  # the render function's body instead of returning ``html``
    module: bool = True  # False: the index names a module that is not served (HTTP 404)
    violations: dict[str, int] = field(default_factory=dict)  # rule -> elements
    needs_review: dict[str, int] = field(default_factory=dict)
    fails: str | None = None  # what the audit's error says (a substring)

    @property
    def id(self) -> str:
        slug = lambda text: "-".join(text.lower().replace("/", " ").split())  # noqa: E731
        return f"{slug(self.title)}--{slug(self.name)}"


STORIES = [
    Story("Button", "Primary", '<button type="button">Save</button>'),
    Story("Button", "Icon only", '<button type="button"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw='
          'AAAAAAQABAAACAkQBADs="></button>', violations={"image-alt": 1, "button-name": 1}),
    Story("Card", "Default", '<article><h2>Plan</h2><p>Five seats, billed monthly.</p></article>'),
    Story("Card", "Muted", '<article><h2>Plan</h2><p style="color:#b4b4b4;background:#ffffff">Five seats, '
          'billed monthly.</p></article>', violations={"color-contrast": 1}),
    Story("Forms/Input", "Labeled", '<label for="email">Email</label><input id="email" type="email">'),
    Story("Forms/Input", "Unlabeled", '<input type="email" name="email"><input type="text" name="name">',
          violations={"label": 2}),
    Story("Layout", "Duplicate ids", '<span id="hint">Required</span><span id="hint">Optional</span>'
          '<input type="text" aria-label="Name" aria-describedby="hint">', needs_review={"duplicate-id-aria": 1}),
    Story("Layout", "No landmarks", '<div><a href="/docs">Docs</a> <a href="/pricing">Pricing</a></div>'
          '<div>Welcome to the product.</div>', needs_review={"bypass": 1}),
    Story("Status", "Hangs", js="return new Promise(() => {});", fails="timed out"),
    Story("Status", "Missing module", module=False, fails="HTTP 404"),
    Story("Status", "Throws", js="throw new Error('props.label is undefined');",
          fails="the story threw: props.label is undefined"),
]

PAGES = {  # path -> (html, status)
    "pages/home.html": ('<!doctype html><html lang="en"><head><title>Home</title></head><body><main><h1>Home</h1>'
                        '<p>Hello.</p></main></body></html>'),
}


def build(root: Path, stories: list[Story] = STORIES) -> Path:
    """Write the static Storybook (and :data:`PAGES`) under ``root``; returns ``root``."""
    (root / "stories").mkdir(parents=True, exist_ok=True)
    entries = {"introduction--docs": {"id": "introduction--docs", "title": "Introduction", "name": "Docs",
                                      "importPath": "./stories/introduction.mdx", "type": "docs"}}
    for story in stories:
        path = f"./stories/{story.id}.js"
        entries[story.id] = {"id": story.id, "title": story.title, "name": story.name, "importPath": path,
                             "type": "story", "tags": ["story"]}
        if story.module:
            body = story.js if story.js is not None else f"return {json.dumps(story.html)};"
            (root / path).write_text(f"export default function render() {{ {body} }}\n")
    (root / "index.json").write_text(json.dumps({"v": 5, "entries": entries}))
    (root / "iframe.html").write_text(IFRAME)
    for path, html in PAGES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(html)
    return root


def generated(count: int) -> list[Story]:
    """``count`` stories of 20 components for the benchmark: one in five with a violation."""
    stories = []
    for i in range(count):
        component = f"Component {i % 20:02d}"
        if i % 5 == 4:
            stories.append(Story(component, f"Story {i}", f'<input type="text" name="f{i}"><p>Story {i}</p>',
                                 violations={"label": 1}))
        else:
            stories.append(Story(component, f"Story {i}", f'<label for="f{i}">Field</label><input id="f{i}">'
                                 f'<button type="button">Go {i}</button><p>Story {i}</p>'))
    return stories


class StaticStorybook(FakeServer):
    """The directory served as static files (``/index.json``, ``/iframe.html``, ``/stories/…``, ``/pages/…``)."""

    def __init__(self, root: Path):
        super().__init__(app=Starlette(routes=[Mount("/", StaticFiles(directory=root, html=True))]))


def small(root: Path, image_url: str | None = None) -> Path:
    """Three stories (Button, Card with a low-contrast text, Forms/Input), about 95 % AA compliant; with
    ``image_url`` the card shows an image from that (other) origin."""
    image = f'<img alt="Plan" src="{image_url}">' if image_url else ""
    return build(root, [STORIES[0], Story("Card", "Muted", f'<article><h2>Plan</h2>{image}<p style="color:#b4b4b4;'
                                                    'background:#ffffff">Five seats.</p></article>',
                                          violations={"color-contrast": 1}), STORIES[4]])
