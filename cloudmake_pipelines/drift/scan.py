"""Static route scanning: FastAPI (Python ``ast``), Express and Hono (JavaScript/TypeScript, parsed by tree-sitter).

What a file contributes:

* routers: ``FastAPI()``, ``APIRouter(prefix=...)``, ``express()``, ``express.Router()``/``Router()``,
  ``new Hono()`` (with ``.basePath('/p')``);
* routes: ``@r.get("/p")``, ``@r.api_route("/p", methods=[...])``, ``r.add_api_route("/p", f, methods=...)``;
  ``r.get('/p', ...)`` (chains like ``r.route('/p').get(..).post(..)`` and ``app.get(..).post(..)``
  included), Hono ``r.on('GET', '/p', ...)``;
* mounts: ``r.include_router(x, prefix=...)``, ``r.mount('/p', x)``, ``r.use('/p', x)``, ``r.route('/p', x)``,
  where ``x`` is a router of the same file or one imported from another file of the scan
  (``from .users import router``, ``import users from './users'``, ``require('./users')``).

Paths are joined from every unmounted router down through its mounts. Only string-literal paths are
seen; a path built at run time is invisible to a static scan (use ``routes.openapi`` for those apps).
"""

from __future__ import annotations

import ast
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser, Query, QueryCursor

from .routes import HTTP_METHODS, Route, normalize_path

Ref = tuple[str, ...]  # ("name", x) | ("attr", module_alias, x) | ("module", spec)
_PY_HINT = re.compile(r"FastAPI|APIRouter|include_router|add_api_route|router|@\w+\.(?:get|post|put|patch|delete|api_route)\(")
_JS_HINT = re.compile(r"express|Router|Hono|\.(?:get|post|put|patch|delete|use|route|on)\s*\(")
_JS_EXTENSIONS = ("", ".ts", ".js", ".mjs", ".cjs", ".tsx", ".jsx", ".mts", ".cts")


@dataclass
class Source:
    """One scanned file: its routers (name -> own prefix), routes, mounts and what its names refer to."""

    path: Path
    routers: dict[str, str] = field(default_factory=dict)
    routes: list[tuple[str, str, str, int]] = field(default_factory=list)  # router, METHOD, path, line
    mounts: list[tuple[str, str, Ref, int]] = field(default_factory=list)  # parent, prefix, child ref, line
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local -> (module, name|None)
    exports: dict[str, str] = field(default_factory=dict)  # exported name ("default") -> local name
    module: str = ""  # dotted module name (Python) or "" (JavaScript)


# -- Python ---------------------------------------------------------------------------------------------
def _call_name(node: ast.AST) -> str:
    func = node.func if isinstance(node, ast.Call) else None
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _const(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _methods(call: ast.Call) -> list[str]:
    node = _kw(call, "methods")
    values = node.elts if isinstance(node, (ast.List, ast.Tuple, ast.Set)) else []
    return [v.upper() for v in map(_const, values) if v] or ["GET"]


def _ref(node: ast.AST) -> Ref | None:
    if isinstance(node, ast.Name):
        return ("name", node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return ("attr", node.value.id, node.attr)
    return None


def _absolute(module: str, level: int, name: str | None, is_package: bool) -> str:
    if not level:
        return name or ""
    parts = module.split(".") if module else []
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([name] if name else [])])


