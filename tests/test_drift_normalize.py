"""The normal forms each dimension compares in, and the static route scanner on its own."""

import textwrap
from pathlib import Path

import pytest

from cloudmake_pipelines.drift import routes, schemas, tokens
from cloudmake_pipelines.drift.routes import Route, normalize_path
from cloudmake_pipelines.drift.scan import scan


@pytest.mark.parametrize(("raw", "prefix", "expected"), [
    ("/users/:id", "", "/users/{id}"),
    ("/users/:id{[0-9]+}", "", "/users/{id}"),  # Hono regex constraint
    ("/files/{path:path}", "", "/files/{path}"),  # Starlette converter
    ("users/", "/api/", "/api/users"),
    ("/", "/api", "/api"),
    ("", "", "/"),
    ("//a//b/", "", "/a/b"),
    ("/:a?", "", "/{a}"),
])
def test_paths_have_one_normal_form(raw, prefix, expected):
    assert normalize_path(raw, prefix) == expected


def test_route_compare_pairs_renamed_parameters_and_honours_ignore():
    spec = [Route("GET", "/u/{user_id}"), Route("GET", "/u/{user_id}/posts/{post_id}"), Route("POST", "/u")]
    code = [Route("GET", "/u/{id}"), Route("GET", "/u/{id}/posts/{post_id}"), Route("GET", "/health")]
    items = {(i.kind, i.name) for i in routes.compare(spec, code, ignore=["get /health"])}
    assert items == {("renamed", "GET /u/{user_id}"), ("renamed", "GET /u/{user_id}/posts/{post_id}"),
                     ("missing", "POST /u")}


def _nf(schema, doc=None):
    return schemas.normalize(schema, schemas.components_resolver(doc or {}))


def test_nullable_has_one_form_whichever_way_it_is_written():
    forms = [
        {"type": "string", "nullable": True},  # OpenAPI 3.0
        {"type": ["string", "null"]},  # OpenAPI 3.1 / JSON Schema
        {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "X"},  # Pydantic
        {"oneOf": [{"type": "null"}, {"type": "string", "description": "d"}]},
    ]
    assert all(_nf(form) == {"type": "string", "nullable": True} for form in forms)


def test_refs_resolved_required_and_enum_sorted_allof_merged():
    doc = {"components": {"schemas": {
        "Base": {"type": "object", "required": ["b"], "properties": {"b": {"type": "integer"}}},
        "Kind": {"type": "string", "enum": ["z", "a"]},
        "Node": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}},
    }}}
    merged = _nf({"allOf": [{"$ref": "#/components/schemas/Base"},
                            {"type": "object", "required": ["k"], "properties": {"k": {"$ref": "#/components/schemas/Kind"}}}]},
                 doc)
    assert merged == {"type": "object", "required": ["b", "k"],
                      "properties": {"b": {"type": "integer"}, "k": {"type": "string", "enum": ["a", "z"]}}}
    recursive = schemas.document_schemas(doc, "x")["Node"][0]
    assert recursive["properties"]["child"] == {"type": "ref:Node"}


def test_schema_compare_reports_each_difference_once():
    spec = {"A": (_nf({"type": "object", "required": ["x"], "properties": {
        "x": {"type": "integer", "format": "int64"}, "y": {"type": "object", "properties": {"z": {"type": "string"}}},
        "tags": {"type": "array", "items": {"type": "string"}}}}), "spec")}
    code = {"A": (_nf({"type": "object", "required": ["x"], "properties": {
        "x": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "integer"}}}}), "code")}
    items = {(i.kind, i.name, i.expected, i.actual) for i in schemas.compare(spec, code)}
    assert items == {("missing", "A.y", "object, optional", None), ("changed", "A.tags[]", "string", "integer")}


def test_token_values_normalize_like_css():
    doc = {"c": {"$type": "color", "a": {"$value": "#ABC"}, "b": {"$value": {"colorSpace": "srgb", "hex": "#AABBCC"}},
                 "alias": {"$value": "{c.a}"}},
           "d": {"$type": "dimension", "s": {"$value": {"value": 0.5, "unit": "rem"}}},
           "t": {"e": {"$type": "cubicBezier", "$value": [0.4, 0, 0.2, 1]},
                 "f": {"$type": "fontFamily", "$value": ["Fira Code", "monospace"]}}}
    found = {name: tokens.Token(name, t, v, "x") for name, (t, v) in {
        "c.a": ("color", "#ABC"), "c.b": ("color", doc["c"]["b"]["$value"]), "c.alias": ("color", "{c.a}"),
        "d.s": ("dimension", {"value": 0.5, "unit": "rem"}), "t.e": ("cubicBezier", [0.4, 0, 0.2, 1]),
        "t.f": ("fontFamily", ["Fira Code", "monospace"])}.items()}
    assert tokens.resolve_aliases(found) == {"c.a": "#aabbcc", "c.b": "#aabbcc", "c.alias": "#aabbcc",
                                             "d.s": "0.5rem", "t.e": "cubic-bezier(0.4, 0, 0.2, 1)",
                                             "t.f": "Fira Code, monospace"}
    css = {"--c-a": ("#aabbcc", "a.css:1"), "--c-b": ("var(--c-a)", "a.css:2"), "--c-alias": ("#AABBCC", "a.css:3"),
           "--d-s": (".5rem", "a.css:4"), "--t-e": ("cubic-bezier(0.4, 0, 0.2, 1)", "a.css:5"),
           "--t-f": ("'Fira Code', monospace", "a.css:6"), "--other": ("1px", "a.css:7")}
    assert [(i.kind, i.name) for i in tokens.compare(found, css)] == [("changed", "d.s")]  # .5rem is not 0.5rem


def _tree(root: Path, files: dict[str, str]) -> list[Path]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return sorted(root / name for name in files)


def _routes(root, files):
    return sorted((r.method, r.path) for r in scan(root, _tree(root, files)))


def test_hono_base_path_sub_apps_chains_and_on(tmp_path):
    found = _routes(tmp_path, {
        "src/index.ts": """
            import { Hono } from 'hono'
            import books from './books'
            import { authors as people } from './authors'
            const app = new Hono().basePath('/api')
            app.use('/*', cors())  // a glob in a string is not a comment: see https://hono.dev
            app.route('/books', books)
            app.route('/authors', people)
            app.use('/static/*/', serveStatic({ root: './' }))
            app.get('/health', (c) => c.text('ok'))
            export default app
        """,
        "src/books.ts": """
            import { Hono } from 'hono'
            const books = new Hono()
              .get('/', (c) => c.json([]))
              .post('/', async (c) => c.json(await c.req.json(), 201))
            books.get('/:id{[0-9]+}', (c) => c.json({ id: c.req.param('id') }))
            books.on(['PUT', 'PATCH'], '/:id', (c) => c.body(null, 204))
            export default books
        """,
        "src/authors/index.ts": """
            import { Hono } from 'hono'
            export const authors = new Hono()
            authors.get('/:authorId', (c) => c.json({}))
            authors.get(`/:authorId/books`, (c) => c.json([]))
            authors.get(`/${dynamic}`, (c) => c.json([]))  // built at run time: invisible
            // authors.get('/commented-out', h)
            fetch('/not/a/route'); client.get('/api/remote')
        """,
    })
    assert found == [("GET", "/api/authors/{authorId}"), ("GET", "/api/authors/{authorId}/books"),
                     ("GET", "/api/books"), ("GET", "/api/books/{id}"),
                     ("GET", "/api/health"), ("PATCH", "/api/books/{id}"), ("POST", "/api/books"),
                     ("PUT", "/api/books/{id}")]


def test_fastapi_nested_routers_api_route_and_mounted_subapp(tmp_path):
    found = _routes(tmp_path, {
        "svc/__init__.py": "",
        "svc/main.py": """
            from fastapi import FastAPI
            from svc.api import v1
            from . import admin as admin_module

            def create_app():
                app = FastAPI()
                app.include_router(v1.router, prefix="/v1")
                app.mount("/admin", admin_module.admin_app)
                return app
        """,
        "svc/api/__init__.py": "",
        "svc/api/v1.py": """
            from fastapi import APIRouter
            from .items import router as items_router
            router = APIRouter()
            router.include_router(items_router)

            @router.api_route("/ping/", methods=["GET", "HEAD"])
            async def ping(): ...
        """,
        "svc/api/items.py": """
            import fastapi
            router = fastapi.APIRouter(prefix="/items")

            @router.put("/{item_id}")
            def put(item_id: int): ...
        """,
        "svc/admin.py": """
            from fastapi import FastAPI
            admin_app = FastAPI()

            @admin_app.delete("/cache")
            def clear(): ...
        """,
        "svc/broken.py": "def (:\n",
    })
    assert found == [("DELETE", "/admin/cache"), ("GET", "/v1/ping"), ("HEAD", "/v1/ping"),
                     ("PUT", "/v1/items/{item_id}")]


def test_code_openapi_from_a_url_and_a_file(tmp_path):
    from fastapi import FastAPI

    from cloudmake_pipelines.drift import run_check
    from tests.support.servers import serve_asgi

    app = FastAPI()

    @app.get("/things/{thing_id}")
    def thing(thing_id: int) -> dict:
        return {}

    (tmp_path / "specs/001-t/contracts").mkdir(parents=True)
    (tmp_path / "specs/001-t/contracts/api.yaml").write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /things/{id}: {get: {}}\n  /other: {post: {}}\n")
    (tmp_path / "openapi.json").write_text(__import__("json").dumps(app.openapi()))
    with serve_asgi(app) as base:
        (tmp_path / "drift.yaml").write_text(
            f"routes: {{openapi: {{url: '{base}/openapi.json', file: openapi.json}}}}\n")
        report = run_check(tmp_path)
    assert {(i.kind, i.name, i.actual) for i in report.items} == {
        ("renamed", "GET /things/{id}", "/things/{thing_id}"), ("missing", "POST /other", None)}
    assert report.checked["routes"] == f"OpenAPI of openapi.json, OpenAPI of {base}/openapi.json"


def test_css_custom_properties_are_read_by_a_css_parser(tmp_path):
    css = tmp_path / "a.css"
    css.write_text(textwrap.dedent("""\
        /* --color-fake: #123; in a comment is not a declaration */
        .btn--color-x:hover { color: red; }
        :root {
          --color-a: #FFF;
          --font-b: "Inter", sans-serif;
        }
        @media (prefers-color-scheme: dark) {
          :root { --color-a: #000; --color-c: #111; }
        }
        .card { & .title { --spacing-t: 2px; } }
        """))
    assert tokens.read_css([css], tmp_path) == {
        "--color-a": ("#FFF", "a.css:4"), "--font-b": ('"Inter", sans-serif', "a.css:5"),
        "--color-c": ("#111", "a.css:8"), "--spacing-t": ("2px", "a.css:10")}