def scan_python(path: Path, text: str, module: str) -> Source:
    source = Source(path, module=module)
    try:
        tree = ast.parse(text, str(path))
    except (SyntaxError, ValueError):
        return source
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _absolute(module, node.level, node.module, is_package)
            for alias in node.names:
                source.imports[alias.asname or alias.name] = (base, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                source.imports[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0], None)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and _call_name(node.value) in ("FastAPI", "APIRouter"):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    source.routers[target.id] = _const(_kw(node.value, "prefix")) or ""
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and isinstance(
                        deco.func.value, ast.Name):
                    verb, owner = deco.func.attr, deco.func.value.id
                    route = _const(deco.args[0] if deco.args else _kw(deco, "path"))
                    if route is None:
                        continue
                    if verb in HTTP_METHODS:
                        source.routes.append((owner, verb.upper(), route, deco.lineno))
                    elif verb == "api_route":
                        source.routes += [(owner, m, route, deco.lineno) for m in _methods(deco)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(
                node.func.value, ast.Name):
            owner, verb = node.func.value.id, node.func.attr
            if verb == "add_api_route" and node.args and _const(node.args[0]) is not None:
                source.routes += [(owner, m, _const(node.args[0]), node.lineno) for m in _methods(node)]
            elif verb == "include_router" and node.args and (ref := _ref(node.args[0])):
                source.mounts.append((owner, _const(_kw(node, "prefix")) or "", ref, node.lineno))
            elif verb == "mount" and len(node.args) >= 2 and (ref := _ref(node.args[1])):
                source.mounts.append((owner, _const(node.args[0]) or "", ref, node.lineno))
    return source


# -- JavaScript / TypeScript (tree-sitter) -------------------------------------------------------------
_LANGUAGES = {".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx"}
_JS_QUERY = """
(call_expression function: (member_expression object: (_) @object property: (property_identifier) @verb)
                 arguments: (arguments) @args
  (#match? @verb "^(get|post|put|patch|delete|options|head|trace|use|route|on)$"))
(variable_declarator name: (_) @name value: (_) @value)
(import_statement source: (string) @source) @import
(export_statement) @export
(assignment_expression left: (member_expression) @left right: (identifier) @right)
"""


@functools.cache
def _grammar(name: str) -> tuple[Parser, QueryCursor]:
    language = Language({"javascript": tree_sitter_javascript.language(),
                         "typescript": tree_sitter_typescript.language_typescript(),
                         "tsx": tree_sitter_typescript.language_tsx()}[name])
    return Parser(language), QueryCursor(Query(language, _JS_QUERY))


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def _string(node: Node | None) -> str | None:
    """The value of a string literal (or a template without substitutions); None for anything else."""
    if node is None or node.type not in ("string", "template_string"):
        return None
    if any(child.type == "template_substitution" for child in node.named_children):
        return None
    return _text(node)[1:-1]


def _arguments(node: Node) -> list[Node]:
    return [child for child in node.named_children if child.type != "comment"]


def _router_base(node: Node) -> str | None:
    """The base path if ``node`` builds a router (``express()``, ``Router()``, ``new Hono().basePath()``)."""
    base = ""
    while node.type == "call_expression" and node.child_by_field_name("function").type == "member_expression":
        function = node.child_by_field_name("function")
        method, args = _text(function.child_by_field_name("property")), _arguments(node.child_by_field_name("arguments"))
        if method == "basePath" and args:
            base = _string(args[0]) or ""
        elif method == "Router":
            return base  # express.Router(), require('express').Router()
        node = function.child_by_field_name("object")
    if node.type == "new_expression":
        return base if re.search(r"Hono$", _text(node.child_by_field_name("constructor"))) else None
    if node.type == "call_expression":
        return base if _text(node.child_by_field_name("function")) in ("express", "Router") else None
    return None


def _required(node: Node) -> str | None:
    """``x`` of ``require('x')``."""
    if node.type == "call_expression" and _text(node.child_by_field_name("function")) == "require":
        args = _arguments(node.child_by_field_name("arguments"))
        return _string(args[0]) if args else None
    return None


class _JsFile:
    """What one JavaScript/TypeScript file declares, filled from the query's matches in source order."""

    def __init__(self, path: Path):
        self.source = Source(path)
        self.owners: dict[tuple[int, int], str] = {}  # span of a router constructor -> its variable

    def owner(self, node: Node) -> tuple[str | None, str | None]:
        """Who a call is made on: (router variable, path of an Express ``route('/p')`` on the way)."""
        if node.type == "identifier":
            return _text(node), None
        if node.type == "member_expression":  # this.app.get(...)
            return _text(node.child_by_field_name("property")), None
        if node.type == "call_expression" and node.child_by_field_name("function").type == "member_expression":
            function = node.child_by_field_name("function")
            owner, route_path = self.owner(function.child_by_field_name("object"))
            args, verb = _arguments(node.child_by_field_name("arguments")), _text(function.child_by_field_name("property"))
            if verb == "route" and len(args) == 1:
                return owner, _string(args[0])
            if owner is None:
                return self.owners.get((node.start_byte, node.end_byte)), None
            return owner, route_path if verb in HTTP_METHODS else None  # r.route('/p').get(..).post(..)
        if node.type == "new_expression":
            return self.owners.get((node.start_byte, node.end_byte)), None
        return None, None

    def declare(self, name: Node, value: Node) -> None:
        source = self.source
        if name.type == "identifier":
            base = _router_base(value)
            if base is not None:
                source.routers[_text(name)] = base
                root = value
                while root.type == "call_expression" and root.child_by_field_name("function").type == "member_expression":
                    self.owners[(root.start_byte, root.end_byte)] = _text(name)
                    root = root.child_by_field_name("function").child_by_field_name("object")
                self.owners[(root.start_byte, root.end_byte)] = _text(name)
            elif (module := _required(value)) is not None:
                source.imports[_text(name)] = (module, "default")
        elif name.type == "object_pattern" and (module := _required(value)) is not None:
            for entry in name.named_children:
                if entry.type == "shorthand_property_identifier_pattern":
                    source.imports[_text(entry)] = (module, _text(entry))
                elif entry.type == "pair_pattern":
                    source.imports[_text(entry.child_by_field_name("value"))] = (
                        module, _text(entry.child_by_field_name("key")))

    def call(self, obj: Node, verb: str, args: list[Node], line: int) -> None:
        source = self.source
        owner, route_path = self.owner(obj)
        if owner is None:
            return
        first = _string(args[0]) if args else None
        if verb in HTTP_METHODS and (route_path is not None or first is not None):
            source.routes.append((owner, verb.upper(), route_path if route_path is not None else first, line))
        elif verb == "on" and len(args) >= 2 and (path := _string(args[1])) is not None:
            methods = [args[0]] if args[0].type == "string" else args[0].named_children
            source.routes += [(owner, m.upper(), path, line) for m in map(_string, methods) if m]
        elif verb in ("use", "route") and args and not (verb == "route" and len(args) == 1):
            child = args[-1] if (first is not None and len(args) > 1) or (first is None and verb == "use") else None
            if child is not None and child.type == "identifier":
                source.mounts.append((owner, first or "", ("name", _text(child)), line))
            elif child is not None and (module := _required(child)) is not None:
                source.mounts.append((owner, first or "", ("module", module), line))

    def export(self, node: Node) -> None:
        value = node.child_by_field_name("value")
        if value is not None and value.type == "identifier":
            self.source.exports["default"] = _text(value)
        for clause in (c for c in node.named_children if c.type == "export_clause"):
            for spec in clause.named_children:
                name, alias = spec.child_by_field_name("name"), spec.child_by_field_name("alias")
                self.source.exports[_text(alias or name)] = _text(name)

    def imports(self, node: Node, module: str) -> None:
        for clause in (c for c in node.named_children if c.type == "import_clause"):
            for part in clause.named_children:
                if part.type == "identifier":
                    self.source.imports[_text(part)] = (module, "default")
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        name, alias = spec.child_by_field_name("name"), spec.child_by_field_name("alias")
                        self.source.imports[_text(alias or name)] = (module, _text(name))

    def assign(self, left: Node, right: Node) -> None:
        target = _text(left)
        if target == "module.exports":
            self.source.exports["default"] = _text(right)
        elif (match := re.fullmatch(r"(?:module\.)?exports\.(\w+)", target)):
            self.source.exports[match.group(1)] = _text(right)


def scan_javascript(path: Path, text: str) -> Source:
    parser, cursor = _grammar(_LANGUAGES.get(path.suffix, "javascript"))
    tree = parser.parse(text.encode("utf-8"))
    scanned = _JsFile(path)
    for pattern, captures in cursor.matches(tree.root_node):  # in source order: declarations first
        if pattern == 0:
            verb = captures["verb"][0]
            scanned.call(captures["object"][0], _text(verb), _arguments(captures["args"][0]),
                         verb.start_point[0] + 1)
        elif pattern == 1:
            scanned.declare(captures["name"][0], captures["value"][0])
        elif pattern == 2:
            scanned.imports(captures["import"][0], _string(captures["source"][0]) or "")
        elif pattern == 3:
            scanned.export(captures["export"][0])
        else:
            scanned.assign(captures["left"][0], captures["right"][0])
    return scanned.source


# -- joining files: names to routers, routers to full paths -------------------------------------------------
RouterNode = tuple[Path, str]


class _Project:
    def __init__(self, root: Path, sources: list[Source]):
        self.root = root
        self.by_path = {s.path: s for s in sources}
        self.by_name = {str(s.path): s for s in sources}
        self.by_module: dict[str, Source] = {}
        for source in sorted((s for s in sources if s.module), key=lambda s: s.module.count(".")):
            parts = source.module.split(".")
            for k in range(len(parts)):
                self.by_module.setdefault(".".join(parts[k:]), source)

    def _js_file(self, origin: Path, spec: str) -> Source | None:
        if not spec.startswith("."):
            return None
        base = os.path.normpath(os.path.join(origin.parent, spec))
        for candidate in [base + ext for ext in _JS_EXTENSIONS] + [f"{base}/index{e}" for e in _JS_EXTENSIONS[1:]]:
            if candidate in self.by_name:
                return self.by_name[candidate]
        return None

    def _lookup(self, source: Source | None, name: str, depth: int = 0) -> RouterNode | None:
        """The router ``name`` exported by ``source`` (following re-exports and imports)."""
        if source is None or depth > 8:
            return None
        local = source.exports.get(name, name) if not source.module else name
        if local in source.routers:
            return (source.path, local)
        if local in source.imports:
            return self._imported(source, local, depth + 1)
        return None

    def _imported(self, source: Source, local: str, depth: int) -> RouterNode | None:
        module, name = source.imports[local]
        if source.module:  # Python: a module attribute (name is None for `import x`)
            return self._lookup(self.by_module.get(module), name, depth) if name else None
        return self._lookup(self._js_file(source.path, module), name or "default", depth)

    def resolve(self, source: Source, ref: Ref) -> RouterNode | None:
        if ref[0] == "name":
            if ref[1] in source.routers:
                return (source.path, ref[1])
            return self._imported(source, ref[1], 0) if ref[1] in source.imports else None
        if ref[0] == "module":
            return self._lookup(self._js_file(source.path, ref[1]), "default")
        module, name = source.imports.get(ref[1], ("", None))
        target = self.by_module.get(f"{module}.{name}" if name else module)
        return self._lookup(target, ref[2]) if target else None

    def routes(self) -> list[Route]:
        prefixes: dict[RouterNode, str] = {}
        own: dict[RouterNode, list[tuple[str, str, str]]] = {}
        children: dict[RouterNode, list[tuple[str, RouterNode]]] = {}
        mounted: set[RouterNode] = set()
        for source in self.by_path.values():
            for name, prefix in source.routers.items():
                prefixes[(source.path, name)] = prefix
            rel = source.path.relative_to(self.root)
            for owner, method, path, line in source.routes:
                node = self.resolve(source, ("name", owner))
                if node:
                    own.setdefault(node, []).append((method, path, f"{rel}:{line}"))
            for owner, prefix, ref, _line in source.mounts:
                parent, child = self.resolve(source, ("name", owner)), self.resolve(source, ref)
                if parent and child and parent != child:
                    children.setdefault(parent, []).append((prefix, child))
                    mounted.add(child)
        found: list[Route] = []

        def walk(node: RouterNode, prefix: str, trail: frozenset[RouterNode]) -> None:
            base = normalize_path(prefixes.get(node, ""), prefix)
            for method, path, location in own.get(node, []):
                found.append(Route(method, normalize_path(path, base), location))
            for mount_prefix, child in children.get(node, []):
                if child not in trail:
                    walk(child, normalize_path(mount_prefix, base), trail | {child})

        for node in sorted(set(own) | set(children), key=lambda n: (str(n[0]), n[1])):
            if node not in mounted:
                walk(node, "", frozenset({node}))
        return found


def scan(root: Path, files: list[Path]) -> list[Route]:
    """Every route the files register, with mount prefixes joined."""
    sources = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path.suffix == ".py":
            if _PY_HINT.search(text):
                rel = path.relative_to(root).with_suffix("")
                parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
                sources.append(scan_python(path.resolve(), text, ".".join(parts)))
        elif _JS_HINT.search(text):
            sources.append(scan_javascript(path.resolve(), text))
    return _Project(root.resolve(), sources).routes()
